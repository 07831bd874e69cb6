"""diffusers conventions: config, from_config swaps, grids, prediction types, errors."""

import math

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
)
from plugdiff_schedulers import SCHEDULERS

from plugdiff import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler
from plugdiff.evaluation import GaussianMixture
from plugdiff.samplers import denoise

f64 = torch.float64
OURS = SCHEDULERS
SD_STYLE = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    clip_sample=False,
    set_alpha_to_one=False,
    steps_offset=1,
    prediction_type="v_prediction",
    timestep_spacing="leading",
)


@pytest.mark.parametrize("cls", OURS)
def test_config_save_load_round_trip(cls, tmp_path):
    sched = cls(**SD_STYLE, thresholding=True, sample_max_value=2.0)
    sched.save_pretrained(tmp_path)
    loaded = cls.from_pretrained(tmp_path)
    assert type(loaded) is cls
    public = lambda config: {k: v for k, v in config.items() if not k.startswith("_")}
    assert public(loaded.config) == public(sched.config)
    assert torch.equal(loaded.alphas_cumprod, sched.alphas_cumprod)


@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize(
    "source", [DDIMScheduler, DDPMScheduler, PNDMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler]
)
def test_from_config_swap_keeps_the_noise_schedule(cls, source):
    kwargs = dict(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="v_prediction",
        steps_offset=1,
    )
    original = source(**kwargs)
    swapped = cls.from_config(original.config)
    assert torch.equal(swapped.alphas_cumprod, original.alphas_cumprod)
    assert swapped.config.prediction_type == "v_prediction"
    assert swapped.config.steps_offset == 1
    back = source.from_config(swapped.config)  # and back again
    assert torch.equal(back.alphas_cumprod, original.alphas_cumprod)


def test_compatibles_list_the_karras_family():
    names = {c.__name__ for c in AcceleratedDDIMScheduler().compatibles}
    assert {"DDIMScheduler", "DDPMScheduler", "EulerDiscreteScheduler", "DPMSolverMultistepScheduler"} <= names
    assert AcceleratedDDIMScheduler.order == 1 and AcceleratedDDPMScheduler().init_noise_sigma == 1.0


@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("steps", [1, 7, 15, 50])
def test_timestep_grids_match_diffusers(cls, spacing, steps):
    ours = cls(timestep_spacing=spacing, steps_offset=1 if spacing == "leading" else 0)
    ref = DDPMScheduler(timestep_spacing=spacing, steps_offset=1 if spacing == "leading" else 0)
    ours.set_timesteps(steps)
    ref.set_timesteps(steps)
    assert torch.equal(ours.timesteps, ref.timesteps)
    # the next level is always the next grid point (DDIM's `t - T // N` is not, off "leading")
    expected = np.append(ours.alphas_cumprod.double().numpy()[ours.timesteps.numpy()], 1.0)
    assert np.array_equal(ours.levels, expected)


@pytest.mark.parametrize("cls", OURS)
def test_custom_timesteps_equal_the_same_grid(cls):
    target = GaussianMixture([1.0, 1.0], torch.tensor([[0.5, 0.5], [-0.5, 0.2]]), torch.tensor([0.1, 0.2]))
    noise = torch.randn(8, 2, generator=torch.Generator().manual_seed(0), dtype=f64)
    sched = cls(clip_sample=False, timestep_spacing="trailing")
    model = target.eps_model(sched.alphas_cumprod)
    by_count, _ = denoise(sched, model, noise, 12, generator=torch.Generator().manual_seed(1))
    grid = sched.timesteps.tolist()
    by_list, calls = denoise(sched, model, noise, timesteps=grid, generator=torch.Generator().manual_seed(1))
    assert calls == 12 and torch.equal(by_count, by_list)
    uneven, _ = denoise(
        sched, model, noise, timesteps=[999, 700, 400, 150, 40, 5], generator=torch.Generator().manual_seed(1)
    )
    assert torch.isfinite(uneven).all()


