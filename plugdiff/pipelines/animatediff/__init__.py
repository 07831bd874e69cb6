"""Long video on AnimateDiff-class models: the pipeline and everything it is made of.

- ``pipeline_tiara_animatediff``: :class:`TiaraAnimateDiffPipeline`, diffusers'
  ``AnimateDiffPipeline`` plus window denoising, TiARA and PromptBlend prompt schedules.
- ``hosts``: which long-video method a call uses (windows, FIFO, FreeLong) and FIFO's settings.
- ``windows``: FreeNoise-style window denoising of the motion modules (context windows, pyramid
  weights, noise reuse).
- ``fifo``: FIFO-Diffusion's diagonal denoising (queue, partitions, lookahead, per-frame steps).
- ``frame_timesteps``: a timestep per frame through AnimateDiff's UNet (hooks on its blocks).
- ``frame_conditions``: per-frame text conditions for one denoising step.
- ``prompt_schedule`` / ``prompt_slots`` / ``prompt_alignment`` / ``prompt_interpolation``:
  PromptBlend, from a schedule of key-frame prompts to the per-frame mix of their embeddings.

TiARA's and FreeLong's attention processors live in :mod:`plugdiff.attention_processors`.

Names are imported on first use."""

from ..._lazy import lazy_exports

lazy_exports(globals(), {
    ".fifo": ["FrameStepper", "PER_FRAME_SCHEDULERS", "diagonal_queue", "fifo_denoise", "fifo_windows",
              "warmup_frames"],
    ".frame_conditions": ["FrameConditions"],
    ".frame_timesteps": ["FrameTimesteps", "frame_timesteps"],
    ".hosts": ["HOSTS", "FifoSettings", "resolve_host"],
    ".pipeline_tiara_animatediff": ["TiaraAnimateDiffPipeline"],
    ".prompt_alignment": ["align_slots", "aligned_input_ids"],
    ".prompt_interpolation": ["PromptBlendSettings", "frame_mixing", "mix"],
    ".prompt_schedule": ["KeyFrame", "PromptSchedule", "is_schedule", "read_schedule_file"],
    ".prompt_slots": ["SLOTS", "rule_based_slots", "structure_prompt"],
    ".windows": ["WindowSettings", "context_windows", "denoise_in_windows", "reuse_noise", "window_weights"],
})
