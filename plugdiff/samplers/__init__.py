"""Accelerated DDIM / DDPM samplers (Li et al., ICML 2024) as drop-in diffusers schedulers.

    pipe.scheduler = AcceleratedDDIMScheduler.from_config(pipe.scheduler.config)
"""

from .loop import denoise
from .scheduling_accelerated_ddim import (
    AcceleratedDDIMScheduler,
    ab2_correction_coefficients,
)
from .scheduling_accelerated_ddpm import AcceleratedDDPMScheduler
from .scheduling_base import AcceleratedSchedulerOutput

__all__ = [
    "AcceleratedDDIMScheduler",
    "AcceleratedDDPMScheduler",
    "AcceleratedSchedulerOutput",
    "ab2_correction_coefficients",
    "denoise",
]
