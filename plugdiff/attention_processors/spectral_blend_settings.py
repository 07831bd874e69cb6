"""FreeLong's SpectralBlend settings and their checks (no torch: the command line validates job files
with them before any model loads). The processor is in :mod:`.spectral_blend`."""

from __future__ import annotations

from dataclasses import dataclass

from ..argument_checks import check_int, check_number


@dataclass(frozen=True)
class SpectralBlendSettings:
    """SpectralBlend temporal attention (FreeLong, Lu et al., NeurIPS 2024, arXiv 2407.19918).

    Args:
        local_frames: L, frames each local attention window sees (the motion module's native
            length); None: the call's window length (16 by default in the pipeline). The layer
            acts only on sequences longer than L; shorter ones keep the model's own attention.
        local_stride: local windows start every ``local_stride`` frames and each frame attends
            within the window it is most central in; 1 is FreeLong's sliding window (each frame
            its own window, L times the temporal-attention work), larger strides cost
            about L / stride times.
        temporal_cutoff: d_t of the Gaussian low-pass filter exp(-(1/2) sum (2 nu / d)^2) over
            normalised frequencies nu (cycles per frame / pixel); the official code's 0.25.
            0 keeps only the local branch (no global information).
        spatial_cutoff: d_s of the same filter over the two spatial axes (0.25 in the official
            code); None filters over time only (a plain temporal low-pass).
    """

    local_frames: int | None = None
    local_stride: int = 4
    temporal_cutoff: float = 0.25
    spatial_cutoff: float | None = 0.25

    def __post_init__(self):
        check_int(self.local_frames, "local_frames", minimum=2, optional=True)
        check_int(self.local_stride, "local_stride", minimum=1)
        if self.local_frames is not None and self.local_stride > self.local_frames:
            raise ValueError(f"`local_stride`={self.local_stride} must not exceed `local_frames`={self.local_frames}.")
        check_number(self.temporal_cutoff, "temporal_cutoff", minimum=0)
        check_number(self.spatial_cutoff, "spatial_cutoff", minimum=0, optional=True)
