"""What a renderer hands back: how to write the output, the numbers for the sidecar, and the
media itself for front ends that show it (the web UI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


@dataclass
class Rendered:
    """One rendered job.

    Attributes:
        write: writes the output file or folder at the given path (atomically).
        results: JSON-able numbers for the sidecar (sizes, model evaluations, PSNR, ...).
        media: the rendered content: a video's (F, C, H, W) frames in [0, 1], or a restoration's
            {file name: (1, C, H, W) image in [-1, 1]}.
    """

    write: Callable[[Path], None]
    results: dict
    media: Any = field(repr=False, default=None)
