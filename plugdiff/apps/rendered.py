"""What a renderer hands back: how to write the output, the numbers for the sidecar, and the
media itself for front ends that show it (the web UI)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Rendered:
    """One rendered job.

    Attributes:
        write: writes the output file or folder at the given path (atomically, verified).
        results: JSON-able numbers for the sidecar (sizes, model evaluations, PSNR, ...).
        media: the rendered content: a video's (F, C, H, W) frames in [0, 1], or a restoration's
            {file name: (1, C, H, W) image in [-1, 1]}.
    """

    write: Callable[[Path], None]
    results: dict
    media: Any = field(repr=False, default=None)

    def check_finite(self) -> None:
        """Raise ``ValueError`` when the media or a result holds NaN or infinity (a diverged
        sampler: e.g. a huge guidance or step size), so that nothing broken is written."""
        import torch  # here: the settings modules that import this one load without torch

        tensors = self.media.items() if isinstance(self.media, dict) else [("frames", self.media)]
        for name, tensor in tensors:
            if isinstance(tensor, torch.Tensor) and not bool(torch.isfinite(tensor).all()):
                raise ValueError(
                    f"the result {name} holds NaN or infinite values (the sampler diverged); "
                    "lower the guidance or step size, or check the inputs"
                )
        bad = _non_finite(self.results)
        if bad:
            raise ValueError(f"the result {bad!r} is NaN or infinite (the sampler diverged); nothing was written")


def _non_finite(value, key: str = "") -> str | None:
    """The key of the first non-finite number in nested results, or None."""
    if isinstance(value, dict):
        return next((k for k in (_non_finite(v, str(k)) for k, v in value.items()) if k), None)
    if isinstance(value, (list, tuple)):
        return next((k for k in (_non_finite(v, key) for v in value) if k), None)
    if isinstance(value, float) and not math.isfinite(value):
        return key or "result"
    return None
