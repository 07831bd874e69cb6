"""DiffusionPipeline subclasses (long video; DPnP / DPS posterior sampling for inverse problems)
and their building blocks: window denoising, prompt schedules and PromptBlend's alignment and
interpolation, video writers. Thin wrappers that bind models to the algorithms.

Names are imported on first use (the prompt schedule parser needs neither torch nor diffusers)."""

from .._lazy import lazy_exports

lazy_exports(globals(), {
    ".frame_conditions": ["FrameConditions"],
    ".pipeline_dpnp": ["DPSPipeline", "DPnPPipeline", "PosteriorPipelineOutput"],
    ".pipeline_tiara_animatediff": ["TiaraAnimateDiffPipeline"],
    ".prompt_alignment": ["align_slots", "aligned_input_ids"],
    ".prompt_interpolation": ["PromptBlendSettings", "frame_mixing", "mix"],
    ".prompt_schedule": ["KeyFrame", "PromptSchedule", "is_schedule", "read_schedule_file"],
    ".prompt_slots": ["SLOTS", "rule_based_slots", "structure_prompt"],
    ".video_io": ["save_video", "to_uint8_frames", "write_metadata"],
    ".windows": ["WindowSettings", "context_windows", "denoise_in_windows", "reuse_noise", "window_weights"],
})
