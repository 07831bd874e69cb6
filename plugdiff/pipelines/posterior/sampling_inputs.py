"""Input checks shared by the posterior samplers' plain functions."""

from __future__ import annotations

import torch

from .operators.base import ForwardOperator


def check_problem(operator: ForwardOperator, y: torch.Tensor, image_shape=None) -> tuple[int, ...]:
    """Validate (operator, y) and return the (B, C, H, W) image shape.

    ``image_shape`` defaults to y's own shape, which is right for operators that keep it
    (inpainting, blur, 1-bit); others (super-resolution, phase retrieval) need it given.
    """
    if not isinstance(operator, ForwardOperator):
        raise ValueError(f"`operator` must be a plugdiff ForwardOperator, got {type(operator).__name__}.")
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"measurement `y` must be a tensor, got {type(y).__name__}.")
    if image_shape is None:
        if y.ndim != 4:
            raise ValueError(
                f"measurement `y` has shape {tuple(y.shape)}: pass `image_shape` (B, C, H, W), or give y as "
                f"(B, C, H, W) for operators that keep the image shape."
            )
        if tuple(operator.measurement_shape(tuple(y.shape))) != tuple(y.shape):
            raise ValueError(
                f"{type(operator).__name__} changes the image shape: pass `image_shape` "
                f"(B, C, H, W) for measurements of shape {tuple(y.shape)}."
            )
        image_shape = tuple(y.shape)
    image_shape = tuple(int(v) for v in image_shape)
    if len(image_shape) != 4 or min(image_shape) < 1:
        raise ValueError(f"`image_shape` must be (B, C, H, W) with positive sizes, got {image_shape}.")
    operator.check_measurement(y, image_shape)
    return image_shape
