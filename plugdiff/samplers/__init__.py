"""Accelerated DDIM / DDPM samplers (Li et al., ICML 2024) and plugdiff's log-SNR data-prediction
form of them, as drop-in diffusers schedulers, and the named sampler presets of the command line,
the web UI and the benchmarks (:mod:`.presets`).

    pipe.scheduler = AcceleratedDDIMScheduler.from_config(pipe.scheduler.config)

Names are imported on first use (the presets need neither torch nor diffusers)."""

from .._lazy import lazy_exports

lazy_exports(
    globals(),
    {
        ".loop": ["denoise"],
        ".presets": ["SCHEDULERS", "make_scheduler"],
        ".scheduling_accelerated_ddim": ["AcceleratedDDIMScheduler", "ab2_correction_coefficients"],
        ".scheduling_accelerated_ddpm": ["AcceleratedDDPMScheduler"],
        ".scheduling_accelerated_logsnr": ["AcceleratedLogSNRScheduler"],
        ".scheduling_base": ["AcceleratedSchedulerOutput"],
        ".timestep_grids": ["logsnr_timesteps"],
    },
)
