"""ShapesWorld: a seeded procedural world of captioned clips with per-frame ground truth.

One clip shows a single shape of a named colour on a plain background of another named colour,
moving in a straight line at constant speed (or staying still). Every clip has a caption in one
fixed grammar and exact ground truth per frame (shape, colour, centroid, bounding box), so models
trained on this world can be scored by :mod:`plugdiff.shapesworld.detector`.

Vocabulary
----------
- object colours ``COLOURS``: red, green, blue, yellow;
- background colours ``BACKGROUNDS``: the object colours plus white, black, gray (a clip's
  background always differs from its object colour);
- shapes ``SHAPES``: circle, square, triangle (isosceles, pointing up);
- directions ``DIRECTIONS``: left, right, up, down, still (image axes: "up" is towards row 0).

Colours (``PALETTE``, RGB in [0, 1]; images use ``2 * v - 1`` in [-1, 1]): red (1, 0, 0),
green (0, 1, 0), blue (0, 0, 1), yellow (1, 1, 0), white (1, 1, 1), black (0, 0, 0),
gray (0.5, 0.5, 0.5). The closest pair (gray against any other) is sqrt(3)/2 = 0.87 apart in
[0, 1] units (1.73 in [-1, 1] units).

Caption grammar (``ClipSpec.caption``, inverted by ``parse_caption``)::

    a <colour> <shape> moving <left|right|up|down> on a <background> background
    a <colour> <shape> staying still on a <background> background

Geometry
--------
All geometry in a ``ClipSpec`` is in *reference pixels* of a 32x32 frame and is scaled by
``size / 32`` when rendering at another size, so one spec renders the same scene at any size.
Continuous coordinates: pixel (row i, column j) covers ``[j, j+1) x [i, i+1)``, so its centre is
``(j + 0.5, i + 0.5)``; ``x`` runs along columns (right), ``y`` along rows (down).
``start`` is the shape's area centroid at frame 0; ``radius`` is the circle radius, the square's
half side, and the triangle's half base (the triangle is ``2 * radius`` wide and tall, apex up,
so its centroid lies ``4/3 radius`` below the apex and ``2/3 radius`` above the base).
Frame ``t`` has centroid ``start + t * speed * unit(direction)``.

Motion is *bounded*, not bouncing: ``random_spec`` picks the radius, then a speed (capped so the
whole path fits), then a start position such that the object stays fully inside the frame, at
least ``margin`` reference pixels from every edge, for all ``num_frames`` frames.

Where the clip sits (``placement``): ``"uniform"`` draws the start uniformly over every position
whose path fits. Then a horizontal mover's midpoint (its mean position over the clip) lies in the
frame's middle columns and a vertical mover's in its middle rows, so where a clip sits gives its
axis away. ``"centred"`` draws the midpoint from one box for every direction (the positions from
which a path of that length fits whichever way it goes; still clips draw a speed too and use the
same box), so a clip's mean position says nothing about its direction. (With either, the start
and the end do: a path spans most of the frame.)

Rendering is anti-aliased: each pixel holds the shape's area coverage, exact along x and
supersampled along y (16 sub-rows per pixel at 32x32, the same spacing at other sizes; area
within about 1 % of the exact shape), so a pixel is
``coverage * colour + (1 - coverage) * background``: interior pixels hold exactly the object
colour, pixels away from the shape exactly the background colour.

Held-out combinations
---------------------
``HELD_OUT`` lists (colour, shape, direction) triples that the samplers never produce unless
``include_held_out=True`` (training uses the default; benchmarks test on ``combos=HELD_OUT``):
red square up, green triangle right, blue circle down, yellow triangle left, blue square still.
Every colour, shape and direction still occurs in training in other combinations.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "BACKGROUNDS",
    "COLOURS",
    "DIRECTIONS",
    "HELD_OUT",
    "MIX_SLOTS",
    "PALETTE",
    "PLACEMENTS",
    "REFERENCE_SIZE",
    "SHAPES",
    "V5_SHADES",
    "WORLDS",
    "WRAP_CENTRED_BOX",
    "ClipSpec",
    "FrameTruth",
    "Mix",
    "colour_tensor",
    "frame_states",
    "parse_caption",
    "random_mix",
    "random_spec",
    "random_v5_spec",
    "render_clip",
    "render_frames",
    "sample_clips",
    "sample_frames",
    "truth",
]

REFERENCE_SIZE = 32

#: Named colours, RGB in [0, 1] (images are ``2 * v - 1`` in [-1, 1]).
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "gray": (0.5, 0.5, 0.5),
}
COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow")
BACKGROUNDS: tuple[str, ...] = ("red", "green", "blue", "yellow", "white", "black", "gray")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down", "still")
#: How ``random_spec`` places a clip in the frame (see the module doc).
PLACEMENTS: tuple[str, ...] = ("uniform", "centred")
#: Side of the central square (reference pixels) holding the path midpoint of a wrapping clip
#: placed centred (``random_spec``'s ``centred_share``).
WRAP_CENTRED_BOX = 16.0

#: (colour, shape, direction) triples never sampled unless ``include_held_out=True``.
HELD_OUT: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("red", "square", "up"),
        ("green", "triangle", "right"),
        ("blue", "circle", "down"),
        ("yellow", "triangle", "left"),
        ("blue", "square", "still"),
    }
)

_UNIT: dict[str, tuple[float, float]] = {
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
    "up": (0.0, -1.0),
    "down": (0.0, 1.0),
    "still": (0.0, 0.0),
}
_SHAPE_ID = {name: i for i, name in enumerate(SHAPES)}
_SUBROWS_REFERENCE = 16  # sub-rows per pixel row at 32x32; fewer at larger sizes (same spacing)
_MAX_SAMPLES_PER_CHUNK = 1 << 22  # (sub-row, pixel) overlaps computed at once (bounds memory)


def colour_tensor(name: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The named colour as a (3,) tensor in [-1, 1]."""
    if name not in PALETTE:
        raise ValueError(f"unknown colour {name!r}; known: {', '.join(PALETTE)}")
    return torch.tensor(PALETTE[name], dtype=dtype) * 2 - 1


