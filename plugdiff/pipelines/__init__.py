"""DiffusionPipeline subclasses (long video; later DPnP / DPS) and their building blocks:
window denoising and video writers. Thin wrappers that bind models to the algorithms."""

from .pipeline_tiara_animatediff import TiaraAnimateDiffPipeline
from .video_io import save_video, to_uint8_frames, write_metadata
from .windows import (
    WindowSettings,
    context_windows,
    denoise_in_windows,
    reuse_noise,
    window_weights,
)

__all__ = [
    "TiaraAnimateDiffPipeline",
    "WindowSettings",
    "context_windows",
    "denoise_in_windows",
    "reuse_noise",
    "save_video",
    "to_uint8_frames",
    "window_weights",
    "write_metadata",
]
