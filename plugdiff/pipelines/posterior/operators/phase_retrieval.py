"""Coded Fourier phase retrieval: observe Fourier magnitudes of a randomly coded image."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ....argument_checks import check_int, check_number
from ._common import ShapeCache, compute_dtype, image_hw, shape_hw
from .base import GaussianMeasurement

#: Added under the square root of the magnitude so its gradient stays finite where F(...) = 0.
MAGNITUDE_EPS = 1e-12


def _ternary_mask(generator: torch.Generator, height: int, width: int) -> torch.Tensor:
    return torch.randint(-1, 2, (height, width), generator=generator).to(torch.float64)


class PhaseRetrieval(GaussianMeasurement):
    r"""Coded Fourier phase retrieval with Gaussian noise:
    :math:`y = |\mathcal F(\mathrm{pad}(M \odot x))| + s\,n`, :math:`n \sim \mathcal N(0, I)`.

    M is an (H, W) mask of i.i.d. values uniform over {-1, 0, 1}, drawn from ``seed`` for each
    image size and shared over batch and channels; pad places the image at the centre of a zero
    (o H, o W) canvas (rounded half up), o = ``oversampling`` in [2, 4]; :math:`\mathcal F` is the
    orthonormal 2-D FFT (``norm="ortho"``), per channel. y has shape (B, C, oH, oW).
    A is nonlinear (no adjoint): samplers use autograd gradients of the Gaussian log-likelihood.
    The magnitude is computed as :math:`\sqrt{\mathrm{re}^2 + \mathrm{im}^2 + 10^{-12}}` so its
    gradient is finite (zero) where the transform vanishes; this biases A by at most 1e-6.
    The code M removes the trivial ambiguities (shift, flip) of plain Fourier phase retrieval, but
    not the sign of each channel: x and x with any channels negated have the same measurement
    (:meth:`ambiguities`); posterior samplers pick among them with the prior.
    Source: coded diffraction patterns (Candes, Li & Soltanolkotabi, 2015); the coded phase
    retrieval task of DPnP (Xu & Chi, NeurIPS 2024), whose official code pads 256 x 256 images to
    512 x 512 (oversampling 2 here; its ``oversample: 4.0`` means 128 pixels of padding per side)
    with noise std 0.2, but draws M with P(-1) = P(+1) = 1/8, P(0) = 3/4 rather than uniformly.
    """

    def __init__(self, oversampling: float = 2.0, noise_std: float = 0.05, seed: int = 0):
        super().__init__(noise_std)
        self.oversampling = check_number(oversampling, "oversampling", minimum=2.0, maximum=4.0)
        seed = check_int(seed, "seed", minimum=0)
        self._masks = ShapeCache(_ternary_mask, seed)
        self._config = {"oversampling": self.oversampling, "noise_std": self.noise_std, "seed": seed}

    def mask(self, height: int, width: int, device="cpu", dtype=torch.float64) -> torch.Tensor:
        """The (H, W) {-1, 0, 1} code for images of that size."""
        return self._masks.get((height, width), device, dtype)

    def padded_hw(self, height: int, width: int) -> tuple[int, int]:
        """(o H, o W) rounded half up: the canvas the coded image is padded to."""
        return math.floor(self.oversampling * height + 0.5), math.floor(self.oversampling * width + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = image_hw(x)
        dtype = compute_dtype(x.dtype)
        coded = x.to(dtype) * self.mask(height, width, x.device, dtype)
        ph, pw = self.padded_hw(height, width)
        top, left = (ph - height) // 2, (pw - width) // 2
        padded = F.pad(coded, (left, pw - width - left, top, ph - height - top))
        spectrum = torch.fft.fft2(padded, norm="ortho")
        return (spectrum.real**2 + spectrum.imag**2 + MAGNITUDE_EPS).sqrt().to(x.dtype)

    def ambiguities(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x with each non-empty subset of its channels negated (2^C - 1 images)."""
        channels = x.shape[1]
        signs = [[-1.0 if (k >> c) & 1 else 1.0 for c in range(channels)] for k in range(1, 2**channels)]
        return [x * torch.tensor(s, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1) for s in signs]

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        return (*(int(n) for n in tuple(image_shape)[:2]), *self.padded_hw(*shape_hw(image_shape)))
