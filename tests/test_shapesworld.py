"""ShapesWorld: the generator agrees with its own ground truth, and the detector reads it back."""

import itertools
import time

import numpy as np
import pytest
import torch

from plugdiff.shapesworld import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    HELD_OUT,
    PALETTE,
    PLACEMENTS,
    SHAPES,
    ClipSpec,
    colour_tensor,
    detect,
    detect_direction,
    parse_caption,
    random_spec,
    render_clip,
    sample_clips,
    sample_frames,
    truth,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# generator


def test_vocabulary_and_palette():
    assert set(COLOURS) == {"red", "green", "blue", "yellow"}
    assert {"white", "black", "gray"} <= set(BACKGROUNDS) and set(COLOURS) <= set(BACKGROUNDS)
    assert set(SHAPES) == {"circle", "square", "triangle"}
    assert set(DIRECTIONS) == {"left", "right", "up", "down", "still"}
    table = torch.stack([colour_tensor(n) for n in PALETTE])
    d = torch.cdist(table, table) + 10 * torch.eye(len(PALETTE))
    assert d.min() > 1.7  # in [-1, 1] units
    for c, s, d in HELD_OUT:
        assert c in COLOURS and s in SHAPES and d in DIRECTIONS


def test_determinism():
    a = sample_frames(64, gen(3))
    b = sample_frames(64, gen(3))
    c = sample_frames(64, gen(4))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
    assert not torch.equal(a[0], c[0]) and a[1] != c[1]
    x = sample_clips(4, 8, gen(5), size=48)
    y = sample_clips(4, 8, gen(5), size=48)
    z = sample_clips(4, 8, gen(6), size=48)
    assert x[0].shape == (4, 8, 3, 48, 48)
    assert torch.equal(x[0], y[0]) and x[1] == y[1] and not torch.equal(x[0], z[0])
    # a set argument gives the same result as the tuple (no hash-order dependence)
    assert random_spec(gen(7), colours={"red", "blue"}) == random_spec(gen(7), colours=("blue", "red"))
    assert random_spec(gen(7), combos=set(HELD_OUT)) == random_spec(gen(7), combos=sorted(HELD_OUT))


def test_render_range_and_dtype():
    clip = render_clip(random_spec(gen(0)), num_frames=5, size=40)
    assert clip.shape == (5, 3, 40, 40) and clip.dtype == torch.float32
    assert clip.min() >= -1 and clip.max() <= 1


def test_caption_round_trip_for_every_combination():
    n = 0
    for colour, shape, direction, background in itertools.product(COLOURS, SHAPES, DIRECTIONS, BACKGROUNDS):
        if background == colour:
            continue
        spec = ClipSpec(shape, colour, background, direction, 1.0, 5.0, (16.0, 16.0))
        parsed = parse_caption(spec.caption)
        assert parsed == {"colour": colour, "shape": shape, "direction": direction, "background": background}
        n += 1
    assert n == len(COLOURS) * len(SHAPES) * len(DIRECTIONS) * (len(BACKGROUNDS) - 1)
    assert ClipSpec("circle", "red", "blue", "right", 1, 5, (9, 9)).caption == (
        "a red circle moving right on a blue background"
    )
    assert ClipSpec("circle", "red", "blue", "still", 0, 5, (9, 9)).caption == (
        "a red circle staying still on a blue background"
    )
    assert parse_caption("  A Red circle   staying still on a BLUE background ")["direction"] == "still"


@pytest.mark.parametrize(
    "text, match",
    [
        ("a purple circle moving right on a blue background", "'purple'"),
        ("a red hexagon moving right on a blue background", "'hexagon'"),
        ("a red circle moving sideways on a blue background", "'sideways'"),
        ("a red circle moving right on a blue", "words"),
        ("a red circle moving still on a blue background", "grammar"),
        ("a red circle staying right on a blue background", "grammar"),
        ("a circle red moving right on a blue background", "object colour"),
        ("a white circle moving right on a blue background", "object colour"),
        ("a red circle moving right on a red background", "differ"),
        ("", "words"),
    ],
)
def test_parse_caption_errors(text, match):
    with pytest.raises(ValueError, match=match):
        parse_caption(text)


