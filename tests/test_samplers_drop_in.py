"""Drop-in conformance: what diffusers' generic scheduler tests and pipelines expect of a
scheduler, checked on every plugdiff scheduler (see plugdiff_schedulers.SCHEDULERS)."""

import inspect

import numpy as np
import pytest
import torch
from diffusers import (
    DDIMPipeline,
    DDIMScheduler,
    DDPMScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
)
from diffusers.utils import DummyObject
from diffusers.utils.torch_utils import randn_tensor
from plugdiff_schedulers import SCHEDULERS

from plugdiff import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler
from plugdiff.samplers import denoise
from plugdiff.testing import tiny_unet2d


def sample_and_output(dtype=torch.float32, channels=3):
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(2, channels, 4, 4, generator=g).to(dtype)
    return sample, (0.1 * sample)


def public(config) -> dict:
    return {k: v for k, v in config.items() if not k.startswith("_")}


# ---------------------------------------------------------------------- config
@pytest.mark.parametrize("cls", SCHEDULERS)
def test_compatibles_include_every_plugdiff_scheduler_and_round_trip(cls):
    sched = cls(beta_schedule="scaled_linear", prediction_type="v_prediction", timestep_spacing="trailing")
    compatibles = set(sched.compatibles)
    assert set(SCHEDULERS) | {DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler} <= compatibles
    for other in compatibles:
        if isinstance(other, DummyObject):  # a diffusers scheduler whose optional dependency is missing
            continue
        back = cls.from_config(other.from_config(sched.config).config)
        assert public(back.config) == public(sched.config), other.__name__


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_direct_construction_with_ddpm_arguments(cls):
    sched = cls(variance_type="fixed_large", beta_schedule="sigmoid", clip_sample_range=2.0)
    ref = DDPMScheduler(variance_type="fixed_large", beta_schedule="sigmoid", clip_sample_range=2.0)
    assert torch.equal(sched.alphas_cumprod, ref.alphas_cumprod)
    swapped = cls.from_config(ref.config)
    assert swapped.config.variance_type == "fixed_large" and torch.equal(swapped.alphas_cumprod, ref.alphas_cumprod)


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_whole_float_step_count_is_accepted(cls):
    a, b = cls(), cls()
    a.set_timesteps(10.0)
    b.set_timesteps(10)
    assert torch.equal(a.timesteps, b.timesteps) and a.num_inference_steps == 10


@pytest.mark.parametrize("cls", SCHEDULERS)
@pytest.mark.parametrize("grid", [dict(num_inference_steps=7), dict(timesteps=[100, 87, 50, 1, 0])])
def test_previous_timestep_matches_ddpm(cls, grid):
    ours, ref = cls(timestep_spacing="trailing"), DDPMScheduler(timestep_spacing="trailing")
    ours.set_timesteps(**grid)
    ref.set_timesteps(**grid)
    for t in ref.timesteps:
        assert ours.previous_timestep(t).item() == ref.previous_timestep(t).item()
    unset = cls()  # before set_timesteps: the training grid
    assert unset.previous_timestep(500).item() == 499 and unset.previous_timestep(0).item() == -1


# ---------------------------------------------------------------------- step
@pytest.mark.parametrize("cls", SCHEDULERS)
def test_step_before_set_timesteps_walks_the_training_grid(cls):
    sample, _ = sample_and_output()
    lazy, explicit = cls(clip_sample=False), cls(clip_sample=False)
    explicit.set_timesteps(timesteps=list(range(999, -1, -1)))
    outputs = []
    for sched in (lazy, explicit):
        x = sample
        for t in [999, 998, 997]:
            x = sched.step(0.1 * x, t, x, generator=torch.Generator().manual_seed(0)).prev_sample
        outputs.append(x)
    assert torch.equal(*outputs)
    # starting mid-grid, as DDPMScheduler's own loops do after add_noise
    mid = cls(clip_sample=False)
    assert torch.isfinite(mid.step(0.1 * sample, 1, sample).prev_sample).all() and mid.step_index == 999


