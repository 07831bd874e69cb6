"""The bundled ShapesWorld image prior loads offline and runs in every place it is meant for."""

import torch
from diffusers import DDPMPipeline

from plugdiff.pipelines import DPnPPipeline
from plugdiff.pipelines.operators import Inpainting
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
    images = pipe(batch_size=1, num_inference_steps=3, output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (1, 32, 32, 3)

    scheduler = AcceleratedDDPMScheduler.from_config(dict(pipe.scheduler.config))
    noise = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x, calls = denoise(scheduler, lambda x, t: pipe.unet(x, t).sample, noise, 3)
    assert x.shape == (2, 3, 32, 32) and calls == 3 and bool(torch.isfinite(x).all())

    dpnp = DPnPPipeline(unet=pipe.unet, scheduler=pipe.scheduler)
    operator = Inpainting("box", noise_std=0.05)
    y = operator.measure(torch.zeros(1, 3, 32, 32))
    out = dpnp(y[0], operator, num_samples=2, etas=[0.3, 0.1], num_dds_steps=2, output_type="pt",
               generator=torch.Generator().manual_seed(0))
    assert out.images.shape == (2, 3, 32, 32) and out.model_evals == 4
