r"""Per-frame noise levels for training a video model that long-video hosts run frame by frame.

FIFO-Diffusion (Kim et al., NeurIPS 2024) denoises a queue whose frames sit at increasing noise
levels, the head cleanest: a window of f frames is given timesteps rising along the frames, from
clean (its lookahead frames, timestep 0) to the top of the schedule when the number of sampling
steps equals the window. A model trained with one timestep per clip never sees that; it cannot
continue the motion of the cleaner frames before a noisy one (measured on the v5 exports: FIFO
long movers 0 of 8, ``benchmarks/results/shapesworld_v5_long_v5p_fifo.json``). Diffusion Forcing
(Chen et al., NeurIPS 2024) trains with an independent noise level per frame for that reason.

Here a share of the training clips gets FIFO's pattern rather than independent levels, so that
the windows a host will show are in the training distribution: frame k of F at

.. math::
    t_k = \operatorname{clamp}\big(\operatorname{round}(t + s\,(k - \tfrac{F-1}{2})),\ 0,\ T-1\big),
    \qquad s \sim \mathcal U[0, T/(F-1)]

where t is the clip's own timestep (uniform, as in plain training, so the middle frame's level
keeps its distribution) and the slope s runs from flat (every frame at t) to the whole schedule
across the clip (FIFO with as many sampling steps as frames). Where the ramp leaves [0, T-1] the
frames are held at the end (clean frames before the ramp, as the lookahead frames are). The
pattern and its use for FIFO's windows are ours; the per-frame levels are Diffusion Forcing's.
"""

from __future__ import annotations

import torch


def diagonal_timesteps(
    t: torch.Tensor, frames: int, share: float, generator: torch.Generator, num_train_timesteps: int
) -> torch.Tensor:
    """(B, F) per-frame timesteps for clips whose own timesteps are ``t`` (B,): a random
    ``share`` of the rows rise along the frames as the module doc says, the others keep ``t`` in
    every frame. Draws from ``generator`` (on the CPU) only when ``share > 0``."""
    if not 0 <= share <= 1:
        raise ValueError(f"share must be in [0, 1], got {share}")
    rows = t[:, None].expand(-1, frames)
    if share == 0 or frames == 1:
        return rows.clone()
    n = t.shape[0]
    ramped = (torch.rand(n, generator=generator) < share).to(t.device)
    slope = (torch.rand(n, generator=generator) * num_train_timesteps / (frames - 1)).to(t.device)
    offset = torch.arange(frames, device=t.device, dtype=torch.float32) - (frames - 1) / 2
    ramp = (t[:, None].float() + slope[:, None] * offset).round().clamp(0, num_train_timesteps - 1)
    return torch.where(ramped[:, None], ramp.to(t.dtype), rows)


def per_frame_abar(alphas_cumprod: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    r""":math:`\bar a_t` shaped to broadcast over a sample of ``ndim`` dimensions: one value per
    sample for ``t`` (B,), one per frame for ``t`` (B, F) with the (B, C, F, h, w) video layout."""
    abar = alphas_cumprod.to(t.device, torch.float32)[t]
    if t.ndim == 1:
        return abar.view(-1, *[1] * (ndim - 1))
    return abar[:, None, :, None, None]
