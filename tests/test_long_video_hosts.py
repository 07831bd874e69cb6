"""The long-video host as a choice of TiaraAnimateDiffPipeline's call: windows (default), FIFO-Diffusion
and FreeLong, each with TiARA and PromptBlend, on tiny components (no guidance, few steps: fast)."""

import pytest
import torch
from diffusers import EulerAncestralDiscreteScheduler, EulerDiscreteScheduler

from plugdiff.attention_processors import spectral_blend_controller, tiara_controller
from plugdiff.pipelines import FifoSettings, TiaraAnimateDiffPipeline
from plugdiff.samplers import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler
from plugdiff.testing import animatediff_components

SIZE = dict(height=8, width=8)  # 4 x 4 latents
FIFO = {"host": "fifo", "window": 4}
FIFO_PLAIN = {}  # the plain FIFO video of generate()'s defaults, made once


@pytest.fixture(scope="module")
def pipe():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, prompt="a red circle", num_frames=4, steps=4, seed=0, **kwargs):
    kwargs.setdefault("guidance_scale", 1.0)
    return pipe(
        prompt,
        num_frames=num_frames,
        num_inference_steps=steps,
        output_type="latent",
        generator=torch.Generator().manual_seed(seed),
        **SIZE,
        **kwargs,
    ).frames


def test_default_host_is_windows(pipe):
    plain = generate(pipe, num_frames=20, steps=1)
    assert torch.equal(generate(pipe, num_frames=20, steps=1, long_video="windows"), plain)
    assert torch.equal(generate(pipe, num_frames=20, steps=1, long_video={"host": "windows"}), plain)


def fifo_plain(pipe):
    if not FIFO_PLAIN:
        FIFO_PLAIN["video"] = generate(pipe, long_video=FifoSettings(window=4))
    return FIFO_PLAIN["video"]


def test_fifo_makes_the_video_with_and_without_tiara(pipe):
    plain = fifo_plain(pipe)
    assert plain.shape == (1, 4, 4, 4, 4) and torch.isfinite(plain).all()
    assert torch.equal(generate(pipe, long_video=FIFO, tiara={"alpha": 0.0}), plain)  # strength 0: identity
    with_tiara = generate(pipe, long_video=FIFO, tiara={"alpha": 5.0, "window_length": 3})
    assert torch.isfinite(with_tiara).all() and not torch.allclose(with_tiara, plain, atol=1e-4)
    assert tiara_controller(pipe) is None


def test_fifo_partitions_guidance_and_the_windows_window(pipe):
    """Two partitions of the window set by `windows`, no lookahead, classifier-free guidance."""
    frames = generate(
        pipe,
        steps=8,
        long_video={"host": "fifo", "lookahead": False},
        windows={"context_length": 4},
        guidance_scale=3.0,
        num_frames=3,
    )
    assert frames.shape == (1, 4, 3, 4, 4) and torch.isfinite(frames).all()


@pytest.mark.parametrize(
    "scheduler", [EulerDiscreteScheduler, EulerAncestralDiscreteScheduler, AcceleratedDDPMScheduler]
)
def test_fifo_with_schedulers_that_step_per_frame(scheduler):
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = scheduler.from_config(pipe.scheduler.config)
    frames = generate(pipe, long_video={**FIFO, "lookahead": False}, num_frames=3)
    assert frames.shape[2] == 3 and torch.isfinite(frames).all()


def test_fifo_drops_the_still_start_unless_asked_to_keep_it(pipe):
    """With 2 partitions the first queue emits 4 re-noised copies of the start clip's first frame
    before the clip's own frames: dropped by default, kept (the authors' way) with keep_warmup."""
    host = {**FIFO, "lookahead": False}
    dropped = generate(pipe, steps=8, num_frames=3, long_video=host)
    kept = generate(pipe, steps=8, num_frames=7, long_video={**host, "keep_warmup": True})
    assert torch.equal(kept[:, :, 4:], dropped)


