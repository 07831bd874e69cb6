"""Data-prediction (x0) form of the accelerated correction over log-SNR, orders 2 and 3, with an
optional corrector that reuses the next model call and an optional stochastic (SDE) form
(plugdiff's own design; derivation and measurements: docs/samplers.md, "Beyond the paper")."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

# diffusers' from_pretrained records this component as ["<this module>", class name] and picks its
# loader by looking up the loader base classes (SchedulerMixin) in this module: keep it imported.
from diffusers import SchedulerMixin  # noqa: F401
from diffusers.configuration_utils import register_to_config
from diffusers.utils.torch_utils import randn_tensor

from ..argument_checks import check_bool, check_choice, check_int, check_number
from .scheduling_base import AcceleratedSchedulerBase

# alpha-bar floor for log-SNR (a zero-terminal-SNR schedule has a = 0 at its first timestep)
_MIN_LEVEL = 2.0**-24
_GAUSS = np.polynomial.legendre.leggauss(32)
FINAL_STEPS = ("polynomial", "gaussian")

INTERPOLATIONS = {
    # rho(lambda): the variable the data prediction is interpolated in
    "asinh_sigma": lambda lam: np.arcsinh(np.exp(-lam)),
    "log_snr": lambda lam: -np.asarray(lam, dtype=np.float64),
    "asinh_sigma_sq": lambda lam: np.arcsinh(0.5 * np.exp(-2.0 * np.asarray(lam, dtype=np.float64))),
}


def log_snr(levels: np.ndarray) -> np.ndarray:
    """lambda = log(alpha / sigma) = log(a / (1 - a)) / 2 of alpha-bar levels (inf at a = 1)."""
    a = np.asarray(levels, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 0.5 * (np.log(np.maximum(a, _MIN_LEVEL)) - np.log1p(-a))


def interpolation_weights(nodes: np.ndarray, moments: np.ndarray) -> np.ndarray:
    r"""Weights w with :math:`\sum_j w_j f(v_j) = \int P_f\, d\mu`, :math:`P_f` the polynomial
    through :math:`(v_j, f(v_j))`, from the moments :math:`\int v^m d\mu` (Vandermonde solve)."""
    nodes = np.asarray(nodes, dtype=np.float64)
    vandermonde = nodes[None, :] ** np.arange(len(nodes))[:, None]  # [m, j] = v_j^m
    return np.linalg.solve(vandermonde, moments[: len(nodes)])


def data_step_weights(lam: np.ndarray, start: int, target: int, node_idx, rho, rate: float = 1.0) -> np.ndarray:
    r"""Weights of :math:`\int_0^h c\,e^{c(u-h)}\, \hat x_0(\lambda_s + u)\, du = \sum_j w_j \hat x_{0,j}`
    (s = ``start``, t = ``target``, h = lambda_t - lambda_s, c = ``rate``: 1 for the ODE,
    1 + tau^2 for the SDE) with x0 interpolated as a polynomial in ``rho(lambda)`` through the
    outputs at ``node_idx``. The zeroth moment is exact (1 - e^{-ch}, also for h = inf); the others
    use 32-point Gauss-Legendre in lambda (smooth integrand; agrees with adaptive quadrature to
    ~1e-15 on sampling grids, see the tests)."""
    h = lam[target] - lam[start]
    moments = np.empty(len(node_idx))
    moments[0] = -math.expm1(-rate * h)
    if len(node_idx) > 1:
        x, w = _GAUSS
        u = 0.5 * h * (x + 1.0)
        weight = 0.5 * h * w * rate * np.exp(rate * (u - h))
        offsets = rho(lam[start] + u) - rho(lam[start])
        moments[1:] = [np.sum(weight * offsets**m) for m in range(1, len(node_idx))]
    nodes = rho(lam[list(node_idx)]) - rho(lam[start])
    return interpolation_weights(nodes, moments)


def final_eps_weights(sigma_bar: np.ndarray, start: int, node_idx) -> np.ndarray:
    r"""Weights of :math:`\int_0^{\bar\sigma_s} \varepsilon(\bar\sigma)\, d\bar\sigma` with eps interpolated
    as a polynomial in :math:`\bar\sigma^2` through the outputs at ``node_idx`` (the jump to
    sigma = 0). The integrand is a polynomial in sigma-bar, so Gauss-Legendre is exact."""
    s = sigma_bar[start]
    nodes = np.array([sigma_bar[i] ** 2 - s**2 for i in node_idx])
    x, w = np.polynomial.legendre.leggauss(len(nodes) + 1)
    pts, wts = 0.5 * s * (x + 1.0), 0.5 * s * w
    moments = np.array([np.sum(wts * (pts**2 - s**2) ** m) for m in range(len(nodes))])
    return interpolation_weights(nodes, moments)


def gaussian_final_step(
    xbar: torch.Tensor, eps: torch.Tensor, eps_before: torch.Tensor, sigma_bar: float, sigma_bar_before: float
) -> torch.Tensor:
    r"""The jump from DDIM's :math:`\bar x = x/\alpha` at noise :math:`\bar\sigma` to sigma = 0, exact
    when every element follows the flow of a one-dimensional Gaussian :math:`N(m, s^2)`.

    Along that flow :math:`\bar x(\bar\sigma) - m = c\sqrt{s^2+\bar\sigma^2}`, so
    :math:`\varepsilon = d\bar x/d\bar\sigma = c\,\bar\sigma/\sqrt{s^2+\bar\sigma^2}` and
    :math:`q = \varepsilon/\bar\sigma` changes between the two last levels by
    :math:`R^2 = (q/q_\text{before})^2 = (s^2+\bar\sigma_\text{before}^2)/(s^2+\bar\sigma^2)`,
    which gives :math:`s^2` per element. Then
    :math:`\bar x(0) = \bar x - q\,\bar\sigma^2\,\varphi`,
    :math:`\varphi = 1 - 1/(1+\sqrt{1+\bar\sigma^2/s^2})`, between 1/2 (s large: eps linear
    in sigma-bar) and 1 (s = 0, a point: the DDIM step). :math:`R^2` is clamped to the range
    where :math:`s^2 \ge 0`; where the two outputs differ in sign, :math:`\varphi = 1`.
    """
    q, q_before = eps / sigma_bar, eps_before / sigma_bar_before
    widest = (sigma_bar_before / sigma_bar) ** 2
    ratio2 = torch.where(q * q_before > 0, (q / q_before) ** 2, torch.full_like(q, widest)).clamp(1.0, widest)
    gap = sigma_bar_before**2 - ratio2 * sigma_bar**2  # = (R^2 - 1) s^2 >= 0
    v = torch.where(
        gap > 0, sigma_bar**2 * (ratio2 - 1) / gap.clamp_min(torch.finfo(q.dtype).tiny), torch.full_like(q, math.inf)
    )  # sigma_bar^2 / s^2
    phi = 1 - 1 / (1 + torch.sqrt(1 + v))
    return xbar - q * sigma_bar**2 * phi


class DataStep(NamedTuple):
    r"""One step in the data prediction, :math:`x_{k+1} = c\,x_k + \sum_j w_j \hat x_{0,k-j} + s z`."""

    decay: float
    """c = (sigma_{k+1} / sigma_k) e^{-tau^2 h}: what is left of the sample (0 at sigma = 0)."""
    weights: list[float]
    """w_j, alpha_{k+1} included, on the data predictions x0_k, x0_{k-1}, ... (newest first)."""
    noise_std: float
    """s = sigma_{k+1} sqrt(1 - e^{-2 tau^2 h}), the std of the fresh draw z (0: none)."""


class EpsJump(NamedTuple):
    r"""The jump to sigma = 0 in DDIM's variables, :math:`x_0 = r\,x_k - \sum_j w_j \varepsilon_{k-j}`."""

    alpha_ratio: float
    """r = alpha_{k+1} / alpha_k."""
    weights: list[float]
    """w_j, alpha_{k+1} included, on the eps that x0_k, x0_{k-1}, ... imply (newest first)."""


