r"""FreeLong's SpectralBlend temporal attention (Lu, Liang, Zhu, Yang, "FreeLong: Training-Free Long
Video Generation with SpectralBlend Temporal Attention", NeurIPS 2024, arXiv 2407.19918), as a
diffusers attention processor for AnimateDiff's motion modules. Our reading of the paper and of
the authors' code (aniki-ly/FreeLong).

On a sequence of N frames longer than the model's window L, each temporal self-attention layer
computes

* a **global** branch: attention over all N frames, and
* a **local** branch: each frame attends only to the L frames of a window around it,

and keeps the low frequencies of the global branch and the high ones of the local branch:

.. math:: \mathrm{out} = \mathcal{F}^{-1}\big[P\,\mathcal{F}(g) + (1 - P)\,\mathcal{F}(l)\big]
          = l + \mathcal{F}^{-1}\big[P\,\mathcal{F}(g - l)\big],

with :math:`\mathcal{F}` the FFT over (time, height, width) and P the authors' Gaussian low-pass
:math:`P(\nu) = \exp(-\tfrac12 \sum_a (2\nu_a / d_a)^2)` (normalised frequencies :math:`\nu_a` in
cycles per frame / pixel; :math:`d_t` over time, :math:`d_s` over space, both 0.25 in their
code). The right-hand form is the one computed: one forward and one inverse transform, and
:math:`g = l` gives :math:`l` exactly.

Positions: AnimateDiff adds a sinusoidal position embedding (trained on windows of 16 frames,
at most 32 positions) to the input of every motion attention. Here each local window gets
positions 0..L-1, as a window of its native length; the global branch gets N positions spread
evenly over 0..L-1 (position interpolation). The block's own embedding step is bypassed (by hooks
on it) whenever the layer acts, so N may exceed the 32 positions. The local windows start every
``local_stride`` frames and each frame takes the output of the window it is most central in;
``local_stride=1`` is the authors' sliding window (their window spans L + 1 frames inside the
video and L at its ends; ours L everywhere).

Both branches are computed by the processor this one replaced (``fallback``), so TiARA installed
beneath it reweights the attention of every local window and of the global branch (both are put
on by :mod:`.install`'s mechanism, which keeps TiARA beneath in either order). A sequence of
at most L frames, cross-attention and masked calls go to ``fallback`` unchanged (bit-identical).
The authors' code leaves the highest-resolution layers local only (memory); here every temporal
layer blends.
"""

from __future__ import annotations

import functools
import math

import torch
from diffusers import UNetMotionModel

from .install import find_controller, install_processors, remove_processors, temporal_predicate
from .spectral_blend_settings import SpectralBlendSettings

NATIVE_FRAMES = 16
"""AnimateDiff's training length, the default local window."""