def eps_to(kind, eps_model, alphas_cumprod):
    """Wrap an eps model as a v- or x0-prediction model (exact conversion)."""

    def model(x, t):
        a = float(alphas_cumprod.double()[int(t)])
        eps = eps_model(x, t)
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        return math.sqrt(a) * eps - math.sqrt(1 - a) * x0 if kind == "v_prediction" else x0

    return model


@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize("kind", ["v_prediction", "sample"])
def test_prediction_types_give_the_same_trajectory(cls, kind):
    target = GaussianMixture([1.0, 2.0], torch.tensor([[1.0, 0.0, 0.5], [-0.5, 0.5, 0.0]]), torch.tensor([0.1, 0.3]))
    noise = torch.randn(16, 3, generator=torch.Generator().manual_seed(0), dtype=f64)
    eps_sched = cls(clip_sample=False, timestep_spacing="trailing")
    eps_model = target.eps_model(eps_sched.alphas_cumprod)
    ref, _ = denoise(eps_sched, eps_model, noise, 10, generator=torch.Generator().manual_seed(3))
    other = cls(clip_sample=False, timestep_spacing="trailing", prediction_type=kind)
    out, _ = denoise(
        other, eps_to(kind, eps_model, other.alphas_cumprod), noise, 10, generator=torch.Generator().manual_seed(3)
    )
    assert torch.allclose(out, ref, atol=1e-8)


@pytest.mark.parametrize("cls", OURS)
def test_clip_sample_and_thresholding_bound_x0(cls):
    # data far outside [-1, 1]; image-shaped (diffusers' thresholding needs (B, C, ...))
    target = GaussianMixture([1.0], torch.full((1, 4), 3.0), torch.tensor([0.5]), event_shape=(1, 2, 2))
    for config, bound in [
        (dict(clip_sample=True, clip_sample_range=1.5), 1.5),
        (dict(thresholding=True, sample_max_value=2.0), 2.0),
    ]:
        sched = cls(timestep_spacing="trailing", **config)
        model = target.eps_model(sched.alphas_cumprod)
        sched.set_timesteps(5)
        x = torch.randn(8, 1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=f64)
        for t in sched.timesteps:
            out = sched.step(model(x, t), t, x, generator=torch.Generator().manual_seed(0))
            assert out.pred_original_sample.abs().max() <= bound + 1e-12
            x = out.prev_sample


@pytest.mark.parametrize("cls", OURS)
def test_add_noise_and_velocity_match_ddpm(cls):
    ours, ref = cls(), DDPMScheduler()
    x0, noise = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    t = torch.tensor([0, 500, 999])
    assert torch.equal(ours.add_noise(x0, noise, t), ref.add_noise(x0, noise, t))
    assert torch.equal(ours.get_velocity(x0, noise, t), ref.get_velocity(x0, noise, t))
    assert torch.equal(ours.scale_model_input(x0, t[0]), x0)


@pytest.mark.parametrize("cls", OURS)
def test_begin_index_for_img2img(cls):
    """Pipelines that start mid-schedule call set_begin_index; the first step then has no memory."""
    sched = cls(clip_sample=False, timestep_spacing="trailing")
    sched.set_timesteps(10)
    sched.set_begin_index(4)
    x = torch.randn(2, 3)
    ts = sched.timesteps[4:]
    for t in ts:
        x = sched.step(torch.zeros_like(x), t, x, generator=torch.Generator().manual_seed(0)).prev_sample
    assert sched.step_index == 10 and torch.isfinite(x).all()
    sched.set_timesteps(10)  # resets everything
    assert sched.step_index is None and sched.begin_index is None


@pytest.mark.parametrize("cls", OURS)
def test_half_precision_sample_keeps_its_dtype(cls):
    sched = cls(timestep_spacing="trailing")
    sched.set_timesteps(4)
    x = torch.randn(1, 4, 8, 8).to(torch.bfloat16)
    for t in sched.timesteps:
        x = sched.step(0.1 * x, t, x).prev_sample
    assert x.dtype == torch.bfloat16 and torch.isfinite(x.float()).all()


