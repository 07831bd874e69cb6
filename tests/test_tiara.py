"""TiARA: the DSTFT motion ratio, the reweighted attention, and its installation on video UNets."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import UNetMotionModel
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from plugdiff.attention_processors import (
    TiaraAttnProcessor,
    TiaraSettings,
    disable_tiara,
    enable_tiara,
    temporal_processor_names,
    tiara_attention,
    tiara_controller,
    tiara_rho,
)
from plugdiff.testing import motion_unet, unet2d_condition
from plugdiff.testing import tiny_unet3d as unet3d


def naive_rho(A: np.ndarray, L: int, band) -> np.ndarray:
    """Row-by-row DSTFT with periodic padding: frame centred on i, Blackman(L), N-point DFT."""
    N = A.shape[-1]
    p = L // 2
    window = np.blackman(L) if L > 1 else np.ones(1)
    phi1, phi2 = band
    rho = np.empty(N)
    for i in range(N):
        padded = np.concatenate([A[i, N - p :], A[i], A[i, :p]]) if p else A[i]
        segment = padded[i : i + L] * window
        power = np.abs(np.fft.fft(segment, n=N)) ** 2
        rho[i] = power[phi1:phi2].sum() / power[:phi2].sum()
    return rho


@pytest.mark.parametrize(
    "N, L", [(5, 1), (5, 3), (8, 3), (8, 4), (8, 7), (16, 7), (16, 8), (16, 9), (17, 9), (17, 16), (24, 24)]
)
def test_vectorised_rho_equals_naive_dstft(N, L):
    g = torch.Generator().manual_seed(N * 100 + L)
    logits = 3 * torch.randn(3, N, N, generator=g, dtype=torch.float64)
    A = logits.softmax(-1)
    for band in [(1, N // 2 + 1), (0, 2), (max(1, N // 8), N // 4 + 1)]:
        fast = tiara_rho(A, L, band)
        for b in range(3):
            np.testing.assert_allclose(fast[b].numpy(), naive_rho(A[b].numpy(), L, band), rtol=2e-5, atol=1e-6)


def test_rho_extremes():
    """A spike on the diagonal has a flat spectrum: rho = (phi2 - phi1) / phi2 exactly. Uniform
    attention leaves only the window's own spectrum, which is low-pass: a smaller, row-independent
    rho (Blackman(7) in a 16-point DFT spreads over ~7 bins, hence 0.33, not 0)."""
    N, L, band = 16, 7, (2, 5)
    spike = tiara_rho(torch.eye(N), L, band)
    assert torch.allclose(spike, torch.full((N,), 3 / 5))
    uniform = tiara_rho(torch.full((N, N), 1 / N), L, band)
    assert torch.allclose(uniform, uniform[0].expand(N)) and 0 < float(uniform[0]) < 0.6 * 3 / 5


def qkv(batch=6, heads=2, N=16, dim=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, heads, N, dim, generator=g) for _ in range(3)]


def test_alpha_zero_is_plain_attention():
    q, k, v = qkv()
    out = tiara_attention(q, k, v, scale=8**-0.5, alpha=0.0)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6)


@pytest.mark.parametrize("adaptive", [True, False])
def test_penalty_lowers_the_diagonal(adaptive):
    q, k, _ = qkv(N=16, dim=16)
    identity = torch.eye(16).expand(6, 2, 16, 16)  # value = I makes the output the attention matrix
    plain = tiara_attention(q, k, identity, scale=0.25, alpha=0.0)
    reweighted = tiara_attention(q, k, identity, scale=0.25, alpha=5.0, adaptive=adaptive)
    assert torch.allclose(reweighted.sum(-1), torch.ones(6, 2, 16), atol=1e-5)
    diag = lambda P: P.diagonal(dim1=-2, dim2=-1).mean()
    assert diag(reweighted) < 0.5 * diag(plain)


def test_static_penalty_is_exact_and_head_averaging_shares_rho():
    q, k, v = qkv(N=8, dim=8)
    scale, alpha = 8**-0.5, 2.0
    logits = (q @ k.transpose(-1, -2)) * scale - alpha * torch.eye(8)
    assert torch.allclose(
        tiara_attention(q, k, v, scale=scale, alpha=alpha, adaptive=False), logits.softmax(-1) @ v, atol=1e-6
    )
    # head-averaged rho: the same penalty on every head, so swapping heads' keys only permutes
    out = tiara_attention(q, k, v, scale=scale, alpha=alpha, per_head=False)
    swapped = tiara_attention(q.flip(1), k.flip(1), v.flip(1), scale=scale, alpha=alpha, per_head=False)
    assert torch.allclose(out, swapped.flip(1), atol=1e-6)
    assert not torch.allclose(out, tiara_attention(q, k, v, scale=scale, alpha=alpha, per_head=True))


@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("far", [1, 3, 6])
def test_far_frame_penalty_equals_softmax_of_penalised_logits(adaptive, far):
    """Naive reference: Lambda[i, j] = -alpha (1 - rho_i) on the diagonal and wherever
    |i - j| > D, then one softmax of S + Lambda."""
    q, k, v = qkv(N=8, dim=8, seed=far)
    scale, alpha, L, band = 8**-0.5, 3.0, 5, (1, 3)
    S = (q @ k.transpose(-1, -2)) * scale
    rho = tiara_rho(S.softmax(-1), L, band) if adaptive else torch.zeros(S.shape[:-1])
    offset = (torch.arange(8)[None, :] - torch.arange(8)[:, None]).abs()
    penalised = (offset == 0) | (offset > far)
    logits = S - alpha * (1 - rho).unsqueeze(-1) * penalised
    out = tiara_attention(
        q, k, v, scale=scale, alpha=alpha, window_length=L, band=band, adaptive=adaptive, far_frames=far
    )
    assert torch.allclose(out, logits.softmax(-1) @ v, atol=1e-5)


def test_far_frame_penalty_beyond_the_window_changes_nothing():
    q, k, v = qkv(N=8, dim=8)
    diagonal_only = tiara_attention(q, k, v, scale=0.35, alpha=5.0)
    assert torch.equal(tiara_attention(q, k, v, scale=0.35, alpha=5.0, far_frames=7), diagonal_only)
    assert not torch.allclose(tiara_attention(q, k, v, scale=0.35, alpha=5.0, far_frames=4), diagonal_only)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="far_frames"):
            TiaraSettings(far_frames=bad)


def test_half_precision_inputs_are_computed_in_float32():
    q, k, v = qkv()
    ref = tiara_attention(q, k, v, scale=0.35, alpha=5.0)
    half = tiara_attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), scale=0.35, alpha=5.0)
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), ref, atol=3e-2)


# ---------------------------------------------------------------------- on real (tiny) UNets
def run(unet, frames=8, t=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 4, frames, 16, 16, generator=g)
    context = torch.randn(1, 77, 32, generator=g)
    if isinstance(unet, UNetMotionModel):
        context = context.repeat_interleave(frames, dim=0)
    with torch.no_grad():
        return unet(sample, t, encoder_hidden_states=context).sample


@pytest.mark.parametrize("make", [motion_unet, unet3d], ids=["UNetMotionModel", "UNet3DConditionModel"])
def test_tiara_on_video_unets(make):
    unet = make()
    before = dict(unet.attn_processors)
    temporal = set(temporal_processor_names(unet))
    assert temporal and len(temporal) < len(before)
    stock = run(unet)

    enable_tiara(unet, alpha=0.0)  # exact identity: processors hand off to what they replaced
    assert torch.equal(run(unet), stock)

    enable_tiara(unet, alpha=1e-9, window_length=3)  # explicit float32 path, negligible penalty
    # float32 rounding of a different summation order: about 1e-6 on outputs of size ~1.5, thread-count dependent
    assert torch.allclose(run(unet), stock, atol=1e-5)

    enable_tiara(unet, alpha=5.0, window_length=3)
    procs = unet.attn_processors
    assert all(isinstance(procs[n], TiaraAttnProcessor) for n in temporal)
    assert all(procs[n] is before[n] for n in before if n not in temporal)  # spatial untouched
    assert not torch.allclose(run(unet), stock, atol=1e-4)

    disable_tiara(unet)
    assert all(unet.attn_processors[n] is before[n] for n in before)
    assert tiara_controller(unet) is None
    assert torch.equal(run(unet), stock)


def test_step_range_follows_the_timestep():
    unet = motion_unet()
    stock_early, stock_late = run(unet, t=950), run(unet, t=100)
    enable_tiara(unet, alpha=5.0, window_length=3, step_range=(0.5, 1.0))  # second half of denoising
    assert torch.equal(run(unet, t=950), stock_early)  # progress 0.05: off
    assert not torch.allclose(run(unet, t=100), stock_late, atol=1e-4)  # progress 0.9: on


def test_replaced_processors_are_retaken_and_restored():
    """Whatever replaces the temporal processors after enable_tiara (diffusers' FreeNoise,
    enable_xformers_memory_efficient_attention, set_attn_processor), TiARA is back on at the
    next forward, and disable restores the newer processors."""
    unet = motion_unet()
    enable_tiara(unet, alpha=5.0, window_length=3)
    tiara_out = run(unet)
    unet.set_attn_processor(AttnProcessor())
    replaced = dict(unet.attn_processors)
    assert torch.allclose(run(unet), tiara_out, atol=1e-5)  # re-installed on top of AttnProcessor
    assert isinstance(unet.attn_processors[temporal_processor_names(unet)[0]], TiaraAttnProcessor)
    disable_tiara(unet)
    assert all(unet.attn_processors[n] is replaced[n] for n in replaced)


def test_settings_and_type_errors():
    with pytest.raises(ValueError, match="alpha"):
        TiaraSettings(alpha=-1.0)
    for bad in (0, 2, 3.0):
        with pytest.raises(ValueError, match="window_length"):
            TiaraSettings(window_length=bad)
    with pytest.raises(ValueError, match="band"):
        TiaraSettings(band=(3, 3))
    with pytest.raises(ValueError, match="step_range"):
        TiaraSettings(step_range=(0.8, 0.2))
    with pytest.raises(ValueError, match="window_length"):
        TiaraSettings(window_length=9).check_frames(8)
    with pytest.raises(ValueError, match="band"):
        TiaraSettings(band=(1, 6)).check_frames(8)
    with pytest.raises(TypeError, match="UNetMotionModel"):
        enable_tiara(unet2d_condition(), alpha=1.0)
    with pytest.raises(ValueError, match="either"):
        enable_tiara(motion_unet(), TiaraSettings(), alpha=2.0)
    unet = motion_unet()
    enable_tiara(unet, alpha=5.0, window_length=9)
    with pytest.raises(ValueError, match="window_length"):
        run(unet, frames=8)  # L = 9 > the 8 frames the layers see


def test_processors_default_to_sdpa_fallback():
    unet = motion_unet()
    enable_tiara(unet, alpha=5.0)
    fallbacks = {type(p.fallback) for p in unet.attn_processors.values() if isinstance(p, TiaraAttnProcessor)}
    assert fallbacks == {AttnProcessor2_0}


def test_alpha_lowers_mean_diagonal_weight_inside_a_real_unet(monkeypatch):
    """Instrumented run on the tiny AnimateDiff UNet: the attention matrices the motion modules
    actually use put less weight on the diagonal with alpha = 5 than with alpha ~ 0."""
    import plugdiff.attention_processors.tiara as tiara_module

    original = tiara_module.tiara_attention
    diagonals = []

    def recording(query, key, value, **kw):
        N = query.shape[2]
        probs = original(query, key, torch.eye(N).expand(*query.shape[:2], N, N), **kw)  # value = I gives the weights
        diagonals.append(float(probs.diagonal(dim1=-2, dim2=-1).mean()))
        return original(query, key, value, **kw)

    monkeypatch.setattr(tiara_module, "tiara_attention", recording)
    unet = motion_unet()
    means = {}
    for alpha in (1e-9, 5.0):
        diagonals.clear()
        enable_tiara(unet, alpha=alpha, window_length=3)
        run(unet)
        means[alpha] = sum(diagonals) / len(diagonals)
        assert len(diagonals) == len(temporal_processor_names(unet))  # every temporal layer, once
    assert means[5.0] < 0.7 * means[1e-9]
