"""Accelerated deterministic (DDIM-type) sampler of Li et al., ICML 2024, as a diffusers scheduler."""

from __future__ import annotations

import numpy as np
import torch

# diffusers' from_pretrained records this component as ["<this module>", class name] and picks its
# loader by looking up the loader base classes (SchedulerMixin) in this module: keep it imported.
from diffusers import SchedulerMixin  # noqa: F401

from .scheduling_base import AcceleratedSchedulerBase, AcceleratedSchedulerOutput


def ab2_correction_coefficients(levels: np.ndarray) -> np.ndarray:
    """C_k of the accelerated deterministic update, for k = 0..N-1 (C_0 = 0: first step is DDIM).

    With a = levels (a[0] < ... < a[N], alpha-bar of the grid, a[N] the final level),

        C_k = sqrt(a[k+1]) / (a[k] - a[k-1])
              * ( a[k] sqrt(1-a[k+1]) / sqrt(a[k+1]) + asin sqrt(a[k+1])
                  - sqrt(a[k] (1-a[k])) - asin sqrt(a[k]) ),

    the exact integral of eps over the DDIM ODE d(x/sqrt a)/d sigma = eps (sigma^2 = 1/a - 1)
    when eps is interpolated linearly in alpha-bar through the last two model outputs (an
    Adams-Bashforth-2 exponential integrator). Computed in float64: the bracket is a difference
    of nearby numbers.
    """
    a = np.asarray(levels, dtype=np.float64)
    a_prev, a_cur, a_next = a[:-2], a[1:-1], a[2:]
    bracket = (
        a_cur * np.sqrt(1.0 - a_next) / np.sqrt(a_next)
        + np.arcsin(np.sqrt(a_next))
        - np.sqrt(a_cur * (1.0 - a_cur))
        - np.arcsin(np.sqrt(a_cur))
    )
    return np.concatenate([[0.0], np.sqrt(a_next) / (a_cur - a_prev) * bracket])[: len(a) - 1]


class AcceleratedDDIMScheduler(AcceleratedSchedulerBase):
    r"""Accelerated deterministic sampler (one model call per step), a drop-in for ``DDIMScheduler``.

    Source: G. Li, Y. Huang, T. Efimov, Y. Wei, Y. Chi, Y. Chen, "Accelerating Convergence of
    Score-Based Diffusion Models, Provably", ICML 2024 (arXiv 2403.03852); the one-call form run
    by the authors' code. On the grid a[0] < ... < a[N] (alpha-bar at the timesteps, a[N] the
    final level) with model outputs e_k = eps(x_k, tau_k):

    .. math::
        x_{k+1} = \sqrt{a_{k+1}}\,\hat x_0(x_k, e_k) + \sqrt{1-a_{k+1}}\, e_k
                  + C_k\,(e_{k-1} - e_k),

    the DDIM step plus a correction from the previous output, with :math:`C_0 = 0` and
    :math:`C_k` from :func:`ab2_correction_coefficients`. This is an exponential
    Adams-Bashforth-2 integrator of the probability-flow ODE that interpolates eps linearly in
    alpha-bar (DPM-Solver++(2M) interpolates in log-SNR); the paper proves O(1/T^2) convergence
    against DDIM's O(1/T).

    Config arguments and defaults are those of ``DDIMScheduler`` (swap with
    ``AcceleratedDDIMScheduler.from_config(pipe.scheduler.config)``); ``trailing`` spacing is
    the better choice for few steps. With clipping or thresholding on, x0 is clipped as DDIM
    does and the correction uses the model's eps.
    """

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        eta: float = 0.0,
        use_clipped_model_output: bool = False,
        generator: torch.Generator | None = None,
        variance_noise: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> AcceleratedSchedulerOutput | tuple:
        """``DDIMScheduler.step``'s signature (argument order included); see
        :meth:`AcceleratedSchedulerBase.step`. The sampler is deterministic: ``eta`` must be 0
        and ``variance_noise`` None (use ``AcceleratedDDPMScheduler`` for a stochastic sampler)."""
        if variance_noise is not None:
            raise ValueError(
                "`variance_noise` is not used by AcceleratedDDIMScheduler, a deterministic sampler: leave it None, "
                "or use AcceleratedDDPMScheduler (with `generator=`) for a stochastic one."
            )
        return super().step(
            model_output,
            timestep,
            sample,
            generator=generator,
            return_dict=return_dict,
            use_clipped_model_output=use_clipped_model_output,
            eta=eta,
        )

    def _precompute(self, levels: np.ndarray) -> None:
        self._sqrt_a_next = np.sqrt(levels[1:]).tolist()
        self._sqrt_1ma_next = np.sqrt(1.0 - levels[1:]).tolist()
        self._correction = ab2_correction_coefficients(levels).tolist()

    def _reset_state(self) -> None:
        self._prev_eps = None

    def _update(self, k, sample, x0, eps, generator):
        prev_sample = self._sqrt_a_next[k] * x0 + self._sqrt_1ma_next[k] * eps
        if self._prev_eps is not None:
            prev_sample = prev_sample + self._correction[k] * (self._prev_eps - eps)
        self._prev_eps = eps
        return prev_sample
