"""Read and write single images at the edges of the image pipelines: files <-> (1, C, H, W)
tensors in [-1, 1]. Writes are atomic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .fileio import atomic_write


def read_image(path, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """The image at ``path`` as a (1, ``channels``, H, W) float32 tensor in [-1, 1], centre-cropped
    to the aspect ratio of ``size`` = (W, H) and resized to it (bicubic); ``channels`` 1 reads it
    as gray, 3 as RGB. Raises ``ValueError`` naming the file when it is missing or not an image."""
    path = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels!r}.")
    try:
        with Image.open(path) as image:
            image = ImageOps.fit(image.convert("L" if channels == 1 else "RGB"), tuple(size), Image.BICUBIC)
    except FileNotFoundError:
        raise ValueError(f"no such image file: {path}") from None
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"could not read the image {path}: {err}") from None
    pixels = np.array(image, dtype=np.float32).reshape(size[1], size[0], channels)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None] / 127.5 - 1


def to_pil(x: torch.Tensor) -> Image.Image:
    """A (1, C, H, W) or (C, H, W) tensor in [-1, 1] (values outside are clipped) as an 8-bit
    PIL image (gray for C = 1, RGB for C = 3)."""
    x = x[0] if x.ndim == 4 else x
    pixels = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def save_image(x: torch.Tensor, path) -> Path:
    """Save a tensor as :func:`to_pil` reads it, format by suffix (PNG recommended), atomically."""
    image = to_pil(x)
    return atomic_write(path, lambda tmp: image.save(tmp))


def verify_images(expected: dict) -> None:
    """Raise ``OSError`` unless every file of ``expected`` {path: (H, W)} decodes to an image of
    that size (checks written files before they are moved into place)."""
    for path, (height, width) in expected.items():
        try:
            with Image.open(path) as image:
                image.load()
                size = image.size
        except (OSError, UnidentifiedImageError) as err:
            raise OSError(f"the written image {Path(path).name} does not decode: {err}") from None
        if size != (width, height):
            raise OSError(f"the written image {Path(path).name} is {size[0]}x{size[1]}, expected {width}x{height}")


def posterior_pictures(measurement: torch.Tensor, output, channels: int) -> tuple[dict, dict]:
    """A posterior-sampling result as pictures in [-1, 1], by file name, for viewing:
    ``measurement.png`` (when the measurement is an image with ``channels`` channels; divided by
    max(1, max |y|)), ``mean.png``, ``std.png`` (scaled so that the largest std is white) and
    ``sample_000.png``, ...; plus the scales used (``measurement_png_scale``, ``std_png_max``).

    ``output``: a :class:`~plugdiff.pipelines.PosteriorPipelineOutput` of ``output_type="pt"``."""
    scales = {
        "measurement_png_scale": max(1.0, float(measurement.abs().max())),
        "std_png_max": max(float(output.std.max()), 1e-8),
    }
    pictures = {}
    if measurement.ndim == 4 and measurement.shape[1] == channels:
        pictures["measurement.png"] = measurement / scales["measurement_png_scale"]
    pictures["mean.png"] = output.mean
    pictures["std.png"] = output.std / scales["std_png_max"] * 2 - 1  # 0 -> black, the largest std -> white
    pictures.update({f"sample_{i:03d}.png": sample[None] for i, sample in enumerate(output.images)})
    return pictures, scales
