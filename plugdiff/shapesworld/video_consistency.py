"""Long-video consistency of generated ShapesWorld videos, from per-frame detections
(``plugdiff.shapesworld.detector.detect``). The metrics:

- :func:`clean_fraction`: frames showing one clean shape;
- :func:`identity_consistency`: frames showing the caption's colour and shape;
- :func:`self_consistency`: frames showing the video's own most common (colour, shape);
- :func:`flicker`: mean absolute change between consecutive frames outside the object;
- :func:`motion_jerk`: how far the object's centroid track is from smooth;
- :func:`prompt_transition`: for a change from prompt A to prompt B, how many frames the change
  takes and whether the frames in between show one clean object.

Frames are (F, 3, H, W) tensors in [-1, 1]; ``detections`` the list ``detect(frames)`` returns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .detector import Detection
from .world import parse_caption

Detections = Sequence[Detection | None]


def clean_fraction(detections: Detections) -> float:
    """Fraction of frames the detector reads as one clean shape (``Detection.clean``)."""
    return sum(d is not None and d.clean for d in detections) / _count(detections)


def identity_consistency(detections: Detections, caption: str) -> float:
    """Fraction of frames whose detected object has the caption's colour and shape (a frame
    without a detection counts as wrong)."""
    want = parse_caption(caption)
    hits = sum(d is not None and d.colour == want["colour"] and d.shape == want["shape"] for d in detections)
    return hits / _count(detections)


def self_consistency(detections: Detections) -> float:
    """Fraction of frames showing the video's most common detected (colour, shape): the object
    keeps its identity, whatever the caption asked for. Frames without a detection, or with an
    unnamed colour or shape, count as inconsistent."""
    identities = [(d.colour, d.shape) for d in detections if d is not None and d.colour and d.shape]
    if not identities:
        return 0.0
    return Counter(identities).most_common(1)[0][1] / _count(detections)


def flicker(frames: torch.Tensor, detections: Detections, margin: float = 1.0) -> float:
    r"""Mean over consecutive frame pairs of :math:`\mathrm{mean}|x_{t+1} - x_t|` (in [-1, 1]
    units, over channels) on the pixels outside both frames' object boxes grown by ``margin``
    pixels. Where either frame has no detection the whole frame counts, so an object that
    vanishes or reappears is flicker too. 0 for a static background."""
    if frames.ndim != 4 or len(frames) != len(detections):
        raise ValueError(
            f"expected frames (F, 3, H, W) with one detection each, got {tuple(frames.shape)} and {len(detections)}."
        )
    if len(frames) < 2:
        raise ValueError("flicker needs at least 2 frames.")
    height, width = frames.shape[-2:]
    ys = torch.arange(height, dtype=torch.float64)[:, None] + 0.5
    xs = torch.arange(width, dtype=torch.float64)[None, :] + 0.5

    def outside(d: Detection) -> torch.Tensor:
        x0, y0, x1, y1 = d.bbox
        inside = (xs >= x0 - margin) & (xs <= x1 + margin) & (ys >= y0 - margin) & (ys <= y1 + margin)
        return ~inside

    diffs = []
    for t in range(len(frames) - 1):
        change = (frames[t + 1].double() - frames[t].double()).abs().mean(0)
        if detections[t] is None or detections[t + 1] is None:
            diffs.append(float(change.mean()))
            continue
        keep = outside(detections[t]) & outside(detections[t + 1])
        if keep.any():
            diffs.append(float(change[keep].mean()))
    return sum(diffs) / len(diffs) if diffs else 0.0


def motion_jerk(detections: Detections) -> float | None:
    r"""Root mean square of the centroid track's second difference
    :math:`\lVert c_{t+1} - 2 c_t + c_{t-1}\rVert` (pixels per frame squared) over every three
    consecutive frames with detections: 0 for constant-velocity motion, large for jitter and
    jumps. None when no three consecutive frames have detections."""
    centres = [torch.tensor(d.centre, dtype=torch.float64) if d is not None else None for d in detections]
    squares = [
        float((centres[t + 1] - 2 * centres[t] + centres[t - 1]).pow(2).sum())
        for t in range(1, len(centres) - 1)
        if centres[t - 1] is not None and centres[t] is not None and centres[t + 1] is not None
    ]
    return (sum(squares) / len(squares)) ** 0.5 if squares else None


@dataclass(frozen=True)
class Transition:
    """How a video went from prompt A to prompt B (see :func:`prompt_transition`)."""

    completed: bool
    length: int | None
    coherent: bool
    last_a: int | None
    first_b: int | None
    one_object: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def prompt_transition(detections: Detections, caption_a: str, caption_b: str, settle: int = 3) -> Transition:
    """The change from ``caption_a`` to ``caption_b`` in a video whose schedule goes from A to B.

    Only what differs between the captions' (colour, shape) labels a frame: A, B or neither.
    ``first_b`` is the start of the first run of ``settle`` frames labelled B, ``last_a`` the last
    A frame before it. The transition is ``completed`` when both exist; its ``length`` is the
    number of frames strictly between them, and it is ``coherent`` when every one of those frames
    shows one clean object (no duplicate, no vanishing, a palette colour). ``one_object`` asks
    less: every frame between shows one object of one colour with a shape (``Detection.one_object``),
    so a colour change through blended colours counts; a duplicate or a vanished object does not."""
    a, b = parse_caption(caption_a), parse_caption(caption_b)
    keys = [k for k in ("colour", "shape") if a[k] != b[k]]
    if not keys:
        raise ValueError(f"the captions show the same object ({caption_a!r} -> {caption_b!r}): nothing to transition.")

    def label(d: Detection | None) -> str | None:
        if d is None:
            return None
        seen = tuple(getattr(d, k) for k in keys)
        return "A" if seen == tuple(a[k] for k in keys) else "B" if seen == tuple(b[k] for k in keys) else None

    labels = [label(d) for d in detections]
    first_b = next((t for t in range(len(labels) - settle + 1) if all(x == "B" for x in labels[t : t + settle])), None)
    last_a = None if first_b is None else next((t for t in range(first_b - 1, -1, -1) if labels[t] == "A"), None)
    if first_b is None or last_a is None:
        return Transition(False, None, False, last_a, first_b)
    between = detections[last_a + 1 : first_b]
    coherent = all(d is not None and d.clean for d in between)
    one_object = all(d is not None and d.one_object for d in between)
    return Transition(True, first_b - last_a - 1, coherent, last_a, first_b, one_object)


def _count(detections: Detections) -> int:
    if not len(detections):
        raise ValueError("no frames to score.")
    return len(detections)