def _extents(shape: str, radius: float) -> tuple[float, float, float, float]:
    """Distances from the centroid to the bounding box: (left, up, right, down)."""
    if shape == "triangle":
        return radius, 4.0 * radius / 3.0, radius, 2.0 * radius / 3.0
    return radius, radius, radius, radius


#: Caption slots a :class:`Mix` can blend.
MIX_SLOTS: tuple[str, ...] = ("colour", "shape", "direction", "background")


@dataclass(frozen=True)
class Mix:
    """The clip's caption blended towards another ``value`` of one ``slot`` (v5 in-betweens).

    Frame t shows the mix with weight ``weights[t]`` (the last weight holds for later frames):
    constant weights are a static in-between caption, weights rising from 0 to 1 a prompt change
    inside the clip. What a weight w means for each slot (the ground truth; module doc): colour
    and background, the RGB mix ``(1 - w) a + w b``; shape, the row-profile morph; direction, the
    velocity mix ``speed * ((1 - w) u_a + w u_b)`` (the position integrates it).
    """

    slot: str
    value: str
    weights: tuple[float, ...]

    def __post_init__(self):
        if self.slot not in MIX_SLOTS:
            raise ValueError(f"unknown mix slot {self.slot!r}; known: {', '.join(MIX_SLOTS)}")
        weights = tuple(float(w) for w in self.weights)
        if not weights or not all(0.0 <= w <= 1.0 for w in weights):
            raise ValueError(f"mix weights must be one or more numbers in [0, 1], got {self.weights!r}")
        object.__setattr__(self, "weights", weights)

    def weight(self, t: np.ndarray) -> np.ndarray:
        """Weights of frames ``t`` (int array)."""
        w = np.asarray(self.weights, dtype=np.float64)
        return w[np.minimum(t, len(w) - 1)]

    def cumulative(self, t: np.ndarray) -> np.ndarray:
        """Sum of the weights of frames ``0 .. t-1`` (what the direction mix moves by)."""
        w = np.asarray(self.weights, dtype=np.float64)
        csum = np.concatenate([[0.0], np.cumsum(w)])
        t = np.asarray(t)
        return csum[np.minimum(t, len(w))] + np.maximum(t - len(w), 0) * w[-1]

    def shifted(self, t: int) -> Mix:
        """The same mix seen from frame ``t`` on."""
        return dataclasses.replace(self, weights=tuple(self.weight(np.arange(t, max(t + 1, len(self.weights))))))


