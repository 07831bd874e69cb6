"""Window (context) denoising: videos longer than a model's temporal window, in flat memory.

FreeNoise (Qiu et al., "FreeNoise: Tuning-Free Longer Video Diffusion via Noise Rescheduling",
ICLR 2024) denoises overlapping windows of ``context_length`` frames, ``context_stride`` apart,
fuses them with per-frame weights, and re-uses the first window's noise, shuffled, for later
frames. diffusers applies the fusion inside every motion module; here it is applied to the
model output of whole windows, so only one window's activations exist at a time and memory
does not grow with the number of frames. Its settings, :class:`~.hosts.WindowSettings`, are in
:mod:`.hosts` (no torch).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


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


def reuse_noise(
    noise: torch.Tensor, length: int, stride: int, generator: torch.Generator | None = None
) -> torch.Tensor:
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
