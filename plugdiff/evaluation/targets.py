"""Standard exact-score targets for benchmarks and tests."""

from __future__ import annotations

import math

import torch

from .gaussian_mixture import Gaussian, GaussianMixture


def ring_mixture_2d(num_modes: int = 8, radius: float = 2.0, std: float = 0.15) -> GaussianMixture:
    """``num_modes`` equal-weight isotropic Gaussians evenly spaced on a circle (the classic
    2-D multimodal test target)."""
    angles = torch.arange(num_modes, dtype=torch.float64) * (2 * math.pi / num_modes)
    means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    return GaussianMixture(torch.ones(num_modes), means, torch.full((num_modes,), std**2))


def rotated_gaussian(variances, mean, seed: int) -> Gaussian:
    """Anisotropic Gaussian with eigenvalues ``variances`` along a random rotation (the Q of the QR
    of a standard normal matrix drawn with ``seed``), centred at ``mean``: a target on which every
    sampler that is affine in Gaussian inputs has a Gaussian output, so its KL is exact."""
    d = len(variances)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    cov = q @ torch.diag(torch.as_tensor(variances, dtype=torch.float64)) @ q.T
    return Gaussian(torch.as_tensor(mean, dtype=torch.float64), cov)


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal DCT-II basis as columns: (n, n), column j has frequency j."""
    i = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(n, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * (i + 0.5) * j / n) * math.sqrt(2.0 / n)
    basis[:, 0] = 1.0 / math.sqrt(n)
    return basis


def image_mixture(
    shape: tuple[int, int, int] = (3, 16, 16),
    num_components: int = 4,
    decay: float = 2.0,
    floor: float = 1e-3,
    seed: int = 0,
) -> GaussianMixture:
    """Image-shaped mixture whose components are stationary Gaussian 'textures' with power-law
    spectra around smooth mean images.

    Every component is diagonal in one shared orthonormal basis (channel DCT x 2-D spatial DCT),
    with variance ``scale_k * (1 + f^2)^-decay / (1 + c) + floor`` at spatial frequency f and
    channel-frequency c, scale_k drawn per component; means are smooth random images in about
    [-1, 1]. The shared basis keeps the exact eps at two (B, D) x (D, D) products per call.
    """
    C, H, W = shape
    g = torch.Generator().manual_seed(seed)
    basis = torch.kron(torch.kron(dct_matrix(C), dct_matrix(H)), dct_matrix(W))
    c = torch.arange(C, dtype=torch.float64)[:, None, None]
    fh = torch.arange(H, dtype=torch.float64)[None, :, None]
    fw = torch.arange(W, dtype=torch.float64)[None, None, :]
    spectrum = ((1 + fh**2 + fw**2) ** (-decay) / (1 + c)).reshape(-1)
    scales = 0.5 + torch.rand(num_components, generator=g, dtype=torch.float64)
    eigvals = scales[:, None] * spectrum[None] + floor
    mean_coeffs = torch.randn(num_components, C * H * W, generator=g, dtype=torch.float64) * spectrum.sqrt()
    means = mean_coeffs @ basis.T
    means = means / means.abs().amax(dim=1, keepdim=True) * 0.8
    weights = 1.0 + torch.rand(num_components, generator=g, dtype=torch.float64)
    return GaussianMixture.from_eigen(weights, means, eigvals, basis, event_shape=shape)