@dataclass(frozen=True)
class ClipSpec:
    """One clip of the world. Geometry in reference pixels of a 32x32 frame (see module doc).

    ``speed`` is reference pixels per frame (ignored for ``direction="still"``), ``radius`` the
    shape's half width, ``start`` the centroid ``(x, y)`` at frame 0.

    World v5 (defaults reproduce v4's clips): ``shade`` in (0, 1] scales the object colour (an
    attribute the caption does not name; v4: 1), ``wrap`` makes the frame a torus (the object
    leaves one edge and re-enters at the opposite one; v4: bounded motion), ``mix`` blends one
    caption slot towards another value (:class:`Mix`).
    """

    shape: str
    colour: str
    background: str
    direction: str
    speed: float
    radius: float
    start: tuple[float, float]
    shade: float = 1.0
    wrap: bool = False
    mix: Mix | None = None

    def __post_init__(self):
        for field, value, vocab in (
            ("shape", self.shape, SHAPES),
            ("colour", self.colour, COLOURS),
            ("background", self.background, BACKGROUNDS),
            ("direction", self.direction, DIRECTIONS),
        ):
            if value not in vocab:
                raise ValueError(f"unknown {field} {value!r}; known: {', '.join(vocab)}")
        if self.background == self.colour:
            raise ValueError(f"background must differ from the object colour (both {self.colour!r})")
        if not self.radius > 0:
            raise ValueError(f"radius must be positive, got {self.radius}")
        if not self.speed >= 0:
            raise ValueError(f"speed must be non-negative, got {self.speed}")
        if not 0 < self.shade <= 1:
            raise ValueError(f"shade must be in (0, 1], got {self.shade}")
        object.__setattr__(self, "start", (float(self.start[0]), float(self.start[1])))
        if self.mix is not None:
            self.mixed_spec()  # the other end must be a valid clip too

    def mixed_spec(self) -> ClipSpec:
        """The clip at the other end of ``mix`` (weight 1 everywhere), without a mix."""
        if self.mix is None:
            raise ValueError("this clip has no mix")
        end = dataclasses.replace(self, mix=None, **{self.mix.slot: self.mix.value})
        if self.mix.slot == "colour" and self.background == self.mix.value:
            raise ValueError(f"background must differ from both mixed colours (both {self.background!r})")
        if self.mix.slot == "background" and self.colour == self.mix.value:
            raise ValueError(f"the mixed background must differ from the object colour ({self.colour!r})")
        return end

    @property
    def caption(self) -> str:
        motion = "staying still" if self.direction == "still" else f"moving {self.direction}"
        return f"a {self.colour} {self.shape} {motion} on a {self.background} background"

    @property
    def triple(self) -> tuple[str, str, str]:
        """(colour, shape, direction), the key of ``HELD_OUT``."""
        return (self.colour, self.shape, self.direction)

    @property
    def mix_caption(self) -> str | None:
        """The caption at the other end of ``mix`` (None without a mix)."""
        return None if self.mix is None else self.mixed_spec().caption

    def velocity(self) -> tuple[float, float]:
        """Velocity without the mix (the caption's own direction)."""
        ux, uy = _UNIT[self.direction]
        return ux * self.speed, uy * self.speed

    def path(self, frames: Sequence[int] | np.ndarray) -> np.ndarray:
        """(N, 2) float64 unwrapped centroids (x, y) in reference pixels at ``frames``: ``start``
        plus the velocity summed over the earlier frames (a direction mix changes it per frame)."""
        t = np.asarray(frames, dtype=np.int64)
        pos = np.asarray(self.start, dtype=np.float64) + t[:, None] * np.asarray(self.velocity())
        if self.mix is not None and self.mix.slot == "direction":
            ua, ub = np.asarray(_UNIT[self.direction]), np.asarray(_UNIT[self.mix.value])
            pos = pos + self.speed * self.mix.cumulative(t)[:, None] * (ub - ua)
        return pos

    def centres(self, num_frames: int, size: int = REFERENCE_SIZE, *, unwrapped: bool = False) -> torch.Tensor:
        """(num_frames, 2) float64 centroids (x, y) in pixels of a ``size`` frame; on a wrapping
        clip taken modulo the frame (where the object is drawn) unless ``unwrapped``."""
        pos = self.path(np.arange(num_frames))
        if self.wrap and not unwrapped:
            pos = np.mod(pos, REFERENCE_SIZE)
        return torch.from_numpy(pos * (size / REFERENCE_SIZE))

    def at_frame(self, t: int) -> ClipSpec:
        """The same clip started at its frame ``t`` (frame 0 of the result = frame t of self)."""
        x, y = self.path([t])[0].tolist()
        mix = None if self.mix is None else self.mix.shifted(t)
        return dataclasses.replace(self, start=(x, y), mix=mix)


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of one frame: centre = area centroid (x, y) and bbox = (x0, y0, x1, y1), both
    in continuous pixel coordinates of the rendered size (pixel centres at i + 0.5)."""

    shape: str
    colour: str
    centre: tuple[float, float]
    bbox: tuple[float, float, float, float]


_GRAMMAR_WORDS = {"a", "moving", "staying", "on", "background"}
_GRAMMAR = "'a <colour> <shape> moving <left|right|up|down> | staying still on a <background> background'"


def parse_caption(text: str) -> dict[str, str]:
    """Invert ``ClipSpec.caption``: returns ``{"colour", "shape", "direction", "background"}``.

    Case and extra whitespace are ignored. Raises ``ValueError`` naming the first unknown word, or
    saying how the caption breaks the grammar (wrong order, a background as object colour, an
    object on a background of its own colour).
    """
    words = text.lower().split()
    known = _GRAMMAR_WORDS | set(BACKGROUNDS) | set(SHAPES) | set(DIRECTIONS)
    for w in words:
        if w not in known:
            raise ValueError(f"unknown word {w!r} in caption {text!r}; grammar: {_GRAMMAR}")
    if len(words) != 9:
        raise ValueError(f"caption {text!r} has {len(words)} words, expected 9; grammar: {_GRAMMAR}")
    colour, shape, direction, background = words[1], words[2], words[4], words[7]
    if colour not in COLOURS:
        raise ValueError(f"caption {text!r}: {colour!r} is not an object colour ({', '.join(COLOURS)})")
    if shape not in SHAPES or direction not in DIRECTIONS or background not in BACKGROUNDS:
        raise ValueError(f"caption {text!r} does not follow the grammar {_GRAMMAR}")
    motion = "staying still" if direction == "still" else f"moving {direction}"
    if " ".join(words) != f"a {colour} {shape} {motion} on a {background} background":
        raise ValueError(f"caption {text!r} does not follow the grammar {_GRAMMAR}")
    if background == colour:
        raise ValueError(f"caption {text!r}: the background must differ from the object colour")
    return {"colour": colour, "shape": shape, "direction": direction, "background": background}


# ----------------------------------------------------------------------------------------------
# sampling specs


def _vocab(name: str, values: Iterable[str], vocab: Sequence[str]) -> list[str]:
    """Validate and put into vocabulary order (so sets give deterministic results)."""
    chosen = set(values)
    unknown = sorted(chosen - set(vocab))
    if unknown:
        raise ValueError(f"unknown {name} {unknown}; known: {', '.join(vocab)}")
    if not chosen:
        raise ValueError(f"{name} is empty")
    return [v for v in vocab if v in chosen]


def _triples(colours, shapes, directions, include_held_out, combos) -> list[tuple[str, str, str]]:
    if combos is not None:
        triples = sorted({tuple(c) for c in combos})
        for c, s, d in triples:
            _vocab("colours", [c], COLOURS), _vocab("shapes", [s], SHAPES), _vocab("directions", [d], DIRECTIONS)
    else:
        product = itertools.product(
            _vocab("colours", colours, COLOURS),
            _vocab("shapes", shapes, SHAPES),
            _vocab("directions", directions, DIRECTIONS),
        )
        triples = [t for t in product if include_held_out or t not in HELD_OUT]
    if not triples:
        raise ValueError("no (colour, shape, direction) combination left to sample (all held out?)")
    return triples


def _pick(u: float, n: int) -> int:
    return min(int(u * n), n - 1)


def random_spec(
    generator: torch.Generator,
    *,
    colours: Iterable[str] = COLOURS,
    shapes: Iterable[str] = SHAPES,
    directions: Iterable[str] = DIRECTIONS,
    backgrounds: Iterable[str] = BACKGROUNDS,
    num_frames: int = 16,
    include_held_out: bool = False,
    combos: Iterable[tuple[str, str, str]] | None = None,
    radius_range: tuple[float, float] = (4.0, 6.0),
    speed_range: tuple[float, float] = (0.6, 1.2),
    margin: float = 1.0,
    placement: str = "uniform",
    wrap: bool = False,
    shade_range: tuple[float, float] = (1.0, 1.0),
    centred_share: float = 0.0,
) -> ClipSpec:
    """A random clip whose object stays fully inside the frame for ``num_frames`` frames.

    The (colour, shape, direction) triple is uniform over ``colours x shapes x directions`` minus
    ``HELD_OUT`` (unless ``include_held_out``); ``combos`` instead gives the triples explicitly
    (used as given, e.g. ``combos=HELD_OUT`` for benchmarks). The background is uniform over
    ``backgrounds`` minus the object colour, the radius uniform in ``radius_range``, the speed
    uniform in ``speed_range`` but capped so that the path fits (long clips move slower), the
    start uniform over the positions keeping the object ``margin`` inside every edge
    (``placement="uniform"``), or the path's midpoint uniform over a box that is the same for
    every direction (``placement="centred"``; see the module doc). Geometry in reference pixels
    of a 32x32 frame. Uses exactly one ``torch.rand`` call of ``generator``.

    World v5: with ``wrap`` the frame is a torus, so the speed is never capped and the start is
    uniform over the whole frame (``placement`` is moot: no position gives a direction away),
    except in a ``centred_share`` of clips, whose path's midpoint is uniform over the central
    ``WRAP_CENTRED_BOX`` square (the same for every direction), so that their first frame sits
    on the side the object comes from, as in world v4; a ``shade_range`` other than (1, 1) draws
    the shade uniformly from it. Either makes a second ``torch.rand`` call.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if not 0 <= centred_share <= 1:
        raise ValueError(f"centred_share must lie in [0, 1], got {centred_share}")
    if centred_share and not wrap:
        raise ValueError("centred_share places wrapping clips; without wrap use placement='centred'")
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; known: {', '.join(PLACEMENTS)}")
    triples = _triples(colours, shapes, directions, include_held_out, combos)
    bg_all = _vocab("backgrounds", backgrounds, BACKGROUNDS)
    u = torch.rand(6, generator=generator, dtype=torch.float64).tolist()
    colour, shape, direction = triples[_pick(u[0], len(triples))]
    bgs = [b for b in bg_all if b != colour]
    if not bgs:
        raise ValueError(f"no background differs from the object colour {colour!r}")
    background = bgs[_pick(u[1], len(bgs))]
    radius = radius_range[0] + u[2] * (radius_range[1] - radius_range[0])
    left, up, right, down = _extents(shape, radius)
    free_x = REFERENCE_SIZE - 2 * margin - left - right
    free_y = REFERENCE_SIZE - 2 * margin - up - down
    if min(free_x, free_y) < 0:
        raise ValueError(f"a {shape} of radius {radius:.2f} does not fit a 32x32 frame with margin {margin}")
    ux, uy = _UNIT[direction]
    if wrap or shade_range != (1.0, 1.0):
        if not 0 < shade_range[0] <= shade_range[1] <= 1:
            raise ValueError(f"shade_range must satisfy 0 < low <= high <= 1, got {shade_range}")
        v = torch.rand(3, generator=generator, dtype=torch.float64).tolist()
        shade = shade_range[0] + v[0] * (shade_range[1] - shade_range[0])
        if wrap:
            speed = speed_range[0] + u[3] * (speed_range[1] - speed_range[0])  # still: for direction mixes
            if u[4] < centred_share:  # the midpoint in the central box; the start trails it by half the path
                half_path = speed * (num_frames - 1) / 2
                low = (REFERENCE_SIZE - WRAP_CENTRED_BOX) / 2
                start = (
                    (low + v[1] * WRAP_CENTRED_BOX - ux * half_path) % REFERENCE_SIZE,
                    (low + v[2] * WRAP_CENTRED_BOX - uy * half_path) % REFERENCE_SIZE,
                )
            else:
                start = (v[1] * REFERENCE_SIZE, v[2] * REFERENCE_SIZE)
            return ClipSpec(shape, colour, background, direction, float(speed), float(radius), start, shade, True)
    else:
        shade = 1.0
    centred = placement == "centred"
    if direction == "still" and not centred:
        speed = 0.0
    else:
        speed = speed_range[0] + u[3] * (speed_range[1] - speed_range[0])
        if num_frames > 1:
            room = min(free_x, free_y) if centred else (free_x if ux else free_y)
            speed = min(speed, room / (num_frames - 1))
    path = speed * (num_frames - 1)
    if centred:  # the midpoint's box leaves half the path of room on every side
        lo_x, hi_x = margin + left + path / 2, REFERENCE_SIZE - margin - right - path / 2
        lo_y, hi_y = margin + up + path / 2, REFERENCE_SIZE - margin - down - path / 2
        mid_x = lo_x + u[4] * max(0.0, hi_x - lo_x)
        mid_y = lo_y + u[5] * max(0.0, hi_y - lo_y)
        x0, y0 = mid_x - ux * path / 2, mid_y - uy * path / 2
        speed = 0.0 if direction == "still" else speed
    else:
        dx, dy = ux * path, uy * path
        lo_x, hi_x = margin + left - min(0.0, dx), REFERENCE_SIZE - margin - right - max(0.0, dx)
        lo_y, hi_y = margin + up - min(0.0, dy), REFERENCE_SIZE - margin - down - max(0.0, dy)
        x0 = lo_x + u[4] * max(0.0, hi_x - lo_x)
        y0 = lo_y + u[5] * max(0.0, hi_y - lo_y)
    return ClipSpec(shape, colour, background, direction, float(speed), float(radius), (x0, y0), shade)


