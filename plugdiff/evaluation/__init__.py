"""Evaluation: exact-score targets, reference solvers and distances (later: ShapesWorld scorers)."""

from .distances import empirical_moments, gaussian_kl, sliced_wasserstein
from .gaussian_mixture import Gaussian, GaussianMixture
from .mixture_errors import mixture_errors
from .reference_ode import solve_probability_flow
from .targets import dct_matrix, image_mixture, ring_mixture_2d

__all__ = [
    "Gaussian",
    "GaussianMixture",
    "empirical_moments",
    "dct_matrix",
    "gaussian_kl",
    "image_mixture",
    "mixture_errors",
    "ring_mixture_2d",
    "sliced_wasserstein",
    "solve_probability_flow",
]