@pytest.mark.parametrize("cls", SCHEDULERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
def test_step_shapes_dtypes_and_tuple_output(cls, dtype, prediction_type):
    sample, output = sample_and_output(dtype)
    results = []
    for return_dict in (True, False):
        sched = cls(prediction_type=prediction_type, timestep_spacing="trailing")
        sched.set_timesteps(5)
        out = sched.step(
            output, sched.timesteps[0], sample, generator=torch.Generator().manual_seed(0), return_dict=return_dict
        )
        results.append(tuple(out.values()) if return_dict else out)
    for prev_sample, x0 in results:
        assert prev_sample.shape == x0.shape == sample.shape
        assert prev_sample.dtype == dtype and torch.isfinite(prev_sample.float()).all()
    assert all(torch.equal(a, b) for a, b in zip(*results))


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_learned_variance_channels_are_dropped(cls):
    sample, output = sample_and_output()
    learned = torch.cat([output, torch.randn_like(output)], dim=1)
    runs = []
    for variance_type, model_output in (("fixed_small", output), ("learned_range", learned)):
        sched = cls(variance_type=variance_type)
        sched.set_timesteps(4)
        runs.append(
            sched.step(
                model_output, sched.timesteps[0], sample, generator=torch.Generator().manual_seed(0)
            ).prev_sample
        )
    assert torch.equal(*runs)


def test_ddim_signature_and_deterministic_arguments():
    assert list(inspect.signature(AcceleratedDDIMScheduler.step).parameters) == list(
        inspect.signature(DDIMScheduler.step).parameters
    )
    sample, output = sample_and_output()
    sched = AcceleratedDDIMScheduler()
    sched.set_timesteps(4)
    t = sched.timesteps[0]
    positional = sched.step(output, t, sample, 0.0).prev_sample  # eta passed positionally, as DDIM's tests do
    sched.set_timesteps(4)
    assert torch.equal(positional, sched.step(output, t, sample).prev_sample)
    with pytest.raises(ValueError, match="AcceleratedDDPMScheduler"):
        sched.step(output, t, sample, eta=0.5)
    with pytest.raises(ValueError, match="variance_noise"):
        sched.step(output, t, sample, variance_noise=torch.zeros_like(sample))


def test_ddpm_signature_and_eta():
    ddpm_params = list(inspect.signature(DDPMScheduler.step).parameters)
    assert list(inspect.signature(AcceleratedDDPMScheduler.step).parameters)[: len(ddpm_params)] == ddpm_params
    sample, output = sample_and_output()
    runs = []
    for eta in (0.0, 1.0):
        sched = AcceleratedDDPMScheduler()
        sched.set_timesteps(4)
        runs.append(
            sched.step(output, sched.timesteps[0], sample, torch.Generator().manual_seed(0), eta=eta).prev_sample
        )
    assert torch.equal(*runs)
    with pytest.raises(ValueError, match="AcceleratedDDIMScheduler"):
        sched.step(output, sched.timesteps[1], sample, eta=0.3)


def test_step_past_the_end_repeats_ddims_last_step():
    """DDIMScheduler given the last timestep again repeats the last step; so do we, first order."""
    sample, output = sample_and_output(torch.float64)
    ours, ddim = AcceleratedDDIMScheduler(clip_sample=False), DDIMScheduler(clip_sample=False)
    for sched in (ours, ddim):
        sched.set_timesteps(3)
    for t in ours.timesteps:
        ours.step(output, t, sample)
    last = ours.timesteps[-1]
    extra = ours.step(output, last, sample).prev_sample
    assert torch.allclose(extra, ddim.step(output, last, sample).prev_sample, atol=1e-12)


@pytest.mark.parametrize("cls", SCHEDULERS)
def test_stepping_with_tensor_timesteps_on_another_device_type(cls):
    """Pipelines pass 0-d tensors and python ints alike."""
    sample, output = sample_and_output()
    by_int, by_tensor = cls(), cls()
    for sched in (by_int, by_tensor):
        sched.set_timesteps(3)
    a = by_int.step(output, int(by_int.timesteps[0]), sample, generator=torch.Generator().manual_seed(0)).prev_sample
    b = by_tensor.step(output, by_tensor.timesteps[0], sample, generator=torch.Generator().manual_seed(0)).prev_sample
    assert torch.equal(a, b)


@pytest.mark.parametrize("source", [DDIMScheduler, DDPMScheduler, PNDMScheduler])
@pytest.mark.parametrize("cls", SCHEDULERS)
def test_add_noise_matches_diffusers_on_every_grid_timestep(cls, source):
    ours, ref = cls.from_config(source().config), source()
    ours.set_timesteps(10)
    x0, noise = torch.randn(10, 3, 4, 4), torch.randn(10, 3, 4, 4)
    assert torch.equal(ours.add_noise(x0, noise, ours.timesteps), ref.add_noise(x0, noise, ours.timesteps))


# ---------------------------------------------------------------------- DDIMPipeline
@pytest.mark.parametrize("cls", SCHEDULERS)
def test_stock_ddim_pipeline_runs_our_schedulers(cls):
    """DDIMPipeline passes eta=0.0 and use_clipped_model_output to step; it equals our plain loop."""
    unet = tiny_unet2d().eval()
    pipe = DDIMPipeline(unet=unet, scheduler=DDIMScheduler(timestep_spacing="trailing"))
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    images = pipe(
        batch_size=2, num_inference_steps=5, generator=torch.Generator().manual_seed(0), output_type="np"
    ).images

    g = torch.Generator().manual_seed(0)
    noise = randn_tensor((2, 3, 16, 16), generator=g)
    with torch.no_grad():
        out, _ = denoise(pipe.scheduler, lambda x, t: unet(x, t).sample, noise, 5, generator=g)
    np.testing.assert_array_equal(images, (out / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy())
    if cls.accepted_etas == (0.0,):
        with pytest.raises(ValueError, match="eta"):
            pipe(num_inference_steps=2, eta=0.5, output_type="np")
