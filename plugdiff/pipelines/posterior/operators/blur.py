"""Deblurring: circular convolutions, diagonal in the Fourier domain."""

from __future__ import annotations

import math
from functools import partial

import torch

from ....argument_checks import check_int, check_number, check_positive
from ._common import ShapeCache, compute_dtype, image_hw, shape_hw
from .base import LinearOperator


def _padded_kernel(kernel: torch.Tensor, generator, height: int, width: int) -> torch.Tensor:
    """The kernel zero-padded to (H, W) with its centre (kh // 2, kw // 2) rolled to (0, 0)."""
    kh, kw = kernel.shape
    padded = torch.zeros(height, width, dtype=kernel.dtype)
    padded[:kh, :kw] = kernel
    return padded.roll((-(kh // 2), -(kw // 2)), dims=(0, 1))


class CircularConvolution(LinearOperator):
    r"""Circular convolution with a fixed kernel k and Gaussian noise: :math:`y = k \circledast x
    + s\,n`, :math:`n \sim \mathcal N(0, I)`, per channel, y of the image's shape.

    k (any (kh, kw) size up to the image's) is zero-padded to (H, W) with its centre element
    (kh // 2, kw // 2) at the origin, so a delta kernel is the identity (no shift). With
    :math:`K = \mathrm{FFT}(k)`: :math:`A x = \mathrm{IFFT}(K \cdot \hat x)`,
    :math:`A^\top y = \mathrm{IFFT}(\bar K \cdot \hat y)` (convolution with the flipped kernel) and
    :math:`(A^\top A / s^2 + I / \eta^2)^{-1} r = \mathrm{IFFT}(\hat r / (|K|^2 / s^2 + 1/\eta^2))`
    exactly. FFTs run in float64 for float64 input, float32 otherwise; outputs keep the input dtype.
    Source: the circular (FFT-diagonal) blur model and closed-form data step of DiffPIR (Zhu et al.,
    CVPR 2023); DPS (Chung et al., ICLR 2023) blurs with non-circular boundaries instead.
    """

    def __init__(self, kernel: torch.Tensor, noise_std: float = 0.05):
        super().__init__(noise_std)
        if not isinstance(kernel, torch.Tensor) or kernel.ndim != 2 or kernel.numel() == 0:
            got = tuple(kernel.shape) if isinstance(kernel, torch.Tensor) else type(kernel).__name__
            raise ValueError(f"`kernel` must be a non-empty (kh, kw) tensor, got {got}.")
        kernel = kernel.detach().to("cpu", torch.float64).clone()
        if not bool(torch.isfinite(kernel).all()):
            raise ValueError("`kernel` has non-finite values (nan or inf).")
        self.kernel = kernel
        self._spectra = ShapeCache(partial(_padded_kernel, kernel), finish=torch.fft.rfft2)
        self._config = {"kernel": f"tensor{list(kernel.shape)}", "noise_std": self.noise_std}

    def _check_size(self, hw: tuple[int, int]) -> None:
        kh, kw = self.kernel.shape
        if kh > hw[0] or kw > hw[1]:
            raise ValueError(
                f"blur kernel of size {kh}x{kw} is larger than the image {hw[0]}x{hw[1]}: use a smaller "
                "`kernel_size` (or `sigma`) or a larger image."
            )

    def _filter(self, x: torch.Tensor, apply, name: str = "x") -> torch.Tensor:
        """IFFT(apply(FFT(x), K)) in the compute dtype, returned in x's dtype."""
        hw = image_hw(x, name)
        self._check_size(hw)
        dtype = compute_dtype(x.dtype)
        spectrum = self._spectra.get(hw, x.device, dtype)
        return torch.fft.irfft2(apply(torch.fft.rfft2(x.to(dtype)), spectrum), s=hw).to(x.dtype)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return self._filter(x, lambda xf, k: xf * k)

    def A_adjoint(self, y: torch.Tensor, image_shape=None) -> torch.Tensor:
        return self._filter(y, lambda yf, k: yf * k.conj(), "y")

    def solve_normal(self, rhs: torch.Tensor, eta: float) -> torch.Tensor:
        s2, e2 = self.noise_level**2, eta**2
        return self._filter(rhs, lambda rf, k: rf / (k.abs() ** 2 / s2 + 1 / e2), "rhs")

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        self._check_size(shape_hw(image_shape))
        return tuple(int(n) for n in image_shape)


def gaussian_kernel(sigma: float, kernel_size: int) -> torch.Tensor:
    """Isotropic Gaussian of std ``sigma`` pixels on a ``kernel_size`` square grid, sum 1 (float64)."""
    offsets = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = torch.outer(profile, profile)
    return kernel / kernel.sum()


def motion_kernel(kernel_size: int, intensity: float, generator: torch.Generator, points: int = 48) -> torch.Tensor:
    """A camera-shake kernel (float64, sum 1): a constant-speed path of ``points`` steps whose heading
    is a random walk (turn std ``intensity`` * pi/4 radians per step: 0 = straight line, 1 = shaky),
    starting in a uniformly random direction, scaled to span the kernel and splatted bilinearly."""
    heading = 2 * math.pi * torch.rand((), generator=generator, dtype=torch.float64)
    turns = torch.randn(points - 1, generator=generator, dtype=torch.float64) * (intensity * math.pi / 4)
    angles = heading + torch.cat([torch.zeros(1, dtype=torch.float64), turns.cumsum(0)])
    path = torch.cat([torch.zeros(1, 2, dtype=torch.float64), torch.stack([angles.sin(), angles.cos()], 1).cumsum(0)])
    # Densify (linear interpolation, 16 samples per step) so the rasterized path has no gaps.
    t = torch.linspace(0, points, 16 * points + 1, dtype=torch.float64)
    base = t.floor().long().clamp(max=points - 1)
    path = path[base] + (t - base).unsqueeze(1) * (path[base + 1] - path[base])
    centre = (path.amax(0) + path.amin(0)) / 2
    radius = (path - centre).abs().max().clamp_min(1e-12)
    coords = (kernel_size - 1) / 2 + (path - centre) * ((kernel_size - 1) / 2 / radius)
    # Bilinear splatting onto the grid.
    low = coords.floor().clamp(0, kernel_size - 2).long()
    frac = coords - low
    kernel = torch.zeros(kernel_size, kernel_size, dtype=torch.float64)
    for dr in (0, 1):
        for dc in (0, 1):
            weight = (frac[:, 0] if dr else 1 - frac[:, 0]) * (frac[:, 1] if dc else 1 - frac[:, 1])
            kernel.index_put_((low[:, 0] + dr, low[:, 1] + dc), weight, accumulate=True)
    return kernel / kernel.sum()


class GaussianBlur(CircularConvolution):
    r"""Gaussian deblurring: :math:`y = k_\sigma \circledast x + s\,n` (circular, see
    :class:`CircularConvolution`), :math:`k_\sigma` an isotropic Gaussian of std ``sigma`` pixels on a
    ``kernel_size`` square (default :math:`2\lceil 3\sigma \rceil + 1`), normalized to sum 1.
    Source: the Gaussian deblurring task of DPS (Chung et al., ICLR 2023; 61 x 61, sigma 3.0 on
    256 x 256) and DiffPIR (Zhu et al., CVPR 2023).
    """

    def __init__(self, sigma: float = 3.0, kernel_size: int | None = None, noise_std: float = 0.05):
        sigma = check_positive(sigma, "sigma")
        if kernel_size is None:
            kernel_size = 2 * math.ceil(3 * sigma) + 1
        kernel_size = check_int(kernel_size, "kernel_size", minimum=1, odd=True)
        super().__init__(gaussian_kernel(sigma, kernel_size), noise_std)
        self._config = {"sigma": sigma, "kernel_size": kernel_size, "noise_std": self.noise_std}


class MotionBlur(CircularConvolution):
    r"""Motion deblurring: :math:`y = k \circledast x + s\,n` (circular, see
    :class:`CircularConvolution`) with a seeded random camera-shake kernel k (``kernel_size`` square,
    sum 1, see :func:`motion_kernel`; ``intensity`` in [0, 1] sets how much the path turns). The same
    ``seed`` always gives the same kernel.
    Source: random camera-shake trajectories in the spirit of Boracchi & Foi (IEEE TIP 2012) and of
    the motion deblurring task of DPS (Chung et al., ICLR 2023: 61 x 61 kernels, intensity 0.5, from
    the ``motionblur`` package); a simplified, independent generator, not the same random kernels.
    """

    def __init__(self, kernel_size: int = 9, intensity: float = 0.5, seed: int = 0, noise_std: float = 0.05):
        kernel_size = check_int(kernel_size, "kernel_size", minimum=3, odd=True)
        intensity = check_number(intensity, "intensity", minimum=0.0, maximum=1.0)
        seed = check_int(seed, "seed", minimum=0)
        kernel = motion_kernel(kernel_size, intensity, torch.Generator().manual_seed(seed))
        super().__init__(kernel, noise_std)
        self._config = {"kernel_size": kernel_size, "intensity": intensity, "seed": seed, "noise_std": self.noise_std}
