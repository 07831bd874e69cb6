"""Long video on AnimateDiff-class models: the pipeline and everything it is made of.

- ``pipeline_tiara_animatediff``: :class:`TiaraAnimateDiffPipeline`, diffusers'
  ``AnimateDiffPipeline`` plus window denoising, TiARA and PromptBlend prompt schedules.
- ``windows``: FreeNoise-style window denoising of the motion modules (context windows, pyramid
  weights, noise reuse).
- ``frame_conditions``: per-frame text conditions for one denoising step.
- ``prompt_schedule`` / ``prompt_slots`` / ``prompt_alignment`` / ``prompt_interpolation``:
  PromptBlend, from a schedule of key-frame prompts to the per-frame mix of their embeddings.

TiARA's attention processor itself lives in :mod:`plugdiff.attention_processors`.

Names are imported on first use."""

from ..._lazy import lazy_exports

lazy_exports(globals(), {
    ".frame_conditions": ["FrameConditions"],
    ".pipeline_tiara_animatediff": ["TiaraAnimateDiffPipeline"],
    ".prompt_alignment": ["align_slots", "aligned_input_ids"],
    ".prompt_interpolation": ["PromptBlendSettings", "frame_mixing", "mix"],
    ".prompt_schedule": ["KeyFrame", "PromptSchedule", "is_schedule", "read_schedule_file"],
    ".prompt_slots": ["SLOTS", "rule_based_slots", "structure_prompt"],
    ".windows": ["WindowSettings", "context_windows", "denoise_in_windows", "reuse_noise", "window_weights"],
})
