"""The schedulers run unchanged inside diffusers' own pipelines (tiny components, offline)."""

import numpy as np
import pytest
import torch
from diffusers import (
    AnimateDiffPipeline,
    DDIMScheduler,
    DDPMPipeline,
    DDPMScheduler,
    StableDiffusionImg2ImgPipeline,
    StableDiffusionPipeline,
)
from diffusers.utils.torch_utils import randn_tensor
from plugdiff_schedulers import SCHEDULERS

from plugdiff.samplers import denoise
from plugdiff.testing import animatediff_components, autoencoder, text_components, tiny_unet2d, unet2d_condition

OURS = SCHEDULERS


@pytest.fixture(scope="module")
def unet2d():
    return tiny_unet2d().eval()


@pytest.mark.parametrize("cls", OURS)
def test_ddpm_pipeline_equals_the_plain_loop(cls, unet2d):
    """DDPMPipeline with our scheduler swapped in gives exactly what our own loop gives."""
    pipe = DDPMPipeline(unet=unet2d, scheduler=DDPMScheduler(timestep_spacing="trailing"))
    pipe.scheduler = cls.from_config(pipe.scheduler.config)
    assert type(pipe.scheduler) is cls
    images = pipe(
        batch_size=2, num_inference_steps=6, generator=torch.Generator().manual_seed(0), output_type="np"
    ).images

    g = torch.Generator().manual_seed(0)
    noise = randn_tensor((2, 3, 16, 16), generator=g)
    with torch.no_grad():
        out, calls = denoise(pipe.scheduler, lambda x, t: unet2d(x, t).sample, noise, 6, generator=g)
    expected = (out / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert calls == 6 and images.shape == (2, 16, 16, 3)
    np.testing.assert_array_equal(images, expected)


@pytest.mark.parametrize("cls", OURS)
def test_pipeline_with_our_scheduler_round_trips(cls, unet2d, tmp_path):
    """save_pretrained records the scheduler by its defining module; from_pretrained restores it."""
    pipe = DDPMPipeline(unet=unet2d, scheduler=cls(timestep_spacing="trailing", clip_sample=False))
    pipe.save_pretrained(tmp_path)
    loaded = DDPMPipeline.from_pretrained(tmp_path)
    assert type(loaded.scheduler) is cls
    assert loaded.scheduler.config.timestep_spacing == "trailing"
    run = lambda p: p(num_inference_steps=3, generator=torch.Generator().manual_seed(1), output_type="np").images
    np.testing.assert_allclose(run(pipe), run(loaded), atol=1e-4)  # reloaded UNet: float32 reduction order


@pytest.fixture(scope="module")
def sd_pipe():
    pipe = StableDiffusionPipeline(
        vae=autoencoder(),
        unet=unet2d_condition(),
        scheduler=DDIMScheduler(clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        **text_components(),
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("cls", OURS)
def test_stable_diffusion_pipeline(cls, sd_pipe):
    sd_pipe.scheduler = cls.from_config(sd_pipe.scheduler.config)
    call = dict(
        prompt="a red square", num_inference_steps=4, guidance_scale=5.0, height=32, width=32, output_type="np"
    )
    first = sd_pipe(**call, generator=torch.Generator().manual_seed(0)).images
    again = sd_pipe(**call, generator=torch.Generator().manual_seed(0)).images
    assert first.shape == (1, 32, 32, 3) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert sd_pipe.scheduler.step_index == 4  # every step went through our scheduler


@pytest.mark.parametrize("cls", OURS)
def test_img2img_starts_mid_schedule(cls, sd_pipe):
    """img2img noises the input with add_noise and starts at set_begin_index: strength 0.5 of
    6 steps runs exactly the last 3 grid steps."""
    pipe = StableDiffusionImg2ImgPipeline(**sd_pipe.components)
    pipe.scheduler = cls.from_config(sd_pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 32, 32)
    out = pipe(
        prompt="a red square",
        image=image,
        strength=0.5,
        num_inference_steps=6,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images
    assert out.shape == (1, 32, 32, 3) and np.isfinite(out).all()
    assert pipe.scheduler.begin_index == 3 and pipe.scheduler.step_index == 6


def test_animatediff_pipeline():
    pipe = AnimateDiffPipeline(
        **{
            **animatediff_components(),
            "scheduler": DDIMScheduler(
                beta_schedule="linear", clip_sample=False, timestep_spacing="linspace", steps_offset=1
            ),
        }
    )
    pipe.set_progress_bar_config(disable=True)
    for cls in OURS:
        pipe.scheduler = cls.from_config(pipe.scheduler.config)
        frames = pipe(
            prompt="a blue circle",
            num_frames=4,
            num_inference_steps=3,
            guidance_scale=7.5,
            height=32,
            width=32,
            output_type="pt",
            generator=torch.Generator().manual_seed(0),
        ).frames
        assert frames.shape == (1, 4, 3, 32, 32) and torch.isfinite(frames).all()
        assert pipe.scheduler.step_index == 3
