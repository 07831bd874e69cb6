"""95 % t intervals for the benchmarks' means, video by video (torch-free, so the docs renderer
can use it too)."""

from __future__ import annotations

import math
import statistics


def finite(value) -> bool:
    """A number that is neither None nor NaN nor infinite."""
    return value is not None and math.isfinite(value)


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile by the Cornish-Fisher expansion around the normal one (Abramowitz &
    Stegun 26.7.5; within 0.003 of the exact value at the 0.975 point from 5 degrees of freedom)."""
    z = statistics.NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def mean_interval(values) -> dict:
    """The mean of the finite ``values`` with its 95 % t interval (None with fewer than two)."""
    values = [float(v) for v in values if finite(v)]
    if len(values) < 2:
        return {"mean": statistics.fmean(values) if values else None, "ci95": None, "n": len(values)}
    mean = statistics.fmean(values)
    half = t_quantile(0.975, len(values) - 1) * statistics.stdev(values) / len(values) ** 0.5
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": len(values)}


def paired_intervals(rows: list[dict], base_rows: list[dict], keys) -> dict:
    """Per metric, the mean of the video-by-video differences ``rows - base_rows`` (the same
    captions and seeds, in order) with its 95 % t interval, over the pairs where both are finite."""
    return {
        key: mean_interval(
            r[key] - b[key] for r, b in zip(rows, base_rows, strict=True) if finite(r.get(key)) and finite(b.get(key))
        )
        for key in keys
    }
