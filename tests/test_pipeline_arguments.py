"""Bad pipeline arguments get a ValueError naming the argument, before any work (not an
IndexError, a ZeroDivisionError or a dtype clash from deep inside, nor a silent misbehaviour)."""

import pytest
import torch

from plugdiff.pipelines import DPnPPipeline, DPSPipeline, TiaraAnimateDiffPipeline
from plugdiff.weights import load_pipeline


@pytest.fixture(scope="module")
def video_pipe():
    pipe = load_pipeline("shapesworld-t2v", pipeline_cls=TiaraAnimateDiffPipeline)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def image_pipes():
    pipe = load_pipeline("shapesworld-ddpm", pipeline_cls=DPnPPipeline)
    pipe.set_progress_bar_config(disable=True)
    return pipe, DPSPipeline(**pipe.components)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": -8}, "`height` must be None or an integer >= 4, got -8"),
        ({"width": 0.5}, "`width` must be None or an integer"),
        ({"num_inference_steps": 0}, "`num_inference_steps` must be an integer >= 1, got 0"),
        ({"guidance_scale": float("nan")}, "`guidance_scale` must be a finite number, got nan"),
        ({"latents": torch.randn(1, 4, 4, 8, 8).half()}, "`latents` must have the pipeline's dtype torch.float32"),
        ({"latents": torch.randn(1, 4, 3, 8, 8)}, "`latents` must have shape (any, 4, 4, 8, 8), got (1, 4, 3, 8, 8)"),
        ({"latents": torch.full((1, 4, 4, 8, 8), float("inf"))}, "`latents` has non-finite values"),
        ({"num_frames": 0}, "`num_frames` must be an integer >= 1, got 0"),
    ],
)
def test_video_pipeline_arguments(video_pipe, kwargs, message):
    with pytest.raises(ValueError) as caught:
        video_pipe(
            "a red circle",
            **{"num_frames": 4, "num_inference_steps": 1, "windows": False, "output_type": "pt", **kwargs},
        )
    assert message in str(caught.value)


def test_dps_steps_beyond_the_training_steps(image_pipes):
    _, dps = image_pipes
    steps = len(dps.alphas_cumprod)
    with pytest.raises(
        ValueError, match=f"`num_inference_steps` must be None or an integer from 1 to {steps}, got {10**9}"
    ):
        dps(torch.zeros(3, 32, 32), "gaussian_blur", num_inference_steps=10**9, output_type="pt")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda p, y: p(y[:, :17, :17], "gaussian_blur", etas=[0.5], num_dds_steps=1),
            "measurement `y` must have shape",
        ),
        (lambda p, y: p(y * float("nan"), "gaussian_blur", etas=[0.5], num_dds_steps=1), "non-finite"),
        (
            lambda p, y: p(y, "gaussian_blur", etas=[0.5], num_dds_steps=0),
            "`num_steps` must be None or an integer >= 1",
        ),
        (
            lambda p, y: p(y, "gaussian_blur", etas=[0.5], num_dds_steps=1, num_samples=0),
            "`num_samples` must be an integer >= 1",
        ),
        (
            lambda p, y: p(y, "gaussian_blur", etas=[float("nan")], num_dds_steps=1),
            "`etas` must be finite numbers > 0",
        ),
    ],
)
def test_dpnp_pipeline_arguments(image_pipes, call, message):
    pipe, _ = image_pipes
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call(pipe, torch.zeros(3, 32, 32))


def test_dps_step_size_must_be_finite(image_pipes):
    _, dps = image_pipes
    with pytest.raises(ValueError, match="`step_size` must be a finite number > 0"):
        dps(torch.zeros(3, 32, 32), "gaussian_blur", num_inference_steps=2, step_size=float("nan"))
