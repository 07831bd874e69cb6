"""TiARA: time-frequency based temporal attention reweighting (Li et al., arXiv 2412.17254).

Plain tensor functions (``tiara_rho``, ``tiara_attention``), the diffusers attention processor
that applies them to temporal self-attention, and :func:`enable_tiara` / :func:`disable_tiara`,
which install it on video UNets (by :mod:`.install`'s mechanism); the settings
(:class:`TiaraSettings`) live in :mod:`.tiara_settings`, which needs no torch, and are re-exported
here.
"""

from __future__ import annotations

import functools
import math

import torch

from .install import find_controller, install_processors, remove_processors, temporal_predicate, unet_and_timesteps
from .steps import in_step_range, scalar_timestep
from .tiara_settings import (  # also re-exported: the settings stay importable from this module
    DEFAULT_WINDOW_LENGTH,
    TiaraSettings,
    check_band,
    check_far_frames,
    check_window_length,
    default_band,
)


def circulant_window(num_frames: int, window_length: int, device=None) -> torch.Tensor:
    """W[i, n] = psi[(n - i) mod N]: a symmetric Blackman window of length L (numpy's
    ``blackman(L)``, zero at both ends) centred on frame i, wrapping around (periodic padding);
    offsets -L//2 .. L-1-L//2, zero elsewhere. (N, N)."""
    check_window_length(window_length)
    if window_length > num_frames:
        raise ValueError(f"`window_length`={window_length} exceeds the attention length N={num_frames}.")
    psi = (
        torch.blackman_window(window_length, periodic=False, dtype=torch.float64)
        if window_length > 1
        else torch.ones(1, dtype=torch.float64)
    )
    offsets = torch.arange(window_length) - window_length // 2
    row = torch.zeros(num_frames, dtype=torch.float64)
    row[offsets % num_frames] = psi
    idx = (torch.arange(num_frames)[None, :] - torch.arange(num_frames)[:, None]) % num_frames
    return row[idx].to(device=device, dtype=torch.float32)


@functools.lru_cache(maxsize=64)
def _far_frame_mask(num_frames: int, far_frames: int, device: torch.device) -> torch.Tensor:
    """(N, N) bool: the diagonal and every pair of frames more than ``far_frames`` apart."""
    offset = (torch.arange(num_frames)[None, :] - torch.arange(num_frames)[:, None]).abs()
    return ((offset == 0) | (offset > far_frames)).to(device)


@functools.lru_cache(maxsize=64)
def _analysis_tables(num_frames: int, window_length: int, band: tuple[int, int], device: torch.device):
    """Cached tables for :func:`tiara_rho`: the circulant window (N, N); the [cos | sin] DFT
    table of bins k < phi2, (N, 2 phi2); and a (2 phi2, 2) matrix whose columns sum the power
    over all those bins and over the band phi1 <= k < phi2."""
    phi1, phi2 = band
    n = torch.arange(num_frames, dtype=torch.float64)[:, None]
    angle = 2 * math.pi * n * torch.arange(phi2, dtype=torch.float64)[None, :] / num_frames
    dft = torch.cat([angle.cos(), angle.sin()], dim=1)
    in_band = (torch.arange(phi2) >= phi1).to(torch.float64).repeat(2)
    sums = torch.stack([torch.ones(2 * phi2, dtype=torch.float64), in_band], dim=1)
    as32 = dict(device=device, dtype=torch.float32)
    return circulant_window(num_frames, window_length, device), dft.to(**as32), sums.to(**as32)


def tiara_rho(attn_probs: torch.Tensor, window_length: int, band: tuple[int, int]) -> torch.Tensor:
    r"""Per-row motion ratio of a frames-by-frames attention matrix, by discrete short-time
    Fourier transform.

    For row i, :math:`X_k = \mathrm{DFT}_N(A[i,:]\,W[i,:])` with W the circulant Blackman window
    (:func:`circulant_window`), and

    .. math:: \rho_i = \frac{\sum_{\phi_1 \le k < \phi_2} |X_k|^2}{\sum_{0 \le k < \phi_2} |X_k|^2},

    bins at or above :math:`\phi_2` ("abnormal" motion) left out of both sums. Equal to the
    DSTFT of row i with periodic padding of floor(L/2) (the window only shifts the phase). Only
    the bins k < phi2 are computed, as one real matmul against cached cos / sin tables.

    Args:
        attn_probs: (..., N, N) attention probabilities (rows sum to 1), any float dtype.
        window_length: L, 1 or 3 <= L <= N.
        band: (phi1, phi2), 0 <= phi1 < phi2 <= N/2 + 1.

    Returns:
        rho, float32, shape (..., N), in [0, 1].
    """
    N = attn_probs.shape[-1]
    window, dft, sums = _analysis_tables(N, window_length, check_band(band, N), attn_probs.device)
    power_sums = ((attn_probs.float() * window) @ dft).square() @ sums  # (..., N, 2): total, band
    return power_sums[..., 1] / power_sums[..., 0].clamp_min(torch.finfo(torch.float32).tiny)


