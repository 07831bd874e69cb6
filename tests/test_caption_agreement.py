"""The caption-agreement scorer on ground-truth clips (perfect), on wrong captions (caught) and
on clips with the object missing or frozen."""

import dataclasses

import pytest
import torch

from plugdiff.shapesworld.caption_agreement import clip_agreement, summarize
from plugdiff.shapesworld.world import ClipSpec, render_clip


def _spec(**kw):
    base = dict(
        shape="triangle",
        colour="green",
        background="gray",
        direction="right",
        speed=1.0,
        radius=5.0,
        start=(8.0, 16.0),
    )
    return ClipSpec(**{**base, **kw})


@pytest.mark.parametrize("direction", ["left", "right", "up", "down", "still"])
def test_ground_truth_clips_agree_with_their_captions(direction):
    start = {"left": (24.0, 16.0), "up": (16.0, 24.0)}.get(direction, (8.0, 8.0))
    spec = _spec(direction=direction, start=start)
    score = clip_agreement(render_clip(spec, 16), spec.caption)
    assert (score.colour_frames, score.shape_frames, score.clean_frames, score.background_frames) == (
        1.0,
        1.0,
        1.0,
        1.0,
    )
    assert score.direction == direction and score.direction_ok


def test_wrong_captions_are_caught():
    spec = _spec()
    frames = render_clip(spec, 16)
    assert clip_agreement(frames, _spec(colour="blue").caption).colour_frames == 0.0
    assert clip_agreement(frames, _spec(shape="circle").caption).shape_frames == 0.0
    assert clip_agreement(frames, _spec(background="black").caption).background_frames == 0.0
    wrong_way = clip_agreement(frames, _spec(direction="left").caption)
    assert wrong_way.direction == "right" and not wrong_way.direction_ok
    frozen = frames[:1].expand(16, -1, -1, -1)
    assert clip_agreement(frozen, spec.caption).direction == "still"


def test_missing_object_frames_count_as_wrong_and_summary_averages():
    spec = _spec()
    frames = render_clip(spec, 16).clone()
    frames[8:] = frames[0, :, :1, :1]  # background only from frame 8 on
    half = clip_agreement(frames, spec.caption)
    assert half.colour_frames == half.shape_frames == half.clean_frames == 0.5
    full = clip_agreement(render_clip(spec, 16), spec.caption)
    summary = summarize([half, full])
    size_cv = summary.pop("size_cv")
    assert summary == {
        "clips": 2,
        "colour_frames": 0.75,
        "shape_frames": 0.75,
        "clean_frames": 0.75,
        "background_frames": 0.75,
        "direction_clips": 1.0,
        "shade_clips": 1.0,
    }
    assert size_cv < 1e-3  # the object keeps its size in the frames where it is there


def test_identity_the_caption_does_not_name_is_scored_per_clip():
    spec = _spec()
    frames = render_clip(spec, 16).clone()
    frames[8:] = render_clip(dataclasses.replace(spec, shade=0.6, radius=spec.radius * 1.3).at_frame(8), 8)
    drifted = clip_agreement(frames, spec.caption)
    assert drifted.colour_frames == 1.0 and not drifted.shade_ok and drifted.size_cv > 0.1
    steady = clip_agreement(render_clip(dataclasses.replace(spec, shade=0.7), 16), spec.caption)
    assert steady.shade_ok and steady.size_cv < 0.01


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(F, 3, H, W\)"):
        clip_agreement(torch.zeros(3, 32, 32), _spec().caption)
    with pytest.raises(ValueError, match="unknown word"):
        clip_agreement(torch.zeros(2, 3, 32, 32), "a purple circle moving left on a gray background")
    with pytest.raises(ValueError, match="no clips"):
        summarize([])


