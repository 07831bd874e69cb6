"""95 % t intervals for the benchmarks' means, video by video (torch-free, so the docs renderer
can use it too)."""

from __future__ import annotations

import math
import statistics


def finite(value) -> bool:
    """A number that is neither None nor NaN nor infinite."""
    return value is not None and math.isfinite(value)


def t_cdf(t: float, dof: int) -> float:
    """Student's t distribution function for a whole number of degrees of freedom, in closed form
    (Abramowitz & Stegun 26.7.3-4: a finite series in :math:`\\cos\\theta`, :math:`\\theta =
    \\arctan(t/\\sqrt{\\nu})`, for :math:`P(|T| < t)`)."""
    theta = math.atan(abs(t) / math.sqrt(dof))
    c2, term, total = math.cos(theta) ** 2, 1.0, 1.0
    if dof % 2:  # odd: 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        for k in range(1, (dof - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        inside = 2 / math.pi * (theta + (math.sin(theta) * math.cos(theta) * total if dof > 1 else 0.0))
    else:  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
        for k in range(1, dof // 2):
            term *= c2 * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    return 0.5 + math.copysign(inside / 2, t)


def t_quantile(p: float, dof: int) -> float:
    """Student's t quantile: the Cornish-Fisher expansion around the normal one (A & S 26.7.5),
    then Newton steps on :func:`t_cdf` until it is exact to 1e-12 (the expansion alone is 0.02 off
    at 3 degrees of freedom)."""
    z = statistics.NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    t = z + g1 / dof + g2 / dof**2 + g3 / dof**3
    for _ in range(50):
        density = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)) * (
            1 + t * t / dof
        ) ** (-(dof + 1) / 2)
        step = (t_cdf(t, dof) - p) / density
        t -= step
        if abs(step) < 1e-12:
            break
    return t


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
