"""DiffusionPipeline subclasses (long video; DPnP / DPS posterior sampling for inverse problems)
and their building blocks: window denoising, prompt schedules and PromptBlend's alignment and
interpolation, video writers. Thin wrappers that bind models to the algorithms."""

from .frame_conditions import FrameConditions
from .pipeline_dpnp import DPnPPipeline, DPSPipeline, PosteriorPipelineOutput
from .pipeline_tiara_animatediff import TiaraAnimateDiffPipeline
from .prompt_alignment import align_slots, aligned_input_ids
from .prompt_interpolation import PromptBlendSettings, frame_mixing, mix
from .prompt_schedule import KeyFrame, PromptSchedule, is_schedule, read_schedule_file
from .prompt_slots import SLOTS, rule_based_slots, structure_prompt
from .video_io import save_video, to_uint8_frames, write_metadata
from .windows import (
    WindowSettings,
    context_windows,
    denoise_in_windows,
    reuse_noise,
    window_weights,
)

__all__ = [
    "SLOTS",
    "DPSPipeline",
    "DPnPPipeline",
    "FrameConditions",
    "KeyFrame",
    "PosteriorPipelineOutput",
    "PromptBlendSettings",
    "PromptSchedule",
    "TiaraAnimateDiffPipeline",
    "WindowSettings",
    "align_slots",
    "aligned_input_ids",
    "context_windows",
    "denoise_in_windows",
    "frame_mixing",
    "is_schedule",
    "mix",
    "read_schedule_file",
    "reuse_noise",
    "rule_based_slots",
    "save_video",
    "structure_prompt",
    "to_uint8_frames",
    "window_weights",
    "write_metadata",
]
