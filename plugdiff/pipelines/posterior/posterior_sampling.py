"""What the posterior samplers (DPnP, DPS) share: the prior's noise schedule, timestep grids,
model-call counting and the output record."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...argument_checks import check_int
from ...samplers.loop import EpsModel  # the one definition of the eps_model(x_t, t) interface


@dataclass
class PosteriorSamples:
    """Output of :func:`~plugdiff.pipelines.posterior.dpnp.dpnp_sample` and
    :func:`~plugdiff.pipelines.posterior.dps.dps_sample`.

    Attributes:
        samples: (B, C, H, W) posterior samples, one per measurement in the batch.
        model_evals: network evaluations per sample (calls of ``eps_model``).
        acceptance_rate: mean Metropolis acceptance of the MALA proximal sampler over all
            iterations and samples (None for other samplers).
        etas: the annealing schedule used (DPnP only).
    """

    samples: torch.Tensor
    model_evals: int
    acceptance_rate: float | None = None
    etas: list[float] = field(default_factory=list)


class CountingModel:
    """Wraps ``eps_model(x_t, t)`` and counts its calls (one call = one evaluation per sample)."""

    def __init__(self, eps_model: EpsModel):
        self.eps_model = eps_model
        self.calls = 0

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``eps_model(x_t, t)``, counted."""
        self.calls += 1
        return self.eps_model(x_t, t)


def check_alphas_cumprod(alphas_cumprod) -> torch.Tensor:
    """The prior's alpha-bar_t, t = 0..T-1, as float64: must be strictly decreasing in (0, 1)."""
    ac = torch.as_tensor(alphas_cumprod, dtype=torch.float64).reshape(-1).cpu()
    if ac.numel() < 2 or not bool(((ac > 0) & (ac < 1)).all()) or not bool((ac[1:] < ac[:-1]).all()):
        raise ValueError("`alphas_cumprod` must be a strictly decreasing sequence in (0, 1) (a VP noise schedule).")
    return ac


def timestep_grid(last: int, num_steps: int | None) -> list[int]:
    """Descending timesteps from ``last`` down to 0: all of them, or ``num_steps`` evenly spaced
    (rounded; both ends kept)."""
    check_int(num_steps, "num_steps", minimum=1, optional=True)
    if num_steps is None or num_steps >= last + 1:
        return list(range(last, -1, -1))
    if num_steps == 1:
        return [last]
    grid = torch.linspace(last, 0, num_steps).round().long().tolist()
    return sorted(set(grid), reverse=True)


def timesteps_for(t: int, batch: int, device) -> torch.Tensor:
    """Integer timesteps (B,) for one model call."""
    return torch.full((batch,), t, dtype=torch.long, device=device)


def denoised(eps_model: EpsModel, x: torch.Tensor, t: int, sigma: float, alpha_bar: float, clip: bool) -> torch.Tensor:
    r"""Tweedie's estimate of x_0 from a VE-noisy x = x_0 + sigma n, with the model queried at
    training step t (level alpha-bar): :math:`\hat x_0 = x - \sigma\,\varepsilon_\theta(\sqrt{\bar a}\,x, t)`,
    clipped to [-1, 1] when ``clip``."""
    eps = eps_model(alpha_bar**0.5 * x, timesteps_for(t, x.shape[0], x.device))
    x0 = x - sigma * eps.to(x.dtype)
    return x0.clamp(-1, 1) if clip else x0


#: Training steps at which :func:`most_probable` compares candidates (few, low to middle noise).
AMBIGUITY_TIMESTEPS = (20, 100, 250)


def most_probable(
    eps_model: EpsModel,
    alphas_cumprod: torch.Tensor,
    operator,
    x: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Per sample, the image the prior finds most likely among x and ``operator.ambiguities(x)``
    (images with exactly the same likelihood, e.g. phase retrieval's channel signs).

    Each candidate c is scored by the denoising loss
    :math:`\sum_t \lVert \varepsilon_\theta(\sqrt{\bar\alpha_t}\,c + \sqrt{1-\bar\alpha_t}\,n_t, t) - n_t\rVert^2`
    over :data:`AMBIGUITY_TIMESTEPS` with the same noise :math:`n_t` for every candidate: the
    terms of the diffusion ELBO (Ho et al., NeurIPS 2020, eq. 14), so a lower loss is a larger prior
    density. Costs one network evaluation per candidate and timestep; returns x when the
    operator has no ambiguities.
    """
    others = operator.ambiguities(x)
    if not others:
        return x
    candidates = [x, *others]
    losses = torch.zeros(len(candidates), x.shape[0], dtype=torch.float64, device=x.device)
    last = len(alphas_cumprod) - 1
    for t in (min(t, last) for t in AMBIGUITY_TIMESTEPS):
        a = float(alphas_cumprod[t])
        noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        for i, c in enumerate(candidates):
            eps = eps_model(a**0.5 * c + (1 - a) ** 0.5 * noise, timesteps_for(t, x.shape[0], x.device))
            losses[i] += ((eps.to(x.dtype) - noise) ** 2).reshape(x.shape[0], -1).sum(1).double()
    best = losses.argmin(0)
    return torch.stack(candidates)[best, torch.arange(x.shape[0], device=x.device)]
