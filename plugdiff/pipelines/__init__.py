"""DiffusionPipeline subclasses, one family per folder:

- :mod:`.animatediff`: long video. ``TiaraAnimateDiffPipeline`` (AnimateDiff with window
  denoising, TiARA, PromptBlend prompt schedules) and its building blocks.
- :mod:`.posterior`: inverse problems. ``DPnPPipeline`` / ``DPSPipeline`` / ``DAPSPipeline``, the DPnP, DPS and DAPS
  algorithms as functions over tensors, and the forward operators (:mod:`.posterior.operators`).

Pipelines are thin wrappers that bind models to the algorithms; their scalar arguments are
checked with :mod:`plugdiff.argument_checks`.

Names are imported on first use."""

from .._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        ".animatediff": [
            "SLOTS",
            "FifoSettings",
            "FrameConditions",
            "KeyFrame",
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
            "structure_prompt",
            "window_weights",
        ],
        ".posterior": ["DAPSPipeline", "DPnPPipeline", "DPSPipeline", "PosteriorPipelineOutput"],
    },
)
