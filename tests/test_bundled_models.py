"""The bundled ShapesWorld models load offline and run in every place they are meant for."""

import torch
from diffusers import DDPMPipeline, UNetMotionModel

from plugdiff.pipelines import DPnPPipeline, TiaraAnimateDiffPipeline
from plugdiff.pipelines.posterior.operators import Inpainting
from plugdiff.samplers import AcceleratedDDPMScheduler, denoise
from plugdiff.weights import REGISTRY, load_pipeline
from plugdiff.weights.registry import BUNDLED_ROOT


def test_shapesworld_ddpm_is_bundled_small_and_safetensors_only():
    folder = BUNDLED_ROOT / "shapesworld-ddpm"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert (folder / "unet" / "diffusion_pytorch_model.safetensors") in files
    assert not [p for p in files if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
    assert sum(p.stat().st_size for p in files) < 10 * 2**20
    assert REGISTRY["shapesworld-ddpm"].source == "bundled"


def test_shapesworld_ddpm_runs_in_ddpm_pipeline_our_schedulers_and_dpnp():
    pipe = load_pipeline("shapesworld-ddpm")
    assert isinstance(pipe, DDPMPipeline)
    config = pipe.unet.config
    assert config.sample_size == 32 and config.in_channels == 3
    assert pipe.scheduler.config.prediction_type == "epsilon" and pipe.scheduler.config.beta_schedule == "linear"
    images = pipe(
        batch_size=1, num_inference_steps=3, output_type="np", generator=torch.Generator().manual_seed(0)
    ).images
    assert images.shape == (1, 32, 32, 3)

    scheduler = AcceleratedDDPMScheduler.from_config(dict(pipe.scheduler.config))
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x, calls = denoise(scheduler, lambda x, t: pipe.unet(x, t).sample, noise, 3)
    assert x.shape == (2, 3, 32, 32) and calls == 3 and bool(torch.isfinite(x).all())

    dpnp = DPnPPipeline(unet=pipe.unet, scheduler=pipe.scheduler)
    operator = Inpainting("box", noise_std=0.05)
    y = operator.measure(torch.zeros(1, 3, 32, 32))
    out = dpnp(
        y[0],
        operator,
        num_samples=2,
        recipe="posterior",
        etas=[0.3, 0.1],
        num_dds_steps=2,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.images.shape == (2, 3, 32, 32) and out.model_evals == 4


def test_bundled_models_together_stay_under_50_mb_and_safetensors_only():
    files = [
        p for name in ("shapesworld-t2v", "shapesworld-ddpm") for p in (BUNDLED_ROOT / name).rglob("*") if p.is_file()
    ]
    assert sum(p.stat().st_size for p in files) <= 50 * 10**6
    assert not [p for p in files if p.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl"}]
    assert not [p for p in files if "checkpoint" in p.parts]


def test_shapesworld_t2v_loads_offline_as_an_animatediff_pipeline():
    pipe = load_pipeline("shapesworld-t2v")
    assert isinstance(pipe, TiaraAnimateDiffPipeline) and isinstance(pipe.unet, UNetMotionModel)
    assert pipe.unet.config.motion_max_seq_length >= 16 and pipe.vae_scale_factor == 4
    out = pipe(
        "a red circle moving right on a white background",
        num_frames=16,
        num_inference_steps=2,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.frames.shape == (1, 16, 3, 32, 32) and bool(torch.isfinite(out.frames).all())


def test_shapesworld_t2v_renders_a_long_multi_prompt_video_with_tiara_and_promptblend():
    pipe = load_pipeline("shapesworld-t2v")
    schedule = {
        0: "a red circle moving right on a white background",
        19: "a blue circle moving right on a white background",
    }
    out = pipe(
        schedule,
        num_frames=20,
        num_inference_steps=2,
        tiara={"alpha": 5.0},
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )
    assert out.frames.shape == (1, 20, 3, 32, 32) and bool(torch.isfinite(out.frames).all())