def tiara_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    *,
    scale: float,
    alpha: float,
    window_length: int = DEFAULT_WINDOW_LENGTH,
    band: tuple[int, int] | None = None,
    adaptive: bool = True,
    per_head: bool = True,
    far_frames: int | None = None,
) -> torch.Tensor:
    r"""Temporal self-attention with TiARA's diagonal reweighting, computed in float32.

    .. math::
        S = \mathrm{scale}\; Q K^\top,\quad A = \mathrm{softmax}(S),\quad
        \Lambda = \mathrm{diag}(-\alpha (1 - \rho(A))),\quad
        \mathrm{out} = \mathrm{softmax}(S + \Lambda)\, V

    (static variant, ``adaptive=False``: :math:`\Lambda = -\alpha I`). ``alpha = 0`` is plain
    attention.

    Far-frame penalty (``far_frames`` = D, off when None): row i's penalty
    :math:`-\alpha(1-\rho_i)` is also added to the logits of every frame j with
    :math:`|i - j| > D`, the lower-left and upper-right corners of the matrix, cutting attention
    between distant frames. The paper's summary names the corners but neither D nor the
    magnitude; using the row's own diagonal penalty is our reading. D >= N - 1 changes nothing.

    Args:
        query, key, value: (B, heads, N, head_dim) with N the number of frames.
        scale: logit scale (``attn.scale``).
        alpha: penalty strength >= 0.
        window_length: DSTFT window length L (capped at N).
        band: (phi1, phi2); None for :func:`default_band` of N.
        adaptive: use rho (True) or the static penalty.
        per_head: rho per head (True) or averaged over heads.
        far_frames: D of the far-frame penalty, or None (off).

    Returns:
        (B, heads, N, head_dim) in value's dtype.
    """
    if alpha < 0:
        raise ValueError(f"`alpha` must be >= 0, got {alpha}.")
    if far_frames is not None:
        check_far_frames(far_frames)
    probs = torch.matmul(query.float() * scale, key.float().transpose(-1, -2)).softmax(-1)
    if alpha > 0:
        if adaptive:
            N = probs.shape[-1]
            rho = tiara_rho(probs, min(window_length, N), band or default_band(N))
            if not per_head:
                rho = rho.mean(dim=1, keepdim=True).expand_as(rho)
            shrink = torch.exp(rho * alpha - alpha)  # exp(-alpha (1 - rho))
        else:
            shrink = torch.full(probs.shape[:-1], math.exp(-alpha), device=probs.device)
        # softmax(S + Lambda) without a second softmax: each penalised entry of row i is scaled
        # by shrink_i = exp(-alpha (1 - rho_i)), and the row is renormalised.
        N = probs.shape[-1]
        if far_frames is None or far_frames >= N - 1:
            diagonal = probs.diagonal(dim1=-2, dim2=-1)
            row_sums = torch.addcmul(torch.ones_like(shrink), diagonal, shrink - 1.0)
            diagonal.mul_(shrink)
        else:
            penalised = _far_frame_mask(N, far_frames, probs.device)
            row_sums = 1.0 + (probs * penalised).sum(-1) * (shrink - 1.0)
            probs = probs * torch.where(penalised, shrink.unsqueeze(-1), 1.0)
        probs = probs / row_sums.unsqueeze(-1)
    return torch.matmul(probs, value.float()).to(value.dtype)


