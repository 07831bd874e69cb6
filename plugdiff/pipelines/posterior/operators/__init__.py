"""Forward models for inverse problems (images (B, C, H, W) in [-1, 1], any size, device, dtype).

Operators, by :data:`OPERATORS` name (build one with :func:`make_operator`):

- ``"inpainting"``: :class:`Inpainting`, box / random / given pixel masks, Gaussian noise.
- ``"super_resolution"``: :class:`SuperResolution`, average-pooling or bicubic x2 / x4.
- ``"gaussian_blur"``: :class:`GaussianBlur`, circular Gaussian blur (FFT-diagonal).
- ``"motion_blur"``: :class:`MotionBlur`, circular blur with a seeded camera-shake kernel.
- ``"phase_retrieval"``: :class:`PhaseRetrieval`, coded Fourier magnitudes (nonlinear).
- ``"quantized_1bit"``: :class:`Quantized1Bit`, 1-bit signs with a logistic likelihood.

Base classes: :class:`ForwardOperator` (any likelihood), :class:`GaussianMeasurement`
(y = A(x) + Gaussian noise), :class:`LinearOperator` (linear A: exact proximal sampling) and
:class:`CircularConvolution` (any fixed blur kernel); :func:`conjugate_gradients`.
"""

from __future__ import annotations

import inspect

from .base import (
    ForwardOperator,
    GaussianMeasurement,
    LinearOperator,
    conjugate_gradients,
)
from .blur import CircularConvolution, GaussianBlur, MotionBlur
from .inpainting import Inpainting
from .matrix import MatrixOperator
from .phase_retrieval import PhaseRetrieval
from .quantized import Quantized1Bit
from .super_resolution import SuperResolution

OPERATORS: dict[str, type[ForwardOperator]] = {
    "inpainting": Inpainting,
    "super_resolution": SuperResolution,
    "gaussian_blur": GaussianBlur,
    "motion_blur": MotionBlur,
    "phase_retrieval": PhaseRetrieval,
    "quantized_1bit": Quantized1Bit,
}


def make_operator(name: str, **kwargs) -> ForwardOperator:
    """Build the operator registered as ``name`` in :data:`OPERATORS` with keyword arguments."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; choose one of: {', '.join(OPERATORS)}.")
    cls = OPERATORS[key]
    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise ValueError(
            f"unknown argument {unknown[0]!r} for operator {key!r} ({cls.__name__}); accepted: {', '.join(accepted)}."
        )
    return cls(**kwargs)


__all__ = [
    "OPERATORS",
    "CircularConvolution",
    "ForwardOperator",
    "GaussianBlur",
    "GaussianMeasurement",
    "Inpainting",
    "LinearOperator",
    "MatrixOperator",
    "MotionBlur",
    "PhaseRetrieval",
    "Quantized1Bit",
    "SuperResolution",
    "conjugate_gradients",
    "make_operator",
]
