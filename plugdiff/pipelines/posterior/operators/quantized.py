"""1-bit quantized sensing with a logistic (dithered) likelihood."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ....argument_checks import check_positive
from ._common import shape_hw
from .base import ForwardOperator, check_image


class Quantized1Bit(ForwardOperator):
    r"""1-bit quantization: one sign per pixel, :math:`y \in \{-1, +1\}` with
    :math:`P(y = +1 \mid x) = \sigma(x / c)` (logistic dither of scale c = ``scale``), so
    :math:`\log p(y \mid x) = \sum \log \sigma(y\, x / c)` (<= 0) and
    :math:`\nabla_x \log p(y \mid x) = (y / c)\, \sigma(-y\, x / c)`.

    :meth:`forward` returns x itself, the noiseless quantity the signs are drawn around (y is
    ``sign(x + c * logistic noise)``); ``noise_level`` is c. y has the image's shape.
    Source: the 1-bit quantization task of DPnP (Xu & Chi, NeurIPS 2024; c = 0.4, official config
    ``dither_name: logit, intensity: 0.4``).
    """

    def __init__(self, scale: float = 0.4):
        self.noise_level = check_positive(scale, "scale")
        self._config = {"scale": self.noise_level}

    @property
    def scale(self) -> float:
        """c, the logistic dither's scale (``noise_level``)."""
        return self.noise_level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def measure(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        check_image(x)
        uniform = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return torch.where(uniform < torch.sigmoid(x / self.scale), 1.0, -1.0).to(x.dtype)

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(y * x / self.scale).reshape(x.shape[0], -1).sum(1)

    def log_likelihood_grad(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(grad_x log p(y | x), log p(y | x)) in closed form."""
        return (y / self.scale) * torch.sigmoid(-y * x / self.scale), self.log_likelihood(x, y)

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        shape_hw(image_shape)
        return tuple(int(n) for n in image_shape)

    def check_measurement(self, y: torch.Tensor, image_shape) -> None:
        super().check_measurement(y, image_shape)
        if not bool(((y == 1) | (y == -1)).all()):
            raise ValueError(f"measurement `y` of {type(self).__name__} must hold only -1 and +1.")