# ---------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(timestep_spacing="uniform"), ValueError, "timestep_spacing"),
        (dict(prediction_type="noise"), ValueError, "prediction_type"),
        (dict(beta_schedule="cosine"), ValueError, "beta_schedule"),
        (dict(num_train_timesteps=0), ValueError, "num_train_timesteps"),
        (dict(num_train_timesteps=10.5), TypeError, "num_train_timesteps"),
        (dict(steps_offset=-1), ValueError, "steps_offset"),
        (dict(trained_betas=[[0.1, 0.2]]), ValueError, "trained_betas"),
        (dict(variance_type="other"), ValueError, "variance_type"),
    ],
)
def test_bad_constructor_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls", OURS)
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_inference_steps=0), ValueError, "num_inference_steps"),
        (dict(num_inference_steps=-3), ValueError, "num_inference_steps"),
        (dict(num_inference_steps=1001), ValueError, "num_train_timesteps"),
        (dict(num_inference_steps=10.5), TypeError, "num_inference_steps"),
        (dict(num_inference_steps="10"), TypeError, "num_inference_steps"),
        (dict(), ValueError, "exactly one"),
        (dict(num_inference_steps=5, timesteps=[900, 500]), ValueError, "exactly one"),
        (dict(timesteps=[500, 900]), ValueError, "descending"),
        (dict(timesteps=[900, 900]), ValueError, "descending"),
        (dict(timesteps=[1000, 500]), ValueError, r"timesteps\[0\]"),
        (dict(timesteps=[900, -1]), ValueError, r"timesteps\[1\]"),
        (dict(timesteps=[900, 500.5]), TypeError, r"timesteps\[1\]"),
        (dict(timesteps=[]), ValueError, "empty"),
    ],
)
def test_bad_set_timesteps_arguments(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls().set_timesteps(**kwargs)


def test_leading_offset_past_the_end_is_rejected():
    with pytest.raises(ValueError, match="steps_offset"):
        AcceleratedDDIMScheduler(steps_offset=5).set_timesteps(1000)


@pytest.mark.parametrize("cls", OURS)
def test_trained_betas_shorter_than_the_training_grid_fail_when_used(cls):
    sched = cls(trained_betas=[0.1, 0.3])  # diffusers builds (and saves) this too
    with pytest.raises(ValueError, match="trained_betas"):
        sched.set_timesteps(5)


def test_use_clipped_model_output_matches_ddim_and_rederives_eps():
    # data far outside [-1, 1], so clipping changes x0 at every step
    target = GaussianMixture([1.0], torch.full((1, 4), 3.0), torch.tensor([0.5]), event_shape=(1, 2, 2))
    config = dict(clip_sample=True, timestep_spacing="trailing")
    x = torch.randn(8, 1, 2, 2, generator=torch.Generator().manual_seed(0), dtype=f64)
    ours, ddim = AcceleratedDDIMScheduler(**config), DDIMScheduler(**config)
    model = target.eps_model(ours.alphas_cumprod)
    for sched in (ours, ddim):
        sched.set_timesteps(5)
    t = ours.timesteps[0]
    eps = model(x, t)
    # the first accelerated step has no correction yet: it is DDIM's step, flag included
    for flag in (False, True):
        ours.set_timesteps(5)
        mine = ours.step(eps, t, x, use_clipped_model_output=flag).prev_sample
        theirs = ddim.step(eps, t, x, use_clipped_model_output=flag).prev_sample
        assert torch.allclose(mine, theirs, atol=1e-10)
    # over a whole run the flag changes the DDIM-type trajectory but not the DDPM-type one
    runs = {}
    for cls in OURS:
        for flag in (False, True):
            sched = cls(**config)
            sched.set_timesteps(5)
            y = x.clone()
            for t in sched.timesteps:
                y = sched.step(
                    model(y, t), t, y, generator=torch.Generator().manual_seed(1), use_clipped_model_output=flag
                ).prev_sample
            runs[cls, flag] = y
    assert not torch.allclose(runs[AcceleratedDDIMScheduler, False], runs[AcceleratedDDIMScheduler, True])
    assert torch.equal(runs[AcceleratedDDPMScheduler, False], runs[AcceleratedDDPMScheduler, True])
