"""Does a generated ShapesWorld clip show what its caption says? Scored with the detector.

Per clip (frames (F, 3, H, W) in [-1, 1]) against its caption:
- ``colour_frames`` / ``shape_frames``: fraction of frames whose detected object has the caption's
  colour / shape (a frame with no detection counts as wrong);
- ``clean_frames``: fraction of frames that read back as one clean shape (``Detection.clean``);
- ``direction``: :func:`~plugdiff.evaluation.shape_detector.detect_direction` of the detected
  centres, and ``direction_ok`` whether it is the caption's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .shape_detector import detect, detect_direction
from .shapesworld import parse_caption
from .video_consistency import clean_fraction


@dataclass(frozen=True)
class ClipAgreement:
    caption: str
    colour_frames: float
    shape_frames: float
    clean_frames: float
    direction: str
    direction_ok: bool

    def as_dict(self) -> dict:
        return asdict(self)


def clip_agreement(frames: torch.Tensor, caption: str) -> ClipAgreement:
    """Score one clip, (F, 3, H, W) in [-1, 1], against its ShapesWorld ``caption``."""
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (F, 3, H, W), got {tuple(frames.shape)}")
    want = parse_caption(caption)
    found = detect(frames)
    n = len(found)
    colour = sum(d is not None and d.colour == want["colour"] for d in found) / n
    shape = sum(d is not None and d.shape == want["shape"] for d in found) / n
    clean = clean_fraction(found)
    centres = [d.centre if d is not None else None for d in found]
    direction = detect_direction(centres, size=frames.shape[-1])
    return ClipAgreement(caption, colour, shape, clean, direction, direction == want["direction"])


def summarize(scores: Sequence[ClipAgreement]) -> dict[str, float]:
    """Means over clips: colour / shape / clean as fractions of all frames (clips have equal
    length), direction as the fraction of clips."""
    if not scores:
        raise ValueError("no clips to summarize")
    n = len(scores)
    return {
        "clips": n,
        "colour_frames": sum(s.colour_frames for s in scores) / n,
        "shape_frames": sum(s.shape_frames for s in scores) / n,
        "clean_frames": sum(s.clean_frames for s in scores) / n,
        "direction_clips": sum(s.direction_ok for s in scores) / n,
    }
