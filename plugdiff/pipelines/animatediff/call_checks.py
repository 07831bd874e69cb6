"""Checks of :meth:`TiaraAnimateDiffPipeline.__call__` arguments that would otherwise fail deep
inside (an IndexError, a dtype clash) or silently misbehave (a NaN guidance scale switches
guidance off): each raises ``ValueError`` naming the argument and what is allowed. Scalars go
through :mod:`plugdiff.argument_checks`; the given latents are checked here."""

from __future__ import annotations

import torch

from ...argument_checks import check_int, check_number


def check_latents(latents, shape: tuple, dtype: torch.dtype, name: str = "latents") -> None:
    """Given ``latents`` are a finite tensor of ``shape`` (None entries: any size) and ``dtype``."""
    if latents is None:
        return
    if not isinstance(latents, torch.Tensor):
        raise ValueError(f"`{name}` must be a torch.Tensor, got {type(latents).__name__}.")
    if latents.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, latents.shape)):
        expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"`{name}` must have shape {expected}, got {tuple(latents.shape)}.")
    if latents.dtype != dtype:
        raise ValueError(
            f"`{name}` must have the pipeline's dtype {dtype}, got {latents.dtype}; pass {name}.to({dtype})."
        )
    if not bool(torch.isfinite(latents).all()):
        raise ValueError(f"`{name}` has non-finite values (nan or inf).")


def check_video_call(pipe, num_frames, height, width, num_inference_steps, guidance_scale, latents) -> None:
    """The arguments of :meth:`TiaraAnimateDiffPipeline.__call__` that its own checks leave:
    sizes (None: the model's), steps, guidance and given latents ((B, C, F, H / s, W / s) in
    the UNet's dtype, s the VAE's scale factor)."""
    check_int(num_frames, "num_frames", minimum=1)
    check_int(height, "height", minimum=pipe.vae_scale_factor, optional=True)
    check_int(width, "width", minimum=pipe.vae_scale_factor, optional=True)
    check_int(num_inference_steps, "num_inference_steps", minimum=1)
    check_number(guidance_scale, "guidance_scale")
    scale = pipe.vae_scale_factor
    default = pipe.unet.config.sample_size * scale
    shape = (None, pipe.unet.config.in_channels, num_frames, (height or default) // scale, (width or default) // scale)
    check_latents(latents, shape, pipe.unet.dtype)