#: World v5's sampling: wrapping motion, a shade the caption does not name, and in-betweens.
V5_SHADES: tuple[float, float] = (0.6, 1.0)
#: Share of v5 training clips with a static in-between caption, and with a prompt change inside.
V5_MIX_SHARE, V5_TRANSITION_SHARE = 0.25, 0.25
#: Longest prompt change inside a v5 clip, frames (PromptBlend's default at 32 frames is 8-11).
V5_MAX_TRANSITION = 12


def random_mix(
    spec: ClipSpec, generator: torch.Generator, *, num_frames: int, transition: bool, include_held_out: bool = False
) -> ClipSpec:
    """``spec`` with a :class:`Mix`: one slot, uniform over ``MIX_SLOTS``, blended towards a
    uniformly drawn other value that keeps both ends valid captions (and, unless
    ``include_held_out``, out of ``HELD_OUT``). A static mix has one weight, uniform in (0, 1);
    a ``transition`` ramps linearly from 0 to 1 over T frames (uniform in 1 ..
    ``V5_MAX_TRANSITION``) ending at a key frame uniform over the clip, as the pipelines'
    prompt schedules do. One ``torch.rand`` call."""
    u = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
    vocab = {"colour": COLOURS, "shape": SHAPES, "direction": DIRECTIONS, "background": BACKGROUNDS}
    slots = list(MIX_SLOTS)
    for k in range(len(slots)):
        slot = slots[(_pick(u[0], len(slots)) + k) % len(slots)]
        options = []
        for value in vocab[slot]:
            if value == getattr(spec, slot):
                continue
            try:
                end = dataclasses.replace(spec, mix=Mix(slot, value, (0.5,))).mixed_spec()
            except ValueError:
                continue
            if include_held_out or end.triple not in HELD_OUT:
                options.append(value)
        if options:
            break
    else:  # pragma: no cover - every clip has some slot to mix
        raise ValueError(f"no slot of {spec.caption!r} can be mixed")
    value = options[_pick(u[1], len(options))]
    if transition:
        length = 1 + _pick(u[2], V5_MAX_TRANSITION)
        key = _pick(u[3], num_frames) + 1  # the first frame fully at the other end
        start = key - length
        weights = tuple(float(min(1.0, max(0.0, (t - start) / length))) for t in range(num_frames))
    else:
        weights = (0.02 + 0.96 * u[4],)
    return dataclasses.replace(spec, mix=Mix(slot, value, weights))


