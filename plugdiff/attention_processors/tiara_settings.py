"""TiARA's settings and their checks (no torch: the command line validates job files with them
before any model loads). The attention functions and processor are in :mod:`.tiara`."""

from __future__ import annotations

from dataclasses import dataclass

from ..argument_checks import ArgumentError, check_int, check_number, is_int
from .steps import check_step_range

DEFAULT_WINDOW_LENGTH = 7


def default_band(num_frames: int) -> tuple[int, int]:
    """Band edges (phi1, phi2) used when none are given: (max(1, N // 8), N // 4 + 1), i.e.
    (2, 5) for the usual 16-frame window. Our choice; the paper's values are not known."""
    return max(1, num_frames // 8), num_frames // 4 + 1


def check_window_length(window_length) -> int:
    """L must be 1 or >= 3: the symmetric Blackman window of length 2 is identically zero."""
    check_int(window_length, "window_length", minimum=1)
    if window_length == 2:
        raise ArgumentError(window_length, "window_length", "1 or an integer >= 3 (Blackman(2) is all zeros)")
    return window_length


def check_band(band, num_frames: int | None = None) -> tuple[int, int]:
    """(phi1, phi2) must be integers with 0 <= phi1 < phi2, and phi2 <= N/2 + 1 once the
    attention length N is known."""
    if len(band) != 2:
        raise ValueError(f"`band` must be a pair (phi1, phi2), got {band!r}.")
    phi1, phi2 = band
    top = num_frames // 2 + 1 if num_frames is not None else None
    if not (is_int(phi1) and is_int(phi2)) or not 0 <= phi1 < phi2 or (top is not None and phi2 > top):
        limit = f" <= N/2 + 1 = {top} for N = {num_frames} frames" if top is not None else ""
        raise ValueError(f"`band` (phi1, phi2) must be integers with 0 <= phi1 < phi2{limit}, got {band!r}.")
    return phi1, phi2


def check_far_frames(far_frames) -> int:
    """D of the far-frame penalty must be an integer >= 1 (D = 0 would penalise every entry)."""
    return check_int(far_frames, "far_frames", minimum=1)


@dataclass(frozen=True)
class TiaraSettings:
    """TiARA parameters (defaults are our reading of the paper; a one-at-a-time sweep on the
    bundled ShapesWorld model found no better setting, see the README's TiARA section).

    Args:
        alpha: diagonal penalty strength (paper's range 5-7); 0 switches TiARA off exactly.
        window_length: DSTFT Blackman window length L (paper's range 7-9); must be <= the
            number of frames the temporal layer sees.
        band: (phi1, phi2) frequency band edges in DFT bins, or None for
            :func:`default_band` of the attention length.
        adaptive: adaptive penalty -alpha (1 - rho); False gives the static -alpha I.
        per_head: rho per attention head (True) or averaged over heads.
        step_range: (start, end) fractions of the denoising trajectory where TiARA acts,
            measured by noise level: active while start <= 1 - t / T <= end.
        far_frames: D of the far-frame penalty (:func:`~.tiara.tiara_attention`): pairs of
            frames more than D apart get the row's penalty too; None (default) leaves them alone.
    """

    alpha: float = 5.0
    window_length: int = DEFAULT_WINDOW_LENGTH
    band: tuple[int, int] | None = None
    adaptive: bool = True
    per_head: bool = True
    step_range: tuple[float, float] = (0.0, 1.0)
    far_frames: int | None = None

    def __post_init__(self):
        check_number(self.alpha, "alpha", minimum=0)
        check_window_length(self.window_length)
        if self.band is not None:
            object.__setattr__(self, "band", check_band(self.band))
        object.__setattr__(self, "step_range", check_step_range(self.step_range))
        if self.far_frames is not None:
            check_far_frames(self.far_frames)

    def check_frames(self, num_frames: int) -> None:
        """Raise if these settings cannot act on attention over ``num_frames`` frames."""
        if self.window_length > num_frames:
            raise ValueError(
                f"`window_length`={self.window_length} is larger than the {num_frames} frames the temporal "
                "attention sees (the context window); choose window_length <= that."
            )
        check_band(self.band or default_band(num_frames), num_frames)
