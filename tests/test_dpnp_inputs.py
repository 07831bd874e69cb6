"""dpnp_sample / dps_sample inputs: bad ones raise a ValueError naming the field; the presets,
flat schedules, the DPS warm start and batches of different measurements work."""

import itertools
import math

import pytest
import torch
from posterior_problems import ALPHAS_CUMPROD, ring_prior

from plugdiff.pipelines.posterior.annealing import SCHEDULE_PRESETS, AnnealingSchedule, resolve_etas
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.dps import dps_sample
from plugdiff.pipelines.posterior.operators import MatrixOperator, PhaseRetrieval, Quantized1Bit
from plugdiff.pipelines.posterior.proximal_sampling import LangevinSettings

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors

SHAPE = (2, 1, 1, 2)  # two chains of two-pixel images


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def eps():
    return ring_prior().eps_model(ALPHAS_CUMPROD)


def _signs():
    return torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64).reshape(SHAPE)


def _dpnp(eps, operator=None, y=None, **kwargs):
    operator = Quantized1Bit(0.4) if operator is None else operator
    y = _signs() if y is None else y
    kwargs.setdefault("etas", [0.3, 0.1])
    kwargs.setdefault("num_steps", 3)
    return dpnp_sample(eps, ALPHAS_CUMPROD, operator, y, generator=_gen(0), **kwargs)


def _dps(eps, operator=None, y=None, **kwargs):
    operator = Quantized1Bit(0.4) if operator is None else operator
    y = _signs() if y is None else y
    kwargs.setdefault("num_steps", 3)
    return dps_sample(eps, ALPHAS_CUMPROD, operator, y, generator=_gen(0), **kwargs)


BOTH = pytest.mark.parametrize("sample", [_dpnp, _dps], ids=["dpnp", "dps"])


# ----------------------------------------------------------------------------- the problem


@BOTH
def test_measurement_that_does_not_fit_the_operator(eps, sample):
    with pytest.raises(ValueError, match="measurement `y` must have shape"):
        sample(eps, y=_signs(), image_shape=(2, 1, 2, 2))
    matrix = MatrixOperator(torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="measurement `y` must have shape"):
        sample(eps, matrix, torch.zeros(2, 3, dtype=torch.float64), image_shape=SHAPE)
    with pytest.raises(ValueError, match="measurement `y` must have shape"):  # batch sizes differ
        sample(eps, matrix, torch.zeros(3, 1, dtype=torch.float64), image_shape=SHAPE)
    with pytest.raises(ValueError, match="`y`"):  # 1-bit measurements are signs
        sample(eps, y=0.5 * _signs())
    with pytest.raises(ValueError, match="measurement `y` must be a tensor"):
        sample(eps, y=_signs().tolist())


@BOTH
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_measurement(eps, sample, bad):
    matrix = MatrixOperator(torch.eye(2, dtype=torch.float64))
    y = torch.zeros(2, 2, dtype=torch.float64)
    y[1, 0] = bad
    with pytest.raises(ValueError, match="measurement `y` has non-finite values"):
        sample(eps, matrix, y, image_shape=SHAPE)


@BOTH
def test_operator_that_changes_the_shape_needs_image_shape(eps, sample):
    operator = PhaseRetrieval(noise_std=0.05)
    y = torch.ones(2, 1, 2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="pass `image_shape`"):
        sample(eps, operator, y)
    matrix = MatrixOperator(torch.eye(2, dtype=torch.float64))
    with pytest.raises(ValueError, match="pass `image_shape`"):
        sample(eps, matrix, torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="`image_shape` must be"):
        sample(eps, operator, y, image_shape=(2, 1, 2))
    with pytest.raises(ValueError, match="`image_shape` must be"):
        sample(eps, operator, y, image_shape=(2, 1, 0, 2))
    assert sample(eps, operator, y, image_shape=SHAPE).samples.shape == SHAPE


@BOTH
@pytest.mark.parametrize(
    "operator", [lambda x: x, torch.nn.Identity(), "quantized_1bit"], ids=["function", "module", "name"]
)
def test_operator_must_be_a_forward_operator(eps, sample, operator):
    with pytest.raises(ValueError, match="`operator` must be a plugdiff ForwardOperator"):
        sample(eps, operator)


