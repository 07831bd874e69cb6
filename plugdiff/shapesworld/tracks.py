r"""Object tracks on the torus of world v5: unwrapping, speed, wraps and jumps.

A v5 object that leaves one edge re-enters at the opposite one, so the detector's centres
(taken modulo the frame) jump by about a frame width at a wrap. :func:`unwrap_track` undoes that:
each step between two detections is taken as the shortest displacement on the torus,
:math:`\Delta = ((c_{t+1} - c_t + S/2) \bmod S) - S/2` per axis (S the frame size), and the track
is the running sum. This is exact whenever the object moves less than half a frame between
detections (the world's speeds are at most 1.2 px/frame at 32x32). On v4's bounded clips nothing
wraps and the unwrapped track is the detected one.

All distances are in pixels of the frame the centres come from; ``size`` is that frame's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: A step longer than this (pixels of a 32x32 frame, scaled with the frame) is a jump: the
#: world's fastest object moves 1.2 px per frame, so 4 px is over 3x any true step.
JUMP_PIXELS = 4.0

Centres = Sequence[tuple[float, float] | None]

__all__ = ["JUMP_PIXELS", "jumps", "net_speed", "speed_ratio", "step_lengths", "unwrap_track", "wrap_count"]


def _array(centres: Centres) -> np.ndarray:
    out = np.full((len(centres), 2), np.nan)
    for t, c in enumerate(centres):
        if c is not None and math.isfinite(c[0]) and math.isfinite(c[1]):
            out[t] = c
    return out


def unwrap_track(centres: Centres, size: int) -> np.ndarray:
    """(F, 2) unwrapped track of ``centres`` (NaN rows where a frame has no detection): the first
    detected centre, then the shortest torus displacement between consecutive detections added
    up (a gap of missed frames counts as one step)."""
    raw = _array(centres)
    out = np.full_like(raw, np.nan)
    seen = np.flatnonzero(np.isfinite(raw[:, 0]))
    if seen.size == 0:
        return out
    out[seen[0]] = raw[seen[0]]
    for prev, t in zip(seen[:-1], seen[1:], strict=True):
        step = np.mod(raw[t] - raw[prev] + size / 2, size) - size / 2
        out[t] = out[prev] + step
    return out


def wrap_count(centres: Centres, size: int) -> int:
    """How many times the object crossed an edge: steps whose shortest torus displacement differs
    from the plain difference of the detected centres."""
    raw = _array(centres)
    seen = np.flatnonzero(np.isfinite(raw[:, 0]))
    plain = np.diff(raw[seen], axis=0)
    torus = np.mod(plain + size / 2, size) - size / 2
    return int(np.any(np.abs(plain - torus) > size / 4, axis=1).sum())


def step_lengths(track: np.ndarray) -> np.ndarray:
    """Lengths of the steps between consecutive frames of an unwrapped track (NaN where either
    frame has no detection)."""
    return np.sqrt((np.diff(track, axis=0) ** 2).sum(1))


def jumps(track: np.ndarray, size: int, pixels: float = JUMP_PIXELS) -> int:
    """Steps of an unwrapped track longer than ``pixels`` (of a 32x32 frame, scaled by size / 32):
    teleports. A wrap is no jump (the track is unwrapped)."""
    steps = step_lengths(track)
    return int((steps[np.isfinite(steps)] > pixels * size / 32).sum())


def net_speed(track: np.ndarray) -> float:
    """Speed of the least-squares straight line through the detected points of ``track``
    (pixels per frame; NaN with fewer than two detections): jitter around a still object does
    not count as motion, as it would in the mean step length."""
    t = np.flatnonzero(np.isfinite(track[:, 0]))
    if t.size < 2:
        return math.nan
    tc = t - t.mean()
    slope = (tc[:, None] * (track[t] - track[t].mean(0))).sum(0) / (tc * tc).sum()
    return float(np.hypot(*slope))


def speed_ratio(track: np.ndarray, window: int = 32) -> float:
    """:func:`net_speed` over the last ``window`` frames divided by that over the first: 1 for an
    object that keeps its speed, 0 for one that stops (NaN when the first window does not move)."""
    if len(track) < 2 * window:
        raise ValueError(f"speed_ratio needs at least {2 * window} frames, got {len(track)}")
    first, last = net_speed(track[:window]), net_speed(track[-window:])
    return last / first if first > 0 else math.nan
