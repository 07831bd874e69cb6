"""A linear operator given by an explicit matrix on flattened images."""

from __future__ import annotations

import torch

from .base import LinearOperator


class MatrixOperator(LinearOperator):
    r"""Measurements :math:`y = M\,\mathrm{vec}(x) + s\,n` for a dense (M, D) matrix, D = C·H·W.

    For custom linear measurements and exact references on small problems. Measurements are
    (B, M); :meth:`solve_normal` factors :math:`M^\top M / s^2 + I/\eta^2` by Cholesky (D x D).
    """

    def __init__(self, matrix, noise_std: float = 0.05):
        super().__init__(noise_std)
        matrix = torch.as_tensor(matrix)
        if matrix.ndim != 2 or not bool(torch.isfinite(matrix).all()):
            raise ValueError(f"`matrix` must be a finite 2-D (M, D) tensor, got shape {tuple(matrix.shape)}.")
        self.matrix = matrix.to(torch.float64)
        self._config = {"matrix_shape": tuple(matrix.shape), "noise_std": self.noise_level}

    def _check(self, image_shape) -> None:
        D = 1
        for v in image_shape[1:]:
            D *= int(v)
        if D != self.matrix.shape[1]:
            raise ValueError(
                f"images of shape {tuple(image_shape)} hold {D} values; `matrix` expects {self.matrix.shape[1]}."
            )

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        self._check(image_shape)
        return (int(image_shape[0]), self.matrix.shape[0])

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x.shape)
        return x.reshape(x.shape[0], -1) @ self.matrix.to(x).T

    def A_adjoint(self, y: torch.Tensor, image_shape=None) -> torch.Tensor:
        if image_shape is None:
            raise ValueError("MatrixOperator.A_adjoint needs `image_shape`.")
        return (y @ self.matrix.to(y)).reshape(image_shape)

    def solve_normal(self, rhs: torch.Tensor, eta: float) -> torch.Tensor:
        M = self.matrix.to(rhs.device)
        precision = M.T @ M / self.noise_level**2 + torch.eye(M.shape[1], dtype=M.dtype, device=M.device) / eta**2
        flat = torch.cholesky_solve(rhs.reshape(rhs.shape[0], -1).T.to(M.dtype), torch.linalg.cholesky(precision))
        return flat.T.reshape(rhs.shape).to(rhs.dtype)
