"""Super-resolution: observe a downsampled image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ....argument_checks import check_choice, check_int
from ._common import image_hw, shape_hw
from .base import LinearOperator


class SuperResolution(LinearOperator):
    r"""Downsampling by ``factor`` f (2 or 4) with Gaussian noise: :math:`y = A x + s\,n`,
    :math:`n \sim \mathcal N(0, I)`, y of shape (B, C, H/f, W/f); H and W must be multiples of f.

    ``method="average"``: A is f x f average pooling, :math:`A^\top y` the nearest-neighbour
    upsampling of y divided by :math:`f^2`, so :math:`A A^\top = I / f^2` and, with
    :math:`P = A^\top A` (:math:`P^2 = P / f^2`), the Woodbury identity gives the exact
    :math:`(P / s^2 + I / \eta^2)^{-1} = \eta^2 I - \eta^4 P / (s^2 + \eta^2 / f^2)`.

    ``method="bicubic"``: A is ``F.interpolate(x, mode="bicubic", align_corners=False,
    antialias=True)`` to (H/f, W/f) (linear; antialiasing widens the cubic kernel by f, like PIL's
    bicubic resize); :math:`A^\top` is its exact vector-Jacobian product and the normal equations
    are solved by conjugate gradients.
    Source: the SR x4 tasks of DPS (Chung et al., ICLR 2023), DiffPIR (Zhu et al., CVPR 2023) and
    DPnP (Xu & Chi, NeurIPS 2024).
    """

    def __init__(self, factor: int = 2, method: str = "average", noise_std: float = 0.05):
        super().__init__(noise_std)
        self.factor = check_int(factor, "factor", allowed=(2, 4))
        self.method = check_choice(method, "method", ("average", "bicubic"))
        self._config = {"factor": self.factor, "method": self.method, "noise_std": self.noise_std}

    def _low_hw(self, hw: tuple[int, int]) -> tuple[int, int]:
        f = self.factor
        if hw[0] % f or hw[1] % f:
            raise ValueError(f"image size {hw[0]}x{hw[1]} is not divisible by `factor`={f}.")
        return hw[0] // f, hw[1] // f

    def A(self, x: torch.Tensor) -> torch.Tensor:
        low = self._low_hw(image_hw(x))
        if self.method == "average":
            return F.avg_pool2d(x, self.factor)
        return F.interpolate(x, size=low, mode="bicubic", align_corners=False, antialias=True)

    def A_adjoint(self, y: torch.Tensor, image_shape=None) -> torch.Tensor:
        h, w = image_hw(y, "y")
        if image_shape is None:
            image_shape = (*y.shape[:2], h * self.factor, w * self.factor)
        if self.method == "average":
            up = y.repeat_interleave(self.factor, dim=-2).repeat_interleave(self.factor, dim=-1)
            return up / self.factor**2
        return super().A_adjoint(y, image_shape=image_shape)

    def solve_normal(self, rhs: torch.Tensor, eta: float) -> torch.Tensor:
        if self.method != "average":
            return super().solve_normal(rhs, eta)
        s2, e2 = self.noise_level**2, eta**2
        projected = self.A_adjoint(self.A(rhs))
        return e2 * rhs - (e2**2 / (s2 + e2 / self.factor**2)) * projected

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        low = self._low_hw(shape_hw(image_shape))
        return (*(int(n) for n in tuple(image_shape)[:2]), *low)
