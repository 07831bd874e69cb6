"""Write generated frames as MP4 (H.264, yuv420p: plays in browsers), GIF, animated WebP or PNG
frames.

Every write is atomic and verified: the temporary file or folder is read back (it must decode
to the expected number of frames of the expected size) before it is renamed into place, so a
failed encoder never replaces a good file. An optional ``metadata`` dict is written beside the
output as ``<name>.json`` (the settings and seed that made it).
"""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from .fileio import atomic_folder, atomic_write, write_json

FORMATS = (".mp4", ".gif", ".webp", "PNG folder (no suffix)")
MIN_FPS, MAX_FPS = 0.01, 240.0
"""The frame rates every format's encoder takes for videos of up to 4096 frames (measured:
libx264 in MP4 fails from about 1e-5 fps, GIF frame times overflow below 0.0016 fps, WebP's
below 1e-4 fps)."""
MAX_SIDES = {".mp4": 16384, ".webp": 16383, ".gif": 65535}
"""The longest frame side each encoder takes (measured: libx264 writes nothing above 16384
pixels, libwebp refuses 16384 and more; GIF stores sides in 16 bits). PNG frames: no limit here."""


def check_frame_size(suffix: str, height: int, width: int) -> None:
    """Raise ``ValueError`` when frames of ``height`` x ``width`` are too large for the format
    of ``suffix`` (an MP4's odd sides are padded up to even first)."""
    limit = MAX_SIDES.get(suffix.lower())
    if suffix.lower() == ".mp4":
        height, width = height + height % 2, width + width % 2
    if limit is not None and max(height, width) > limit:
        raise ValueError(
            f"frames of {width}x{height} pixels are too large for {suffix} files (at most {limit} pixels "
            "a side); lower the size or upscale, or write PNG frames"
        )


def to_uint8_frames(frames) -> np.ndarray:
    """Frames as a (F, H, W, 3) uint8 array. Accepts a list of PIL images, a (F, H, W, C) numpy
    array (uint8, or float in [0, 1]), or a (F, C, H, W) torch tensor in [0, 1] (one video of a
    pipeline's ``.frames``)."""
    import torch  # here, not at the top: the command line reads MAX_FPS without loading torch

    if isinstance(frames, torch.Tensor):
        frames = frames.detach().float().cpu().permute(0, 2, 3, 1).numpy()
    elif isinstance(frames, (list, tuple)):
        frames = np.stack([np.asarray(f) for f in frames])
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4) or len(frames) == 0:
        raise ValueError(f"expected frames shaped (F, H, W, C) with C in 1, 3, 4 and F >= 1, got {frames.shape}.")
    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    return np.ascontiguousarray(frames[..., :3])


def write_metadata(path: Path, metadata: dict) -> Path:
    """Write ``metadata`` as JSON beside ``path`` (``<name>.json``), atomically."""
    return write_json(path.with_name(path.name + ".json"), metadata, indent=2)


def save_video(frames, path, fps: float = 8.0, metadata: dict | None = None) -> Path:
    """Save one video's frames by the path's suffix: ``.mp4`` (H.264, yuv420p, odd sizes padded
    up to even), ``.gif`` or ``.webp`` (animated, looping; WebP lossless), or no suffix for a
    folder of ``frame_00000.png`` files.

    Args:
        frames: see :func:`to_uint8_frames`.
        path: output file or folder; its parent folder is created.
        fps: frames per second (MP4, GIF).
        metadata: written beside the output as ``<name>.json`` when given.

    Returns:
        The path written.
    """
    path = Path(path)
    if not MIN_FPS <= fps <= MAX_FPS:
        raise ValueError(f"`fps` must be >= {MIN_FPS} and <= {MAX_FPS}, got {fps}.")
    suffix = path.suffix.lower()
    if suffix not in (".mp4", ".gif", ".webp", ""):
        raise ValueError(f"unknown video format {path.suffix!r} for {path}; use one of {', '.join(FORMATS)}.")
    array = to_uint8_frames(frames)
    check_frame_size(suffix, *array.shape[1:3])
    path.parent.mkdir(parents=True, exist_ok=True)
    expected = (len(array), *array.shape[1:3])
    if suffix == ".mp4":
        atomic_write(path, lambda tmp: _write_mp4(array, tmp, fps), lambda tmp: verify_video(tmp, *expected))
    elif suffix in (".gif", ".webp"):
        options = {"lossless": True} if suffix == ".webp" else {}
        atomic_write(
            path,
            lambda tmp: iio.imwrite(tmp, array, extension=suffix, duration=1000.0 / fps, loop=0, **options),
            lambda tmp: verify_video(tmp, *expected),
        )
    else:
        atomic_folder(path, lambda tmp: _write_png_frames(array, tmp), lambda tmp: verify_video(tmp, *expected))
    if metadata is not None:
        write_metadata(path, metadata)
    return path


def verify_video(path, frames: int, height: int, width: int) -> None:
    """Read a written video (file, or folder of PNG frames) back and raise ``OSError`` unless it
    decodes to ``frames`` frames of ``height`` x ``width`` (an MP4 may be padded to even sides)."""
    path = Path(path)
    try:
        if path.is_dir():
            shapes = [iio.imread(p).shape for p in sorted(path.glob("frame_*.png"))]
        else:
            plugin = {"plugin": "FFMPEG"} if path.suffix.lower() == ".mp4" else {}
            shapes = [frame.shape for frame in iio.imiter(path, extension=path.suffix.lower() or None, **plugin)]
    except Exception as err:  # any decoder error means the file is unusable
        raise OSError(f"the written video {path.name} does not decode: {err}") from None
    sizes = {(h, w) for h, w, *_ in shapes}
    if len(shapes) != frames or not sizes <= {(height, width), (height + height % 2, width + width % 2)}:
        found = f"{len(shapes)} frames of {sorted(sizes)}" if shapes else "no frames"
        raise OSError(
            f"the written video {path.name} holds {found}, expected {frames} frames of {height}x{width}; "
            "the previous file (if any) is kept"
        )


def _write_mp4(array: np.ndarray, path: Path, fps: float) -> None:
    h, w = array.shape[1:3]
    even = np.pad(array, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")  # yuv420p needs even sizes
    iio.imwrite(
        path,
        even,
        plugin="FFMPEG",
        extension=".mp4",
        fps=fps,
        codec="libx264",
        pixelformat="yuv420p",
        macro_block_size=1,
        quality=None,
        output_params=["-crf", "18", "-movflags", "+faststart"],
    )


def _write_png_frames(array: np.ndarray, folder: Path) -> None:
    for i, frame in enumerate(array):
        iio.imwrite(folder / f"frame_{i:05d}.png", frame)