@BOTH
@pytest.mark.parametrize(
    "alphas_cumprod",
    [
        ALPHAS_CUMPROD.flip(0),
        torch.tensor([0.9, 0.9, 0.5]),
        torch.tensor([1.0, 0.5, 0.1]),
        torch.tensor([0.9, 0.5, 0.0]),
        torch.tensor([1.5, 0.5]),
        torch.tensor([0.9, math.nan]),
        torch.tensor([0.5]),
    ],
    ids=["increasing", "flat", "one", "zero", "above-one", "nan", "single"],
)
def test_alphas_cumprod_must_be_a_vp_schedule(eps, sample, alphas_cumprod):
    kwargs = {"etas": [0.3]} if sample is _dpnp else {}
    with pytest.raises(ValueError, match="`alphas_cumprod`"):
        (dpnp_sample if sample is _dpnp else dps_sample)(eps, alphas_cumprod, Quantized1Bit(0.4), _signs(), **kwargs)


@BOTH
@pytest.mark.parametrize("num_steps", [0, -1, 2.5])
def test_num_steps_must_be_a_positive_int(eps, sample, num_steps):
    with pytest.raises(ValueError, match="`num_steps`"):
        sample(eps, num_steps=num_steps)


# ----------------------------------------------------------------------------- DPS


@pytest.mark.parametrize("step_size", [0.0, -1.0, math.nan, math.inf])
def test_dps_step_size_must_be_positive(eps, step_size):
    with pytest.raises(ValueError, match="`step_size`"):
        _dps(eps, step_size=step_size)


# ----------------------------------------------------------------------------- DPnP schedule


