"""Media and file IO at the edges of the pipelines: atomic file writes (``fileio``), images
(``image_io``: files <-> tensors in [-1, 1]) and videos (``video_io``: MP4, GIF, WebP, PNG
frames, with a JSON sidecar of the settings).

Names are imported on first use."""

from .._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        ".fileio": ["atomic_folder", "atomic_write", "write_json"],
        ".image_io": ["read_image", "save_image", "to_pil"],
        ".video_io": ["save_video", "to_uint8_frames", "write_metadata"],
    },
)
