"""plugdiff: training-free diffusion methods as Hugging Face diffusers components."""

__version__ = "0.1.0"

__all__ = ["__version__"]

from ._lazy import lazy_exports

lazy_exports(
    globals(), {".samplers": ["AcceleratedDDIMScheduler", "AcceleratedDDPMScheduler", "AcceleratedLogSNRScheduler"]}
)
