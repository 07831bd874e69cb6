"""World v5: wrapping motion, the shade the caption does not name, in-between captions and prompt
changes inside a clip; the detector on them; wrap-aware tracks; the long-video scores, each on
rendered ground truth and on deliberately broken clips."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.long_video_scores import (
    background_consistency,
    flicker_outside,
    identity_drift,
    inbetween_errors,
    seam_discontinuity,
    subject_consistency,
    video_scores,
)
from plugdiff.shapesworld.tracks import jumps, net_speed, speed_ratio, unwrap_track, wrap_count
from plugdiff.shapesworld.world import (
    HELD_OUT,
    V5_SHADES,
    WRAP_CENTRED_BOX,
    ClipSpec,
    Mix,
    frame_states,
    random_spec,
    random_v5_spec,
    render_clip,
    render_frames,
    sample_clips,
    truth,
)


def _spec(**changes) -> ClipSpec:
    base = ClipSpec("circle", "red", "blue", "right", 1.0, 5.0, (16.0, 16.0))
    return dataclasses.replace(base, **changes)


def test_v4_clips_are_the_default_special_case():
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    v4 = random_spec(g1, num_frames=16)
    assert (v4.shade, v4.wrap, v4.mix) == (1.0, False, None)
    a, _, _ = sample_clips(3, 8, torch.Generator().manual_seed(1))
    b, _, _ = sample_clips(3, 8, torch.Generator().manual_seed(1), world="v4")
    assert torch.equal(a, b)
    assert random_spec(g2, num_frames=16) == v4  # the v5 options draw nothing when off


def test_wrapping_object_is_the_bounded_one_away_from_the_edges_and_keeps_its_area_across_them():
    inside = _spec(start=(10.0, 16.0))
    assert torch.equal(render_clip(inside, 4), render_clip(dataclasses.replace(inside, wrap=True), 4))
    crossing = _spec(start=(30.0, 1.5), wrap=True)  # split over the right and the top edges
    frame = render_clip(crossing, 1)[0]
    bg = torch.tensor([-1.0, -1.0, 1.0])[:, None, None]
    coverage = (frame - bg)[0] / 2  # red channel: 0 on blue, 1 inside
    area = math.pi * 25
    assert abs(float(coverage.sum()) - area) < 0.01 * area
    assert float(coverage[:, 0].sum()) > 0 and float(coverage[:, -1].sum()) > 0
    assert float(coverage[0].sum()) > 0 and float(coverage[-1].sum()) > 0


def test_wrapping_motion_goes_on_for_any_length_at_one_speed():
    spec = _spec(wrap=True, speed=1.1, direction="left")
    centres = spec.centres(100).numpy()
    assert ((centres >= 0) & (centres < 32)).all()
    unwrapped = spec.centres(100, unwrapped=True).numpy()
    np.testing.assert_allclose(np.diff(unwrapped, axis=0), [[-1.1, 0.0]] * 99, atol=1e-12)
    g = torch.Generator().manual_seed(0)
    long_mover = random_spec(g, num_frames=500, wrap=True, directions=["down"])
    assert long_mover.speed >= 0.6  # not capped by the frame, unlike v4's bounded clips


def test_shade_scales_the_object_colour_and_the_detector_reads_it_back():
    for shade in (0.6, 0.8, 1.0):
        frame = render_clip(_spec(shade=shade, direction="still"), 1)[0]
        torch.testing.assert_close(frame[:, 16, 16], torch.tensor([2 * shade - 1, -1.0, -1.0]))
        d = detect(frame)
        assert d.clean and d.colour == "red" and abs(d.shade - shade) < 1e-6


def test_colour_and_background_mixes_are_the_rgb_mix():
    w = 0.25
    spec = _spec(direction="still", shade=0.8, mix=Mix("colour", "green", (w,)))
    frame = render_clip(spec, 1)[0]
    expected = 0.8 * (np.array([1, 0, 0]) * (1 - w) + np.array([0, 1, 0]) * w)
    np.testing.assert_allclose(frame[:, 16, 16].numpy(), expected * 2 - 1, atol=1e-6)
    back = _spec(direction="still", mix=Mix("background", "white", (0.5,)))
    np.testing.assert_allclose(render_clip(back, 1)[0][:, 0, 0].numpy(), [0.0, 0.0, 1.0], atol=1e-6)
    d = detect(render_clip(back, 1)[0])
    errors = inbetween_errors([d], frame_states([back], [0])["object"], frame_states([back], [0])["background"])
    assert errors["object"][0] < 1e-6 and errors["background"][0] < 1e-6


def test_shape_morph_ends_are_the_pure_shapes_and_keeps_the_centroid():
    for w, shape in ((0.0, "circle"), (1.0, "square")):
        morph = _spec(direction="still", mix=Mix("shape", "square", (w,)))
        assert torch.equal(render_clip(morph, 1), render_clip(_spec(direction="still", shape=shape), 1))
    for other in ("square", "triangle"):
        for w in (0.25, 0.5, 0.75):
            d = detect(render_clip(_spec(direction="still", mix=Mix("shape", other, (w,))), 1)[0])
            assert d.one_object and math.hypot(d.centre[0] - 16, d.centre[1] - 16) < 0.05


def test_direction_mix_moves_by_the_velocity_mix():
    still = _spec(mix=Mix("direction", "left", (0.5,)))  # half right, half left: no motion
    np.testing.assert_allclose(still.centres(8).numpy(), [[16.0, 16.0]] * 8, atol=1e-12)
    ramp = _spec(mix=Mix("direction", "down", (0.0, 0.5, 1.0)))
    path = ramp.centres(5).numpy()
    steps = [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0), (0.0, 1.0)]  # the last weight holds
    np.testing.assert_allclose(path, 16.0 + np.concatenate([[[0, 0]], np.cumsum(steps, axis=0)]), atol=1e-12)


def test_a_clip_started_later_is_the_same_clip():
    g = torch.Generator().manual_seed(7)
    for _ in range(12):
        spec = random_v5_spec(g, num_frames=16, mix_share=0.3, transition_share=0.7)
        clip = render_clip(spec, 16)
        for t in (3, 11):
            assert torch.equal(render_frames([spec.at_frame(t)], [0])[0], clip[t])


def test_v5_sampling_keeps_captions_valid_and_held_out_combinations_out():
    g = torch.Generator().manual_seed(11)
    specs = [random_v5_spec(g, num_frames=16) for _ in range(400)]
    assert all(s.wrap and V5_SHADES[0] <= s.shade <= V5_SHADES[1] for s in specs)
    kinds = [s.mix is None for s in specs]
    assert 0.4 < sum(kinds) / len(kinds) < 0.6  # half plain, half mixed (V5 shares 0.25 + 0.25)
    for s in specs:
        assert s.triple not in HELD_OUT
        if s.mix is not None:
            end = s.mixed_spec()
            assert end.triple not in HELD_OUT and end.caption != s.caption
            assert getattr(end, s.mix.slot) == s.mix.value
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert [random_v5_spec(g1) for _ in range(5)] == [random_v5_spec(g2) for _ in range(5)]


def test_centred_wrapping_clips_start_on_the_side_they_come_from_and_the_rest_are_unchanged():
    """A centred clip's path midpoint lies in the central box whatever its direction, so its first
    frame trails the box by half the path; with share 0 the draws are exactly those without it."""
    g = torch.Generator().manual_seed(3)
    specs = [random_v5_spec(g, num_frames=16, mix_share=0, transition_share=0, centred_share=1.0) for _ in range(200)]
    low, high = (32 - WRAP_CENTRED_BOX) / 2, (32 + WRAP_CENTRED_BOX) / 2
    for s in specs:
        mid = s.path([0, 15]).mean(axis=0)  # unwrapped
        assert np.all((mid % 32 >= low - 1e-9) & (mid % 32 <= high + 1e-9)), (s, mid)
    offset = {d: np.mean([(s.start[0] % 32) - 16 for s in specs if s.direction == d]) for d in ("left", "right")}
    assert offset["right"] < -4 < 4 < offset["left"]  # half a path (4.5-9 px) on the side it comes from
    g1, g2 = torch.Generator().manual_seed(8), torch.Generator().manual_seed(8)
    mixed = [random_v5_spec(g1, centred_share=0.5) for _ in range(100)]
    plain = [random_v5_spec(g2) for _ in range(100)]
    moved = [a != b for a, b in zip(mixed, plain, strict=True)]
    assert 0.3 < sum(moved) / 100 < 0.7  # only the centred half moves, the stream stays the same
    assert all(dataclasses.replace(a, start=b.start) == b for a, b in zip(mixed, plain, strict=True))
    with pytest.raises(ValueError, match="centred_share"):
        random_v5_spec(g1, centred_share=1.5)
    with pytest.raises(ValueError, match="placement='centred'"):
        random_spec(g1, centred_share=0.5)


def test_bad_mixes_are_refused_by_name():
    with pytest.raises(ValueError, match="mix slot"):
        Mix("size", "big", (0.5,))
    with pytest.raises(ValueError, match="weights"):
        Mix("colour", "blue", (1.5,))
    with pytest.raises(ValueError, match="background"):
        _spec(mix=Mix("colour", "blue", (0.5,)))  # blue on a blue background at the other end
    with pytest.raises(ValueError, match="shade"):
        _spec(shade=0.0)


def test_detector_reads_a_wrapped_object_as_one_and_its_centre_modulo_the_frame():
    g = torch.Generator().manual_seed(2)
    clips, _, specs = sample_clips(40, 16, g, world="v5", mix_share=0, transition_share=0)
    errors, shades = [], []
    for clip, spec in zip(clips, specs, strict=True):
        for d, t in zip(detect(clip), truth(spec, 16), strict=True):
            assert d.clean and (d.colour, d.shape) == (spec.colour, spec.shape) and d.num_components == 1
            dx, dy = ((np.subtract(d.centre, t.centre) + 16) % 32) - 16
            errors.append(math.hypot(dx, dy))
            shades.append(abs(d.shade - spec.shade))
    assert max(errors) < 0.25 and max(shades) < 1e-4


def _mover(n=96, **changes):
    spec = _spec(wrap=True, speed=1.0, shade=0.7, **changes)
    frames = render_clip(spec, n)
    return spec, frames, detect(frames)


def test_tracks_unwrap_wraps_and_find_no_jump_in_a_true_long_clip():
    spec, frames, found = _mover(direction="down")
    centres = [d.centre for d in found]
    track = unwrap_track(centres, 32)
    np.testing.assert_allclose(np.diff(track, axis=0), [[0.0, 1.0]] * 95, atol=0.25)
    assert wrap_count(centres, 32) == 3  # 95 px down from y = 16: crosses y = 32 at 16, 48 and 80 px
    assert jumps(track, 32) == 0 and abs(net_speed(track) - 1.0) < 0.01
    assert abs(speed_ratio(track) - 1.0) < 0.02


def test_tracks_catch_a_teleport_and_an_object_that_stops():
    spec, frames, found = _mover()
    jumped = torch.cat([frames[:40], render_clip(spec.at_frame(48), 56)])  # skips 8 px at frame 40
    track = unwrap_track([d.centre for d in detect(jumped)], 32)
    assert jumps(track, 32) == 1
    stopped = torch.cat([frames[:48], frames[47:48].expand(48, -1, -1, -1)])
    track = unwrap_track([d.centre for d in detect(stopped)], 32)
    assert speed_ratio(track) < 0.01 and jumps(track, 32) == 0


def test_scores_are_perfect_on_ground_truth_and_see_each_kind_of_breakage():
    spec, frames, found = _mover(n=64)
    scores = video_scores(frames, found, caption=spec.caption, seams=range(16, 64, 16))
    assert scores["subject_consistency"] == 1.0 and scores["background_consistency"] == 1.0
    assert scores["temporal_flickering"] < 1e-6 and scores["jumps"] == 0 and scores["moves"]
    assert scores["motion_smoothness_jerk"] < 0.1 and scores["size_cv"] < 0.01 and scores["shade_spread"] < 1e-4
    assert 0.8 < scores["seam_discontinuity"] < 1.25

    # the shade the caption does not name drifts in the last quarter: subject consistency 3/4
    darker = render_clip(dataclasses.replace(spec, shade=0.9).at_frame(48), 16)
    drifted = torch.cat([frames[:48], darker])
    found_d = detect(drifted)
    assert subject_consistency(found_d, spec.caption) == 0.75
    assert identity_drift(found_d)["shade_spread"] > 0.15
    # the size drifts
    bigger = render_clip(dataclasses.replace(spec, radius=6.5).at_frame(48), 16)
    assert identity_drift(detect(torch.cat([frames[:48], bigger])))["size_cv"] > 0.08
    # the background changes in the last 16 frames
    other = render_clip(dataclasses.replace(spec, background="white").at_frame(48), 16)
    changed = torch.cat([frames[:48], other])
    assert background_consistency(detect(changed), spec.caption) == 0.75
    assert flicker_outside(changed, detect(changed)) > 0.01
    # a seam: every 16th frame jumps back 4 px
    seamed = torch.cat([render_clip(spec.at_frame(12 * k), 16) for k in range(4)])
    assert seam_discontinuity(seamed, range(16, 64, 16)) > 1.5
    # a frozen video is consistent but does not move
    frozen = frames[:1].expand(64, -1, -1, -1)
    frozen_scores = video_scores(frozen, detect(frozen), caption=spec.caption)
    assert frozen_scores["subject_consistency"] == 1.0 and not frozen_scores["moves"]


def test_inbetween_errors_are_zero_on_the_true_mix_and_large_on_a_wrong_one():
    spec = _spec(direction="still", shade=0.75, mix=Mix("colour", "green", tuple(np.linspace(0, 1, 8))))
    frames = render_clip(spec, 8)
    states = frame_states([spec] * 8, list(range(8)))
    errors = inbetween_errors(detect(frames), states["object"], states["background"])
    assert np.nanmax(errors["object"]) < 0.02 and np.nanmax(errors["background"]) < 1e-6
    cut = torch.cat([frames[:1].expand(4, -1, -1, -1), frames[-1:].expand(4, -1, -1, -1)])  # no blend: a cut
    errors = inbetween_errors(detect(cut), states["object"], states["background"])
    assert np.nanmax(errors["object"]) > 0.3