def test_spec_validation():
    with pytest.raises(ValueError, match="colour"):
        ClipSpec("circle", "white", "blue", "left", 1, 5, (9, 9))
    with pytest.raises(ValueError, match="differ"):
        ClipSpec("circle", "red", "red", "left", 1, 5, (9, 9))
    with pytest.raises(ValueError, match="shape"):
        ClipSpec("star", "red", "blue", "left", 1, 5, (9, 9))
    with pytest.raises(ValueError, match="unknown"):
        random_spec(gen(0), colours=["red", "mauve"])
    with pytest.raises(ValueError, match="background"):
        random_spec(gen(0), colours=["red"], backgrounds=["red"])
    with pytest.raises(ValueError, match="held out"):
        random_spec(gen(0), colours=["red"], shapes=["square"], directions=["up"])


@pytest.mark.parametrize("size", [32, 48, 64])
def test_ground_truth_agrees_with_rendering(size):
    g = gen(10 + size)
    ys, xs = np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="ij")
    tol = 0.1 * size / 32  # supersampling keeps the same spacing in 32x32 pixels
    for _ in range(40):
        spec = random_spec(g, num_frames=6, include_held_out=True)
        clip = render_clip(spec, 6, size).double().numpy()
        obj = colour_tensor(spec.colour, torch.float64).numpy()[:, None, None]
        bg = colour_tensor(spec.background, torch.float64).numpy()[:, None, None]
        axis = obj - bg
        for frame, tr in zip(clip, truth(spec, 6, size), strict=True):
            assert (tr.shape, tr.colour) == (spec.shape, spec.colour)
            cov = ((frame - bg) * axis).sum(0) / (axis * axis).sum()
            # every pixel lies on the segment background -> object colour
            assert np.allclose(bg + cov * axis, frame, atol=1e-5)
            cx, cy = (cov * xs).sum() / cov.sum(), (cov * ys).sum() / cov.sum()
            assert abs(cx - tr.centre[0]) < tol and abs(cy - tr.centre[1]) < tol
            hard = cov > 0.5
            assert abs(xs[hard].mean() - tr.centre[0]) < 0.5 and abs(ys[hard].mean() - tr.centre[1]) < 0.5
            # area matches the analytic area of the shape
            r = spec.radius * size / 32
            area = {"circle": np.pi * r * r, "square": 4 * r * r, "triangle": 2 * r * r}[spec.shape]
            assert abs(cov.sum() - area) < 0.015 * area
            # pixels inside the shape hold exactly the named colour, pixels away from it exactly the
            # background colour
            full = np.ones((size, size), dtype=bool)
            for ox, oy in ((0, 0), (1, 0), (0, 1), (1, 1)):  # convex: inside iff all corners are
                full &= _inside(spec.shape, xs - 0.5 + ox - tr.centre[0], ys - 0.5 + oy - tr.centre[1], r)
            assert full.sum() >= 0.3 * area and (frame[:, full] == obj[:, :, 0]).all()
            x0, y0, x1, y1 = tr.bbox
            outside = (xs < x0 - 0.5) | (xs > x1 + 0.5) | (ys < y0 - 0.5) | (ys > y1 + 0.5)
            assert (frame[:, outside] == bg[:, :, 0]).all()


def _inside(shape, dx, dy, r):
    """Points (dx, dy) relative to the centroid inside the shape of radius r (pixels)."""
    if shape == "circle":
        return dx**2 + dy**2 <= r**2
    if shape == "square":
        return (abs(dx) <= r) & (abs(dy) <= r)
    ty = dy + 4 * r / 3  # depth below the apex
    return (ty >= 0) & (ty <= 2 * r) & (2 * abs(dx) <= ty)


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("num_frames", [1, 16, 64, 200])
def test_object_stays_inside_the_frame(num_frames, placement):
    g = gen(num_frames)
    for _ in range(100):
        spec = random_spec(g, num_frames=num_frames, include_held_out=True, placement=placement)
        for tr in truth(spec, num_frames, 32):
            x0, y0, x1, y1 = tr.bbox
            assert x0 >= 1 - 1e-9 and y0 >= 1 - 1e-9 and x1 <= 31 + 1e-9 and y1 <= 31 + 1e-9
        if spec.direction == "still":
            assert spec.speed == 0
        else:  # a moving object travels far enough to be read as moving
            assert spec.speed * (num_frames - 1) >= min(9.0, 0.6 * (num_frames - 1)) - 1e-9
    clip = render_clip(spec, num_frames, 32)
    bg = colour_tensor(spec.background)[None, :, None]
    assert (clip[:, :, 0] == bg).all() and (clip[:, :, -1] == bg).all()
    assert (clip[..., 0] == bg).all() and (clip[..., -1] == bg).all()


