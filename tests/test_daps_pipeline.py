"""DAPSPipeline and daps_sample's inputs: a thin diffusers wrapper (tiny UNet), clear errors that
name the bad argument before any model call, seeding, save / from_pretrained."""

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler
from posterior_problems import ALPHAS_CUMPROD
from test_dpnp_pipeline import _gen, _pipe, check_outputs

from plugdiff.evaluation import GaussianMixture
from plugdiff.pipelines import DAPSPipeline
from plugdiff.pipelines.posterior.annealing import PolynomialSchedule
from plugdiff.pipelines.posterior.daps import (
    DAPSLangevin,
    daps_model_evals,
    daps_sample,
    nearest_steps,
    ode_grid,
    training_levels,
)
from plugdiff.pipelines.posterior.daps_recipes import (
    RECIPES,
    daps_recipe,
    likelihood_weight_for,
    step_scale_for,
)
from plugdiff.pipelines.posterior.operators import (
    GaussianBlur,
    Inpainting,
    MatrixOperator,
    PhaseRetrieval,
    Quantized1Bit,
    SuperResolution,
)

FAST = dict(num_levels=3, ode_steps=2)  # 3 levels x 2 ODE steps: 6 UNet evaluations


@pytest.fixture(scope="module")
def daps():
    return _pipe(DAPSPipeline)


@pytest.fixture(scope="module")
def inpainting():
    operator = Inpainting("box")
    truth = torch.linspace(-0.8, 0.8, 3 * 16 * 16).reshape(1, 3, 16, 16)
    return operator, operator.measure(truth, generator=_gen(1))


# ---------------------------------------------------------------------- end to end
@pytest.mark.parametrize("output_type", ["pil", "np", "pt"])
def test_daps_inpainting_outputs(daps, inpainting, output_type):
    operator, y = inpainting
    out = daps(y, operator, num_samples=3, output_type=output_type, generator=_gen(), **FAST)
    check_outputs(out, output_type, 3)
    assert out.model_evals == 6 and out.acceptance_rate is None  # the authors' Langevin: no acceptance rate


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize(
    "name, kwargs, measure",
    [
        ("super_resolution", {"factor": 2}, lambda x: SuperResolution(2).measure(x, generator=_gen(1))),
        ("phase_retrieval", {}, lambda x: PhaseRetrieval().measure(x, generator=_gen(1))),
        ("quantized_1bit", {}, lambda x: Quantized1Bit().measure(x, generator=_gen(1))),
        ("motion_blur", {"kernel_size": 5}, lambda x: x),
    ],
)
def test_every_operator_runs_with_both_recipes(daps, recipe, name, kwargs, measure):
    x = torch.linspace(-0.5, 0.5, 3 * 16 * 16).reshape(1, 3, 16, 16)
    out = daps(
        measure(x),
        name,
        operator_kwargs=kwargs,
        recipe=recipe,
        num_samples=2,
        image_shape=(16, 16),
        output_type="pt",
        generator=_gen(),
        num_levels=2,
    )
    check_outputs(out, "pt", 2)
    mala = recipe == "posterior" and name in ("phase_retrieval", "quantized_1bit")
    assert (out.acceptance_rate is not None) == mala


def test_num_samples_reproducibility_and_seeds(daps, inpainting):
    operator, y = inpainting
    first = daps(y, operator, num_samples=3, output_type="pt", generator=_gen(5), **FAST).images
    again = daps(y, operator, num_samples=3, output_type="pt", generator=_gen(5), **FAST).images
    other = daps(y, operator, num_samples=3, output_type="pt", generator=_gen(6), **FAST).images
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first[0], first[1])  # independent chains


def test_pipeline_equals_the_plain_sampler_bit_for_bit(daps, inpainting):
    operator, y = inpainting
    unet, ac = daps.unet, daps.scheduler.alphas_cumprod

    def eps(x_t, t):
        return unet(x_t, t).sample

    recipe = daps_recipe("authors", operator, num_levels=3, ode_steps=2)
    with torch.no_grad():
        direct = daps_sample(eps, ac, operator, y.repeat(3, 1, 1, 1), **recipe.sampler_kwargs(), generator=_gen(3))
    piped = daps(y, operator, num_samples=3, output_type="pt", generator=_gen(3), **FAST)
    assert torch.equal(piped.images, direct.samples.clamp(-1, 1)) and piped.model_evals == direct.model_evals


def test_callback_ticks_once_per_level_under_no_grad(daps, inpainting):
    operator, y = inpainting
    seen = []
    daps(
        y,
        operator,
        num_samples=2,
        callback=lambda k, s, x: seen.append((k, round(s, 3), tuple(x.shape), torch.is_grad_enabled())),
        **FAST,
    )
    assert [k for k, *_ in seen] == [0, 1, 2] and all(shape == (2, 3, 16, 16) and not g for _, _, shape, g in seen)
    # the schedule's ends, 100 and 0.1, at the nearest training levels
    assert seen[0][1] == pytest.approx(100.0, rel=0.01) and seen[-1][1] == pytest.approx(0.1, rel=0.05)
    assert torch.is_grad_enabled()


