"""Ready settings for DAPS (Zhang et al., CVPR 2025): the authors' DAPS-1K and the exact-posterior
mode. A recipe is a set of :func:`~plugdiff.pipelines.posterior.daps.daps_sample` arguments chosen
per operator; :class:`~plugdiff.pipelines.posterior.pipeline_daps.DAPSPipeline`, the CLI and the
benchmark use :func:`daps_recipe`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ...argument_checks import check_int
from .annealing import PolynomialSchedule
from .daps import DAPSLangevin, daps_model_evals
from .dpnp_recipes import ONE_BIT_LIKELIHOOD_WEIGHT
from .operators import (
    CircularConvolution,
    GaussianMeasurement,
    Inpainting,
    PhaseRetrieval,
    Quantized1Bit,
    SuperResolution,
)
from .operators.base import ForwardOperator
from .proximal_sampling import LangevinSettings
from .recipe_names import RECIPES

#: The authors' likelihood scale ``tau`` (all pixel-space configs): Gaussian data are scored with
#: ``||A(x) - y||^2 / (2 tau^2)`` whatever their noise s, i.e. w = (s / 0.01)^2 (25 at their s = 0.05).
AUTHORS_TAU = 0.01

#: The authors' Langevin step lr / tau^2 per task (their ``lr`` 1e-4 or 5e-5 at tau = 0.01, pixel
#: configs): 1 for super-resolution and blur, 0.5 for phase retrieval and box inpainting; 1 for
#: operators they have no task for.
AUTHORS_STEP_SCALES: dict[type, float] = {
    SuperResolution: 1.0,
    CircularConvolution: 1.0,
    PhaseRetrieval: 0.5,
    Inpainting: 0.5,
}

#: The official annealing grid (``edm_daps.yaml``): 200 levels, sigma 100 -> 0.1, rho = 7.
AUTHORS_LEVELS = 200
#: The exact-posterior mode's grid ends at 0.01 (the smallest level of a 1000-step linear schedule),
#: where the Gaussian approximation's bias is small.
POSTERIOR_SIGMA_MIN = 0.01


@dataclass(frozen=True)
class DAPSRecipe:
    """Arguments of :func:`~plugdiff.pipelines.posterior.daps.daps_sample`."""

    sigmas: PolynomialSchedule | str | list
    ode_steps: int
    x0_step: str | DAPSLangevin | LangevinSettings
    likelihood_weight: float
    clip_denoised: bool

    def sampler_kwargs(self) -> dict:
        """The recipe as ``daps_sample`` keyword arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def model_evals(self, alphas_cumprod) -> int:
        """Network evaluations per sample for a prior with this ``alphas_cumprod`` (without phase
        retrieval's choice of channel signs)."""
        return daps_model_evals(alphas_cumprod, self.sigmas, self.ode_steps)


def step_scale_for(operator: ForwardOperator) -> float:
    """The authors' Langevin step scale for this operator (:data:`AUTHORS_STEP_SCALES`)."""
    for cls, scale in AUTHORS_STEP_SCALES.items():
        if isinstance(operator, cls):
            return scale
    return 1.0


def likelihood_weight_for(operator: ForwardOperator) -> float:
    """The authors' sharpening of the likelihood: w = (s / tau)^2 for Gaussian noise of std s
    (:data:`AUTHORS_TAU`: 400 at s = 0.2, 25 at their 0.05). They have no 1-bit task: there it is
    DPnP's authors' 1-bit weight 3.86 (w = 25 cost 12 dB on validation frames of the bundled prior,
    pushing the samples to the signs' extremes); 1 for other likelihoods."""
    if isinstance(operator, GaussianMeasurement):
        return (operator.noise_level / AUTHORS_TAU) ** 2
    if isinstance(operator, Quantized1Bit):
        return ONE_BIT_LIKELIHOOD_WEIGHT
    return 1.0


def daps_recipe(name: str, operator: ForwardOperator, *, num_levels: int | None = None, **overrides) -> DAPSRecipe:
    r"""The settings called ``name`` for ``operator``; ``num_levels`` sets the number of annealing
    levels K of the recipe's grid, ``overrides`` replace single fields.

    * ``"authors"``, DAPS-1K as the official code runs it in pixel space: K = 200 levels from
      sigma 100 down to 0.1 (polynomial, rho = 7), a 5-step Euler ODE for :math:`\hat x_0` at each
      (1000 network evaluations), the authors' unadjusted Langevin x0-step (100 steps, step
      decaying to 1 % over the annealing, :func:`step_scale_for`) on the authors' sharpened
      likelihood (:func:`likelihood_weight_for`), no clipping. Its annealing limit is a posterior
      under a flattened prior (see :func:`~plugdiff.pipelines.posterior.daps.daps_sample`).
    * ``"posterior"``, the exact-posterior mode: K = 250 levels from 100 down to 0.01, Tweedie's
      estimate (one ODE step, 250 evaluations), the exact x0-step for linear operators with
      Gaussian noise and MALA (50 steps) otherwise, the true likelihood (w = 1), x0 estimates
      clipped to [-1, 1] (image priors; pass ``clip_denoised=False`` for others). Its limit is
      the posterior itself.
    """
    check_int(num_levels, "num_levels", minimum=1, optional=True)
    if name == "authors":
        levels = AUTHORS_LEVELS if num_levels is None else num_levels
        recipe = DAPSRecipe(
            sigmas=PolynomialSchedule(100.0, 0.1, levels),
            ode_steps=5,
            x0_step=DAPSLangevin(step_scale=step_scale_for(operator)),
            likelihood_weight=likelihood_weight_for(operator),
            clip_denoised=False,
        )
    elif name == "posterior":
        levels = 250 if num_levels is None else num_levels
        nonlinear = LangevinSettings(num_steps=50, step_scale=1.0, damping=0.0, metropolis=True)
        recipe = DAPSRecipe(
            sigmas=PolynomialSchedule(100.0, POSTERIOR_SIGMA_MIN, levels),
            ode_steps=1,
            x0_step="exact" if operator.is_linear_gaussian else nonlinear,
            likelihood_weight=1.0,
            clip_denoised=True,
        )
    else:
        raise ValueError(f"unknown DAPS recipe {name!r}; choose one of {list(RECIPES)}.")
    return replace(recipe, **overrides)
