"""PromptBlend's settings and their checks (no torch: the command line reads their defaults and
validates job files with them before any model loads). The gated cross-attention processors are in
:mod:`.promptblend`; the per-frame prompt mixing is
:mod:`plugdiff.pipelines.animatediff.prompt_interpolation`."""

from __future__ import annotations

from dataclasses import dataclass

from ..argument_checks import ArgumentError, ArgumentTypeError, is_int, is_real
from .steps import check_step_range

DEFAULT_STEP_RANGE = (0.1, 0.3)
"""(t1, t2) where every cross-attention layer gets the blended condition: FreeNoise's
motion-injection steps 5-15 of 50."""


def check_transition(transition) -> int | float:
    """``transition`` as given: an integer >= 1 (frames) or a fraction in (0, 1] of the gap between
    key frames."""
    allowed = "an integer >= 1 (frames) or a fraction in (0, 1] of the gap between key frames"
    if is_int(transition):
        ok = transition >= 1
    elif is_real(transition):
        ok = 0.0 < transition <= 1.0
    else:
        raise ArgumentTypeError(transition, "transition", allowed)
    if not ok:
        raise ArgumentError(transition, "transition", allowed)
    return transition


@dataclass(frozen=True)
class PromptBlendSettings:
    """PromptBlend parameters.

    Args:
        transition: length of each transition window, as frames (int >= 1, capped at the gap
            between the two key frames) or as a fraction of that gap (float in (0, 1]); the
            default, half of every gap, grows with the video's length. 1.0 is a transition over
            the whole gap (diffusers' linear interpolation).
        step_range: (t1, t2), fractions of the trajectory by noise level (``1 - t / T``) in which
            every cross-attention layer gets the blended condition; outside it only the decoder
            does. Default :data:`DEFAULT_STEP_RANGE`.
    """

    transition: int | float = 0.5
    step_range: tuple[float, float] = DEFAULT_STEP_RANGE

    def __post_init__(self):
        check_transition(self.transition)
        object.__setattr__(self, "step_range", check_step_range(self.step_range))