def test_save_pretrained_round_trip(tmp_path, inpainting):
    operator, y = inpainting
    pipe = _pipe(DAPSPipeline)
    pipe.save_pretrained(tmp_path)
    loaded = DAPSPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded, DAPSPipeline) and isinstance(loaded.scheduler, DDPMScheduler)
    a = pipe(y, operator, num_samples=2, output_type="pt", generator=_gen(), **FAST)
    b = loaded(y, operator, num_samples=2, output_type="pt", generator=_gen(), **FAST)
    assert torch.equal(a.images, b.images) and torch.equal(a.std, b.std)


# ---------------------------------------------------------------------- schedules and recipes
def test_authors_schedule_budget_and_recipe_fields():
    ac = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod
    levels = training_levels(ac.double())
    schedule = PolynomialSchedule(100.0, 0.1, 200).etas()
    assert schedule[0] == 100.0 and schedule[-1] == pytest.approx(0.1) and len(schedule) == 200
    assert all(a > b for a, b in zip(schedule, schedule[1:]))
    steps = nearest_steps(levels, schedule)
    assert float(levels[steps[0]]) == pytest.approx(100.0, rel=0.01) and steps == sorted(steps, reverse=True)
    assert ode_grid(levels, steps[0], 5)[-1] == 0 and len(ode_grid(levels, steps[0], 5)) == 5
    assert daps_model_evals(ac, "authors", 5) == 1000  # DAPS-1K
    inpaint = daps_recipe("authors", Inpainting(noise_std=0.05))
    assert inpaint.likelihood_weight == pytest.approx(25)  # tau = 0.01 against noise 0.05
    assert likelihood_weight_for(PhaseRetrieval(noise_std=0.2)) == pytest.approx(400)
    assert likelihood_weight_for(Quantized1Bit()) == pytest.approx(1 / (2 * 0.36**2))
    assert inpaint.x0_step == DAPSLangevin(step_scale=0.5) and inpaint.model_evals(ac) == 1000
    assert step_scale_for(SuperResolution(4)) == step_scale_for(GaussianBlur()) == 1.0
    assert step_scale_for(PhaseRetrieval()) == 0.5 and step_scale_for(Quantized1Bit()) == 1.0
    assert daps_recipe("authors", SuperResolution(4), num_levels=50).model_evals(ac) == 250
    posterior = daps_recipe("posterior", PhaseRetrieval())
    assert posterior.ode_steps == 1 and posterior.likelihood_weight == 1.0 and posterior.x0_step.metropolis
    assert daps_recipe("posterior", SuperResolution(2)).x0_step == "exact" and posterior.model_evals(ac) == 250


def test_the_authors_step_is_their_lr_at_their_tau():
    """lr = step_scale * min(s_w^2, r^2), decaying linearly to min_ratio over the annealing: at
    tau = s_w = 0.01 and r >= 0.1 this is the official 1e-4 (x0.5 for phase retrieval and inpainting)."""
    langevin = DAPSLangevin(step_scale=1.0)
    assert langevin.step(0.01, 100.0, 0.0) == pytest.approx(1e-4)
    assert langevin.step(0.01, 0.1, 1.0) == pytest.approx(1e-6)
    assert DAPSLangevin(step_scale=0.5).step(0.01, 0.5, 0.5) == pytest.approx(0.5e-4 * (1 + 0.5 * (0.01 - 1)))
    assert langevin.step(0.2, 0.05, 0.0) == pytest.approx(0.05**2)  # r < s_w: the prior term's scale


# ---------------------------------------------------------------------- bad input
def _exact_eps():
    prior = GaussianMixture([1.0], [[0.0, 0.0]], [0.25], event_shape=(1, 1, 2))
    return prior.eps_model(ALPHAS_CUMPROD)


SAMPLER_BAD_INPUTS = {
    "sigmas increasing": (dict(sigmas=[0.1, 0.5]), "`sigmas` must be non-increasing"),
    "sigmas preset": (dict(sigmas="fast"), "unknown annealing preset `sigmas`='fast'"),
    "sigmas empty": (dict(sigmas=[]), "`sigmas` must not be empty"),
    "sigmas negative": (dict(sigmas=[1.0, -0.1]), "`sigmas` must be finite numbers > 0"),
    "ode_steps zero": (dict(ode_steps=0), "`ode_steps` must be an integer >= 1"),
    "ode_steps bool": (dict(ode_steps=True), "`ode_steps` must be an integer >= 1"),
    "ode_steps float": (dict(ode_steps=2.0), "`ode_steps` must be an integer >= 1"),
    "x0_step unknown": (dict(x0_step="hmc"), "unknown `x0_step`='hmc'"),
    "x0_step exact nonlinear": (dict(x0_step="exact", operator=Quantized1Bit()), "`x0_step`='exact' needs a linear"),
    "likelihood_weight": (dict(likelihood_weight=0.0), "`likelihood_weight` must be a finite number > 0"),
    "clip_denoised": (dict(clip_denoised=0.5), "`clip_denoised` must be True or False"),
    "operator": (dict(operator="inpainting"), "`operator` must be a plugdiff ForwardOperator"),
    "measurement shape": (dict(y=torch.zeros(4, 2)), r"measurement `y` must have shape \(4, 1\)"),
    "alphas_cumprod": (dict(alphas_cumprod=torch.tensor([0.5, 0.9])), "`alphas_cumprod` must be a strictly"),
}


