"""Small inverse problems with exact answers, shared by the DPnP / DPS tests."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from plugdiff.evaluation import GaussianMixture, ring_mixture_2d
from plugdiff.pipelines.posterior.operators import MatrixOperator

ALPHAS_CUMPROD = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()


def ring_prior() -> GaussianMixture:
    """Eight modes on the unit circle (std 0.1), images of shape (1, 1, 2)."""
    ring = ring_mixture_2d(8, 1.0, 0.1)
    return GaussianMixture(ring.weights, ring.means, torch.full((8,), 0.01), event_shape=(1, 1, 2))


def ring_problem(noise_std: float = 0.05, n: int = 1000):
    """Observe the first coordinate (= 0) of the ring: the exact posterior has two modes, (0, +-1)."""
    prior = ring_prior()
    matrix = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    operator = MatrixOperator(matrix, noise_std=noise_std)
    y = torch.zeros(n, 1, dtype=torch.float64)
    return prior, operator, y, prior.posterior(matrix, y[0], noise_std), (n, 1, 1, 2)


