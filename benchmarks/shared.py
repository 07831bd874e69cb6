"""What the benchmark scripts share: the ShapesWorld image prior as the library loads it, the
detector's read-back of images, the randomly initialised AnimateDiff models of the cost
benchmarks, image grids and figures.

The scripts run as ``python benchmarks/<name>.py``; Python puts ``benchmarks/`` first on the
import path, so they import this module, :mod:`published_results` and each other by name (the
tests add ``benchmarks/`` to pytest's ``pythonpath``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from plugdiff.media.fileio import atomic_write
from plugdiff.pipelines import DPnPPipeline, TiaraAnimateDiffPipeline
from plugdiff.shapesworld.detector import detect
from plugdiff.testing import SD15, SMALL, animatediff_components
from plugdiff.weights import load_pipeline

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRIOR = ROOT / "plugdiff" / "weights" / "shapesworld-ddpm"

ANIMATEDIFF_MODELS = {"small": (SMALL, 64), "sd15": (SD15, 256)}
"""The cost benchmarks' ``--model``: (layout of :mod:`plugdiff.testing`, frame height = width)."""


# ------------------------------------------------------------------ models
def load_prior(model: str | Path):
    """The DDPM image prior in ``model`` (a folder or a registry name) as a
    :class:`~plugdiff.pipelines.DPnPPipeline`, loaded by :func:`~plugdiff.weights.load_pipeline`
    (offline, safetensors): ``eps_model(x_t, t)`` is the noise prediction the samplers call,
    ``alphas_cumprod`` its noise schedule, ``scheduler`` its DDPM scheduler."""
    return load_pipeline(model, pipeline_cls=DPnPPipeline)


def random_animatediff(model: str, device, dtype):
    """A :class:`~plugdiff.pipelines.TiaraAnimateDiffPipeline` of the randomly initialised layout
    ``ANIMATEDIFF_MODELS[model]``, built on ``device`` and cast to ``dtype``."""
    layout, _ = ANIMATEDIFF_MODELS[model]
    with torch.device(device):  # initialise in place: much faster for the GPU-sized model
        pipe = TiaraAnimateDiffPipeline(**animatediff_components(layout)).to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ------------------------------------------------------------------ scores
def detector_score(images: torch.Tensor) -> dict:
    """Detector read-back of (N, 3, H, W) images in [-1, 1]: the share of clean single shapes of a
    valid colour, and the shapes, colours and backgrounds among them."""
    found = detect(images.clamp(-1, 1))
    clean = [d for d in found if d is not None and d.clean]
    return {
        "n": len(found),
        "clean_fraction": len(clean) / len(found),
        "shapes": dict(Counter(d.shape for d in clean)),
        "colours": dict(Counter(d.colour for d in clean)),
        "backgrounds": dict(Counter(d.background for d in clean)),
    }


def upper_median(values):
    """The middle of ``values`` (the upper of the two middle ones for an even count)."""
    return sorted(values)[len(values) // 2]


# ------------------------------------------------------------------ pictures
def save_grid(images: torch.Tensor, path: Path, columns: int = 16) -> None:
    """(N, 3, H, W) images in [-1, 1] as a PNG grid, ``columns`` wide, with 1-pixel white gaps
    (the folder is made if need be)."""
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    rows = -(-len(pixels) // columns)
    h, w = pixels.shape[1:3]
    canvas = np.full((rows * (h + 1), columns * (w + 1), 3), 255, dtype=np.uint8)
    for i, p in enumerate(pixels):
        r, c = divmod(i, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = p
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: Image.fromarray(canvas).save(tmp))


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only; matplotlib is the ``bench`` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def show_images(ax, images: torch.Tensor) -> None:
    """(N, 3, H, W) images in [-1, 1] side by side on ``ax``, without ticks."""
    row = np.concatenate(list(((images.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()), axis=1)
    ax.imshow(row, interpolation="nearest")
    ax.set_xticks([]), ax.set_yticks([])


def save_figure(fig, path: Path, dpi: int) -> None:
    """Write ``fig`` to ``path`` as a PNG (atomically) and close it."""
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    pyplot().close(fig)
