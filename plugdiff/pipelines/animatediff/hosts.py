"""Which long-video method (host) a call uses, and the settings of window denoising and of
FIFO-Diffusion (no torch: the command line reads their defaults and validates job files with them
before any model loads). FreeLong's are :class:`~plugdiff.attention_processors.SpectralBlendSettings`.

Hosts:

- ``"windows"`` (default): window denoising (FreeNoise) over the whole video at every step
  (:mod:`.windows`), or diffusers' FreeNoise when ``enable_free_noise`` is on.
- ``"fifo"``: FIFO-Diffusion's diagonal denoising (:mod:`.fifo`): a queue of frames at increasing
  noise levels, one frame out per model call round; memory flat in the number of frames.
- ``"freelong"``: FreeLong's SpectralBlend temporal attention
  (:mod:`plugdiff.attention_processors.spectral_blend`): the UNet sees every frame at once; global
  and local temporal attention are blended in the frequency domain. Memory grows with frames.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from ...argument_checks import check_bool, check_choice, check_int
from ...attention_processors.spectral_blend_settings import SpectralBlendSettings

HOSTS = ("windows", "fifo", "freelong")
WEIGHTINGS = ("pyramid", "flat")
NOISE_REUSE = ("shuffle", "random")


@dataclass(frozen=True)
class WindowSettings:
    """Window denoising parameters.

    Args:
        context_length: frames per window (the motion module's native window).
        context_stride: frames between window starts (1 <= stride <= context_length).
        weighting: "pyramid" (1, 2, ..., 2, 1: window centres count most) or "flat".
        noise_reuse: "shuffle" (FreeNoise noise rescheduling) or "random" (fresh noise).
    """

    context_length: int = 16
    context_stride: int = 4
    weighting: str = "pyramid"
    noise_reuse: str = "shuffle"

    def __post_init__(self):
        check_int(self.context_length, "context_length", minimum=1)
        check_int(self.context_stride, "context_stride", minimum=1)
        if self.context_stride > self.context_length:
            raise ValueError(
                f"`context_stride`={self.context_stride} must not exceed `context_length`={self.context_length}."
            )
        check_choice(self.weighting, "weighting", WEIGHTINGS)
        check_choice(self.noise_reuse, "noise_reuse", NOISE_REUSE)


@dataclass(frozen=True)
class FifoSettings:
    """FIFO-Diffusion (Kim et al., NeurIPS 2024, arXiv 2405.11473) parameters.

    The queue holds ``num_inference_steps`` frames, one per noise level; it is cut into
    n = num_inference_steps / ``window`` partitions of ``window`` frames (latent partitioning), each
    denoised by one model call per output frame. ``num_inference_steps`` must therefore be a
    multiple of ``window``.

    Args:
        window: frames per model call (f; the motion module's native length). None: the call's
            window length (``windows``' ``context_length``, else :class:`WindowSettings`' default).
        lookahead: lookahead denoising: windows overlap by half, each keeps only its later half,
            and ``window // 2`` clean frames sit in front of the queue (about 2x the model calls;
            ``window`` must be even).
        keep_warmup: keep the num_inference_steps - window frames the first queue emits before
            the start clip's own frames (re-noised copies of the clip's first frame: a still
            start), as the authors' code does; False (default) drops them, at the cost of
            denoising them.
    """

    window: int | None = None
    lookahead: bool = True
    keep_warmup: bool = False

    def __post_init__(self):
        check_int(self.window, "window", minimum=2, optional=True)
        check_bool(self.lookahead, "lookahead")
        check_bool(self.keep_warmup, "keep_warmup")

    def partitions(self, num_inference_steps: int, window: int) -> int:
        """n = num_inference_steps / window; raises naming both when it is not a whole number."""
        if self.lookahead and window % 2:
            raise ValueError(f"FIFO lookahead denoising needs an even window, got window={window}.")
        if num_inference_steps % window:
            below = max(window, num_inference_steps - num_inference_steps % window)
            raise ValueError(
                f"FIFO-Diffusion takes partitions x window denoising steps: {num_inference_steps} steps is not a "
                f"multiple of window={window}; use {below} or {below + window} steps."
            )
        return num_inference_steps // window


def resolve_host(long_video) -> tuple[str, FifoSettings | SpectralBlendSettings | None]:
    """(host name, its settings or None) from the pipeline's ``long_video`` argument: None, a host
    name, a :class:`FifoSettings` or :class:`SpectralBlendSettings`, or a dict with ``"host"`` and
    the fields of that host's settings."""
    if long_video is None:
        return "windows", None
    if isinstance(long_video, FifoSettings):
        return "fifo", long_video
    if isinstance(long_video, SpectralBlendSettings):
        return "freelong", long_video
    if isinstance(long_video, str):
        check_choice(long_video, "long_video", HOSTS)
        return long_video, {"fifo": FifoSettings(), "freelong": SpectralBlendSettings()}.get(long_video)
    if isinstance(long_video, dict):
        options = dict(long_video)
        host = options.pop("host", None)
        settings_class = {"fifo": FifoSettings, "freelong": SpectralBlendSettings}.get(host)
        if host == "windows" and not options:
            return "windows", None
        if settings_class is None:
            raise ValueError(
                "a `long_video` dict needs \"host\": \"fifo\" or \"freelong\" (and that host's settings); "
                f"got {long_video!r}."
            )
        unknown = sorted(set(options) - {f.name for f in fields(settings_class)})
        if unknown:
            allowed = [f.name for f in fields(settings_class)]
            raise ValueError(f"`long_video` has unknown {host} settings {unknown}; allowed: {allowed}.")
        return host, settings_class(**options)
    raise TypeError(
        f"`long_video` must be None, one of {', '.join(HOSTS)}, a FifoSettings, a SpectralBlendSettings or a "
        f"dict; got {type(long_video).__name__}."
    )
