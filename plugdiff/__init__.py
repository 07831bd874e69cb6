"""plugdiff: training-free diffusion methods as Hugging Face diffusers components."""

__version__ = "0.1.0"

from .samplers import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler, AcceleratedLogSNRScheduler

__all__ = ["AcceleratedDDIMScheduler", "AcceleratedDDPMScheduler", "AcceleratedLogSNRScheduler", "__version__"]
