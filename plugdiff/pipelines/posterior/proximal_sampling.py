r"""Proximal consistency samplers (PCS): draw
:math:`x \sim \pi(x) \propto p(y \mid x)\,\exp(-\lVert x - c\rVert^2 / (2\eta^2))`, the likelihood
step of DPnP (Xu & Chi, NeurIPS 2024, Sec. 3). Linear operators with Gaussian noise are sampled
exactly (:meth:`LinearOperator.proximal_sample`); everything else by Langevin dynamics here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from ...argument_checks import check_bool, check_int, check_number, check_positive
from .operators.base import ForwardOperator


@dataclass(frozen=True)
class LangevinSettings:
    r"""Exponential-integrator Langevin dynamics for the proximal law, with or without a
    Metropolis correction.

    The Gaussian proximal term is integrated exactly and the likelihood gradient g explicitly
    (the official code's scheme): with :math:`a = e^{-h/\eta^2}`,

    .. math::
        x^* = c + a\,(x - c) + \eta^2(1 - a)\,g(x) + \eta\sqrt{1 - a^2}\;z.

    ``metropolis=False`` is the official unadjusted chain: ``num_steps`` = 1000 steps of size
    :math:`h = \text{step\_scale}\cdot\min(s^2, \eta^2) / (\text{damping} + d(x))`, with d the
    operator's measurement distance (``||y - A(x)||`` for Gaussian noise) and s its noise level.
    ``metropolis=True`` (MALA, Roberts & Tweedie 1996, with this proposal) accepts x* with
    probability :math:`\min(1, \pi(x^*) q(x \mid x^*) / (\pi(x) q(x^* \mid x)))`, so the chain
    leaves pi exactly invariant; during the first half of the steps each chain's step size is
    adapted towards ``target_acceptance`` and is then frozen.
    """

    num_steps: int = 1000
    step_scale: float = 0.5
    damping: float = 50.0
    metropolis: bool = False
    target_acceptance: float = 0.574

    def __post_init__(self):
        check_int(self.num_steps, "num_steps", minimum=1)
        check_bool(self.metropolis, "metropolis")
        check_positive(self.step_scale, "step_scale")
        check_number(self.damping, "damping", minimum=0.0)
        check_number(
            self.target_acceptance, "target_acceptance", minimum=0.0, maximum=1.0, open_low=True, open_high=True
        )

    def to_dict(self) -> dict:
        """The fields, for sidecars and reports."""
        return asdict(self)


#: "langevin": the official chain's integrator and step rule (unadjusted, 1000 steps per
#: iteration). The authors run it on a sharpened likelihood, which is ``likelihood_weight`` of
#: :func:`~plugdiff.pipelines.posterior.dpnp.dpnp_sample` (then s above is the tempered scale: 0.15 for
#: Gaussian noise 0.2 and w = (0.2 / 0.15)^2, exactly their step), with per-task step scales
#: (``LangevinSettings(step_scale=...)``: 0.6 super-resolution, 0.8 phase retrieval, 0.2 1-bit).
#: For 1-bit their step is normalised by sqrt(-log p) and 0.36 instead of d and s / sqrt(w).
#: "mala": Metropolis-adjusted, adaptive step, 200 steps per iteration (exact for the target).
PCS_PRESETS = {
    "langevin": LangevinSettings(),
    "mala": LangevinSettings(num_steps=200, step_scale=1.0, damping=0.0, metropolis=True),
}


def resolve_sampler(
    choice, operator: ForwardOperator, *, name: str, presets: dict, settings: tuple[type, ...], auto: str
):
    """The sampler of a likelihood step (DPnP's proximal step ``pcs``, DAPS's ``x0_step``) that
    ``choice`` names: an instance of one of the ``settings`` classes as it is; "exact" for
    perturb-and-MAP (only for a linear operator with Gaussian noise); "auto", which is "exact" for
    such operators and ``presets[auto]`` for the others; or a name in ``presets``.

    Args:
        choice: what the caller passed.
        operator: the (tempered) forward model the step samples with.
        name: the argument's name, for errors.
        presets: the named settings.
        settings: the settings classes accepted as they are.
        auto: the preset "auto" means for operators without an exact sampler.

    Returns:
        "exact" or settings.
    """
    if not isinstance(operator, ForwardOperator):
        raise ValueError(f"`operator` must be a plugdiff ForwardOperator, got {type(operator).__name__}.")
    if isinstance(choice, settings):
        return choice
    allowed = ["auto", "exact", *presets]
    if not isinstance(choice, str) or choice not in allowed:
        kinds = ", ".join(f"{cls.__name__}(...)" for cls in settings)
        raise ValueError(f"unknown `{name}`={choice!r}; choose one of {allowed} or settings: {kinds}.")
    if choice == "auto":
        return "exact" if operator.is_linear_gaussian else presets[auto]
    if choice == "exact":
        if not operator.is_linear_gaussian:
            raise ValueError(
                f"`{name}`='exact' needs a linear operator with Gaussian noise; {type(operator).__name__} is not. "
                f"Use {' or '.join(repr(preset) for preset in presets)}."
            )
        return "exact"
    return presets[choice]


def resolve_pcs(pcs, operator: ForwardOperator) -> str | LangevinSettings:
    """ "exact" or LangevinSettings for ``pcs``: "auto" (exact for linear operators with Gaussian
    noise, else MALA), "exact", "mala", "langevin" or settings (see :func:`resolve_sampler`)."""
    return resolve_sampler(pcs, operator, name="pcs", presets=PCS_PRESETS, settings=(LangevinSettings,), auto="mala")


def _per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def langevin_proximal_sample(
    operator: ForwardOperator,
    y: torch.Tensor,
    center: torch.Tensor,
    eta: float,
    settings: LangevinSettings,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, float | None]:
    """Run the chain of ``settings`` from ``center`` (see :class:`LangevinSettings`).

    Returns (final x, mean acceptance rate over the frozen-step half, or None when unadjusted).
    """
    s2, eta2 = operator.noise_level**2, eta**2
    x = center.clone()
    grad, loglik = operator.log_likelihood_grad(x, y)
    base = settings.step_scale * min(s2, eta2)
    log_step = torch.full((x.shape[0],), math.log(base), dtype=torch.float64, device=x.device)
    adapt_until = settings.num_steps // 2
    accepted, counted = 0.0, 0

    def log_target(point, ll):
        return ll - ((point - center) ** 2).reshape(point.shape[0], -1).sum(1) / (2 * eta2)

    def proposal_mean(point, g, decay):
        return center + decay * (point - center) + eta2 * (1 - decay) * g

    for step in range(settings.num_steps):
        h = log_step.exp()
        if not settings.metropolis:
            h = h / (settings.damping + operator.distance_from_log_likelihood(loglik).to(h.dtype))
        decay = _per_sample(torch.exp(-h / eta2), x).to(x.dtype)
        std = eta * (1 - decay**2).sqrt()
        z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        proposal = proposal_mean(x, grad, decay) + std * z
        grad_p, loglik_p = operator.log_likelihood_grad(proposal, y)
        if not settings.metropolis:
            x, grad, loglik = proposal, grad_p, loglik_p
            continue
        var = (std**2).reshape(-1)
        forward = -(z**2).reshape(x.shape[0], -1).sum(1) / 2
        backward = -((x - proposal_mean(proposal, grad_p, decay)) ** 2).reshape(x.shape[0], -1).sum(1) / (2 * var)
        log_ratio = log_target(proposal, loglik_p) - log_target(x, loglik) + backward - forward
        prob = log_ratio.clamp(max=0).exp().nan_to_num(0.0)
        accept = torch.rand(prob.shape, generator=generator, dtype=prob.dtype, device=prob.device) < prob
        keep = _per_sample(accept, x)
        x = torch.where(keep, proposal, x)
        grad = torch.where(keep, grad_p, grad)
        loglik = torch.where(accept, loglik_p, loglik)
        if step < adapt_until:
            log_step = log_step + (prob.double() - settings.target_acceptance) * (2.0 / (1 + step) ** 0.5)
        else:
            accepted += float(prob.double().mean())
            counted += 1
    return x, (accepted / counted if counted else None) if settings.metropolis else None