@pytest.mark.parametrize(
    "etas, message",
    [
        ([0.1, 0.2], "non-increasing"),
        ([0.3, 0.2, 0.25], r"etas\[2\]"),
        ([], "must not be empty"),
        ([0.3, -0.1], "finite numbers > 0"),
        ([0.3, 0.0], "finite numbers > 0"),
        ([math.nan], "finite numbers > 0"),
        ([math.inf, 0.1], "finite numbers > 0"),
        ("fast", "unknown annealing preset"),
        (["a"], "sequence of numbers"),
        (0.3, "sequence of numbers"),
    ],
    ids=[
        "increasing",
        "increasing-later",
        "empty",
        "negative",
        "zero",
        "nan",
        "inf",
        "unknown-preset",
        "strings",
        "scalar",
    ],
)
def test_bad_etas(eps, etas, message):
    with pytest.raises(ValueError, match="`etas`") as error:
        _dpnp(eps, etas=etas)
    assert error.match(message)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"eta_max": 0.1, "eta_min": 0.2}, "eta_min"),
        ({"num_decay": 0}, "num_decay"),
        ({"num_decay": -2}, "num_decay"),
        ({"num_decay": 2.0}, "num_decay"),
        ({"hold": -1}, "hold"),
        ({"eta_max": 0.0}, "eta_max"),
        ({"eta_max": math.inf}, "eta_max"),
        ({"eta_min": -0.1}, "eta_min"),
        ({"eta_min": math.nan}, "eta_min"),
    ],
    ids=[
        "min>max",
        "decay-0",
        "decay-negative",
        "decay-float",
        "hold-negative",
        "max-zero",
        "max-inf",
        "min-negative",
        "min-nan",
    ],
)
def test_bad_annealing_schedule(changes, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        AnnealingSchedule(**{"eta_max": 1.0, "eta_min": 0.1, "num_decay": 5, **changes})


def test_schedule_presets_and_flat_lists():
    official = resolve_etas("official")
    assert resolve_etas(None) == official and len(official) == 16
    # hold 4 at 0.4, then 12 geometric values from 0.4 (so a fifth 0.4) down to 0.16
    assert official[:5] == [0.4] * 5 and official[-1] == pytest.approx(0.16)
    ratio = (0.16 / 0.4) ** (1 / 11)
    assert [b / a for a, b in itertools.pairwise(official[4:])] == pytest.approx([ratio] * 11)
    accurate = resolve_etas("accurate")
    assert len(accurate) == 100 and accurate[0] == 1.0 and accurate[-1] == pytest.approx(0.02)
    assert [b / a for a, b in itertools.pairwise(accurate)] == pytest.approx([0.02 ** (1 / 99)] * 99)
    assert SCHEDULE_PRESETS["official"] == AnnealingSchedule(0.4, 0.16, num_decay=12, hold=4)
    assert resolve_etas([0.3, 0.3, 0.3]) == [0.3] * 3 and resolve_etas((0.5, 0.5, 0.2)) == [0.5, 0.5, 0.2]
    assert resolve_etas(AnnealingSchedule(0.3, 0.3, num_decay=4)) == [0.3] * 4
    assert resolve_etas(AnnealingSchedule(1.0, 0.1, num_decay=1, hold=2)) == [1.0, 1.0, 0.1]


def test_dpnp_reports_the_schedule_it_ran(eps):
    matrix = MatrixOperator(torch.eye(2, dtype=torch.float64), noise_std=0.1)
    y = torch.zeros(2, 2, dtype=torch.float64)
    for etas, expected in (
        ("official", resolve_etas("official")),
        ("accurate", resolve_etas("accurate")),
        ([0.2] * 3, [0.2] * 3),
    ):
        calls = []
        out = _dpnp(
            eps,
            matrix,
            y,
            etas=etas,
            num_steps=1,
            image_shape=SHAPE,
            callback=lambda k, eta, x, calls=calls: calls.append((k, eta)),
        )
        assert out.etas == expected and calls == list(enumerate(expected))
        assert bool(torch.isfinite(out.samples).all())


# ----------------------------------------------------------------------------- DPnP samplers


@pytest.mark.parametrize("pcs", ["MALA", "ula", "", None, ["mala"], {"num_steps": 10}], ids=str)
def test_unknown_pcs(eps, pcs):
    with pytest.raises(ValueError, match="`pcs`"):
        _dpnp(eps, pcs=pcs)


@pytest.mark.parametrize("operator", [Quantized1Bit(0.4), PhaseRetrieval(noise_std=0.05)], ids=["1bit", "phase"])
def test_exact_pcs_needs_a_linear_gaussian_operator(eps, operator):
    y = _signs() if isinstance(operator, Quantized1Bit) else torch.ones(2, 1, 2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="`pcs`='exact' needs a linear operator"):
        _dpnp(eps, operator, y, pcs="exact", image_shape=SHAPE)


@pytest.mark.parametrize("dds", ["DDPM", "ddim2", "", None, ["ddpm"]], ids=str)
def test_unknown_dds(eps, dds):
    with pytest.raises(ValueError, match="`dds`"):
        _dpnp(eps, dds=dds)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": -5}, "num_steps"),
        ({"num_steps": 10.0}, "num_steps"),
        ({"step_scale": 0.0}, "step_scale"),
        ({"step_scale": -1.0}, "step_scale"),
        ({"step_scale": math.nan}, "step_scale"),
        ({"step_scale": math.inf}, "step_scale"),
        ({"damping": -1.0}, "damping"),
        ({"damping": math.nan}, "damping"),
        ({"target_acceptance": 0.0}, "target_acceptance"),
        ({"target_acceptance": 1.0}, "target_acceptance"),
        ({"target_acceptance": 1.5}, "target_acceptance"),
        ({"target_acceptance": math.nan}, "target_acceptance"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_bad_langevin_settings(kwargs, field):
    with pytest.raises(ValueError, match=f"`{field}`"):
        LangevinSettings(**kwargs)


# ----------------------------------------------------------------------------- DPnP init


def test_bad_init(eps):
    with pytest.raises(ValueError, match="`init` must have the image shape"):
        _dpnp(eps, init=torch.zeros(3, 1, 1, 2, dtype=torch.float64), image_shape=SHAPE)
    with pytest.raises(ValueError, match="`init` must have the image shape"):
        _dpnp(eps, init=torch.zeros(2, 1, 2, 1, dtype=torch.float64), image_shape=SHAPE)
    with pytest.raises(ValueError, match="`init` must be a \\(B, C, H, W\\) tensor"):
        _dpnp(eps, init=torch.zeros(2, 2, dtype=torch.float64), image_shape=SHAPE)
    for bad in (math.nan, math.inf):
        init = torch.zeros(SHAPE, dtype=torch.float64)
        init[0, 0, 0, 1] = bad
        with pytest.raises(ValueError, match="`init` has non-finite values"):
            _dpnp(eps, init=init)
    for name in ("DPS", "prior", "", "random"):
        with pytest.raises(ValueError, match="`init` must be None, 'noise', 'dps' or a tensor"):
            _dpnp(eps, init=name)


def test_wrong_shape_init_without_image_shape_names_init(eps):
    with pytest.raises(ValueError, match="`init`"):
        _dpnp(eps, init=torch.zeros(3, 1, 1, 2, dtype=torch.float64))


def test_tensor_init_sets_the_image_shape_and_starts_the_chain(eps):
    matrix = MatrixOperator(torch.eye(2, dtype=torch.float64), noise_std=0.1)
    y = torch.zeros(2, 2, dtype=torch.float64)
    init = torch.full(SHAPE, 0.5, dtype=torch.float32)  # converted to y's dtype
    out = _dpnp(eps, matrix, y, init=init)  # no image_shape needed
    assert out.samples.shape == SHAPE and out.samples.dtype == torch.float64


def test_dps_init_runs_and_counts_its_250_model_evaluations(eps):
    cold = _dpnp(eps, etas=[0.5, 0.2, 0.05], num_steps=4)
    warm = _dpnp(eps, etas=[0.5, 0.2, 0.05], num_steps=4, init="dps")
    assert cold.model_evals == 3 * 4  # every eta is above the 4-step grid's levels
    assert warm.model_evals == 250 + cold.model_evals
    assert warm.samples.shape == SHAPE and bool(torch.isfinite(warm.samples).all())
    assert _dps(eps, num_steps=250).model_evals == 250


# ----------------------------------------------------------------------------- batches


def test_each_chain_conditions_on_its_own_measurement(eps):
    """Chains alternate between two far-apart measurements of the ring (modes at 45 and 180
    degrees); every sample lands at its own measurement's mode."""
    n = 16
    targets = torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)], [-1.0, 0.0]], dtype=torch.float64)
    own = targets[torch.arange(n) % 2]
    matrix = MatrixOperator(torch.eye(2, dtype=torch.float64), noise_std=0.05)
    out = dpnp_sample(
        eps,
        ALPHAS_CUMPROD,
        matrix,
        own,
        etas=AnnealingSchedule(1.0, 0.05, 8),
        num_steps=5,
        image_shape=(n, 1, 1, 2),
        generator=_gen(0),
    )
    samples = out.samples.reshape(n, 2)
    distance_own = (samples - own).norm(dim=1)
    distance_other = (samples - own.flip(0)).norm(dim=1)
    assert bool((distance_own < 0.25).all()), distance_own
    assert bool((distance_other > 1.0).all()), distance_other
    # the same with 1-bit signs (MALA): y = (+, +) keeps the ring modes at 0, 45 and 90 degrees,
    # y = (-, -) those at 180, 225 and 270; x1 + x2 has y's sign on all of them
    signs = torch.tensor([[1.0, 1.0], [-1.0, -1.0]], dtype=torch.float64)[torch.arange(n) % 2].reshape(n, 1, 1, 2)
    out = dpnp_sample(
        eps,
        ALPHAS_CUMPROD,
        Quantized1Bit(0.1),
        signs,
        etas=AnnealingSchedule(1.0, 0.05, 10),
        num_steps=5,
        generator=_gen(1),
    )
    assert out.acceptance_rate is not None
    side = out.samples.reshape(n, 2).sum(1) * signs.reshape(n, 2)[:, 0]
    assert bool((side > 0.5).all()), side


