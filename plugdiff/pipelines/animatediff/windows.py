"""Window (context) denoising: videos longer than a model's temporal window, in flat memory.

FreeNoise (Qiu et al., "FreeNoise: Tuning-Free Longer Video Diffusion via Noise Rescheduling",
ICLR 2024) denoises overlapping windows of ``context_length`` frames, ``context_stride`` apart,
fuses them with per-frame weights, and re-uses the first window's noise, shuffled, for later
frames. diffusers applies the fusion inside every motion module; here it is applied to the
model output of whole windows, so only one window's activations exist at a time and memory
does not grow with the number of frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

WEIGHTINGS = ("pyramid", "flat")
NOISE_REUSE = ("shuffle", "random")


@dataclass(frozen=True)
class WindowSettings:
    """Window denoising parameters.

    Args:
        context_length: frames per window (the motion module's native window).
        context_stride: frames between window starts (1 <= stride <= context_length).
        weighting: "pyramid" (1, 2, ..., 2, 1: window centres count most) or "flat".
        noise_reuse: "shuffle" (FreeNoise noise rescheduling) or "random" (fresh noise).
    """

    context_length: int = 16
    context_stride: int = 4
    weighting: str = "pyramid"
    noise_reuse: str = "shuffle"

    def __post_init__(self):
        for name in ("context_length", "context_stride"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1, got {value!r}.")
        if self.context_stride > self.context_length:
            raise ValueError(f"`context_stride`={self.context_stride} must not exceed `context_length`={self.context_length}.")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"`weighting` must be one of {WEIGHTINGS}, got {self.weighting!r}.")
        if self.noise_reuse not in NOISE_REUSE:
            raise ValueError(f"`noise_reuse` must be one of {NOISE_REUSE}, got {self.noise_reuse!r}.")


def context_windows(num_frames: int, length: int, stride: int) -> list[list[int]]:
    """Frame indices of the windows [s, s + length), s = 0, stride, 2 stride, ..., plus one window
    ending at the last frame if the stride does not land there; one window if the video fits."""
    if num_frames <= length:
        return [list(range(num_frames))]
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    return [list(range(s, s + length)) for s in starts]


def window_weights(length: int, weighting: str) -> torch.Tensor:
    """Per-frame fusion weights of one window: pyramid min(i + 1, length - i), or all ones."""
    if weighting == "flat":
        return torch.ones(length)
    i = torch.arange(length, dtype=torch.float32)
    return torch.minimum(i + 1, length - i)


def reuse_noise(noise: torch.Tensor, length: int, stride: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """FreeNoise noise rescheduling on (B, C, F, H, W) noise: every block of ``stride`` frames
    after the first window is a random permutation of the block ``length`` frames earlier, so all
    windows share the first window's noise. Returns a new tensor."""
    out = noise.clone()
    num_frames = noise.shape[2]
    device = generator.device if generator is not None else "cpu"
    for start in range(length, num_frames, stride):
        size = min(stride, num_frames - start)
        source = torch.arange(start - length, start - length + size)
        perm = torch.randperm(size, generator=generator, device=device).cpu()
        out[:, :, start : start + size] = out[:, :, source[perm]]
    return out


def denoise_in_windows(
    model: Callable[[torch.Tensor, list[int]], torch.Tensor],
    latents: torch.Tensor,
    windows: list[list[int]],
    weights: torch.Tensor,
) -> torch.Tensor:
    r"""The video's model output as the weighted average of per-window outputs:

    .. math:: \hat\varepsilon_f = \frac{\sum_{w \ni f} c_{w,f}\, \varepsilon_\theta(x_w)_f}{\sum_{w \ni f} c_{w,f}}

    Args:
        model: ``model(latents[:, :, window], window) -> output`` of the same shape.
        latents: (B, C, F, H, W).
        windows: frame index lists covering every frame (:func:`context_windows`).
        weights: (context_length,) per-position weights (:func:`window_weights`).
    """
    accumulated = torch.zeros_like(latents, dtype=torch.float32)
    total = torch.zeros(latents.shape[2], device=latents.device)
    weights = weights.to(latents.device)
    for window in windows:
        w = weights[: len(window)]
        out = model(latents[:, :, window], window)
        accumulated[:, :, window] += out.float() * w.view(1, 1, -1, 1, 1)
        total[window] += w
    if bool((total == 0).any()):
        raise ValueError("the windows do not cover every frame.")
    return (accumulated / total.view(1, 1, -1, 1, 1)).to(latents.dtype)
