r"""DAPS: decoupled annealing posterior sampling (Zhang, Chu, Berner, Meng, Anandkumar & Song,
"Improving diffusion inverse problem solving with decoupled noise annealing", CVPR 2025,
arXiv 2407.01521) over plain tensors.

Like DPnP it alternates a prior step and a likelihood step over a decreasing noise level; unlike
DPnP's proximal chain it re-noises, at every level, a sample of :math:`p(x_0 \mid x_t, y)`:

1. prior step: :math:`\hat x_0(x_t)`, the probability-flow ODE solved from :math:`x_t` (level
   :math:`\sigma_k`) down to 0 in a few Euler steps (:func:`ode_x0`);
2. likelihood step ("x0-step"): :math:`x_{0,y} \sim \pi_k(x) \propto p(y \mid x)\,
   \exp(-\lVert x - \hat x_0\rVert^2 / (2 r_k^2))`, the Gaussian approximation
   :math:`p(x_0 \mid x_t) \approx \mathcal N(\hat x_0, r_k^2 I)` times the likelihood, with
   :math:`r_k = \sigma_k` (the official code's ``prior_solver: gaussian``);
3. re-noise: :math:`x_{t} \leftarrow x_{0,y} + \sigma_{k+1} n`, :math:`\sigma_K = 0`.

The likelihood step's law is DPnP's proximal law centred at :math:`\hat x_0` with :math:`\eta = r_k`,
so DAPS shares DPnP's samplers for it: exact for linear operators with Gaussian noise, MALA,
and the authors' unadjusted Langevin chain (:class:`DAPSLangevin`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from ...argument_checks import check_bool, check_int, check_number, check_positive
from .annealing import PolynomialSchedule, resolve_etas
from .operators.base import ForwardOperator
from .posterior_sampling import (
    CountingModel,
    EpsModel,
    PosteriorSamples,
    check_alphas_cumprod,
    denoised,
    most_probable,
)
from .proximal_sampling import PCS_PRESETS, LangevinSettings, langevin_proximal_sample, resolve_sampler
from .sampling_inputs import check_problem

#: Named noise-level schedules of :func:`daps_sample`. "authors": the official ``edm_daps.yaml``,
#: 200 levels from 100 down to 0.1, polynomial with rho = 7 (DAPS-1K with 5 ODE steps each).
DAPS_SCHEDULES: dict[str, PolynomialSchedule] = {
    "authors": PolynomialSchedule(100.0, 0.1, 200),
}

#: The ODE's last level (the official ``diffusion_scheduler_config.sigma_min``); the ODE then
#: steps to 0 (the paper's version; its Euler step to 0 is Tweedie's estimate).
ODE_SIGMA_MIN = 0.01


@dataclass(frozen=True)
class DAPSLangevin:
    r"""The authors' x0-step: unadjusted Langevin dynamics on
    :math:`U(x) = -\log p_w(y \mid x) + \lVert x - \hat x_0\rVert^2 / (2 r^2)`, from :math:`x = \hat x_0`:

    .. math::
        x \leftarrow x - h\,\nabla U(x) + \sqrt{2h}\,z,\qquad
        h = h_0\,\bigl(1 + \tfrac{k}{K}(\text{min\_ratio} - 1)\bigr),\quad
        h_0 = \text{step\_scale}\cdot\min(s_w^2, r^2),

    ``num_steps`` times per annealing step k of K, no Metropolis correction. For Gaussian noise
    :math:`-\log p_w = \lVert A(x) - y\rVert^2 / (2 s_w^2)` with :math:`s_w = s / \sqrt w` the
    (tempered) likelihood scale, the official ``tau``. Source: the official ``MCMCSampler``
    (``mc_algo: langevin``) and its pixel-space task configs: 100 steps, ``lr`` 1e-4 (super-resolution,
    Gaussian blur) or 5e-5 (phase retrieval, box inpainting) at ``tau`` = 0.01, ``lr_min_ratio`` 0.01.
    The data term is the paper's :math:`\lVert A(x) - y\rVert^2 / (2\tau^2)` (and the code's first
    release); the current official code differentiates :math:`\lVert A(x) - y\rVert^2 / \tau^2`, twice
    that. Their lr is ``step_scale * tau^2`` with step_scale 1 or 0.5: writing the step relative to
    :math:`s_w^2` keeps their dynamics (h times the likelihood's curvature) for any noise level, and
    the min with :math:`r^2` keeps the chain stable when r falls below :math:`s_w` (never in their runs).
    """

    num_steps: int = 100
    step_scale: float = 1.0
    min_ratio: float = 0.01

    def __post_init__(self):
        check_int(self.num_steps, "num_steps", minimum=1)
        check_positive(self.step_scale, "step_scale")
        check_number(self.min_ratio, "min_ratio", minimum=0.0, maximum=1.0, open_low=True)

    def step(self, noise_level: float, r: float, progress: float) -> float:
        """h at annealing progress k / K for a likelihood scale ``noise_level`` and prior width r."""
        return self.step_scale * min(noise_level**2, r**2) * (1 + progress * (self.min_ratio - 1))

    def to_dict(self) -> dict:
        """The fields, for sidecars and reports."""
        return asdict(self)


#: x0-step presets: "langevin" (the authors' chain, step_scale 1) and "mala" (DPnP's
#: Metropolis-adjusted chain, exact for the step's law).
X0_STEP_PRESETS = {"langevin": DAPSLangevin(), "mala": PCS_PRESETS["mala"]}


def resolve_x0_step(x0_step, operator: ForwardOperator) -> str | DAPSLangevin | LangevinSettings:
    """ "exact", DAPSLangevin or LangevinSettings (MALA) for ``x0_step``: "auto" (exact for linear
    operators with Gaussian noise, else the authors' Langevin), "exact", "langevin", "mala", or settings
    (see :func:`~plugdiff.pipelines.posterior.proximal_sampling.resolve_sampler`)."""
    return resolve_sampler(
        x0_step,
        operator,
        name="x0_step",
        presets=X0_STEP_PRESETS,
        settings=(DAPSLangevin, LangevinSettings),
        auto="langevin",
    )


def training_levels(alphas_cumprod: torch.Tensor) -> torch.Tensor:
    r"""The VE noise level :math:`\sigma_t = \sqrt{1/\bar\alpha_t - 1}` of every training step (float64)."""
    return (1.0 / alphas_cumprod - 1.0).sqrt()


def nearest_steps(levels: torch.Tensor, sigmas) -> list[int]:
    """For each sigma, the training step whose level is nearest in log sigma (clamped to the ends)."""
    log_levels = levels.log()
    wanted = torch.as_tensor([float(s) for s in sigmas], dtype=torch.float64).log()
    return (log_levels[None, :] - wanted[:, None]).abs().argmin(1).tolist()


def ode_grid(levels: torch.Tensor, start: int, num_steps: int, sigma_min: float = ODE_SIGMA_MIN) -> list[int]:
    """The training steps of :func:`ode_x0` from step ``start``: ``num_steps`` levels polynomial
    (rho = 7) from its level to ``sigma_min``, each the nearest training step, without repeats."""
    check_int(num_steps, "ode_steps", minimum=1)
    top = float(levels[start])
    if num_steps == 1 or top <= sigma_min:
        return [start]
    wanted = PolynomialSchedule(top, sigma_min, num_steps).etas()
    grid = [start]
    for t in nearest_steps(levels, wanted[1:]):
        if t < grid[-1]:
            grid.append(t)
    return grid


def ode_x0(
    eps_model: EpsModel,
    alphas_cumprod: torch.Tensor,
    x: torch.Tensor,
    start: int,
    num_steps: int,
    *,
    clip_denoised: bool = False,
) -> torch.Tensor:
    r""":math:`\hat x_0(x_t)`: the probability-flow ODE :math:`dx/d\sigma = -\sigma\nabla\log p_\sigma(x)
    = (x - D(x, \sigma))/\sigma` from x (VE level :math:`\sigma_{start}` of training step ``start``)
    down to 0 by Euler steps on the grid of :func:`ode_grid`, then one step to 0:

    .. math::
        D_i = x - \sigma_i\,\varepsilon_\theta(\sqrt{\bar\alpha_{t_i}}\,x, t_i),\qquad
        x \leftarrow D_i + \frac{\sigma_{i+1}}{\sigma_i}(x - D_i),\qquad \sigma_{m} = 0,

    i.e. DDIM (Song et al., ICLR 2021) in VE coordinates; the last step returns its Tweedie
    estimate :math:`D_{m-1}`. One network evaluation per grid step; ``num_steps`` = 1 is Tweedie's
    :math:`E[x_0 \mid x_t]`. The official code (``DiffusionPFODE`` with ``solver: euler``) takes 5
    steps from sigma_t to 0.01 (:data:`ODE_SIGMA_MIN`); its earlier version then steps to 0, as here.
    """
    levels = training_levels(alphas_cumprod)
    grid = ode_grid(levels, start, num_steps)
    for i, t in enumerate(grid):
        level = float(levels[t])
        x0 = denoised(eps_model, x, t, level, float(alphas_cumprod[t]), clip_denoised)
        nxt = float(levels[grid[i + 1]]) if i + 1 < len(grid) else 0.0
        x = x0 + (nxt / level) * (x - x0)
    return x


def daps_langevin_step(
    operator: ForwardOperator,
    y: torch.Tensor,
    center: torch.Tensor,
    r: float,
    step: float,
    num_steps: int,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``num_steps`` unadjusted Langevin steps of size ``step`` on the x0-step's law, from ``center``
    (see :class:`DAPSLangevin`)."""
    x = center.clone()
    for _ in range(num_steps):
        grad, _ = operator.log_likelihood_grad(x, y)
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        x = x + step * (grad + (center - x) / r**2) + (2 * step) ** 0.5 * z
    return x


def daps_sample(
    eps_model: EpsModel,
    alphas_cumprod,
    operator: ForwardOperator,
    y: torch.Tensor,
    *,
    sigmas: str | PolynomialSchedule | list[float] | None = None,
    ode_steps: int = 5,
    x0_step: str | DAPSLangevin | LangevinSettings = "auto",
    likelihood_weight: float = 1.0,
    image_shape=None,
    clip_denoised: bool = False,
    generator: torch.Generator | None = None,
    callback=None,
) -> PosteriorSamples:
    r"""Sample :math:`p(x \mid y) \propto p(x)\,p(y \mid x)` by DAPS (Zhang et al., CVPR 2025, Alg. 1).

    From :math:`x_t \sim \mathcal N(0, \sigma_0^2 I)`, for k = 0..K-1 on the noise levels
    :math:`\sigma_0 > \dots > \sigma_{K-1}` (``sigmas``):

    .. math::
        \hat x_0 = \mathrm{ODE}(x_t;\ \sigma_k \to 0),\qquad
        x_{0,y} \sim p(y \mid x)^w\,\mathcal N(x;\ \hat x_0,\ \sigma_k^2 I),\qquad
        x_t = x_{0,y} + \sigma_{k+1}\,n\quad(\sigma_K = 0),

    and return the last :math:`x_{0,y}` (with phase retrieval's channel signs chosen by the prior,
    :func:`~plugdiff.pipelines.posterior.posterior_sampling.most_probable`). Every level is the
    training level nearest to the schedule's (the model is only queried at training steps), so
    the levels in ``PosteriorSamples.etas`` can repeat at the small end.

    **The annealing limit.** If the x0-step drew from the exact :math:`p(x_0 \mid x_t, y)`, each
    :math:`x_t` would have the law :math:`p(x_t \mid y)` and the output would be exact for any
    schedule (the paper's argument). DAPS replaces :math:`p(x_0 \mid x_t)` by
    :math:`\mathcal N(\hat x_0, \sigma_k^2 I)`. With the x0-step exact (``"exact"``, ``"mala"``, or
    the Langevin chain run to convergence) and many levels down to a small :math:`\sigma`, one
    round is, to first order in :math:`\sigma^2`, a Langevin step of size :math:`\sigma^2` with drift
    :math:`\sigma^2(c\,\nabla\log p + w\nabla\log p(y \mid x))`, where c is the share of Tweedie's
    shift :math:`\sigma^2\nabla\log p` that :math:`\hat x_0` makes: c = 1 for one ODE step (Tweedie's
    mean), c -> 1/2 for the exact ODE (its map moves x by :math:`\tfrac12\sigma^2\nabla\log p`). So
    the chain tends to :math:`p(x)^c\,p(y \mid x)^w`: with ``ode_steps=1`` and w = 1 the
    posterior; with the authors' 5 ODE steps a posterior under a flattened prior,
    :math:`p(x)^{1/2} p(y \mid x)` (twice the prior's variance in the directions y does not
    see, for a Gaussian prior). ``tests/test_daps_exact.py`` checks both on exact mixture priors.

    Args:
        eps_model: ``eps_model(x_t, t)`` with t integer timesteps (B,).
        alphas_cumprod: the prior's alpha-bar_t, t = 0..T-1.
        operator: forward model; y: (B, ...) measurements, one independent chain each.
        sigmas: the annealing levels: None / "authors" (:data:`DAPS_SCHEDULES`: 100 -> 0.1, K = 200),
            a :class:`~plugdiff.pipelines.posterior.annealing.PolynomialSchedule` or a non-increasing list.
            Levels above the prior's largest are clamped to it.
        ode_steps: Euler steps of the ODE estimate (network evaluations per level; fewer at the
            smallest levels, which have fewer training steps below them). 5 is the authors' (DAPS-1K).
        x0_step: "auto" (exact for linear Gaussian operators, else "langevin"), "exact" (perturb-and-MAP,
            :meth:`~plugdiff.pipelines.posterior.operators.LinearOperator.proximal_sample`), "langevin"
            (:class:`DAPSLangevin`, the authors'), "mala" (exact for the step's law, acceptance
            reported) or settings (:class:`DAPSLangevin`, or
            :class:`~plugdiff.pipelines.posterior.proximal_sampling.LangevinSettings` for MALA).
        likelihood_weight: w, sample with :math:`p(y \mid x)^w`: 1 is the Bayesian posterior; the
            authors' likelihood scale tau = 0.01 against their noise 0.05 is w = 25.
        image_shape: (B, C, H, W), needed when the operator changes the shape.
        clip_denoised: clip the ODE's x0 estimates to [-1, 1] (image priors; the authors do not).
        callback: ``callback(k, sigma, x0y)`` after each level.
    """
    ac = check_alphas_cumprod(alphas_cumprod)
    levels = training_levels(ac)
    schedule = resolve_etas(sigmas, name="sigmas", presets=DAPS_SCHEDULES, default="authors")
    check_int(ode_steps, "ode_steps", minimum=1)
    target = operator.tempered(likelihood_weight) if isinstance(operator, ForwardOperator) else operator
    sampler = resolve_x0_step(x0_step, target)
    check_bool(clip_denoised, "clip_denoised")
    image_shape = check_problem(operator, y, image_shape)
    steps = nearest_steps(levels, schedule)
    used = [float(levels[t]) for t in steps]
    model = CountingModel(eps_model)
    x_t = used[0] * torch.randn(image_shape, generator=generator, dtype=y.dtype, device=y.device)
    acceptance = []
    with torch.no_grad():
        for k, (t, sigma) in enumerate(zip(steps, used, strict=True)):
            x0_hat = ode_x0(model, ac, x_t, t, ode_steps, clip_denoised=clip_denoised)
            x0_y, rate = _x0_step(sampler, target, y, x0_hat, sigma, k / len(steps), generator)
            if rate is not None:
                acceptance.append(rate)
            if callback is not None:
                callback(k, sigma, x0_y)
            nxt = used[k + 1] if k + 1 < len(used) else 0.0
            noise = torch.randn(x0_y.shape, generator=generator, dtype=x0_y.dtype, device=x0_y.device)
            x_t = x0_y + nxt * noise if nxt > 0 else x0_y
        x = most_probable(model, ac, operator, x0_y, generator)
    rate = sum(acceptance) / len(acceptance) if acceptance else None
    if not bool(torch.isfinite(x).all()):
        raise FloatingPointError(
            "DAPS diverged (non-finite samples): the x0-step's Langevin step is too large for this likelihood; "
            "lower DAPSLangevin(step_scale=...) or use x0_step='mala'."
        )
    return PosteriorSamples(samples=x, model_evals=model.calls, acceptance_rate=rate, etas=used)


def _x0_step(sampler, target, y, x0_hat, sigma: float, progress: float, generator):
    """One level's x0-step, a draw of p(y | x)^w N(x; x0_hat, sigma^2 I), by the resolved sampler
    ("exact", :class:`DAPSLangevin` at ``progress`` through the levels, or MALA settings); returns
    the draw and MALA's acceptance rate (None for the others)."""
    if sampler == "exact":
        return target.proximal_sample(x0_hat, y, sigma, generator=generator), None
    if isinstance(sampler, DAPSLangevin):
        step = sampler.step(target.noise_level, sigma, progress)
        return daps_langevin_step(target, y, x0_hat, sigma, step, sampler.num_steps, generator), None
    return langevin_proximal_sample(target, y, x0_hat, sigma, sampler, generator=generator)


def daps_model_evals(alphas_cumprod, sigmas=None, ode_steps: int = 5) -> int:
    """Network evaluations of one :func:`daps_sample` chain (without phase retrieval's sign choice)."""
    ac = check_alphas_cumprod(alphas_cumprod)
    check_int(ode_steps, "ode_steps", minimum=1)
    levels = training_levels(ac)
    schedule = resolve_etas(sigmas, name="sigmas", presets=DAPS_SCHEDULES, default="authors")
    return sum(len(ode_grid(levels, t, ode_steps)) for t in nearest_steps(levels, schedule))


__all__ = [
    "DAPS_SCHEDULES",
    "DAPSLangevin",
    "X0_STEP_PRESETS",
    "daps_model_evals",
    "daps_sample",
    "ode_x0",
    "resolve_x0_step",
]
