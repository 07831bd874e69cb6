"""DAPS posterior sampling as a diffusers pipeline, beside :class:`~plugdiff.pipelines.DPnPPipeline`
and :class:`~plugdiff.pipelines.DPSPipeline` (same inputs, outputs, ``save_pretrained`` /
``from_pretrained``); the algorithm is :func:`~plugdiff.pipelines.posterior.daps.daps_sample`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import PIL.Image
import torch

# diffusers' from_pretrained picks a component's loader by looking up its base classes in the
# module that defines the pipeline; keep them importable here.
from diffusers import DiffusionPipeline, UNet2DModel  # noqa: F401
from diffusers.schedulers.scheduling_utils import SchedulerMixin  # noqa: F401

from .annealing import PolynomialSchedule, resolve_etas
from .daps import DAPS_SCHEDULES, DAPSLangevin, daps_sample
from .daps_recipes import daps_recipe
from .operators import ForwardOperator
from .pipeline_dpnp import PosteriorPipelineOutput, _given_arguments, _PosteriorPipeline
from .proximal_sampling import LangevinSettings


class DAPSPipeline(_PosteriorPipeline):
    r"""Sample the posterior :math:`p(x \mid y) \propto p(x)\,p(y \mid x)` of an inverse problem by
    DAPS, decoupled annealing posterior sampling (Zhang et al., "Improving diffusion inverse problem
    solving with decoupled noise annealing", CVPR 2025), with the UNet as the prior.

    At each of K decreasing noise levels :math:`\sigma_k`, DAPS solves the probability-flow ODE
    from :math:`x_t` to an estimate :math:`\hat x_0`, draws :math:`x_{0,y} \propto p(y \mid x)\,
    \mathcal N(x; \hat x_0, \sigma_k^2 I)` (Langevin, or exactly for linear operators with Gaussian
    noise) and re-noises it to the next level (:func:`~plugdiff.pipelines.posterior.daps.daps_sample`).
    By default it runs the authors' DAPS-1K (``recipe="authors"``: 200 levels x 5 ODE steps, 1000
    UNet evaluations per sample, a sharpened likelihood); ``recipe="posterior"`` is the
    exact-posterior mode (250 evaluations). Same inputs and outputs as
    :class:`~plugdiff.pipelines.DPnPPipeline`; any unconditional epsilon-prediction ``UNet2DModel``
    with a VP scheduler works.

    Example::

        import torch
        from plugdiff.pipelines import DAPSPipeline

        pipe = DAPSPipeline.from_pretrained("path/to/ddpm-celebahq-256")  # a local folder
        y = ...  # (3, 64, 64) tensor in [-1, 1], a noisy x4 downsampled image
        out = pipe(y, "super_resolution", operator_kwargs={"factor": 4}, num_samples=2, num_levels=50,
                   generator=torch.Generator().manual_seed(0))   # 50 levels x 5 ODE steps: 250 evaluations
        out.images[0].save("sample.png"); out.mean[0].save("mean.png")
    """

    @torch.no_grad()
    def __call__(
        self,
        measurement: torch.Tensor | PIL.Image.Image | np.ndarray,
        operator: ForwardOperator | str,
        *,
        operator_kwargs: dict | None = None,
        num_samples: int = 1,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        return_dict: bool = True,
        image_shape=None,
        callback: Callable | None = None,
        recipe: str = "authors",
        num_levels: int | None = None,
        sigmas: str | PolynomialSchedule | list[float] | None = None,
        ode_steps: int | None = None,
        x0_step: str | DAPSLangevin | LangevinSettings | None = None,
        likelihood_weight: float | None = None,
        clip_denoised: bool | None = None,
    ) -> PosteriorPipelineOutput | tuple:
        r"""Draw ``num_samples`` independent posterior samples for one measurement.

        Args:
            measurement, operator, operator_kwargs, num_samples, generator, output_type,
                return_dict, image_shape: as in :meth:`~plugdiff.pipelines.DPnPPipeline.__call__`.
            callback: ``callback(k, sigma, x0y)`` after each annealing level (x0y: the (N, C, H, W)
                samples of that level's x0-step).
            recipe: the settings every argument below left at None takes
                (:func:`~plugdiff.pipelines.posterior.daps_recipes.daps_recipe`): "authors" (default;
                DAPS-1K) or "posterior" (the exact-posterior mode).
            num_levels: K, the number of annealing levels of the recipe's schedule (the authors'
                200; 50 gives about 250 UNet evaluations with 5 ODE steps); ``sigmas`` replaces it.
            sigmas: the annealing levels instead: "authors", a
                :class:`~plugdiff.pipelines.posterior.annealing.PolynomialSchedule` or a non-increasing list.
            ode_steps: Euler steps of the probability-flow ODE per level (UNet evaluations per level).
            x0_step: "auto", "exact", "langevin", "mala", or settings
                (:class:`~plugdiff.pipelines.posterior.daps.DAPSLangevin`,
                :class:`~plugdiff.pipelines.posterior.proximal_sampling.LangevinSettings`).
            likelihood_weight: w, sample with :math:`p(y \mid x)^w` (1: the Bayesian posterior).
            clip_denoised: clip the ODE's x0 estimates to [-1, 1].
        """
        operator, y, shape = self._prepare(
            measurement, operator, operator_kwargs, num_samples, generator, output_type, image_shape
        )
        settings = daps_recipe(
            recipe,
            operator,
            num_levels=num_levels,
            **_given_arguments(
                sigmas=sigmas,
                ode_steps=ode_steps,
                x0_step=x0_step,
                likelihood_weight=likelihood_weight,
                clip_denoised=clip_denoised,
            ),
        )
        total = len(resolve_etas(settings.sigmas, name="sigmas", presets=DAPS_SCHEDULES, default="authors"))
        return self._run(
            daps_sample,
            total,
            operator,
            y,
            shape,
            generator=generator,
            callback=callback,
            output_type=output_type,
            return_dict=return_dict,
            **settings.sampler_kwargs(),
        )