def random_v5_spec(
    generator: torch.Generator,
    *,
    num_frames: int = 16,
    mix_share: float = V5_MIX_SHARE,
    transition_share: float = V5_TRANSITION_SHARE,
    **vocab,
) -> ClipSpec:
    """A v5 clip: :func:`random_spec` with ``wrap`` and the shade drawn from ``V5_SHADES``, then
    with probability ``mix_share`` a static in-between caption and with ``transition_share`` a
    prompt change inside the clip (:func:`random_mix`). ``vocab``: the rest of ``random_spec``'s
    keyword arguments."""
    spec = random_spec(generator, num_frames=num_frames, wrap=True, shade_range=V5_SHADES, **vocab)
    kind = torch.rand(1, generator=generator, dtype=torch.float64).item()
    if kind < mix_share + transition_share:
        held = vocab.get("include_held_out", False)
        spec = random_mix(spec, generator, num_frames=num_frames, transition=kind >= mix_share, include_held_out=held)
    return spec


# ----------------------------------------------------------------------------------------------
# rendering


def _half_widths(shape_weights: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Half widths (m, S) of each shape's rows at offsets ``dy`` (m, S) from its centroid: the
    ``shape_weights`` (m, 3) mix of the circle's, square's and triangle's (a pure shape has one
    weight 1; a morph mixes the row profiles, which keeps the centroid in place)."""
    half = np.zeros_like(dy)
    for k, name in enumerate(SHAPES):
        w = shape_weights[:, k, None]
        if not w.any():
            continue
        if name == "circle":
            h = np.sqrt(np.maximum(r * r - dy * dy, 0.0))
        elif name == "square":
            h = np.where(np.abs(dy) <= r, r, 0.0)
        else:  # apex up: depth ty below the apex in [0, 2r], half width ty / 2
            ty = dy + (4.0 / 3.0) * r
            h = np.where((ty >= 0) & (ty <= 2 * r), ty / 2, 0.0)
        half = half + w * h
    return half


def _coverage(shape_weights: np.ndarray, centres: np.ndarray, radii: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) float32 area coverage of each shape. Every shape (and every row-profile
    morph of them) is convex with a horizontal extent per row, so each pixel row is cut into
    ``ss`` sub-rows (midpoint rule in y, ss = 16 at 32x32 and ``max(4, ceil(16 * 32 / size))`` in
    general) and the overlap of each sub-row's span with each pixel is exact in x.
    ``shape_weights`` (N, 3) over ``SHAPES``, ``centres`` (N, 2) and ``radii`` (N,) in pixels of
    the ``size`` frame. numpy, single-threaded: stays fast on a CPU busy with training."""
    ss = max(4, math.ceil(_SUBROWS_REFERENCE * REFERENCE_SIZE / size))
    n = shape_weights.shape[0]
    out = np.zeros((n, size, size), dtype=np.float32)
    ys = (np.arange(size * ss, dtype=np.float64) + 0.5) / ss  # sub-row centres
    left = np.arange(size, dtype=np.float32)  # pixel column [j, j + 1)
    chunk = max(1, _MAX_SAMPLES_PER_CHUNK // (size * ss * size))
    for s in range(0, n, chunk):
        sel = slice(s, s + chunk)
        cx, cy, r = centres[sel, 0, None], centres[sel, 1, None], radii[sel, None]
        half = _half_widths(shape_weights[sel], ys[None, :] - cy, r)  # (m, S)
        lo = (cx - half).astype(np.float32)[:, :, None]  # (m, S, 1)
        hi = (cx + half).astype(np.float32)[:, :, None]
        overlap = np.minimum(hi, left + 1) - np.maximum(lo, left)  # (m, S, W)
        np.clip(overlap, 0, 1, out=overlap)
        out[sel] = overlap.reshape(-1, size, ss, size).mean(2, dtype=np.float32)
    return out


def _wrapped_coverage(shape_weights, centres, radii, size) -> np.ndarray:
    """Coverage on a torus: the shape at its centre taken modulo the frame, plus the copies one
    frame away that reach into it (at most one per side: shapes are smaller than the frame)."""
    centres = np.mod(centres, size)
    out = _coverage(shape_weights, centres, radii, size)
    reach = radii * (4.0 / 3.0) + 1.0  # every extent of every shape, plus a pixel
    for ox, oy in itertools.product((-size, 0, size), repeat=2):
        if ox == oy == 0:
            continue
        moved = centres + np.array([ox, oy], dtype=np.float64)
        inside = np.all((moved + reach[:, None] > 0) & (moved - reach[:, None] < size), axis=1)
        idx = np.flatnonzero(inside)
        if idx.size:
            out[idx] += _coverage(shape_weights[idx], moved[idx], radii[idx], size)
    return np.minimum(out, 1.0, out=out)


def _rgb(name: str) -> np.ndarray:
    return np.asarray(PALETTE[name], dtype=np.float64)


def frame_states(specs: Sequence[ClipSpec], frame_indices: Sequence[int]) -> dict[str, np.ndarray]:
    """What frame ``frame_indices[i]`` of ``specs[i]`` shows, as arrays over i (the ground truth
    of every frame, mixes and wraps included): ``centre`` (N, 2) unwrapped, reference pixels;
    ``object`` and ``background`` (N, 3) RGB in [0, 1] (the object's with its shade);
    ``shape`` (N, 3) weights over ``SHAPES``; ``radius`` (N,); ``weight`` (N,) of the mix (0 without)."""
    n = len(specs)
    centre, obj, bg = np.zeros((n, 2)), np.zeros((n, 3)), np.zeros((n, 3))
    shape, radius, weight = np.zeros((n, len(SHAPES))), np.zeros(n), np.zeros(n)
    for i, (spec, t) in enumerate(zip(specs, frame_indices, strict=True)):
        centre[i] = spec.path([t])[0]
        colours, backs, shapes = [spec.colour], [spec.background], [spec.shape]
        w = 0.0
        if spec.mix is not None:
            w = float(spec.mix.weight(np.array([t]))[0])
            end = spec.mixed_spec()
            colours, backs, shapes = colours + [end.colour], backs + [end.background], shapes + [end.shape]
        mix = (1.0 - w, w)
        obj[i] = spec.shade * sum(m * _rgb(c) for m, c in zip(mix, colours))
        bg[i] = sum(m * _rgb(b) for m, b in zip(mix, backs))
        for m, name in zip(mix, shapes):
            shape[i, _SHAPE_ID[name]] += m
        radius[i], weight[i] = spec.radius, w
    return {"centre": centre, "object": obj, "background": bg, "shape": shape, "radius": radius, "weight": weight}


def render_frames(specs: Sequence[ClipSpec], frame_indices: Sequence[int], size: int = REFERENCE_SIZE) -> torch.Tensor:
    """Frame ``frame_indices[i]`` of clip ``specs[i]`` for every i: (N, 3, size, size) float32
    in [-1, 1], anti-aliased (``coverage * colour + (1 - coverage) * background``)."""
    if len(specs) != len(frame_indices):
        raise ValueError(f"{len(specs)} specs but {len(frame_indices)} frame indices")
    n = len(specs)
    if n == 0:
        return torch.zeros(0, 3, size, size)
    scale = size / REFERENCE_SIZE
    state = frame_states(specs, frame_indices)
    centres, radii = state["centre"] * scale, state["radius"] * scale
    wrap = np.array([s.wrap for s in specs])
    cov = np.zeros((n, size, size), dtype=np.float32)
    for mask, render in ((~wrap, _coverage), (wrap, _wrapped_coverage)):
        idx = np.flatnonzero(mask)
        if idx.size:
            cov[idx] = render(state["shape"][idx], centres[idx], radii[idx], size)
    cov = cov[:, None]
    obj = (state["object"].astype(np.float32) * 2 - 1)[:, :, None, None]
    bg = (state["background"].astype(np.float32) * 2 - 1)[:, :, None, None]
    return torch.from_numpy(obj * cov + bg * (1 - cov))


def render_clip(spec: ClipSpec, num_frames: int = 16, size: int = REFERENCE_SIZE) -> torch.Tensor:
    """(num_frames, 3, size, size) float32 in [-1, 1]."""
    return render_frames([spec] * num_frames, range(num_frames), size)


def truth(spec: ClipSpec, num_frames: int = 16, size: int = REFERENCE_SIZE) -> list[FrameTruth]:
    """Per-frame ground truth of ``render_clip(spec, num_frames, size)``."""
    scale = size / REFERENCE_SIZE
    left, up, right, down = (e * scale for e in _extents(spec.shape, spec.radius))
    out = []
    for x, y in spec.centres(num_frames, size).tolist():  # modulo the frame on a wrapping clip
        out.append(FrameTruth(spec.shape, spec.colour, (x, y), (x - left, y - up, x + right, y + down)))
    return out


# ----------------------------------------------------------------------------------------------
# training batches


WORLDS: tuple[str, ...] = ("v4", "v5")


def _sampler(vocab: dict):
    """``random_spec`` (world v4, the default) or ``random_v5_spec``, by the ``world`` key that
    ``vocab`` may carry (popped)."""
    world = vocab.pop("world", "v4")
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}; known: {', '.join(WORLDS)}")
    return random_v5_spec if world == "v5" else random_spec


