"""Evaluation against exact answers: Gaussian and Gaussian-mixture targets whose scores and
posteriors are known in closed form, a reference probability-flow ODE solver, distances between
sample sets, and image-quality metrics. (ShapesWorld's detector-based scores live in
:mod:`plugdiff.shapesworld`.)"""

from .distances import empirical_moments, gaussian_kl, sliced_wasserstein
from .gaussian_mixture import Gaussian, GaussianMixture
from .mixture_errors import mixture_errors
from .reference_ode import solve_probability_flow
from .targets import dct_matrix, image_mixture, ring_mixture_2d, rotated_gaussian

__all__ = [
    "Gaussian",
    "GaussianMixture",
    "dct_matrix",
    "empirical_moments",
    "gaussian_kl",
    "image_mixture",
    "mixture_errors",
    "ring_mixture_2d",
    "rotated_gaussian",
    "sliced_wasserstein",
    "solve_probability_flow",
]
