"""Diffusion posterior sampling (DPS; Chung et al., ICLR 2023): the baseline and warm start of DPnP."""

from __future__ import annotations

import torch

from ...argument_checks import check_positive
from .operators.base import ForwardOperator
from .posterior_sampling import (
    CountingModel,
    EpsModel,
    PosteriorSamples,
    check_alphas_cumprod,
    most_probable,
    timestep_grid,
    timesteps_for,
)
from .sampling_inputs import check_problem


def dps_sample(
    eps_model: EpsModel,
    alphas_cumprod,
    operator: ForwardOperator,
    y: torch.Tensor,
    *,
    step_size: float = 1.0,
    num_steps: int | None = None,
    image_shape=None,
    clip_denoised: bool = False,
    generator: torch.Generator | None = None,
    callback=None,
) -> PosteriorSamples:
    r"""DPS: ancestral DDPM sampling with a likelihood-gradient correction through Tweedie's estimate.

    On the timestep grid :math:`t_1 > \dots > t_m = 0` (all training steps or ``num_steps``
    evenly spaced) from :math:`x_{t_1} \sim \mathcal N(0, I)`:

    .. math::
        \hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\varepsilon_\theta(x_t, t))/\sqrt{\bar\alpha_t},\qquad
        x_s' \sim q(x_s \mid x_t, \hat x_0),\qquad
        x_s = x_s' - \zeta\,\nabla_{x_t} d(\hat x_0(x_t)),

    with s the next grid step (:math:`\bar\alpha_s = 1` after the last, where the DDPM
    posterior mean is :math:`\hat x_0` itself), :math:`\zeta` = ``step_size`` and d the
    operator's measurement distance (``||y - A(x)||`` for Gaussian noise; Chung et al.,
    Algorithm 1 with :math:`\zeta_i = \zeta / \lVert y - A(\hat x_0)\rVert`). Each step costs
    one network evaluation and one backpropagation through the network. When the operator has
    exact ambiguities (phase retrieval's channel signs) the result is the one the prior prefers
    (:func:`~plugdiff.pipelines.posterior.posterior_sampling.most_probable`, a few evaluations more).

    Args:
        eps_model: ``eps_model(x_t, t)`` with t integer timesteps (B,); must be differentiable.
        alphas_cumprod: the prior's alpha-bar_t, t = 0..T-1.
        operator: the forward model; y: (B, ...) measurements, one chain each.
        image_shape: (B, C, H, W) of the unknown images (default: y's shape, when the operator
            keeps the image shape).
        clip_denoised: clip :math:`\hat x_0` to [-1, 1] (for image priors).
        callback: called as ``callback(i, t, x)`` after each step.
    """
    ac = check_alphas_cumprod(alphas_cumprod)
    step_size = check_positive(step_size, "step_size")
    image_shape = check_problem(operator, y, image_shape)
    model = CountingModel(eps_model)
    grid = timestep_grid(len(ac) - 1, num_steps)
    x = torch.randn(image_shape, generator=generator, dtype=y.dtype, device=y.device)
    for i, t in enumerate(grid):
        a_t = float(ac[t])
        a_s = float(ac[grid[i + 1]]) if i + 1 < len(grid) else 1.0
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            eps = model(x_in, timesteps_for(t, x.shape[0], x.device)).to(x.dtype)
            x0 = (x_in - (1 - a_t) ** 0.5 * eps) / a_t**0.5
            if clip_denoised:
                x0 = x0.clamp(-1, 1)
            (grad,) = torch.autograd.grad(operator.distance(x0, y).sum(), x_in)
        x0 = x0.detach()
        beta = 1 - a_t / a_s
        mean = (a_s**0.5 * beta * x0 + (a_t / a_s) ** 0.5 * (1 - a_s) * x) / (1 - a_t)
        x = mean - step_size * grad
        if a_s < 1:
            var = (1 - a_s) / (1 - a_t) * beta
            x = x + var**0.5 * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        if callback is not None:
            callback(i, t, x)
    with torch.no_grad():
        x = most_probable(model, ac, operator, x.detach(), generator)
    return PosteriorSamples(samples=x, model_evals=model.calls)
