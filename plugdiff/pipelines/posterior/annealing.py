"""Annealing schedules eta_0 >= ... >= eta_{K-1}: DPnP's (Xu & Chi, NeurIPS 2024; geometric) and DAPS's
(Zhang et al., CVPR 2025; polynomial in sigma, as EDM's sampling grid)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ...argument_checks import check_int, check_positive


@dataclass(frozen=True)
class AnnealingSchedule:
    r"""``hold`` iterations at :math:`\eta_{max}`, then ``num_decay`` values geometric from
    :math:`\eta_{max}` down to :math:`\eta_{min}`:
    :math:`\eta_{hold+j} = \eta_{max} (\eta_{min}/\eta_{max})^{j/(n-1)}`, K = hold + num_decay.

    The official code's schedule is ``AnnealingSchedule(0.4, 0.16, num_decay=12, hold=4)``.
    eta is the VE noise level (image units, [-1, 1] images) at which each iteration couples the
    likelihood step and the prior step; the chain targets the posterior as eta -> 0, and a
    large starting eta is what lets it move between posterior modes.
    """

    eta_max: float
    eta_min: float
    num_decay: int
    hold: int = 0

    def __post_init__(self):
        check_positive(self.eta_max, "eta_max")
        check_positive(self.eta_min, "eta_min")
        if self.eta_min > self.eta_max:
            raise ValueError(f"`eta_min` ({self.eta_min}) must not exceed `eta_max` ({self.eta_max}).")
        check_int(self.num_decay, "num_decay", minimum=1)
        check_int(self.hold, "hold", minimum=0)

    def etas(self) -> list[float]:
        """The K = hold + num_decay values of eta, largest first."""
        n = self.num_decay
        ratio = self.eta_min / self.eta_max
        decay = [self.eta_max * ratio ** (j / (n - 1)) if n > 1 else self.eta_min for j in range(n)]
        return [float(self.eta_max)] * self.hold + decay

    def to_dict(self) -> dict:
        """The fields, for sidecars and reports."""
        return asdict(self)


@dataclass(frozen=True)
class PolynomialSchedule:
    r"""``num_steps`` noise levels from :math:`\sigma_{max}` down to :math:`\sigma_{min}`, even in
    :math:`\sigma^{1/\rho}`: :math:`\sigma_k = (\sigma_{max}^{1/\rho} + \tfrac{k}{n-1}(\sigma_{min}^{1/\rho} -
    \sigma_{max}^{1/\rho}))^\rho`, k = 0..n-1 (Karras et al., NeurIPS 2022, eq. 5).

    DAPS's annealing grid (official ``edm_daps.yaml``: sigma 100 -> 0.1, 200 steps, rho = 7) is
    ``PolynomialSchedule(100.0, 0.1, 200)``; rho = 7 puts most levels at small sigma.
    """

    sigma_max: float
    sigma_min: float
    num_steps: int
    rho: float = 7.0

    def __post_init__(self):
        check_positive(self.sigma_max, "sigma_max")
        check_positive(self.sigma_min, "sigma_min")
        check_positive(self.rho, "rho")
        if self.sigma_min > self.sigma_max:
            raise ValueError(f"`sigma_min` ({self.sigma_min}) must not exceed `sigma_max` ({self.sigma_max}).")
        check_int(self.num_steps, "num_steps", minimum=1)

    def etas(self) -> list[float]:
        """The ``num_steps`` noise levels, sigma_max first and sigma_min last (both exactly)."""
        n, p = self.num_steps, 1.0 / self.rho
        if n == 1:
            return [float(self.sigma_max)]
        top, bottom = self.sigma_max**p, self.sigma_min**p
        inner = [float((top + k / (n - 1) * (bottom - top)) ** self.rho) for k in range(1, n - 1)]
        return [float(self.sigma_max), *inner, float(self.sigma_min)]  # the ends exactly

    def to_dict(self) -> dict:
        """The fields, for sidecars and reports."""
        return asdict(self)


#: Named schedules. "official": the reference code's default (K = 16; 0.4 held 4 times, then 12
#: values down to 0.16). "accurate": ends at 0.02, where the chain's bias (of order eta) is small,
#: over K = 100 iterations (about 900 network evaluations at 10 DDS steps per iteration). In the
#: DPnP benchmark (README) the final eta sets most of the error; the starting eta (0.4, 1, 3)
#: and K (16-100) matter much less.
SCHEDULE_PRESETS: dict[str, AnnealingSchedule] = {
    "official": AnnealingSchedule(0.4, 0.16, num_decay=12, hold=4),
    "accurate": AnnealingSchedule(1.0, 0.02, num_decay=100),
}


def resolve_etas(
    etas: str | AnnealingSchedule | PolynomialSchedule | Sequence[float] | None,
    *,
    name: str = "etas",
    presets: dict | None = None,
    default: str = "official",
) -> list[float]:
    """The noise-level sequence for ``etas``: None (the preset ``default``), a preset name, an
    AnnealingSchedule, a PolynomialSchedule or explicit numbers (positive, finite, non-increasing).
    ``name`` is the argument's name in errors; ``presets`` the named schedules (DPnP's
    :data:`SCHEDULE_PRESETS` unless given)."""
    presets = SCHEDULE_PRESETS if presets is None else presets
    if etas is None:
        etas = default
    if isinstance(etas, str):
        if etas not in presets:
            raise ValueError(f"unknown annealing preset `{name}`={etas!r}; choose one of {sorted(presets)}.")
        return presets[etas].etas()
    if isinstance(etas, (AnnealingSchedule, PolynomialSchedule)):
        return etas.etas()
    try:
        values = [float(v) for v in etas]
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a preset name, a schedule object or a sequence of numbers, got {etas!r}."
        ) from None
    if not values:
        raise ValueError(f"`{name}` must not be empty.")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"`{name}` must be finite numbers > 0, got {values}.")
    bad = [k for k in range(1, len(values)) if values[k] > values[k - 1]]
    if bad:
        k = bad[0]
        raise ValueError(
            f"`{name}` must be non-increasing (an annealing schedule), but {name}[{k}] = {values[k]} > "
            f"{name}[{k - 1}] = {values[k - 1]}."
        )
    return values