class TiaraAttnProcessor:
    r"""diffusers attention processor: temporal self-attention with TiARA reweighting.

    Equation and source: see :func:`tiara_attention` (Li et al., "Enhancing Long Video
    Generation Consistency without Tuning", arXiv 2412.17254; our reading, see the notes).
    Install it only on temporal layers (use :func:`plugdiff.attention_processors.enable_tiara`).

    The reweighting is computed explicitly in float32 (N is small). Whenever TiARA does not act
    (alpha = 0, outside ``step_range``, cross-attention, or an attention mask) the call is
    handed to ``fallback``, the processor it replaced, so the output is then bit-identical to
    the unmodified model.

    Args:
        settings: :class:`TiaraSettings`.
        fallback: the processor this one replaced (e.g. ``AttnProcessor2_0``).
        controller: object with ``is_active(settings) -> bool`` for the current denoising step
            (set by ``enable_tiara``); None means always active.
    """

    def __init__(self, settings: TiaraSettings, fallback, controller=None):
        self.settings = settings
        self.fallback = fallback
        self.controller = controller

    def _acts(self, encoder_hidden_states, attention_mask) -> bool:
        if self.settings.alpha == 0 or encoder_hidden_states is not None or attention_mask is not None:
            return False
        return self.controller is None or self.controller.is_active(self.settings)

    def __call__(
        self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs
    ):
        if not self._acts(encoder_hidden_states, attention_mask):
            return self.fallback(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channel, height * width).transpose(1, 2)
        batch = hidden_states.shape[0]
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        head_dim = key.shape[-1] // attn.heads
        query, key, value = (t.view(batch, -1, attn.heads, head_dim).transpose(1, 2) for t in (query, key, value))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        self.settings.check_frames(query.shape[2])
        s = self.settings
        out = tiara_attention(
            query,
            key,
            value,
            scale=attn.scale,
            alpha=s.alpha,
            window_length=s.window_length,
            band=s.band,
            adaptive=s.adaptive,
            per_head=s.per_head,
            far_frames=s.far_frames,
        )
        out = out.transpose(1, 2).reshape(batch, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channel, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


class TiaraController:
    """TiARA's state on one UNet: its settings and the current denoising step, which the
    processors consult. The step comes from each UNet call's ``timestep`` (:meth:`observe_call`,
    run by the installation's pre-hook: motion modules receive no ``cross_attention_kwargs``).
    Returned by :func:`enable_tiara`; use that and :func:`disable_tiara` rather than this class.

    Args:
        settings: the :class:`TiaraSettings` installed.
        num_train_timesteps: T for ``settings.step_range``.
    """

    def __init__(self, settings: TiaraSettings, num_train_timesteps: int):
        self.settings = settings
        self.num_train_timesteps = num_train_timesteps
        self.timestep: float | None = None

    def observe_call(self, args, kwargs) -> None:
        """Record the ``timestep`` of a UNet call (its second positional argument or keyword)."""
        timestep = kwargs.get("timestep", args[1] if len(args) > 1 else None)
        if timestep is not None:
            self.timestep = scalar_timestep(timestep)

    def is_active(self, settings: TiaraSettings) -> bool:
        """Whether the current denoising step lies in ``settings.step_range``."""
        return in_step_range(self.timestep, self.num_train_timesteps, settings.step_range)


def enable_tiara(
    pipe_or_unet, settings: TiaraSettings | None = None, *, num_train_timesteps: int | None = None, **params
) -> TiaraController:
    """Install TiARA on the temporal attention layers of a pipeline's UNet (or of a UNet).

    Spatial and cross-attention layers keep their processors (SDPA, xformers, ...). TiARA's
    processors go beneath SpectralBlend's where those are installed, so that it reweights the
    attention they compute, and are put back at the next UNet call when something replaces them
    (see :class:`~plugdiff.attention_processors.install.ProcessorInstallation`). Calling it again
    replaces the settings; :func:`disable_tiara` restores exactly the processors that were there
    before.

    Args:
        pipe_or_unet: a pipeline with ``.unet`` (AnimateDiff / text-to-video) or the UNet itself
            (``UNetMotionModel`` or ``UNet3DConditionModel``).
        settings: a :class:`TiaraSettings`, or pass its fields as keyword arguments (``alpha``,
            ``window_length``, ``band``, ``adaptive``, ``per_head``, ``step_range``,
            ``far_frames``; those left out take :class:`TiaraSettings`' defaults).
        num_train_timesteps: T for ``step_range``; default: the pipeline scheduler's, else 1000.

    Returns:
        The :class:`TiaraController` attached to the UNet.
    """
    if settings is not None and params:
        raise ValueError("pass either `settings` or TiARA keyword arguments, not both.")
    settings = settings if settings is not None else TiaraSettings(**params)
    unet, num_train_timesteps = unet_and_timesteps(pipe_or_unet, num_train_timesteps)
    is_temporal = temporal_predicate(unet)  # type check before touching anything
    controller = TiaraController(settings, num_train_timesteps)
    install_processors(
        unet,
        "TiARA",
        controller,
        is_temporal,
        lambda name, inner: TiaraAttnProcessor(settings, inner, controller=controller),
        beneath_wrappers=True,
        on_call=controller.observe_call,
    )
    return controller


def disable_tiara(pipe_or_unet) -> None:
    """Take TiARA off (restoring the replaced processors); a no-op where it is not installed."""
    remove_processors(pipe_or_unet, "TiARA")


def tiara_controller(pipe_or_unet) -> TiaraController | None:
    """The controller installed on this UNet, if any."""
    return find_controller(pipe_or_unet, "TiARA")
