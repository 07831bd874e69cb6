"""Tight reference solution of the probability-flow ODE, for measuring deterministic samplers."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from scipy.integrate import solve_ivp


def solve_probability_flow(
    eps_fn: Callable[[torch.Tensor, float], torch.Tensor],
    x: torch.Tensor,
    alpha_from: float,
    alpha_to: float = 1.0,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> torch.Tensor:
    r"""Integrate the VP probability-flow ODE from level ``alpha_from`` to ``alpha_to`` with DOP853.

    In DDIM's variables :math:`\bar x = x/\sqrt{\bar a}`, :math:`\sigma = \sqrt{1/\bar a - 1}`
    the ODE is :math:`d\bar x/d\sigma = \varepsilon(x, \bar a)` (Song, Meng, Ermon, ICLR 2021,
    eq. 14); DDIM is its Euler method, so every VP sampler converges to this solution. Each
    sample is integrated by the same adaptive solver (the whole batch is one state vector).

    Args:
        eps_fn: exact noise prediction ``eps_fn(x, alpha_bar)`` (e.g. ``GaussianMixture.eps``).
        x: (B, ...) start points at level ``alpha_from``.
        alpha_from, alpha_to: start and end alpha-bar (alpha_to = 1 is the data level).
        rtol, atol: DOP853 tolerances (float64 throughout).

    Returns:
        The end points at level ``alpha_to``, float64, shape of x.
    """
    if not 0 < alpha_from < alpha_to <= 1:
        raise ValueError(f"need 0 < alpha_from < alpha_to <= 1, got {alpha_from}, {alpha_to}.")
    shape = x.shape
    sigma_from, sigma_to = math.sqrt(1 / alpha_from - 1), math.sqrt(1 / alpha_to - 1)

    def rhs(sigma, xbar_flat):
        a = 1.0 / (1.0 + sigma * sigma)
        xbar = torch.from_numpy(xbar_flat).reshape(shape)
        return eps_fn(math.sqrt(a) * xbar, a).reshape(-1).numpy()

    xbar0 = (x.double() / math.sqrt(alpha_from)).reshape(-1).numpy()
    sol = solve_ivp(rhs, (sigma_from, sigma_to), xbar0, method="DOP853", rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"reference ODE solve failed: {sol.message}")
    xbar_end = torch.from_numpy(np.ascontiguousarray(sol.y[:, -1])).reshape(shape)
    return math.sqrt(alpha_to) * xbar_end
