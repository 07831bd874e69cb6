"""DPnP: diffusion plug-and-play posterior sampling (Xu & Chi, NeurIPS 2024) over plain tensors."""

from __future__ import annotations

import torch

from ...argument_checks import check_int, check_positive
from .annealing import AnnealingSchedule, resolve_etas
from .diffusion_denoising import DDS_SAMPLERS
from .dps import dps_sample
from .operators.base import ForwardOperator, check_image
from .posterior_sampling import (
    CountingModel,
    EpsModel,
    PosteriorSamples,
    check_alphas_cumprod,
    most_probable,
)
from .proximal_sampling import LangevinSettings, langevin_proximal_sample, resolve_pcs
from .sampling_inputs import check_problem


def dpnp_sample(
    eps_model: EpsModel,
    alphas_cumprod,
    operator: ForwardOperator,
    y: torch.Tensor,
    *,
    etas: str | AnnealingSchedule | list[float] | None = None,
    pcs: str | LangevinSettings = "auto",
    dds: str = "ddpm",
    num_steps: int | None = None,
    init: str | torch.Tensor | None = None,
    init_steps: int = 250,
    init_step_size: float = 1.0,
    likelihood_weight: float = 1.0,
    image_shape=None,
    clip_denoised: bool | float = False,
    generator: torch.Generator | None = None,
    callback=None,
) -> PosteriorSamples:
    r"""Sample :math:`p(x \mid y) \propto p(x)\,p(y \mid x)` by DPnP (Xu & Chi, NeurIPS 2024, Alg. 1).

    For k = 0..K-1 alternate the two halves of a Gibbs sampler on
    :math:`p(x)\,\mathcal N(x'; x, \eta_k^2 I)\,p(y \mid x')`:

    1. PCS (likelihood only): :math:`x' \sim p(y \mid x')\,\exp(-\lVert x' - x_k\rVert^2/(2\eta_k^2))`;
    2. DDS (prior only): :math:`x_{k+1} \sim p(x \mid x')`, i.e. denoise x' from VE level eta_k.

    As :math:`\eta \to 0` the x-marginal tends to the posterior; a large :math:`\eta_0` lets the
    chain cross between modes. Both variants run PCS then DDS at the same eta (the paper's
    order; the official DDPM script instead starts with a DDS of the initial image).

    Two ways to run it (see :mod:`~plugdiff.pipelines.posterior.dpnp_recipes`): the authors' recipe refines a
    DPS reconstruction (``init="dps"``) with the short 0.4 -> 0.16 schedule and a sharpened
    likelihood (``likelihood_weight`` > 1); the exact-posterior mode starts from noise with
    ``likelihood_weight=1`` and a schedule down to a small eta (these function defaults).

    Args:
        eps_model: ``eps_model(x_t, t)`` with t integer timesteps (B,).
        alphas_cumprod: the prior's alpha-bar_t, t = 0..T-1.
        operator: forward model; y: (B, ...) measurements, one independent chain each
            (repeat y for several samples of one posterior).
        etas: annealing schedule: None / "official" (0.4 -> 0.16, K = 16), "accurate"
            (1.0 -> 0.02, K = 100), an :class:`AnnealingSchedule` or a non-increasing list.
        pcs: "auto" (exact for linear Gaussian operators, else "mala"), "exact", "mala",
            "langevin" (the official unadjusted 1000-step chain) or :class:`LangevinSettings`.
        dds: "ddpm" (stochastic) or "ddim" (deterministic from fresh noise).
        num_steps: at most this many network evaluations per DDS call (default: every
            training step below eta).
        init: starting x_0: None or "noise" (standard normal), "dps" (a DPS run of ``init_steps`` steps with
            step size ``init_step_size``, counted in ``model_evals``) or a tensor of the image shape.
        likelihood_weight: w, the power of the likelihood: the chain targets
            :math:`p(x)\,p(y \mid x)^w` (:meth:`ForwardOperator.tempered`). 1 is the Bayesian
            posterior; w > 1 is a sharpened one (the authors' recipe: their likelihood scale
            0.15 against noise 0.2, w = (0.2 / 0.15)^2, and w = 1 / (2 * 0.36^2) for 1-bit).
            The DPS warm start uses the true likelihood.
        image_shape: (B, C, H, W), needed when the operator changes the shape (unless
            ``init`` is a tensor).
        clip_denoised: clip Tweedie estimates to [-1, 1] inside DDS (image priors): True, False,
            or a number c: clip only in the iterations with eta >= c (and in a DPS warm start).
        callback: ``callback(k, eta, x)`` after each iteration.
    """
    ac = check_alphas_cumprod(alphas_cumprod)
    schedule = resolve_etas(etas)
    target = operator.tempered(likelihood_weight) if isinstance(operator, ForwardOperator) else operator
    sampler = resolve_pcs(pcs, target)
    if not isinstance(dds, str) or dds not in DDS_SAMPLERS:
        raise ValueError(f"unknown denoising sampler `dds`={dds!r}; choose one of {sorted(DDS_SAMPLERS)}.")
    check_int(num_steps, "num_steps", minimum=1, optional=True)
    check_int(init_steps, "init_steps", minimum=1, optional=True)
    if not isinstance(clip_denoised, bool):
        check_positive(clip_denoised, "clip_denoised")
    image_shape = _image_shape(operator, y, init, image_shape)
    model = CountingModel(eps_model)
    x = _initial(model, ac, operator, y, init, image_shape, (init_steps, init_step_size, clip_denoised), generator)
    acceptance = []
    for k, eta in enumerate(schedule):
        if sampler == "exact":
            x_prime = target.proximal_sample(x, y, eta, generator=generator)
        else:
            x_prime, rate = langevin_proximal_sample(target, y, x, eta, sampler, generator=generator)
            if rate is not None:
                acceptance.append(rate)
        clip = clip_denoised if isinstance(clip_denoised, bool) else eta >= clip_denoised
        x = DDS_SAMPLERS[dds](model, ac, x_prime, eta, num_steps=num_steps, clip_denoised=clip, generator=generator)
        if callback is not None:
            callback(k, eta, x)
    if not (isinstance(init, str) and init == "dps"):  # a DPS warm start has already chosen
        x = most_probable(model, ac, operator, x, generator)
    rate = sum(acceptance) / len(acceptance) if acceptance else None
    return PosteriorSamples(samples=x, model_evals=model.calls, acceptance_rate=rate, etas=schedule)


