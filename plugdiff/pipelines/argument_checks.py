"""Checks of pipeline call arguments that would otherwise fail deep inside (an IndexError, a
ZeroDivisionError, a dtype clash) or silently misbehave (a NaN guidance scale switches guidance
off): each raises ``ValueError`` naming the argument and what is allowed."""

from __future__ import annotations

import math
import numbers

import torch


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> None:
    """``value`` is an int (not a bool) in [minimum, maximum]."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        allowed = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise ValueError(f"`{name}` must be an int {allowed}, got {value!r}.")


def check_finite(name: str, value, minimum: float | None = None) -> None:
    """``value`` is a finite real number (>= ``minimum`` when given)."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        low = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"`{name}` must be a finite number{low}, got {value!r}.")


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
        raise ValueError(f"`{name}` must have the pipeline's dtype {dtype}, got {latents.dtype}; pass {name}.to({dtype}).")
    if not bool(torch.isfinite(latents).all()):
        raise ValueError(f"`{name}` has non-finite values (nan or inf).")


def check_video_call(pipe, num_frames, height, width, num_inference_steps, guidance_scale, latents) -> None:
    """The arguments of :meth:`TiaraAnimateDiffPipeline.__call__` that its own checks leave:
    sizes (None: the model's), steps, guidance and given latents ((B, C, F, H / s, W / s) in
    the UNet's dtype, s the VAE's scale factor)."""
    check_int("num_frames", num_frames)
    for name, size in (("height", height), ("width", width)):
        if size is not None:
            check_int(name, size, minimum=pipe.vae_scale_factor)
    check_int("num_inference_steps", num_inference_steps)
    check_finite("guidance_scale", guidance_scale)
    scale = pipe.vae_scale_factor
    default = pipe.unet.config.sample_size * scale
    shape = (None, pipe.unet.config.in_channels, num_frames, (height or default) // scale, (width or default) // scale)
    check_latents(latents, shape, pipe.unet.dtype)


def check_train_steps(name: str, num_steps, num_train_timesteps: int) -> None:
    """``num_steps``: None, or an int from 1 to the model's ``num_train_timesteps``."""
    if num_steps is not None:
        check_int(name, num_steps, maximum=num_train_timesteps)
