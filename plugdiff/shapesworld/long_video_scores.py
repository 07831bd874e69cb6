r"""Long-video scores on VBench's dimensions (Huang et al., CVPR 2024), read with ShapesWorld's
ground truth instead of learned features, and the v5 world's identity and in-between scores.

VBench scores subject and background consistency with DINO / CLIP feature similarity, motion
smoothness with a frame-interpolation error, temporal flickering with frame differences, and
dynamic degree with optical flow. Here each is read from :func:`~.detector.detect`'s per-frame
detections (and the frames), where the world says exactly what is right:

- **subject consistency** (:func:`subject_consistency`): the share of frames whose object keeps
  the video's identity: one object, the caption's colour and shape (when a caption is given),
  and the attributes the caption does not name: linear size :math:`\sqrt{\text{area}}` within
  ``SIZE_TOLERANCE`` (relative) and shade within ``SHADE_TOLERANCE`` of the video's medians.
- **background consistency** (:func:`background_consistency`): the share of frames whose
  background colour is within ``BACKGROUND_TOLERANCE`` (RGB L2, [0, 1] units) of the video's
  median background (and named as the caption's, when given).
- **motion smoothness**: root mean square jerk :math:`\lVert c_{t+1} - 2c_t + c_{t-1}\rVert` of the
  unwrapped centroid track (:mod:`.tracks`), pixels per frame squared; lower is smoother.
- **temporal flickering** (:func:`flicker_outside`): mean absolute change between consecutive
  frames outside the object, [-1, 1] units; lower is steadier.
- **dynamic degree**: the track's least-squares speed (pixels per frame) and whether it moves
  (``MOVING_SPEED``, half the world's slowest caption speed); over a set of videos captioned as
  moving, the share that move. It keeps a frozen video from scoring as consistent.
- **seam discontinuity** (:func:`seam_discontinuity`): the mean frame change across the given
  window or queue boundaries over the mean change elsewhere (1: no seam).

The v5 identity scores (:func:`identity_drift`): the coefficient of variation of the linear size
and the largest deviation of the shade from its median, over a clip's detected frames. In-between
scores (:func:`inbetween_errors`): each frame's object colour against the ground-truth mix (at
the object's own shade: the caption does not name the shade) and its background against the
background mix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .detector import Detection
from .tracks import jumps, net_speed, speed_ratio, unwrap_track, wrap_count
from .world import parse_caption

SIZE_TOLERANCE = 0.15
SHADE_TOLERANCE = 0.08
BACKGROUND_TOLERANCE = 0.1
MOVING_SPEED = 0.3

Detections = Sequence[Detection | None]

__all__ = [
    "BACKGROUND_TOLERANCE",
    "MOVING_SPEED",
    "SHADE_TOLERANCE",
    "SIZE_TOLERANCE",
    "background_consistency",
    "flicker_outside",
    "identity_drift",
    "inbetween_errors",
    "seam_discontinuity",
    "subject_consistency",
    "video_scores",
]


def _found(detections: Detections) -> list[Detection]:
    return [d for d in detections if d is not None and d.one_object]


def identity_drift(detections: Detections) -> dict[str, float]:
    """``size_cv``: std / mean of :math:`\\sqrt{\\text{area}}`; ``shade_spread``: the largest
    ``|shade - median shade|``; over the frames showing one object (NaN with fewer than 2)."""
    found = _found(detections)
    if len(found) < 2:
        return {"size_cv": math.nan, "shade_spread": math.nan}
    size = np.sqrt([d.area for d in found])
    shade = np.array([d.shade for d in found])
    return {"size_cv": float(size.std() / size.mean()), "shade_spread": float(np.abs(shade - np.median(shade)).max())}


def subject_consistency(detections: Detections, caption: str | None = None) -> float:
    """Share of frames keeping the video's identity (module doc); a frame without one object
    counts as inconsistent."""
    found = _found(detections)
    if not found:
        return 0.0
    size = np.median(np.sqrt([d.area for d in found]))
    shade = np.median([d.shade for d in found])
    want = parse_caption(caption) if caption else None
    hits = 0
    for d in found:
        named = want is None or (d.colour, d.shape) == (want["colour"], want["shape"])
        keeps = abs(math.sqrt(d.area) / size - 1) <= SIZE_TOLERANCE and abs(d.shade - shade) <= SHADE_TOLERANCE
        hits += named and keeps
    return hits / len(detections)


def background_consistency(detections: Detections, caption: str | None = None) -> float:
    """Share of frames whose background is the video's (module doc)."""
    backs = [np.asarray(d.background_rgb) for d in detections if d is not None]
    if not backs:
        return 0.0
    median = np.median(np.stack(backs), axis=0)
    want = parse_caption(caption)["background"] if caption else None
    hits = sum(
        d is not None
        and float(np.linalg.norm(np.asarray(d.background_rgb) - median)) <= BACKGROUND_TOLERANCE
        and (want is None or d.background == want)
        for d in detections
    )
    return hits / len(detections)