def test_fifo_with_a_prompt_schedule(pipe):
    schedule = {0: "a red circle", 2: "a blue square"}
    blended = generate(pipe, schedule, long_video=FIFO)
    linear = generate(pipe, schedule, long_video=FIFO, prompt_blend=False)
    single = fifo_plain(pipe)
    assert torch.isfinite(blended).all() and not torch.allclose(blended, linear, atol=1e-4)
    assert not torch.allclose(blended, single, atol=1e-4)
    assert torch.equal(generate(pipe, {0: "a red circle"}, long_video=FIFO), single)


def test_freelong_makes_long_videos_and_short_ones_unchanged(pipe):
    short = generate(pipe, num_frames=8, steps=2, long_video="freelong")  # 8 <= 16 frames: the model's own attention
    assert torch.equal(short, generate(pipe, num_frames=8, steps=2, windows=False))
    long = generate(pipe, num_frames=36, steps=1, long_video={"host": "freelong", "local_stride": 8})  # > 32 positions
    assert long.shape[2] == 36 and torch.isfinite(long).all()
    assert spectral_blend_controller(pipe) is None  # taken off after the call


def test_freelong_with_tiara_and_promptblend(pipe):
    schedule = {0: "a red circle", 10: "a blue square"}
    plain = generate(pipe, schedule, num_frames=20, steps=1, long_video="freelong", windows={"context_length": 8})
    assert torch.equal(
        plain,
        generate(
            pipe,
            schedule,
            num_frames=20,
            steps=1,
            long_video="freelong",
            windows={"context_length": 8},
            tiara={"alpha": 0.0},
        ),
    )
    with_tiara = generate(
        pipe,
        schedule,
        num_frames=20,
        steps=1,
        long_video="freelong",
        windows={"context_length": 8},
        tiara={"alpha": 5.0, "window_length": 3},
    )
    assert torch.isfinite(with_tiara).all() and not torch.allclose(with_tiara, plain, atol=1e-4)
    windows = generate(pipe, schedule, num_frames=20, steps=1, windows={"context_length": 8})
    assert not torch.allclose(plain, windows, atol=1e-4)
    assert spectral_blend_controller(pipe) is None and tiara_controller(pipe) is None


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(long_video="fifo", steps=5), ValueError, "multiple of window=16"),
        (dict(long_video={**FIFO, "window": 3}, steps=6), ValueError, "even window"),
        (dict(long_video={**FIFO, "window": 40}, steps=40), ValueError, "maximum"),
        (dict(long_video={**FIFO, "partitions": 2}), ValueError, "unknown fifo settings"),
        (dict(long_video="stream"), ValueError, "long_video"),
        (dict(long_video=3), TypeError, "long_video"),
        (dict(long_video={"lookahead": True}), ValueError, "host"),
        (dict(long_video=FIFO, latents=torch.zeros(1, 4, 4, 4, 4)), ValueError, "latents"),
        (dict(long_video=FIFO, callback_on_step_end=lambda *a: {}), ValueError, "callback"),
        (dict(long_video=FIFO, tiara={"window_length": 5}), ValueError, "window_length"),
        (dict(long_video={"host": "freelong", "local_stride": 0}), ValueError, "local_stride"),
        (dict(long_video={"host": "freelong", "local_frames": 40}, num_frames=48), ValueError, "maximum"),
        (dict(long_video="freelong", windows=False), ValueError, "windows=False"),
    ],
)
def test_bad_host_arguments(pipe, kwargs, error, match):
    with pytest.raises(error, match=match):
        generate(pipe, **kwargs)
    assert tiara_controller(pipe) is None and spectral_blend_controller(pipe) is None


def test_fifo_refuses_schedulers_with_memory():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.scheduler = AcceleratedDDIMScheduler.from_config(pipe.scheduler.config)
    with pytest.raises(ValueError, match="AcceleratedDDIMScheduler cannot"):
        generate(pipe, long_video=FIFO)


def test_fifo_and_freelong_refuse_diffusers_freenoise():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.enable_free_noise(context_length=16, context_stride=4)
    for host, match in [(FIFO, "FreeNoise"), ("freelong", "FreeNoise")]:
        with pytest.raises(ValueError, match=match):
            generate(pipe, long_video=host)
