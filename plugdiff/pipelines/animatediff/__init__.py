"""Long video on AnimateDiff-class models: the pipeline and everything it is made of.

- ``pipeline_tiara_animatediff``: :class:`TiaraAnimateDiffPipeline`, diffusers'
  ``AnimateDiffPipeline`` plus window denoising, TiARA and PromptBlend prompt schedules.
- ``call_checks``: checks of its call's sizes, steps, guidance and given latents.
- ``hosts``: which long-video method a call uses (windows, FIFO, FreeLong) and the settings of
  window denoising and FIFO (no torch).
- ``windows``: FreeNoise-style window denoising of the motion modules (context windows, pyramid
  weights, noise reuse).
- ``fifo``: FIFO-Diffusion's diagonal denoising (queue, partitions, lookahead, per-frame steps).
- ``frame_timesteps``: a timestep per frame through AnimateDiff's UNet (hooks on its blocks).
- ``frame_conditions``: per-frame text conditions for one denoising step.
- ``prompt_schedule`` / ``prompt_slots`` / ``prompt_alignment`` / ``prompt_interpolation``:
  PromptBlend, from a schedule of key-frame prompts to the per-frame mix of their embeddings.

TiARA's, FreeLong's and PromptBlend's attention processors and settings live in
:mod:`plugdiff.attention_processors`.

Names are imported on first use."""

from ..._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        "...attention_processors.promptblend_settings": ["PromptBlendSettings"],
        ".fifo": [
            "FrameStepper",
            "PER_FRAME_SCHEDULERS",
            "diagonal_queue",
            "fifo_denoise",
            "fifo_windows",
            "warmup_frames",
        ],
        ".frame_conditions": ["FrameConditions"],
        ".frame_timesteps": ["FrameTimesteps", "frame_timesteps"],
        ".hosts": ["HOSTS", "FifoSettings", "WindowSettings", "resolve_host"],
        ".pipeline_tiara_animatediff": ["TiaraAnimateDiffPipeline"],
        ".prompt_alignment": ["align_slots", "aligned_input_ids"],
        ".prompt_interpolation": ["frame_mixing", "mix"],
        ".prompt_schedule": ["KeyFrame", "PromptSchedule", "is_schedule", "read_schedule_file"],
        ".prompt_slots": ["SLOTS", "rule_based_slots", "structure_prompt"],
        ".windows": ["context_windows", "denoise_in_windows", "reuse_noise", "window_weights"],
    },
)