class GaussianJump(NamedTuple):
    """The jump to sigma = 0 by a one-dimensional Gaussian flow fitted per element to the last two
    outputs (:func:`gaussian_final_step`)."""

    sigma_bar: float
    """sigma / alpha at this level."""
    sigma_bar_before: float
    """sigma / alpha at the level before."""


class Correction(NamedTuple):
    r"""The step k-1 -> k taken again with the output at k as its newest node,
    :math:`x_k = c\,x_{k-1} + \sum_j w_j \hat x_{0,k-j}` (+ the predictor's draw, reused)."""

    decay: float
    """c, as in the predictor's :class:`DataStep`."""
    weights: list[float]
    """w_j on x0_k, x0_{k-1}, ... (newest first), one more than the predictor's."""


Step = DataStep | EpsJump | GaussianJump


@dataclass
class History:
    """What the sampler keeps between steps."""

    DEPTH = 4
    """Outputs kept: order 3 and the corrector's extra node."""

    x0s: list[torch.Tensor] = field(default_factory=list)
    """The (clipped) data predictions, newest first."""
    eps: list[torch.Tensor] = field(default_factory=list)
    """The eps each of ``x0s`` implies at its level, newest first."""
    state: torch.Tensor | None = None
    """The sample the last step started from (corrected, with the corrector)."""
    noise: torch.Tensor | None = None
    """The last predictor's draw, scaled (None: it drew nothing); the corrector adds it back."""

    def add(self, x0: torch.Tensor, eps: torch.Tensor) -> None:
        self.x0s = [x0, *self.x0s][: self.DEPTH]
        self.eps = [eps, *self.eps][: self.DEPTH]


