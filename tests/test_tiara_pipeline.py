"""TiaraAnimateDiffPipeline on tiny components: long videos, TiARA, FreeNoise, save/load, errors."""

import pytest
import torch
from diffusers import AnimateDiffPipeline

from plugdiff import AcceleratedDDIMScheduler
from plugdiff.attention_processors import TiaraAttnProcessor, enable_tiara, temporal_processor_names, tiara_controller
from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.testing import animatediff_components

SIZE = dict(height=16, width=16)


@pytest.fixture(scope="module")
def pipe():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, num_frames=8, steps=2, seed=0, **kwargs):
    return pipe(
        "a red circle",
        num_frames=num_frames,
        num_inference_steps=steps,
        output_type="pt",
        generator=torch.Generator().manual_seed(seed),
        **SIZE,
        **kwargs,
    ).frames


def test_short_video_equals_diffusers_animatediff(pipe):
    """Within the motion window and without TiARA the pipeline is diffusers' AnimateDiff exactly."""
    ours = generate(pipe, num_frames=8)
    reference = AnimateDiffPipeline(**pipe.components)
    reference.set_progress_bar_config(disable=True)
    theirs = generate(reference, num_frames=8)
    assert torch.equal(ours, theirs)
    assert torch.equal(generate(pipe, num_frames=8, tiara={"alpha": 0.0}), ours)  # strength 0: identity


def test_48_frames_with_window_16_and_tiara(pipe):
    frames = generate(
        pipe, num_frames=48, steps=1, tiara={"alpha": 5.0}, windows={"context_length": 16, "context_stride": 4}
    )
    assert frames.shape == (1, 48, 3, 16, 16) and torch.isfinite(frames).all()
    assert tiara_controller(pipe) is None  # per-call TiARA leaves the pipeline as it was
    plain = generate(pipe, num_frames=48, steps=1, windows={"context_length": 16, "context_stride": 4})
    assert not torch.allclose(frames, plain, atol=1e-4)


def test_too_many_frames_turn_windows_on_by_themselves(pipe):
    assert pipe.motion_max_frames == 32
    frames = generate(pipe, num_frames=40, steps=1)  # plain AnimateDiff would crash here
    assert frames.shape[1] == 40
    with pytest.raises(ValueError, match="num_frames"):
        generate(pipe, num_frames=40, steps=1, windows=False)


def test_48_frames_with_diffusers_freenoise_and_tiara():
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.set_progress_bar_config(disable=True)
    enable_tiara(pipe, alpha=5.0)  # before FreeNoise: the order is handled
    pipe.enable_free_noise(context_length=16, context_stride=4)
    frames = generate(pipe, num_frames=48, steps=1)
    assert frames.shape == (1, 48, 3, 16, 16) and torch.isfinite(frames).all()
    procs = pipe.unet.attn_processors
    assert all(isinstance(procs[n], TiaraAttnProcessor) for n in temporal_processor_names(pipe.unet))


def test_tiara_set_on_the_pipeline_persists_and_call_settings_are_temporary(pipe):
    enable_tiara(pipe, alpha=3.0, window_length=5)
    try:
        with_pipeline_setting = generate(pipe, num_frames=8)
        generate(pipe, num_frames=8, tiara={"alpha": 6.0})
        assert tiara_controller(pipe).settings.alpha == 3.0
        assert torch.equal(generate(pipe, num_frames=8), with_pipeline_setting)
    finally:
        from plugdiff.attention_processors import disable_tiara

        disable_tiara(pipe)


def test_any_scheduler_and_save_load_round_trip(tmp_path):
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.scheduler = AcceleratedDDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    before = generate(pipe, num_frames=36, steps=2, tiara={"alpha": 5.0})
    pipe.save_pretrained(tmp_path)
    loaded = TiaraAnimateDiffPipeline.from_pretrained(tmp_path)
    loaded.set_progress_bar_config(disable=True)
    assert type(loaded) is TiaraAnimateDiffPipeline and type(loaded.scheduler) is AcceleratedDDIMScheduler
    assert torch.allclose(generate(loaded, num_frames=36, steps=2, tiara={"alpha": 5.0}), before, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(num_frames=0), ValueError, "num_frames"),
        (dict(num_frames=2.5), ValueError, "num_frames"),
        (dict(num_frames=16, windows={"context_length": 24}), ValueError, "larger than `num_frames`"),
        (dict(num_frames=48, windows={"context_length": 40}), ValueError, "maximum"),
        (dict(num_frames=48, windows={"context_stride": 0}), ValueError, "context_stride"),
        (dict(tiara={"alpha": -1.0}), ValueError, "alpha"),
        (dict(num_frames=48, tiara={"window_length": 17}), ValueError, "window_length"),
        (dict(tiara={"band": (3, 2)}), ValueError, "band"),
        (dict(num_frames=48, tiara={"band": (1, 10)}), ValueError, "band"),
        (dict(tiara="strong"), TypeError, "tiara"),
        (dict(height=15), ValueError, "VAE factor"),
        (dict(prompt={0: "a red circle", 8: "a blue square"}), ValueError, "outside"),
    ],
)
def test_bad_input(pipe, kwargs, error, match):
    call = dict(prompt="a red circle", num_frames=8, num_inference_steps=1, output_type="pt", **SIZE)
    call.update(kwargs)
    with pytest.raises(error, match=match):
        pipe(**call)
    assert tiara_controller(pipe) is None


def test_callback_on_step_end_sees_and_may_replace_latents(pipe):
    seen = []

    def callback(pipeline, i, t, kwargs):
        seen.append((i, tuple(kwargs["latents"].shape)))
        return {"latents": kwargs["latents"] * 0} if i == 1 else {}

    frames = generate(pipe, num_frames=40, steps=2, callback_on_step_end=callback)
    assert seen == [(0, (1, 4, 40, 8, 8)), (1, (1, 4, 40, 8, 8))]
    blank = pipe.video_processor.postprocess_video(pipe.decode_latents(torch.zeros(1, 4, 40, 8, 8)), output_type="pt")
    assert torch.allclose(frames, blank, atol=1e-5)  # the zeroed latents were decoded
