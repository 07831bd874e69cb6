"""Accelerated DDIM / DDPM samplers (Li et al., ICML 2024) and plugdiff's log-SNR data-prediction
form of them, as drop-in diffusers schedulers.

    pipe.scheduler = AcceleratedDDIMScheduler.from_config(pipe.scheduler.config)
"""

from .loop import denoise
from .scheduling_accelerated_ddim import (
    AcceleratedDDIMScheduler,
    ab2_correction_coefficients,
)
from .scheduling_accelerated_ddpm import AcceleratedDDPMScheduler
from .scheduling_accelerated_logsnr import AcceleratedLogSNRScheduler
from .scheduling_base import AcceleratedSchedulerOutput
from .timestep_grids import logsnr_timesteps

__all__ = [
    "AcceleratedDDIMScheduler",
    "AcceleratedDDPMScheduler",
    "AcceleratedLogSNRScheduler",
    "AcceleratedSchedulerOutput",
    "ab2_correction_coefficients",
    "denoise",
    "logsnr_timesteps",
]
