"""Annealing schedules eta_0 >= ... >= eta_{K-1} for DPnP (Xu & Chi, NeurIPS 2024)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .operators.base import check_positive


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
        if isinstance(self.num_decay, bool) or not isinstance(self.num_decay, int) or self.num_decay < 1:
            raise ValueError(f"`num_decay` must be an int >= 1, got {self.num_decay!r}.")
        if isinstance(self.hold, bool) or not isinstance(self.hold, int) or self.hold < 0:
            raise ValueError(f"`hold` must be an int >= 0, got {self.hold!r}.")

    def etas(self) -> list[float]:
        n = self.num_decay
        ratio = self.eta_min / self.eta_max
        decay = [self.eta_max * ratio ** (j / (n - 1)) if n > 1 else self.eta_min for j in range(n)]
        return [float(self.eta_max)] * self.hold + decay

    def to_dict(self) -> dict:
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


def resolve_etas(etas: str | AnnealingSchedule | Sequence[float] | None) -> list[float]:
    """The eta sequence for ``etas``: None ("official"), a preset name, an AnnealingSchedule or
    explicit numbers (positive, finite, non-increasing)."""
    if etas is None:
        etas = "official"
    if isinstance(etas, str):
        if etas not in SCHEDULE_PRESETS:
            raise ValueError(f"unknown annealing preset `etas`={etas!r}; choose one of {sorted(SCHEDULE_PRESETS)}.")
        return SCHEDULE_PRESETS[etas].etas()
    if isinstance(etas, AnnealingSchedule):
        return etas.etas()
    try:
        values = [float(v) for v in etas]
    except (TypeError, ValueError):
        raise ValueError(f"`etas` must be a preset name, an AnnealingSchedule or a sequence of numbers, got {etas!r}.") from None
    if not values:
        raise ValueError("`etas` must not be empty.")
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError(f"`etas` must be finite numbers > 0, got {values}.")
    bad = [k for k in range(1, len(values)) if values[k] > values[k - 1]]
    if bad:
        k = bad[0]
        raise ValueError(f"`etas` must be non-increasing (an annealing schedule), but etas[{k}] = {values[k]} > etas[{k - 1}] = {values[k - 1]}.")
    return values
