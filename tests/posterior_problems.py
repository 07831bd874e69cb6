"""Small inverse problems with exact answers, shared by the DPnP / DPS / DAPS tests."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler

from plugdiff.evaluation import GaussianMixture, image_mixture, ring_mixture_2d
from plugdiff.pipelines.posterior.operators import MatrixOperator, SuperResolution

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


def linear_proximal_problem(n: int):
    """A proximal (likelihood-step) law known exactly: a 2x2 matrix operator with noise 0.2, the
    centre (0.3, -0.2) and y = (0.8, -0.6), each repeated n times: (operator, center, y)."""
    matrix = torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64)
    center = torch.tensor([0.3, -0.2], dtype=torch.float64).reshape(1, 1, 1, 2).expand(n, 1, 1, 2).clone()
    y = torch.tensor([[0.8, -0.6]], dtype=torch.float64).expand(n, 2)
    return MatrixOperator(matrix, noise_std=0.2), center, y


def super_resolution_problem(n: int):
    """x2 average-pooling super-resolution (noise 0.05) of one draw from a 4-component mixture of
    3x4x4 images, 48 dimensions with one posterior mode: (prior, operator, y repeated n times,
    exact posterior, image shape)."""
    prior = image_mixture((3, 4, 4), num_components=4, seed=1)
    operator = SuperResolution(2, "average", noise_std=0.05)
    x = prior.sample(1, generator=torch.Generator().manual_seed(0)).reshape(1, 3, 4, 4)
    y1 = operator.measure(x, generator=torch.Generator().manual_seed(1))
    posterior = prior.posterior(operator.as_matrix((1, 3, 4, 4)), y1.reshape(-1), 0.05)
    return prior, operator, y1.expand(n, 3, 2, 2).clone(), posterior, (n, 3, 4, 4)