@pytest.mark.parametrize("shape", SHAPES)
def test_centred_placement_hides_the_direction_in_the_positions(shape):
    """The same random numbers give every direction the same path midpoint (the mean centre of
    the clip) and the same path length: positions alone cannot tell the directions apart. With
    uniform placement they can (a horizontal mover's midpoint ranges over a different box from a
    vertical mover's)."""
    for seed in range(20):
        mids, paths = {}, {}
        for direction in DIRECTIONS:
            spec = random_spec(
                gen(seed),
                shapes=[shape],
                colours=["red"],
                directions=[direction],
                num_frames=16,
                placement="centred",
                include_held_out=True,
            )
            centres = spec.centres(16)
            mids[direction] = centres.mean(0)
            paths[direction] = float((centres[-1] - centres[0]).norm())
        for direction in DIRECTIONS:
            assert torch.allclose(mids[direction], mids["still"], atol=1e-9)
        moving = [paths[d] for d in DIRECTIONS if d != "still"]
        assert max(moving) - min(moving) < 1e-9 and min(moving) > 0 and paths["still"] == 0
    uniform = {
        d: random_spec(gen(0), shapes=[shape], colours=["red"], directions=[d], include_held_out=True)
        .centres(16)
        .mean(0)
        for d in ("left", "up")
    }
    assert not torch.allclose(uniform["left"], uniform["up"], atol=0.5)  # uniform: the axis shows
    with pytest.raises(ValueError, match="placement"):
        random_spec(gen(0), placement="corner")


def test_sampled_frames_match_their_specs():
    images, captions, specs = sample_frames(8, gen(2), size=40)
    for img, cap, spec in zip(images, captions, specs, strict=True):
        assert cap == spec.caption
        assert torch.equal(render_clip(spec, 1, 40)[0], img)
    clips, captions, specs = sample_clips(3, 5, gen(2))
    for clip, cap, spec in zip(clips, captions, specs, strict=True):
        assert cap == spec.caption and torch.equal(render_clip(spec, 5), clip)


def test_held_out_triples():
    g = gen(0)
    triples = {random_spec(g).triple for _ in range(1500)}
    assert len(triples) == len(COLOURS) * len(SHAPES) * len(DIRECTIONS) - len(HELD_OUT)
    assert not triples & HELD_OUT
    _, _, specs = sample_frames(300, gen(0))
    _, _, clip_specs = sample_clips(100, 2, gen(1))
    assert not {s.triple for s in specs + clip_specs} & HELD_OUT
    assert HELD_OUT <= {random_spec(g, include_held_out=True).triple for _ in range(1500)}
    _, _, specs = sample_frames(300, gen(0), include_held_out=True)
    assert {s.triple for s in specs} & HELD_OUT
    _, _, specs = sample_clips(50, 2, gen(0), combos=HELD_OUT)
    assert {s.triple for s in specs} == HELD_OUT


def test_sampling_speed():
    sample_frames(8, gen(0)), sample_clips(2, 2, gen(0))  # warm-up
    t_frames = min(_timed(lambda: sample_frames(256, gen(1))) for _ in range(3))
    t_clips = min(_timed(lambda: sample_clips(16, 16, gen(1))) for _ in range(3))
    assert t_frames < 1.0 and t_clips < 1.0, (t_frames, t_clips)


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------
# detector


