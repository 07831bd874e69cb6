"""Which long-video method (host) a call uses, and FIFO-Diffusion's settings (no torch: the command
line validates job files with them before any model loads).

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

import numbers
from dataclasses import dataclass, fields

from ...attention_processors.spectral_blend_settings import SpectralBlendSettings

HOSTS = ("windows", "fifo", "freelong")


@dataclass(frozen=True)
class FifoSettings:
    """FIFO-Diffusion (Kim et al., NeurIPS 2024, arXiv 2405.11473) parameters.

    The queue holds ``num_inference_steps`` frames, one per noise level; it is cut into
    n = num_inference_steps / ``window`` partitions of ``window`` frames (latent partitioning), each
    denoised by one model call per output frame. ``num_inference_steps`` must therefore be a
    multiple of ``window``.

    Args:
        window: frames per model call (f; the motion module's native length). None: the call's
            window length (``windows``' ``context_length``, 16 by default).
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
        if self.window is not None and (isinstance(self.window, bool) or not isinstance(self.window, numbers.Integral)
                                        or self.window < 2):
            raise ValueError(f"`window` must be None or an int >= 2, got {self.window!r}.")
        for name in ("lookahead", "keep_warmup"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"`{name}` must be True or False, got {getattr(self, name)!r}.")

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
        if long_video not in HOSTS:
            raise ValueError(f"`long_video` must be one of {', '.join(HOSTS)}; got {long_video!r}.")
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
