"""Long-video metrics on ground-truth ShapesWorld clips (perfect scores), on clips with a scripted
identity change, flicker, jitter and a scripted prompt transition (the numbers they must give)."""

import dataclasses

import pytest
import torch

from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.video_consistency import (
    clean_fraction,
    flicker,
    identity_consistency,
    motion_jerk,
    prompt_transition,
    self_consistency,
)
from plugdiff.shapesworld.world import ClipSpec, render_clip

SPEC = ClipSpec(
    shape="square", colour="red", background="blue", direction="right", speed=0.25, radius=5.0, start=(8.0, 16.0)
)


def _changed(spec, at: int, frames: int, **change) -> torch.Tensor:
    """A clip that is ``spec`` up to frame ``at`` and ``spec`` with ``change`` from there on."""
    other = dataclasses.replace(spec, **change)
    return torch.cat([render_clip(spec, frames)[:at], render_clip(other, frames)[at:]])


def test_ground_truth_is_consistent_static_and_smooth():
    frames = render_clip(SPEC, 64)
    found = detect(frames)
    assert identity_consistency(found, SPEC.caption) == 1.0
    assert self_consistency(found) == 1.0 and clean_fraction(found) == 1.0
    assert flicker(frames, found) == 0.0
    assert motion_jerk(found) < 0.02  # constant velocity: only the anti-aliasing's centroid error


def test_identity_change_halfway():
    frames = _changed(SPEC, 24, 64, colour="green")
    found = detect(frames)
    assert identity_consistency(found, SPEC.caption) == pytest.approx(24 / 64)
    assert self_consistency(found) == pytest.approx(40 / 64)


def test_flicker_is_the_background_change_outside_the_object():
    frames = render_clip(SPEC, 8).clone()
    found = detect(frames)
    frames[4:] += 0.1  # a uniform brightness jump between frames 3 and 4 (7 pairs)
    assert flicker(frames, found) == pytest.approx(0.1 / 7, rel=1e-6)


def test_vanishing_object_counts_as_flicker_and_breaks_the_track():
    frames = render_clip(SPEC, 8).clone()
    frames[4] = frames[0, :, :1, :1]  # background only
    found = detect(frames)
    assert found[4] is None and flicker(frames, found) > 0.01
    assert clean_fraction(found) == 7 / 8
    assert motion_jerk(found) < 0.02  # triples through frame 4 are skipped
    assert motion_jerk([None, None, None]) is None


def test_jitter_raises_the_jerk():
    jumpy = dataclasses.replace(SPEC, start=(8.0, 13.0))
    frames = render_clip(SPEC, 9).clone()
    frames[4] = render_clip(jumpy, 9)[4]  # frame 4 jumps 3 px up
    assert motion_jerk(detect(frames)) > 1.0


def test_scripted_transition_is_found_exactly():
    # red until frame 20, 4 frames without the object, green from frame 24
    frames = _changed(SPEC, 24, 48, colour="green").clone()
    frames[20:24] = frames[0, :, :1, :1]
    green = dataclasses.replace(SPEC, colour="green").caption
    t = prompt_transition(detect(frames), SPEC.caption, green)
    assert (t.completed, t.last_a, t.first_b, t.length, t.coherent, t.one_object) == (True, 19, 24, 4, False, False)
    clean = prompt_transition(detect(_changed(SPEC, 24, 48, colour="green")), SPEC.caption, green)
    assert (clean.completed, clean.length, clean.coherent, clean.one_object) == (True, 0, True, True)


def test_colour_blend_is_one_object_but_not_clean():
    """A red -> green change through blended colours keeps one object (``one_object``) though
    the blend is no palette colour (not ``coherent``); a duplicated object is neither."""
    green = dataclasses.replace(SPEC, colour="green")
    red_frames, green_frames = render_clip(SPEC, 48), render_clip(green, 48)
    frames = torch.cat([red_frames[:20], green_frames[20:]]).clone()
    for i, w in zip(range(20, 24), (0.2, 0.4, 0.6, 0.8), strict=True):
        frames[i] = (1 - w) * red_frames[i] + w * green_frames[i]
    t = prompt_transition(detect(frames), SPEC.caption, green.caption)
    assert t.completed and t.length >= 2 and t.one_object and not t.coherent
    twice = frames.clone()
    twice[21:23] = torch.maximum(frames[21:23], render_clip(dataclasses.replace(green, start=(24.0, 16.0)), 48)[21:23])
    doubled = prompt_transition(detect(twice), SPEC.caption, green.caption)
    assert doubled.completed and not doubled.one_object and not doubled.coherent


def test_transition_that_never_happens_or_compares_equal_objects():
    found = detect(render_clip(SPEC, 32))
    green = dataclasses.replace(SPEC, colour="green").caption
    assert not prompt_transition(found, SPEC.caption, green).completed
    with pytest.raises(ValueError, match="same object"):
        prompt_transition(found, SPEC.caption, dataclasses.replace(SPEC, background="gray").caption)
    with pytest.raises(ValueError, match="one detection each"):
        flicker(render_clip(SPEC, 4), found)
