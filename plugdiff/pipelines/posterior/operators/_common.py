"""Helpers shared by the concrete operators: image sizes, the compute dtype and the per-shape seeded
cache (their argument checks are :mod:`plugdiff.argument_checks`)."""

from __future__ import annotations

import torch


def image_hw(x: torch.Tensor, name: str = "x") -> tuple[int, int]:
    """(H, W) of a (B, C, H, W) tensor (cheap: shape only, safe in hot loops)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"`{name}` must be a (B, C, H, W) tensor, got {shape}.")
    return int(x.shape[-2]), int(x.shape[-1])


def shape_hw(image_shape) -> tuple[int, int]:
    """(H, W) of a (B, C, H, W) shape."""
    image_shape = tuple(int(n) for n in image_shape)
    if len(image_shape) != 4:
        raise ValueError(f"`image_shape` must be (B, C, H, W), got {image_shape}.")
    return image_shape[2], image_shape[3]


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; anything else is computed in float32 (FFTs need one of the two)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


class ShapeCache:
    """Tensors that depend on the image size (H, W) only: ``make(generator, H, W)`` builds one on
    first use from a fresh ``torch.Generator().manual_seed(seed)`` on CPU (so a given seed and size
    always give the same tensor, whatever was built before), ``finish`` (optional) post-processes it
    on the target device; results are cached by ((H, W), device, dtype)."""

    def __init__(self, make, seed: int = 0, finish=None):
        self._make, self._seed, self._finish = make, seed, finish
        self._master: dict = {}
        self._cache: dict = {}

    def master(self, hw: tuple[int, int]) -> torch.Tensor:
        """The CPU tensor for size ``hw`` as built by ``make``."""
        if hw not in self._master:
            self._master[hw] = self._make(torch.Generator().manual_seed(self._seed), *hw)
        return self._master[hw]

    def get(self, hw: tuple[int, int], device, dtype: torch.dtype) -> torch.Tensor:
        """The tensor for size ``hw`` on ``device`` in ``dtype`` (``finish`` applied), cached."""
        key = (hw, torch.device(device), dtype)
        if key not in self._cache:
            out = self.master(hw).to(device=device, dtype=dtype)
            self._cache[key] = out if self._finish is None else self._finish(out)
        return self._cache[key]