def newest(k: int, count: int) -> list[int]:
    """Indices k, k-1, ... of the ``count`` newest outputs at step k (fewer on the first steps)."""
    return list(range(k, max(k - count, -1), -1))


class AcceleratedLogSNRScheduler(AcceleratedSchedulerBase):
    r"""Multistep sampler on the data prediction over log-SNR, orders 2 and 3, optional corrector and
    stochastic form; one model call per step, a drop-in for ``DDIMScheduler`` /
    ``DPMSolverMultistepScheduler``.

    With :math:`\alpha = \sqrt{\bar a}`, :math:`\sigma = \sqrt{1-\bar a}`, :math:`\lambda = \log(\alpha/\sigma)`,
    :math:`h = \lambda_t - \lambda_s` and the data prediction :math:`\hat x_0` interpolated by the
    polynomial in :math:`\rho(\lambda)` through the last p outputs, a step s -> t is

    .. math::
        x_t = \frac{\sigma_t}{\sigma_s} e^{-\tau^2 h} x_s
              + \alpha_t \int_0^h (1+\tau^2) e^{(1+\tau^2)(u-h)}\, \hat x_0(\lambda_s + u)\, du
              + \sigma_t \sqrt{1 - e^{-2\tau^2 h}}\; z ,

    integrated exactly against that polynomial (:func:`data_step_weights`); :math:`\tau = 0` is the
    probability-flow ODE. The jump to sigma = 0 is taken in DDIM's variables
    (:func:`final_eps_weights`) or by a per-element Gaussian fit (:func:`gaussian_final_step`).

    Source: the data-prediction ODE of DPM-Solver++ (Lu et al., arXiv 2211.01095, eq. 9) integrated
    exactly against an interpolant as in the accelerated sampler (Li et al., ICML 2024, arXiv
    2403.03852); the corrector after UniPC (Zhao et al., arXiv 2302.04867); the SDE family of SA-Solver
    (Xue et al., NeurIPS 2023, arXiv 2309.05019, eq. 10). plugdiff's own combination: derivation and
    measurements in docs/samplers.md, "Beyond the paper: AcceleratedLogSNRScheduler".

    Args (beyond ``DDIMScheduler``'s):
        solver_order: 2 or 3, the number of model outputs in the interpolant.
        use_corrector: recompute each step with the next model output (no extra model calls).
        lower_order_final: end a schedule whose last level is sigma = 0 with the first-order
            step (return the data prediction) instead of the eps extrapolation; no effect when
            the last level has sigma > 0 (``set_alpha_to_one=False``).
        interpolation: the variable rho x0 is interpolated in, "asinh_sigma" (default,
            asinh(sigma / alpha)), "log_snr" (-lambda) or "asinh_sigma_sq" (asinh(sigma^2 / (2 alpha^2))).
        final_step: "polynomial" (default) or "gaussian", how the jump to sigma = 0 is taken (no
            effect when the last level has sigma > 0).
        final_fit_min_alpha_bar: the Gaussian final step is used only when the last model call
            is at alpha-bar >= this value.
        stochasticity: tau >= 0, the noise of the stochastic form (0: the probability-flow ODE,
            deterministic; 1: the reverse SDE). Pass a ``generator`` to ``step`` for
            reproducible draws.
    """

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas: np.ndarray | list[float] | None = None,
        clip_sample: bool = True,
        set_alpha_to_one: bool = True,
        steps_offset: int = 0,
        prediction_type: str = "epsilon",
        thresholding: bool = False,
        dynamic_thresholding_ratio: float = 0.995,
        clip_sample_range: float = 1.0,
        sample_max_value: float = 1.0,
        timestep_spacing: str = "leading",
        rescale_betas_zero_snr: bool = False,
        variance_type: str = "fixed_small",
        solver_order: int = 2,
        use_corrector: bool = False,
        lower_order_final: bool = False,
        interpolation: str = "asinh_sigma",
        final_step: str = "polynomial",
        final_fit_min_alpha_bar: float = 0.75,
        stochasticity: float = 0.0,
    ):
        check_int(solver_order, "solver_order", allowed=(2, 3))
        check_bool(use_corrector, "use_corrector")
        check_bool(lower_order_final, "lower_order_final")
        check_choice(interpolation, "interpolation", INTERPOLATIONS)
        check_choice(final_step, "final_step", FINAL_STEPS)
        check_number(final_fit_min_alpha_bar, "final_fit_min_alpha_bar", minimum=0, maximum=1)
        check_number(stochasticity, "stochasticity", minimum=0)
        # diffusers reads the config keys off this signature, so the base arguments are repeated here
        super().__init__(
            num_train_timesteps=num_train_timesteps,
            beta_start=beta_start,
            beta_end=beta_end,
            beta_schedule=beta_schedule,
            trained_betas=trained_betas,
            clip_sample=clip_sample,
            set_alpha_to_one=set_alpha_to_one,
            steps_offset=steps_offset,
            prediction_type=prediction_type,
            thresholding=thresholding,
            dynamic_thresholding_ratio=dynamic_thresholding_ratio,
            clip_sample_range=clip_sample_range,
            sample_max_value=sample_max_value,
            timestep_spacing=timestep_spacing,
            rescale_betas_zero_snr=rescale_betas_zero_snr,
            variance_type=variance_type,
        )

    def _precompute(self, levels: np.ndarray) -> None:
        """The step plan of levels a[0..N]: ``self._plan[k]`` takes step k -> k + 1,
        ``self._corrections[k]`` (k >= 1) retakes step k-1 -> k."""
        config, n = self.config, len(levels) - 1
        rho = INTERPOLATIONS[config.interpolation]
        alpha, sigma, lam = np.sqrt(levels), np.sqrt(1.0 - levels), log_snr(levels)
        ends_at_zero = n > 1 and sigma[n] == 0
        gaussian_final = (
            ends_at_zero and config.final_step == "gaussian" and levels[n - 1] >= config.final_fit_min_alpha_bar
        )
        tau2 = np.full(n, float(config.stochasticity) ** 2)  # per step
        if ends_at_zero and (gaussian_final or not config.lower_order_final):
            tau2[n - 2] = 0.0  # the jump to sigma = 0 reads the last two outputs as points of one flow
        with np.errstate(invalid="ignore"):  # the jump to sigma = 0 (h = inf) keeps no state and adds no noise
            h = np.diff(lam)
            decay = np.where(sigma[1:] > 0, sigma[1:] / sigma[:-1] * np.exp(-tau2 * h), 0.0)
            noise_std = np.where(sigma[1:] > 0, sigma[1:] * np.sqrt(-np.expm1(-2.0 * tau2 * h)), 0.0).tolist()

        def data_weights(k: int, nodes: list[int]) -> list[float]:  # step k -> k + 1 through the outputs at nodes
            return (alpha[k + 1] * data_step_weights(lam, k, k + 1, nodes, rho, 1.0 + tau2[k])).tolist()

        self._plan: list[Step] = []
        for k in range(n):
            if k == n - 1 and gaussian_final:
                self._plan.append(GaussianJump(sigma[k] / alpha[k], sigma[k - 1] / alpha[k - 1]))
            elif sigma[k + 1] > 0:
                self._plan.append(DataStep(decay[k], data_weights(k, newest(k, config.solver_order)), noise_std[k]))
            elif config.lower_order_final:  # at sigma = 0 only the first order is finite in x0
                self._plan.append(DataStep(decay[k], data_weights(k, [k]), noise_std[k]))
            else:
                w = final_eps_weights(sigma / alpha, k, newest(k, min(config.solver_order, 2)))
                self._plan.append(EpsJump(alpha[k + 1] / alpha[k], (alpha[k + 1] * w).tolist()))
        self._corrections = [None] + [
            Correction(decay[k - 1], data_weights(k - 1, newest(k, config.solver_order + 1))) for k in range(1, n)
        ]
        self._alpha, self._sigma = alpha.tolist(), sigma.tolist()

    def _reset_state(self) -> None:
        self._history = History()

    def _update(self, k, sample, x0, eps, generator):
        history = self._history
        history.add(x0, (sample - self._alpha[k] * x0) / self._sigma[k])  # the eps the (clipped) x0 implies
        if self.config.use_corrector and k > 0:
            correction = self._corrections[k]
            sample = correction.decay * history.state + _combine(correction.weights, history.x0s)
            if history.noise is not None:  # the predictor's draw, so the corrector moves only the mean
                sample = sample + history.noise
        history.state = sample
        step = self._plan[k]
        if isinstance(step, GaussianJump):
            eps_here = (sample - self._alpha[k] * x0) / self._sigma[k]  # the corrected sample's eps, x0 kept
            return gaussian_final_step(
                sample / self._alpha[k], eps_here, history.eps[1], step.sigma_bar, step.sigma_bar_before
            )
        if isinstance(step, EpsJump):
            return step.alpha_ratio * sample - _combine(step.weights, history.eps)
        prev_sample = step.decay * sample + _combine(step.weights, history.x0s)
        history.noise = None
        if step.noise_std > 0:
            history.noise = step.noise_std * randn_tensor(
                sample.shape, generator=generator, device=sample.device, dtype=sample.dtype
            )
            prev_sample = prev_sample + history.noise
        return prev_sample


def _combine(weights, tensors) -> torch.Tensor:
    """sum_j weights[j] * tensors[j] (newest first)."""
    out = weights[0] * tensors[0]
    for w, t in zip(weights[1:], tensors[1:]):
        out = out + w * t
    return out