def sample_frames(
    n: int, generator: torch.Generator, size: int = REFERENCE_SIZE, *, clip_frames: int = 16, **vocab
) -> tuple[torch.Tensor, list[str], list[ClipSpec]]:
    """``n`` single frames: a uniformly random frame of each of ``n`` random ``clip_frames``-frame
    clips. Returns images (n, 3, size, size) in [-1, 1], the clips' captions, and specs rebased to
    the chosen frame (``specs[i]`` renders ``images[i]`` as its frame 0; ``truth(specs[i], 1)``).
    ``vocab``: keyword arguments of ``random_spec`` (colours, shapes, directions, backgrounds,
    include_held_out, combos, radius_range, speed_range, margin, placement), and ``world="v5"``
    for :func:`random_v5_spec`'s clips."""
    sampler = _sampler(vocab)
    clips = [sampler(generator, num_frames=clip_frames, **vocab) for _ in range(n)]
    ts = torch.randint(clip_frames, (n,), generator=generator).tolist()
    specs = [c.at_frame(t) for c, t in zip(clips, ts, strict=True)]
    return render_frames(specs, [0] * n, size), [s.caption for s in specs], specs


def sample_clips(
    n: int, num_frames: int, generator: torch.Generator, size: int = REFERENCE_SIZE, **vocab
) -> tuple[torch.Tensor, list[str], list[ClipSpec]]:
    """``n`` random clips: (n, num_frames, 3, size, size) in [-1, 1], captions, specs.
    ``vocab``: keyword arguments of ``random_spec``, and ``world="v5"`` for :func:`random_v5_spec`'s clips."""
    sampler = _sampler(vocab)
    specs = [sampler(generator, num_frames=num_frames, **vocab) for _ in range(n)]
    flat_specs = [s for s in specs for _ in range(num_frames)]
    flat_t = [t for _ in specs for t in range(num_frames)]
    frames = render_frames(flat_specs, flat_t, size)
    return frames.reshape(n, num_frames, 3, size, size), [s.caption for s in specs], specs