@functools.lru_cache(maxsize=64)
def local_windows(num_frames: int, length: int, stride: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(starts, owner): windows [s, s + length) every ``stride`` frames, plus one ending at the last
    frame if the stride does not land there; ``owner[i]`` is the index of the window frame i is
    most central in (the earlier one on ties)."""
    if num_frames <= length:
        return (0,), (0,) * num_frames
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    owner = []
    for i in range(num_frames):
        candidates = [(abs(i - (s + (length - 1) / 2)), k) for k, s in enumerate(starts) if s <= i < s + length]
        owner.append(min(candidates)[1])
    return tuple(starts), tuple(owner)


@functools.lru_cache(maxsize=64)
def _interpolated_positions(num_frames: int, length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(1, N, dim) sinusoidal embedding (diffusers' formula) at N positions spread evenly over
    [0, length - 1]."""
    position = torch.linspace(0, length - 1, num_frames, dtype=torch.float32)[:, None]
    div_term = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    pe = torch.zeros(1, num_frames, dim)
    pe[0, :, 0::2] = torch.sin(position * div_term)
    pe[0, :, 1::2] = torch.cos(position * div_term)
    return pe.to(device)


@functools.lru_cache(maxsize=64)
def lowpass_filter(shape: tuple[int, ...], temporal_cutoff: float, spatial_cutoff: float | None, device: torch.device):
    r"""The Gaussian low-pass :math:`\exp(-\frac12 \sum_a (2\nu_a / d_a)^2)` on the grid of
    ``torch.fft.rfftn`` over (H, W, N) (``shape`` = (H, W, N)), or of ``rfft`` over N
    (``shape`` = (N,), ``spatial_cutoff`` None); all zeros when a cutoff is 0 (as the authors')."""
    if temporal_cutoff == 0 or spatial_cutoff == 0:
        size = (*shape[:-1], shape[-1] // 2 + 1)
        return torch.zeros(size, device=device)
    exponent = (2 * torch.fft.rfftfreq(shape[-1], dtype=torch.float64) / temporal_cutoff) ** 2
    if len(shape) == 3:
        h = (2 * torch.fft.fftfreq(shape[0], dtype=torch.float64) / spatial_cutoff) ** 2
        w = (2 * torch.fft.fftfreq(shape[1], dtype=torch.float64) / spatial_cutoff) ** 2
        exponent = h[:, None, None] + w[None, :, None] + exponent[None, None, :]
    return torch.exp(-0.5 * exponent).to(device=device, dtype=torch.float32)


def blend_branches(
    global_out: torch.Tensor,
    local_out: torch.Tensor,
    settings: SpectralBlendSettings,
    spatial: tuple[int, int] | None = None,
) -> torch.Tensor:
    r""":math:`l + \mathcal{F}^{-1}[P\,\mathcal{F}(g - l)]`, the low frequencies of ``global_out``
    with the high ones of ``local_out``, in float32.

    Args:
        global_out, local_out: (B * H * W, N, C), rows batch-major then row-major pixels (the
            layout of diffusers' motion modules).
        settings: the cutoffs.
        spatial: (H, W); needed unless ``settings.spatial_cutoff`` is None (time only).
    """
    diff = global_out.float() - local_out.float()
    rows, frames, channels = diff.shape
    if settings.spatial_cutoff is None:
        filt = lowpass_filter((frames,), settings.temporal_cutoff, None, diff.device)
        low = torch.fft.irfft(torch.fft.rfft(diff, dim=1) * filt[:, None], n=frames, dim=1)
    else:
        if spatial is None or rows % (spatial[0] * spatial[1]):
            raise ValueError(
                f"SpectralBlend over space needs the layer's (height, width) dividing its {rows} rows, got {spatial}."
            )
        h, w = spatial
        grid = diff.reshape(rows // (h * w), h, w, frames, channels)
        filt = lowpass_filter((h, w, frames), settings.temporal_cutoff, settings.spatial_cutoff, diff.device)
        low = torch.fft.irfftn(torch.fft.rfftn(grid, dim=(1, 2, 3)) * filt[..., None], s=(h, w, frames), dim=(1, 2, 3))
        low = low.reshape(rows, frames, channels)
    return local_out + low.to(local_out.dtype)


class SpectralBlendController:
    """SpectralBlend's state on one UNet: settings (``local_frames`` resolved) and the (H, W) of
    the motion module running now (set by pre-hooks on the motion modules)."""

    def __init__(self, settings: SpectralBlendSettings):
        self.settings = settings
        self.spatial: tuple[int, int] | None = None
        self._deferred: list = []

    def acts(self, num_frames: int) -> bool:
        """Whether a temporal layer over ``num_frames`` frames blends (longer than the window)."""
        return num_frames > self.settings.local_frames

    # hooks ------------------------------------------------------------------
    def record_spatial(self, module, args, kwargs):
        """Pre-hook on a motion module: record the (H, W) of its input (B * F, C, H, W)."""
        hidden_states = args[0] if args else kwargs["hidden_states"]
        self.spatial = tuple(hidden_states.shape[-2:])

    def defer_positions(self, module, args):
        """Pre-hook on a block's position embedding: when the layer will blend, the processor adds
        the positions itself, so the embedding is skipped (run on an empty sequence)."""
        x = args[0]
        if not self.acts(x.shape[1]):
            return None
        self._deferred.append(x)
        return (x[:, :0],)

    def restore_input(self, module, args, output):
        """Hook after a block's position embedding: hand back the input it skipped."""
        if args[0].shape[1] == 0 and self._deferred:
            return self._deferred.pop()
        return None


class SpectralBlendAttnProcessor:
    """diffusers temporal-attention processor: FreeLong's SpectralBlend (see the module docstring).

    Args:
        settings: :class:`SpectralBlendSettings` with ``local_frames`` set.
        fallback: the processor this one replaced; it computes every attention (both branches).
        controller: the :class:`SpectralBlendController` of the UNet.
        positions: the block's ``SinusoidalPositionalEmbedding`` (its ``pe`` table), or None when
            the block has none.
    """

    #: This processor computes attention through ``fallback``: processors that change the
    #: attention itself (TiARA) are installed beneath it.
    wraps_attention = True

    def __init__(self, settings: SpectralBlendSettings, fallback, controller: SpectralBlendController, positions=None):
        self.settings = settings
        self.fallback = fallback
        self.controller = controller
        self.positions = positions

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs
    ):
        if hidden_states.ndim != 3 or not self.controller.acts(hidden_states.shape[1]):
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("SpectralBlend acts on temporal self-attention without a mask.")
        call = lambda x: self.fallback(attn, x, None, None, temb, *args, **kwargs)  # noqa: E731
        return blend_branches(
            self.global_attention(hidden_states, call),
            self.local_attention(hidden_states, call),
            self.settings,
            None if self.settings.spatial_cutoff is None else self.controller.spatial,
        )

    def local_attention(self, hidden_states: torch.Tensor, call) -> torch.Tensor:
        """Each frame's output from the L-frame window it is most central in, every window with
        positions 0..L-1."""
        s = self.settings
        frames = hidden_states.shape[1]
        starts, owner = local_windows(frames, s.local_frames, s.local_stride)
        out = None
        for k, start in enumerate(starts):
            mine = [i for i in range(frames) if owner[i] == k]
            if not mine:
                continue
            window = hidden_states[:, start : start + s.local_frames]
            if self.positions is not None:
                window = window + self.positions.pe[:, : s.local_frames].to(window.dtype)
            result = call(window)
            if out is None:
                out = result.new_empty(hidden_states.shape[0], frames, result.shape[-1])
            out[:, mine] = result[:, [i - start for i in mine]]
        return out

    def global_attention(self, hidden_states: torch.Tensor, call) -> torch.Tensor:
        """Attention over all frames, positions spread evenly over the window's 0..L-1."""
        if self.positions is not None:
            pe = _interpolated_positions(
                hidden_states.shape[1], self.settings.local_frames, hidden_states.shape[-1], hidden_states.device
            )
            hidden_states = hidden_states + pe.to(hidden_states.dtype)
        return call(hidden_states)


def enable_spectral_blend(
    pipe_or_unet, settings: SpectralBlendSettings | None = None, **params
) -> SpectralBlendController:
    """Install SpectralBlend on the temporal attention of AnimateDiff's UNet (a pipeline's
    ``.unet`` or the ``UNetMotionModel``), on top of whatever processors are there (TiARA's
    included, which then reweights both branches). Calling it again replaces the settings;
    :func:`disable_spectral_blend` restores the processors. Processors replaced after this call
    are wrapped again at the next UNet call (see
    :class:`~plugdiff.attention_processors.install.ProcessorInstallation`).

    Args:
        pipe_or_unet: a pipeline with ``.unet`` or the UNet.
        settings: a :class:`SpectralBlendSettings`, or its fields as keyword arguments;
            ``local_frames`` None means 16.
    """
    if settings is not None and params:
        raise ValueError("pass either `settings` or SpectralBlend keyword arguments, not both.")
    settings = settings if settings is not None else SpectralBlendSettings(**params)
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    is_temporal = temporal_predicate(unet, "SpectralBlend")
    if not isinstance(unet, UNetMotionModel):
        raise TypeError(f"SpectralBlend is implemented for AnimateDiff's UNetMotionModel, got {type(unet).__name__}.")
    if settings.local_frames is None:
        settings = SpectralBlendSettings(
            NATIVE_FRAMES, min(settings.local_stride, NATIVE_FRAMES), settings.temporal_cutoff, settings.spatial_cutoff
        )
    modules, blocks = {}, {}
    for name in unet.attn_processors:
        if is_temporal(name):
            block_path = name.rsplit(".", 2)[0]  # "<motion module>.transformer_blocks.<k>"
            modules.setdefault(block_path.split(".transformer_blocks.")[0], None)
            blocks.setdefault(block_path, unet.get_submodule(block_path))
    tables = [block.pos_embed for block in blocks.values() if getattr(block, "pos_embed", None) is not None]
    for positions in tables:
        if settings.local_frames > positions.pe.shape[1]:
            raise ValueError(
                f"`local_frames`={settings.local_frames} exceeds the {positions.pe.shape[1]} positions the motion "
                "modules know."
            )
    controller = SpectralBlendController(settings)

    def make(name, inner):
        block = unet.get_submodule(name.rsplit(".", 2)[0])
        return SpectralBlendAttnProcessor(settings, inner, controller, getattr(block, "pos_embed", None))

    hooks = [
        functools.partial(
            unet.get_submodule(path).register_forward_pre_hook, controller.record_spatial, with_kwargs=True
        )
        for path in modules
    ]
    for positions in tables:
        hooks += [
            functools.partial(positions.register_forward_pre_hook, controller.defer_positions),
            functools.partial(positions.register_forward_hook, controller.restore_input),
        ]
    install_processors(unet, "SpectralBlend", controller, is_temporal, make, hooks=hooks)
    return controller


def disable_spectral_blend(pipe_or_unet) -> None:
    """Take SpectralBlend off: each processor it installed is replaced by the one it wraps (TiARA's
    stays, where it sits beneath); a no-op where it is not installed."""
    remove_processors(pipe_or_unet, "SpectralBlend")


def spectral_blend_controller(pipe_or_unet) -> SpectralBlendController | None:
    """The controller installed on this UNet, if any."""
    return find_controller(pipe_or_unet, "SpectralBlend")