def flicker_outside(frames: torch.Tensor, detections: Detections, margin: float = 1.0) -> float:
    """Mean over consecutive frame pairs of the mean absolute change ([-1, 1] units, over
    channels) outside both frames' object boxes grown by ``margin`` pixels, the boxes taken on
    the torus (a wrapped object's box reaches past the edge and continues at the other side).
    Where either frame has no detection the whole frame counts. 0 for a static background."""
    if frames.ndim != 4 or len(frames) != len(detections) or len(frames) < 2:
        raise ValueError(
            f"expected >= 2 frames (F, 3, H, W) with one detection each, got {tuple(frames.shape)} "
            f"and {len(detections)}."
        )
    h, w = frames.shape[-2:]
    ys, xs = np.arange(h)[:, None] + 0.5, np.arange(w)[None, :] + 0.5

    def outside(d: Detection) -> np.ndarray:
        x0, y0, x1, y1 = d.bbox
        in_x = np.mod(xs - (x0 - margin), w) <= (x1 - x0) + 2 * margin
        in_y = np.mod(ys - (y0 - margin), h) <= (y1 - y0) + 2 * margin
        return ~(in_x & in_y)

    diffs = []
    for t in range(len(frames) - 1):
        change = (frames[t + 1].double() - frames[t].double()).abs().mean(0).numpy()
        a, b = detections[t], detections[t + 1]
        keep = np.ones((h, w), bool) if a is None or b is None else outside(a) & outside(b)
        if keep.any():
            diffs.append(float(change[keep].mean()))
    return sum(diffs) / len(diffs) if diffs else 0.0


def seam_discontinuity(frames: torch.Tensor, seams: Sequence[int]) -> float:
    """Mean absolute change between frames ``s - 1`` and ``s`` over the ``seams`` (frames where a
    new window or queue segment starts), divided by the mean change between every other pair of
    consecutive frames; NaN without seams inside the video."""
    change = (frames[1:].double() - frames[:-1].double()).abs().flatten(1).mean(1).numpy()
    at = sorted({s - 1 for s in seams if 0 < s < len(frames)})
    rest = np.setdiff1d(np.arange(len(change)), at)
    if not at or rest.size == 0:
        return math.nan
    return float(change[at].mean() / max(change[rest].mean(), 1e-12))


def inbetween_errors(detections: Detections, objects: np.ndarray, backgrounds: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame distances (RGB L2, [0, 1] units; NaN where no object is detected) of the object
    colour to the ground-truth mix ``objects`` (F, 3) rescaled to the detected shade (largest
    channel), and of the background to ``backgrounds`` (F, 3). With
    :func:`~.world.frame_states`'s ``object`` / ``background`` these are the in-between scores."""
    obj, back = np.full(len(detections), np.nan), np.full(len(detections), np.nan)
    for t, d in enumerate(detections):
        if d is None:
            continue
        back[t] = np.linalg.norm(np.asarray(d.background_rgb) - backgrounds[t])
        if d.one_object:
            target = objects[t] / max(objects[t].max(), 1e-12) * d.shade
            obj[t] = np.linalg.norm(np.asarray(d.rgb) - target)
    return {"object": obj, "background": back}


def video_scores(
    frames: torch.Tensor,
    detections: Detections,
    *,
    caption: str | None = None,
    seams: Sequence[int] = (),
    size: int | None = None,
) -> dict[str, float]:
    """Every score of the module doc for one video (frames (F, 3, H, W) in [-1, 1]), plus the
    track's ``jumps`` (:func:`~.tracks.jumps`), ``wraps`` and ``speed_ratio`` (last 32 frames
    over the first 32; NaN for videos shorter than 64 frames). ``caption``: a single prompt to
    hold the identity and background to; None for prompt schedules."""
    size = size or frames.shape[-1]
    centres = [d.centre if d is not None and d.one_object else None for d in detections]
    track = unwrap_track(centres, size)
    second = track[2:] - 2 * track[1:-1] + track[:-2]
    jerk = (second**2).sum(1)
    jerk = jerk[np.isfinite(jerk)]
    speed = net_speed(track)
    return {
        "subject_consistency": subject_consistency(detections, caption),
        "background_consistency": background_consistency(detections, caption),
        "motion_smoothness_jerk": float(np.sqrt(jerk.mean())) if jerk.size else math.nan,
        "temporal_flickering": flicker_outside(frames, detections),
        "speed": speed,
        "moves": bool(speed >= MOVING_SPEED * size / 32),
        "speed_ratio": speed_ratio(track) if len(track) >= 64 else math.nan,
        "jumps": jumps(track, size),
        "wraps": wrap_count(centres, size),
        "seam_discontinuity": seam_discontinuity(frames, seams),
        **identity_drift(detections),
    }