@pytest.mark.parametrize("size, n, noise", [(32, 600, 0.0), (32, 600, 0.05), (64, 150, 0.05)])
def test_detector_reads_frames(size, n, noise):
    g = gen(20 + size)
    images, _, specs = sample_frames(n, g, size=size, include_held_out=True)
    images = images + noise * torch.randn(images.shape, generator=g)
    assert {s.shape for s in specs} == set(SHAPES) and {s.colour for s in specs} == set(COLOURS)
    dets = detect(images)
    assert isinstance(dets, list) and len(dets) == n
    shape_ok = colour_ok = clean = bg_ok = 0
    for d, spec in zip(dets, specs, strict=True):
        tr = truth(spec, 1, size)[0]
        assert d is not None
        shape_ok += d.shape == spec.shape
        colour_ok += d.colour == spec.colour
        bg_ok += d.background == spec.background
        clean += d.clean
        assert abs(d.centre[0] - tr.centre[0]) < 1 and abs(d.centre[1] - tr.centre[1]) < 1
    assert shape_ok >= 0.99 * n and colour_ok >= 0.99 * n and clean >= 0.99 * n and bg_ok >= 0.99 * n


def test_detector_reads_directions():
    g = gen(30)
    clips, _, specs = sample_clips(200, 16, g, include_held_out=True)
    clips = clips + 0.05 * torch.randn(clips.shape, generator=g)
    assert {s.direction for s in specs} == set(DIRECTIONS)
    ok = 0
    for clip, spec in zip(clips, specs, strict=True):
        dets = detect(clip)
        ok += detect_direction([d.centre for d in dets]) == spec.direction
    assert ok >= 0.99 * len(specs)


def test_detect_direction_edge_cases():
    assert detect_direction([(5.0, 5.0)] * 10) == "still"
    assert detect_direction([(5.0 + t, 5.0) for t in range(10)]) == "right"
    assert detect_direction([(5.0, 20.0 - t) for t in range(10)]) == "up"
    assert detect_direction([None, (5.0, 5.0), None, (5.0, 9.0), (float("nan"), 0.0)]) == "down"
    assert detect_direction([(10.0 - 0.5 * t, 5.0) for t in range(10)], size=64) == "left"  # 4.5 px >= 2 * 64 / 32
    assert detect_direction([(10.0 - 0.2 * t, 5.0) for t in range(10)], size=64) == "still"  # 1.8 px < 4 px
    assert detect_direction(torch.tensor([[1.0, 1.0], [1.0, 9.0]])) == "down"
    assert detect_direction([]) == "still"


def test_detector_rejects_non_objects():
    g = gen(40)
    for bg in BACKGROUNDS:  # blank frames, also with noise
        blank = colour_tensor(bg)[:, None, None].expand(3, 32, 32)
        for frame in (blank, blank + 0.05 * torch.randn(3, 32, 32, generator=g)):
            d = detect(frame)
            assert d is None or not d.clean
    for _ in range(10):  # random noise
        for frame in (torch.rand(3, 32, 32, generator=g) * 2 - 1, 0.5 * torch.randn(3, 32, 32, generator=g)):
            d = detect(frame.clamp(-1, 1))
            assert d is None or not d.clean
    for _ in range(20):  # two objects, of the same or different colour / shape
        a = random_spec(g, num_frames=1, include_held_out=True)
        others = [c for c in COLOURS if c != a.background]
        b = random_spec(g, num_frames=1, include_held_out=True, colours=others, backgrounds=[a.background])
        b = ClipSpec(b.shape, b.colour, a.background, "still", 0.0, 4.0, (26.0, 26.0))
        a = ClipSpec(a.shape, a.colour, a.background, "still", 0.0, 4.0, (7.0, 7.0))
        fa, fb = render_clip(a, 1)[0], render_clip(b, 1)[0]
        bg = colour_tensor(a.background)[:, None, None]
        two = torch.where((fb != bg).any(0, keepdim=True), fb, fa)
        d = detect(two)
        assert d is not None and d.num_components == 2 and not d.clean
    # a single object of a non-object colour, or far from every named colour, is not clean
    spec = ClipSpec("square", "red", "blue", "still", 0.0, 5.0, (16.0, 16.0))
    frame = render_clip(spec, 1)[0]
    mask = (frame != colour_tensor("blue")[:, None, None]).any(0)
    off = frame.clone()
    off[:, mask] = torch.tensor([0.3, -0.2, 0.9])[:, None]  # no palette colour within tolerance
    d = detect(off)
    assert d.colour is None and not d.clean
    white = frame.clone()
    white[:, mask] = 1.0
    d = detect(white)
    assert d.colour == "white" and not d.clean and d.shape == "square"