def test_v5_training_clips_agree_with_their_captions():
    """What the v5 trainer's eval scores (wrapping motion, shades, held-out captions included) reads
    as right on the world's own clips: a low direction score is the model's, not the scorer's."""
    from plugdiff.shapesworld.world import random_v5_spec

    g = torch.Generator().manual_seed(0)
    specs = [random_v5_spec(g, mix_share=0.0, transition_share=0.0, include_held_out=True) for _ in range(60)]
    assert any(s.direction != "still" for s in specs) and all(s.wrap for s in specs)
    scores = [clip_agreement(render_clip(s), s.caption) for s in specs]
    summary = summarize(scores)
    assert summary["direction_clips"] == 1.0 and summary["shade_clips"] == 1.0
    assert summary["colour_frames"] == summary["shape_frames"] == summary["clean_frames"] == 1.0


class _WorldPipe:
    """A stand-in text-to-video pipeline that draws the world's own clip: the object starts where
    the noise says and goes the way the caption says, or (``obey=False``) the way the noise says."""

    def __init__(self, obey: bool):
        from types import SimpleNamespace

        self.obey = obey
        self.unet = SimpleNamespace(
            config=SimpleNamespace(in_channels=4, sample_size=8), device=torch.device("cpu"), dtype=torch.float32
        )

    def __call__(self, prompts, *, latents, num_frames, **_):
        from types import SimpleNamespace

        from plugdiff.shapesworld.world import DIRECTIONS, parse_caption

        clips = []
        for prompt, noise in zip(prompts, latents, strict=True):
            want = parse_caption(prompt)
            x, y = (float(v) % 32 for v in noise[0, 0, :2, 0] * 8 + 16)
            direction = want["direction"] if self.obey else DIRECTIONS[int(noise[1].sum().abs() * 1e3) % 4]
            spec = _spec(
                colour=want["colour"], shape=want["shape"], background=want["background"], direction=direction
            )
            clips.append(render_clip(dataclasses.replace(spec, start=(x, y), wrap=True), num_frames))
        return SimpleNamespace(frames=(torch.stack(clips) + 1) / 2)


def test_direction_steering_tells_a_caption_that_steers_from_noise_that_decides():
    from plugdiff.shapesworld.caption_agreement import direction_steering

    steered = direction_steering(_WorldPipe(obey=True), noises=3, steps=1, guidance=1.0)
    assert steered == {"noises": 3, "follows": 1.0, "noise_decides": 0.0}
    ignored = direction_steering(_WorldPipe(obey=False), noises=3, steps=1, guidance=1.0)
    assert ignored["follows"] == 0.25 and ignored["noise_decides"] == 1.0
    with pytest.raises(ValueError, match="noises must be at least 1"):
        direction_steering(_WorldPipe(obey=True), noises=0, steps=1, guidance=1.0)


def test_predicted_drift_of_an_oracle_is_the_true_drift_whatever_the_caption():
    """A model that predicts the noise exactly predicts the clean clip itself: its drift along the
    true direction is the clip's own, with any caption and at any t."""
    from types import SimpleNamespace

    from plugdiff.shapesworld.caption_agreement import predicted_drift
    from plugdiff.shapesworld.models import video_scheduler
    from plugdiff.shapesworld.world import random_spec, render_clip

    gen = torch.Generator().manual_seed(4)
    specs = [random_spec(gen, directions=[d], include_held_out=True, wrap=True) for d in ("left", "up")]
    z0 = torch.stack([render_clip(s, 16) for s in specs]).transpose(1, 2)[:, :, :, ::4, ::4].contiguous()
    scheduler = video_scheduler()

    def unet(x, t, encoder_hidden_states):
        abar = scheduler.alphas_cumprod[t]
        clean = torch.cat([z0, z0])
        return SimpleNamespace(sample=(x - abar.sqrt() * clean) / (1 - abar).sqrt())

    unet.device = torch.device("cpu")
    pipe = SimpleNamespace(
        unet=unet,
        scheduler=scheduler,
        encode_prompt=lambda captions, *a: (torch.zeros(len(captions), 2, 3), torch.zeros(len(captions), 2, 3)),
    )
    for t in (300, 900):
        drift, truth = predicted_drift(pipe, z0, ["any", "caption"], t, 6.0, seed=t)
        torch.testing.assert_close(drift, truth, rtol=1e-4, atol=1e-4)
        assert bool((truth > 1).all())