@pytest.mark.parametrize("case", list(SAMPLER_BAD_INPUTS))
def test_sampler_bad_input_names_the_argument_before_any_model_call(case):
    def no_model(x_t, t):
        raise AssertionError("the model ran before the inputs were checked")

    call = dict(
        alphas_cumprod=ALPHAS_CUMPROD,
        operator=MatrixOperator(torch.tensor([[1.0, 0.0]]), noise_std=0.1),
        y=torch.zeros(4, 1),
        image_shape=(4, 1, 1, 2),
        sigmas=[1.0, 0.1],
        ode_steps=1,
    )
    overrides, message = SAMPLER_BAD_INPUTS[case]
    call.update(overrides)
    if isinstance(call["operator"], Quantized1Bit):
        call.update(y=torch.ones(4, 1, 1, 2), image_shape=None)
    with pytest.raises(ValueError, match=message):
        daps_sample(no_model, call.pop("alphas_cumprod"), call.pop("operator"), call.pop("y"), **call)


PIPELINE_BAD_INPUTS = {
    "recipe": (dict(recipe="fast"), "unknown DAPS recipe 'fast'"),
    "num_levels zero": (dict(num_levels=0), "`num_levels` must be None or an integer >= 1"),
    "num_levels float": (dict(num_levels=2.5), "`num_levels` must be None or an integer >= 1"),
    "ode_steps": (dict(ode_steps=-1), "`ode_steps` must be an integer >= 1"),
    "sigmas": (dict(sigmas=[0.2, 0.5]), "`sigmas` must be non-increasing"),
    "x0_step": (
        dict(x0_step="exact", operator="quantized_1bit", measurement=torch.ones(3, 16, 16)),
        "`x0_step`='exact'",
    ),
    "likelihood_weight": (dict(likelihood_weight=-2.0), "`likelihood_weight`"),
    "num_samples": (dict(num_samples=0), "`num_samples` must be an integer >= 1"),
    "output_type": (dict(output_type="latent"), "unknown `output_type`='latent'"),
    "generator": (dict(generator=[_gen(), _gen()]), "`generator` must be one torch.Generator"),
    "measurement": (dict(measurement=np.zeros((16, 16, 3))), "`measurement` as a numpy array must be a uint8"),
    "langevin settings": (dict(x0_step="langevin", num_levels=1.5), "`num_levels`"),
}


@pytest.mark.parametrize("case", list(PIPELINE_BAD_INPUTS))
def test_pipeline_bad_input_is_a_clear_error_before_any_model_call(daps, monkeypatch, case):
    def no_model_calls(*args, **kwargs):
        raise AssertionError("the UNet ran before the inputs were checked")

    monkeypatch.setattr(daps.unet, "forward", no_model_calls)
    call = dict(measurement=torch.zeros(3, 16, 16), operator="inpainting", **FAST)
    overrides, message = PIPELINE_BAD_INPUTS[case]
    call.update(overrides)
    with pytest.raises(ValueError, match=message):
        daps(call.pop("measurement"), call.pop("operator"), **call)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(num_steps=0), "num_steps"),
        (dict(step_scale=0.0), "step_scale"),
        (dict(min_ratio=0.0), "min_ratio"),
        (dict(min_ratio=1.5), "min_ratio"),
    ],
)
def test_bad_langevin_settings(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        DAPSLangevin(**kwargs)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(sigma_min=2.0), "sigma_min"),
        (dict(num_steps=0), "num_steps"),
        (dict(rho=0.0), "rho"),
        (dict(sigma_max=float("inf")), "sigma_max"),
    ],
)
def test_bad_polynomial_schedule(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        PolynomialSchedule(**{"sigma_max": 1.0, "sigma_min": 0.1, "num_steps": 3, **kwargs})


def test_seeded_sampler_is_reproducible_and_counts_its_evaluations():
    eps = _exact_eps()
    operator = MatrixOperator(torch.tensor([[1.0, 0.0]], dtype=torch.float64), noise_std=0.1)
    y = torch.zeros(8, 1, dtype=torch.float64)
    kwargs = dict(sigmas=PolynomialSchedule(10.0, 0.05, 6), ode_steps=3, image_shape=(8, 1, 1, 2))
    a = daps_sample(eps, ALPHAS_CUMPROD, operator, y, **kwargs, generator=_gen(1))
    b = daps_sample(eps, ALPHAS_CUMPROD, operator, y, **kwargs, generator=_gen(1))
    c = daps_sample(eps, ALPHAS_CUMPROD, operator, y, **kwargs, generator=_gen(2))
    assert torch.equal(a.samples, b.samples) and not torch.equal(a.samples, c.samples)
    assert a.model_evals == daps_model_evals(ALPHAS_CUMPROD, kwargs["sigmas"], 3) and len(a.etas) == 6