# ----------------------------------------------------------------------------- type checks


@BOTH
@pytest.mark.parametrize("num_steps", [True, 2.5, "3"])
def test_num_steps_of_the_wrong_type(eps, sample, num_steps):
    with pytest.raises(ValueError, match="`num_steps`"):
        sample(eps, num_steps=num_steps)


def test_num_steps_is_checked_before_any_work(eps):
    calls = []

    def counting(x, t):
        calls.append(t)
        return eps(x, t)

    with pytest.raises(ValueError, match="`num_steps`"):
        _dpnp(counting, num_steps=0, init="dps")
    assert calls == []


@pytest.mark.parametrize("step_size", [None, "1", True])
def test_dps_step_size_of_the_wrong_type(eps, step_size):
    with pytest.raises(ValueError, match="`step_size`"):
        _dps(eps, step_size=step_size)


@pytest.mark.parametrize(
    ("field", "value"),
    [("metropolis", "no"), ("num_steps", True), ("step_scale", None), ("damping", "0"), ("target_acceptance", None)],
)
def test_langevin_settings_of_the_wrong_type(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        LangevinSettings(**{field: value})


@pytest.mark.parametrize(("field", "value"), [("eta_max", True), ("num_decay", True), ("hold", True)])
def test_annealing_schedule_rejects_bools(field, value):
    kwargs = {"eta_max": 1.0, "eta_min": 0.1, "num_decay": 4, "hold": 0, field: value}
    with pytest.raises(ValueError, match=f"`{field}`"):
        AnnealingSchedule(**kwargs)


def test_three_dimensional_measurement_gets_its_own_message(eps):
    with pytest.raises(ValueError, match="pass `image_shape`"):
        _dpnp(eps, y=_signs()[0])
