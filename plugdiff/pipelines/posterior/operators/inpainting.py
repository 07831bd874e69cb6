"""Inpainting: observe the image through a binary pixel mask."""

from __future__ import annotations

import math
from functools import partial

import torch

from ....argument_checks import check_int, check_number
from ._common import ShapeCache, image_hw, shape_hw
from .base import LinearOperator


def _box_mask(box, generator, height: int, width: int) -> torch.Tensor:
    top, left, box_h, box_w = box
    rows = [math.floor(f * height + 0.5) for f in (top, top + box_h)]
    cols = [math.floor(f * width + 0.5) for f in (left, left + box_w)]
    mask = torch.ones(height, width, dtype=torch.float64)
    mask[rows[0] : rows[1], cols[0] : cols[1]] = 0
    return mask


def _random_mask(fraction: float, generator: torch.Generator, height: int, width: int) -> torch.Tensor:
    removed = torch.randperm(height * width, generator=generator)[: math.floor(fraction * height * width + 0.5)]
    mask = torch.ones(height * width, dtype=torch.float64)
    mask[removed] = 0
    return mask.reshape(height, width)


def _fixed_mask(mask, generator, height: int, width: int) -> torch.Tensor:
    return mask


def _check_box(box) -> tuple[float, float, float, float]:
    try:
        values = tuple(box)
    except TypeError:
        values = ()
    if len(values) != 4:
        raise ValueError(f"`box` must be (top, left, height, width) as fractions of the image, got {box!r}.")
    top, left = (check_number(v, "box", minimum=0.0, maximum=1.0) for v in values[:2])
    box_h, box_w = (check_number(v, "box", minimum=0.0, maximum=1.0, open_low=True) for v in values[2:])
    if top + box_h > 1 + 1e-9 or left + box_w > 1 + 1e-9:
        raise ValueError(f"`box` {values} reaches outside the image: need top + height <= 1 and left + width <= 1.")
    return top, left, box_h, box_w


def _check_mask_tensor(mask: torch.Tensor) -> torch.Tensor:
    if mask.ndim != 2 or mask.numel() == 0:
        raise ValueError(f"`mask` tensor must be (H, W), got shape {tuple(mask.shape)}.")
    mask = mask.detach().to("cpu", torch.float64)
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError("`mask` tensor must hold only 0 (missing) and 1 (observed).")
    return mask.clone()


class Inpainting(LinearOperator):
    r"""Inpainting with Gaussian noise: :math:`y = M \odot x + s\,n`, :math:`n \sim \mathcal N(0, I)`.

    M is an (H, W) 0/1 mask (1 = observed) broadcast over batch and channels; y has the image's
    shape with unobserved pixels 0. :math:`A^\top = A` (a diagonal projection), and
    :math:`(A^\top A / s^2 + I / \eta^2)^{-1} = \mathrm{diag}(M / s^2 + 1/\eta^2)^{-1}` exactly.

    ``mask``: ``"box"`` removes the rectangle ``box = (top, left, height, width)`` given as fractions
    of the image (default: the centred box covering half of each side); ``"random"`` removes
    ``fraction`` of the pixels, chosen uniformly without replacement from ``seed`` for each image
    size; an (H, W) tensor of 0/1 is used as is (and fixes the image size).
    Source: the box / random inpainting tasks of DPS (Chung et al., ICLR 2023) and DiffPIR (Zhu et
    al., CVPR 2023).
    """

    def __init__(
        self,
        mask="box",
        *,
        box=(0.25, 0.25, 0.5, 0.5),
        fraction: float = 0.5,
        noise_std: float = 0.05,
        seed: int = 0,
    ):
        super().__init__(noise_std)
        box = _check_box(box)
        fraction = check_number(fraction, "fraction", minimum=0.0, maximum=1.0, open_high=True)
        seed = check_int(seed, "seed", minimum=0)
        self._fixed_size = None
        if isinstance(mask, torch.Tensor):
            fixed = _check_mask_tensor(mask)
            self._fixed_size = tuple(fixed.shape)
            make = partial(_fixed_mask, fixed)
            mask_config = f"tensor{list(fixed.shape)}"
        elif mask == "box":
            make = partial(_box_mask, box)
            mask_config = mask
        elif mask == "random":
            make = partial(_random_mask, fraction)
            mask_config = mask
        else:
            raise ValueError(f"`mask` must be 'box', 'random' or an (H, W) tensor of 0/1, got {mask!r}.")
        self._masks = ShapeCache(make, seed)
        self._config = {
            "mask": mask_config,
            "box": box,
            "fraction": fraction,
            "noise_std": self.noise_std,
            "seed": seed,
        }

    def _check_size(self, hw: tuple[int, int]) -> None:
        if self._fixed_size is not None and hw != self._fixed_size:
            raise ValueError(
                f"`mask` tensor is {self._fixed_size[0]}x{self._fixed_size[1]} but the image is {hw[0]}x{hw[1]}."
            )

    def mask(self, height: int, width: int, device="cpu", dtype=torch.float64) -> torch.Tensor:
        """The (H, W) mask (1 = observed) for images of that size."""
        self._check_size((height, width))
        return self._masks.get((height, width), device, dtype)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.mask(*image_hw(x), x.device, x.dtype)

    def A_adjoint(self, y: torch.Tensor, image_shape=None) -> torch.Tensor:
        return self.A(y)

    def solve_normal(self, rhs: torch.Tensor, eta: float) -> torch.Tensor:
        mask = self.mask(*image_hw(rhs, "rhs"), rhs.device, rhs.dtype)
        return rhs / (mask / self.noise_level**2 + 1 / eta**2)

    def measurement_shape(self, image_shape) -> tuple[int, ...]:
        self._check_size(shape_hw(image_shape))
        return tuple(int(n) for n in image_shape)