def _image_shape(operator, y, init, image_shape) -> tuple:
    """The checked (B, C, H, W) of the chain: from ``image_shape``, or from ``init`` when it is a
    tensor (which must then match ``image_shape`` if given, and fit the measurement)."""
    if not isinstance(init, torch.Tensor):
        return check_problem(operator, y, image_shape)
    check_image(init, "init")
    if image_shape is None:
        image_shape = tuple(init.shape)
    elif tuple(init.shape) != tuple(image_shape):
        raise ValueError(f"`init` must have the image shape {tuple(image_shape)}, got {tuple(init.shape)}.")
    try:
        return check_problem(operator, y, image_shape)
    except ValueError as err:
        raise ValueError(f"`init` of shape {tuple(init.shape)} does not fit the measurement: {err}") from None


def _initial(model, ac, operator, y, init, image_shape, warm_start, generator) -> torch.Tensor:
    if init is None or isinstance(init, str) and init == "noise":
        return torch.randn(image_shape, generator=generator, dtype=y.dtype, device=y.device)
    if isinstance(init, str):
        if init != "dps":
            raise ValueError(f"`init` must be None, 'noise', 'dps' or a tensor, got {init!r}.")
        steps, step_size, clip = warm_start
        warm = dps_sample(
            model,
            ac,
            operator,
            y,
            num_steps=steps,
            step_size=step_size,
            image_shape=image_shape,
            clip_denoised=bool(clip),
            generator=generator,
        )
        return warm.samples
    return init.to(device=y.device, dtype=y.dtype)
