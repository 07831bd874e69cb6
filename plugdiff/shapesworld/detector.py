"""Read a ShapesWorld frame back: shape class, colour and centroid of its object.

Algorithm (per frame, a (3, H, W) tensor in [-1, 1]):

1. background = per-channel median of the one-pixel border ring;
2. foreground = pixels whose RGB distance (L2, [-1, 1] units) from the background exceeds
   ``FOREGROUND_THRESHOLD`` = 0.5 (the closest two palette colours are 1.73 apart, so an edge pixel
   is foreground once roughly 30 % of it is covered; N(0, 0.05) noise never gets there);
3. 8-connected components of the foreground; components smaller than ``MIN_COMPONENT_FRACTION``
   of the frame (4 px at 32x32) are specks and ignored; the largest component is the object and
   ``num_components`` counts the rest too;
4. object colour = per-channel median of the component's core pixels, those farthest from the
   background (top quarter by distance: the interior, not anti-aliased edges); its name is the
   nearest ``PALETTE`` colour if within ``COLOUR_TOLERANCE`` = 0.6 (L2, [-1, 1] units), else
   ``None``; also ``None`` when the core is not one colour (median distance of core pixels from
   their median colour above ``COLOUR_TOLERANCE``, e.g. a blob of noise);
5. soft coverage alpha = projection of (pixel - background) onto (colour - background), clipped to
   [0, 1], on the component grown by one pixel: area = sum(alpha), centre = alpha-weighted
   centroid (pixel centres at i + 0.5, as in ``FrameTruth``), bounding box from the grown mask;
6. shape from scale-invariant features of alpha:
   - ``fill`` = area / (width * height), width = sum over columns of the column's max alpha (and
     height likewise): circle pi/4 = 0.785, square 1, triangle 0.5;
   - ``skew`` = vertical skewness mu03 / mu02^1.5: 0 for circle and square, -0.57 for the
     apex-up triangle;
   - ``cross`` = E[dx^2 dy^2] / (E[dx^2] E[dy^2]): circle 2/3, square 1 (triangle about 0.8).
   no shape (``None``) if fill < 0.4 (every world shape fills at least half its box);
   triangle if fill < 0.64 or skew < -0.3; otherwise square if (fill - 0.89) / 0.11 +
   (cross - 0.83) / 0.17 > 0 (both features' midpoints between circle and square), else circle.

World v5 (wrapping motion, shades):

* before step 3 the frame is rolled, as on a torus, so that an object leaving one edge and
  re-entering at the opposite one is one component: when the foreground reaches both opposite
  edges of an axis, the axis is rolled to put the middle of its longest run of object-free
  columns (rows) at the edge. ``centre`` is reported modulo the frame; ``bbox`` in the rolled
  frame's coordinates moved back, so on a wrapped object it reaches past the frame's edge
  (x1 > W or y1 > H). Frames whose object does not touch two opposite edges are not rolled.
* the object's colour is named by its hue, not its brightness: the core colour (RGB in [0, 1])
  divided by its largest channel is matched against the object colours ``COLOURS``, so a dark
  red is "red". ``shade`` = the largest channel (1 for the v4 world's colours); ``rgb`` and
  ``background_rgb`` are the core and background colours in [0, 1] (what in-between captions
  are scored on).

``clean`` = exactly one component, a colour in ``COLOURS``, a shape, and an area between
``MIN_AREA_FRACTION`` (1.5 %) and ``MAX_AREA_FRACTION`` (30 %) of the frame. ``one_object`` = the
same except that the colour need not be named: one component whose core is one colour. A frame with no
foreground at all gives ``None`` (count it as not clean).

``detect_direction`` turns a centre track into left/right/up/down/still from the least-squares
net displacement over the track, with a ``min_displacement`` threshold in 32x32 pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from .world import COLOURS, PALETTE, REFERENCE_SIZE

__all__ = [
    "COLOUR_TOLERANCE",
    "FOREGROUND_THRESHOLD",
    "MAX_AREA_FRACTION",
    "MIN_AREA_FRACTION",
    "MIN_COMPONENT_FRACTION",
    "Detection",
    "detect",
    "detect_direction",
    "nearest_colour",
    "object_colour",
]

FOREGROUND_THRESHOLD = 0.5
COLOUR_TOLERANCE = 0.6
MIN_COMPONENT_FRACTION = 4 / 1024
MIN_AREA_FRACTION = 0.015
MAX_AREA_FRACTION = 0.30

_NAMES = list(PALETTE)
_TABLE = np.array([PALETTE[n] for n in _NAMES], dtype=np.float64) * 2 - 1  # (K, 3) in [-1, 1]
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Detection:
    """What ``detect`` read from one frame. ``centre`` (x, y) and ``bbox`` (x0, y0, x1, y1) in
    continuous pixel coordinates (pixel centres at i + 0.5); ``area`` in pixels (soft coverage);
    ``colour``/``background`` are palette names or ``None`` when far from every named colour;
    ``features``: fill, skew, cross, colour_spread (see module doc). ``one_object``: ``clean``
    except for the colour's name (one component of one colour, with a shape and a size in range,
    whatever its colour: e.g. a blend of two palette colours)."""

    shape: str | None
    colour: str | None
    centre: tuple[float, float]
    area: float
    num_components: int
    clean: bool
    background: str | None = None
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    features: dict[str, float] = field(default_factory=dict, compare=False)
    one_object: bool = False
    shade: float = math.nan
    rgb: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    background_rgb: tuple[float, float, float] = (math.nan, math.nan, math.nan)


def nearest_colour(rgb: torch.Tensor, tolerance: float = COLOUR_TOLERANCE) -> str | None:
    """Name of the palette colour nearest to ``rgb`` ((3,) in [-1, 1]) if within ``tolerance``
    (L2, [-1, 1] units), else ``None``."""
    if isinstance(rgb, torch.Tensor):
        rgb = rgb.detach().cpu().double().numpy()
    d = np.sqrt(((_TABLE - np.asarray(rgb, dtype=np.float64).reshape(1, 3)) ** 2).sum(1))
    k = int(d.argmin())
    return _NAMES[k] if float(d[k]) <= tolerance else None


_OBJECT_TABLE = np.array([PALETTE[n] for n in COLOURS], dtype=np.float64) * 2 - 1


def object_colour(rgb: np.ndarray, tolerance: float = COLOUR_TOLERANCE) -> tuple[str | None, float]:
    """(name, shade) of an object's core colour ``rgb`` ((3,) in [-1, 1]): its
    :func:`nearest_colour` if it has one, else the colour in ``COLOURS`` nearest to ``rgb``
    scaled to a largest channel of 1 (within ``tolerance``, L2 in [-1, 1] units, else None); the
    shade is that largest channel in [0, 1] units."""
    unit = (np.asarray(rgb, dtype=np.float64) + 1) / 2
    shade = float(unit.max())
    named = nearest_colour(rgb, tolerance)
    if named is not None or shade <= 0.05:  # black has no hue
        return named, shade
    d = np.sqrt(((_OBJECT_TABLE - (unit / shade * 2 - 1)[None]) ** 2).sum(1))
    k = int(d.argmin())
    return (COLOURS[k] if float(d[k]) <= tolerance else None), shade


def _torus_shift(fg: np.ndarray, axis: int) -> int:
    """How far to roll ``fg`` along ``axis`` (0 rows, 1 columns) so that no object is split by
    that axis's edges: 0 unless the foreground reaches both edges, else the middle of the
    longest circular run of lines without foreground (0 when every line has some)."""
    lines = fg.any(axis=1 - axis)
    if not (lines[0] and lines[-1]) or lines.all():
        return 0
    n = lines.size
    empty = np.flatnonzero(~lines)
    best_len, best_mid = 0, 0
    for k, start in enumerate(empty):  # runs of consecutive empty lines, circularly
        if k and empty[k - 1] == start - 1:
            continue
        length = 1
        while (start + length) % n in set(empty.tolist()) and length < n:
            length += 1
        if length > best_len:
            best_len, best_mid = length, (start + length // 2) % n
    return int(best_mid)


def _classify(fill: float, skew: float, cross: float) -> str | None:
    if fill < 0.4:  # nothing in the world fills less than half of its box
        return None
    if fill < 0.64 or skew < -0.3:
        return "triangle"
    return "square" if (fill - 0.89) / 0.11 + (cross - 0.83) / 0.17 > 0 else "circle"


def _detect_one(x: np.ndarray) -> Detection | None:
    # numpy, not torch: tiny single-threaded ops stay fast on a busy CPU
    if x.ndim != 3 or x.shape[0] != 3:
        raise ValueError(f"expected a (3, H, W) frame, got {tuple(x.shape)}")
    _, h, w = x.shape
    bg, rel, diff = _background(x)
    shift_y = _torus_shift(diff > FOREGROUND_THRESHOLD, 0)
    shift_x = _torus_shift(diff > FOREGROUND_THRESHOLD, 1)
    if shift_x or shift_y:
        x = np.roll(x, (-shift_y, -shift_x), axis=(1, 2))
        bg, rel, diff = _background(x)
    labels, n = ndimage.label(diff > FOREGROUND_THRESHOLD, structure=_EIGHT)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    min_component = max(1.0, MIN_COMPONENT_FRACTION * h * w)
    num_components = int((sizes >= min_component).sum())
    comp = labels == int(sizes.argmax()) + 1

    d = diff[comp]
    core = x[:, comp][:, d >= np.quantile(d, 0.75)]
    colour_rgb = np.median(core, axis=1)
    spread = float(np.median(np.sqrt(((core - colour_rgb[:, None]) ** 2).sum(0))))
    named, shade = object_colour(colour_rgb)
    colour = named if spread <= COLOUR_TOLERANCE else None
    background = nearest_colour(bg)
    colours = {
        "shade": shade,
        "rgb": tuple(((colour_rgb + 1) / 2).tolist()),
        "background_rgb": tuple(((bg + 1) / 2).tolist()),
    }

    grown = ndimage.binary_dilation(comp, structure=_EIGHT)
    axis = colour_rgb - bg
    alpha = (rel * axis[:, None, None]).sum(0) / max(float(axis @ axis), 1e-12)
    alpha = np.clip(alpha, 0, 1) * grown
    area = float(alpha.sum())
    if area <= 0:
        return Detection(None, colour, (math.nan, math.nan), 0.0, num_components, False, background, **colours)
    ys = np.arange(h, dtype=np.float64) + 0.5
    xs = np.arange(w, dtype=np.float64) + 0.5
    cx = float(alpha.sum(0) @ xs) / area
    cy = float(alpha.sum(1) @ ys) / area
    dx2, dy = ((xs - cx) ** 2)[None, :], (ys - cy)[:, None]
    m20 = float((alpha * dx2).sum()) / area
    m02 = float((alpha * dy**2).sum()) / area
    m03 = float((alpha * dy**3).sum()) / area
    m22 = float((alpha * dx2 * dy**2).sum()) / area
    width = float(alpha.max(axis=0).sum())
    height = float(alpha.max(axis=1).sum())
    fill = area / max(width * height, 1e-12)
    skew = m03 / max(m02, 1e-12) ** 1.5
    cross = m22 / max(m20 * m02, 1e-12)
    shape = _classify(fill, skew, cross)

    rows = np.flatnonzero(grown.any(axis=1))
    cols = np.flatnonzero(grown.any(axis=0))
    bbox = (
        float(cols[0]) + shift_x,
        float(rows[0]) + shift_y,
        float(cols[-1]) + 1 + shift_x,
        float(rows[-1]) + 1 + shift_y,
    )
    cx, cy = (cx + shift_x) % w, (cy + shift_y) % h
    one_object = (
        num_components == 1
        and spread <= COLOUR_TOLERANCE
        and shape is not None
        and MIN_AREA_FRACTION * h * w <= area <= MAX_AREA_FRACTION * h * w
    )
    clean = one_object and colour in COLOURS
    features = {"fill": fill, "skew": skew, "cross": cross, "colour_spread": spread}
    return Detection(
        shape,
        colour,
        (cx, cy),
        area,
        num_components,
        bool(clean),
        background,
        bbox,
        features,
        one_object=bool(one_object),
        **colours,
    )


def _background(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Background colour (per-channel median of the one-pixel border ring), the frame minus it,
    and each pixel's distance from it."""
    border = np.concatenate([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)
    bg = np.median(border, axis=1)
    rel = x - bg[:, None, None]
    return bg, rel, np.sqrt((rel * rel).sum(0))


def detect(frames: torch.Tensor) -> Detection | None | list[Detection | None]:
    """Detect the object in a (3, H, W) frame in [-1, 1] (``None`` if there is no foreground), or
    in each frame of a (N, 3, H, W) batch (a list)."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu()
        frames = (frames if frames.dtype in (torch.float32, torch.float64) else frames.float()).numpy()
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim == 4:
        return [_detect_one(f) for f in frames]
    return _detect_one(frames)


def detect_direction(
    centres: Sequence[tuple[float, float] | None] | torch.Tensor,
    *,
    size: int = REFERENCE_SIZE,
    min_displacement: float = 2.0,
) -> str:
    """left/right/up/down/still from a track of (x, y) centres (``None`` or NaN entries, e.g.
    missed detections, are skipped). The net displacement is the least-squares line's change over
    the track; below ``min_displacement`` (pixels of a 32x32 frame, scaled by ``size / 32``) the
    track is "still", otherwise its larger axis gives the direction (y grows downwards)."""
    t, pts = [], []
    for i, c in enumerate(centres):
        if c is None:
            continue
        cx, cy = float(c[0]), float(c[1])
        if math.isfinite(cx) and math.isfinite(cy):
            t.append(float(i))
            pts.append((cx, cy))
    if len(pts) < 2:
        return "still"
    tt = torch.tensor(t, dtype=torch.float64)
    p = torch.tensor(pts, dtype=torch.float64)
    tc = tt - tt.mean()
    slope = (tc[:, None] * (p - p.mean(0))).sum(0) / (tc * tc).sum()
    dx, dy = (slope * (tt[-1] - tt[0])).tolist()
    if math.hypot(dx, dy) < min_displacement * size / REFERENCE_SIZE:
        return "still"
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"
