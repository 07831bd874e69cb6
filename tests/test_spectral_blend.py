"""FreeLong's SpectralBlend temporal attention: the blend, the processor against a naive
implementation, installation on AnimateDiff's UNet, identity where it does not act, and TiARA
beneath it."""

import math

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from plugdiff.attention_processors import (
    SpectralBlendAttnProcessor,
    SpectralBlendController,
    SpectralBlendSettings,
    TiaraAttnProcessor,
    blend_branches,
    disable_spectral_blend,
    disable_tiara,
    enable_spectral_blend,
    enable_tiara,
    local_windows,
    spectral_blend_controller,
    temporal_processor_names,
)
from plugdiff.testing import motion_unet, tiny_unet3d


# ---------------------------------------------------------------- the blend
def naive_blend(g, l, spatial, d_t, d_s):
    """The authors' formula: both branches transformed (fftn over time and space, shifted), the
    Gaussian on the shifted grid, mixed, transformed back, real part. Their grid coordinate is
    2 m / n - 1 at shifted index m, i.e. 2 (m - n // 2) / n for even n; for odd n theirs is off
    frequency 0 by 1 / n, and ours, 2 (m - n // 2) / n, is centred (the only difference)."""
    rows, N, C = g.shape
    if spatial is None:
        G, L_ = (torch.fft.fftshift(torch.fft.fft(x.double(), dim=1), dim=1) for x in (g, l))
        t = (torch.arange(N, dtype=torch.float64) - N // 2) * 2 / N
        P = torch.exp(-0.5 * (t / d_t) ** 2).view(1, N, 1)
        mixed = torch.fft.ifftshift(G * P + L_ * (1 - P), dim=1)
        return torch.fft.ifft(mixed, dim=1).real.float()
    H, W = spatial

    def to_grid(x):  # (B, C, N, H, W)
        return x.double().reshape(rows // (H * W), H, W, N, C).permute(0, 4, 3, 1, 2)

    G, L_ = (torch.fft.fftshift(torch.fft.fftn(to_grid(x), dim=(-3, -2, -1)), dim=(-3, -2, -1)) for x in (g, l))
    t, h, w = ((torch.arange(n, dtype=torch.float64) - n // 2) * 2 / n for n in (N, H, W))
    tt, hh, ww = torch.meshgrid(t, h, w, indexing="ij")
    P = torch.exp(-0.5 * ((tt / d_t) ** 2 + (hh / d_s) ** 2 + (ww / d_s) ** 2))
    mixed = torch.fft.ifftshift(G * P + L_ * (1 - P), dim=(-3, -2, -1))
    out = torch.fft.ifftn(mixed, dim=(-3, -2, -1)).real
    return out.permute(0, 3, 4, 2, 1).reshape(rows, N, C).float()


@pytest.mark.parametrize("spatial", [(4, 6), None])
def test_blend_equals_the_authors_two_transform_formula(spatial):
    g = torch.Generator().manual_seed(0)
    glob, loc = torch.randn(2 * 24, 8, 5, generator=g), torch.randn(2 * 24, 8, 5, generator=g)
    settings = SpectralBlendSettings(16, 4, temporal_cutoff=0.25, spatial_cutoff=0.4 if spatial else None)
    ours = blend_branches(glob, loc, settings, spatial)
    assert torch.allclose(ours, naive_blend(glob, loc, spatial, 0.25, 0.4), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("spatial_cutoff", [0.25, None])
def test_equal_branches_give_the_local_branch_exactly(dtype, spatial_cutoff):
    local = torch.randn(3 * 12, 10, 8).to(dtype)
    settings = SpectralBlendSettings(16, 4, spatial_cutoff=spatial_cutoff)
    assert torch.equal(blend_branches(local.clone(), local, settings, (3, 4)), local)


def test_low_frequencies_come_from_the_global_branch():
    loc = torch.randn(24, 8, 4)
    glob = loc + 0.7  # differs only at frequency 0
    assert torch.allclose(blend_branches(glob, loc, SpectralBlendSettings(16, 4), (4, 6)), glob, atol=1e-5)
    nyquist = torch.tensor([1.0, -1.0] * 4).view(1, 8, 1)  # differs only at the highest temporal frequency
    out = blend_branches(loc + nyquist, loc, SpectralBlendSettings(16, 4, spatial_cutoff=None))
    assert torch.allclose(out, loc + math.exp(-0.5 * (1 / 0.25) ** 2) * nyquist, atol=1e-5)  # P(nu = 1/2) = exp(-8)
    assert torch.equal(blend_branches(glob, loc, SpectralBlendSettings(16, 4, temporal_cutoff=0.0), (4, 6)), loc)


def test_local_windows():
    starts, owner = local_windows(40, 16, 4)
    assert starts == (0, 4, 8, 12, 16, 20, 24)
    assert owner[0] == 0 and owner[39] == 6 and owner[20] == 3  # frame 20: centre of [12, 28)
    starts, owner = local_windows(20, 16, 1)  # sliding window: frame i in [clamp(i - 8, 0, 4), + 16)
    assert [starts[k] for k in owner] == [min(max(i - 8, 0), 4) for i in range(20)]


# ---------------------------------------------------------------- the processor against a naive one
def naive_attention(attn, query_in, kv_in):
    heads = attn.heads
    q, k, v = attn.to_q(query_in), attn.to_k(kv_in), attn.to_v(kv_in)
    split = lambda x: x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)
    q, k, v = split(q), split(k), split(v)
    weights = torch.softmax(q @ k.transpose(-1, -2) * attn.scale, dim=-1)
    out = (weights @ v).transpose(1, 2).reshape(query_in.shape[0], query_in.shape[1], -1)
    return attn.to_out[0](out)


def sinusoid(positions, dim):
    pe = torch.zeros(1, len(positions), dim)
    for j, p in enumerate(positions):
        for k in range(0, dim, 2):
            pe[0, j, k] = math.sin(p * 10000 ** (-k / dim))
            pe[0, j, k + 1] = math.cos(p * 10000 ** (-k / dim))
    return pe


def naive_spectral_blend_attention(attn, h, pe_table, L, stride, spatial, d_t, d_s):
    """Each frame i attends to the L frames of the window it is most central in (windows every
    ``stride`` frames, positions 0..L-1 in the window); the global branch attends over all frames
    with N positions spread over 0..L-1; the naive blend mixes them."""
    rows, N, C = h.shape
    starts = list(range(0, N - L + 1, stride))
    if starts[-1] + L < N:
        starts.append(N - L)
    local = []
    for i in range(N):
        _, s = min((abs(i - (s + (L - 1) / 2)), s) for s in starts if s <= i < s + L)
        window = h[:, s : s + L] + pe_table[:, :L]
        local.append(naive_attention(attn, window[:, i - s : i - s + 1], window))
    local = torch.cat(local, dim=1)
    spread = h + sinusoid([i * (L - 1) / (N - 1) for i in range(N)], C)
    glob = naive_attention(attn, spread, spread)
    return naive_blend(glob, local, spatial, d_t, d_s)


class Positions(torch.nn.Module):  # the pe table of a diffusers SinusoidalPositionalEmbedding
    def __init__(self, dim, length=32):
        super().__init__()
        self.register_buffer("pe", sinusoid(range(length), dim))


@pytest.mark.parametrize("stride, frames", [(1, 12), (2, 13), (4, 20)])
@torch.no_grad()
def test_processor_equals_a_naive_implementation(stride, frames):
    torch.manual_seed(0)
    attn = Attention(query_dim=16, heads=4, dim_head=4)
    settings = SpectralBlendSettings(6, stride, temporal_cutoff=0.3, spatial_cutoff=0.5)
    controller = SpectralBlendController(settings)
    controller.spatial = (2, 3)
    positions = Positions(16)
    processor = SpectralBlendAttnProcessor(settings, AttnProcessor2_0(), controller, positions)
    h = torch.randn(2 * 6, frames, 16)
    ours = processor(attn, h)
    naive = naive_spectral_blend_attention(attn, h, positions.pe, 6, stride, (2, 3), 0.3, 0.5)
    assert torch.allclose(ours, naive, atol=1e-4)
    controller.spatial = None  # a time-only filter needs no spatial layout
    time_only = SpectralBlendSettings(6, stride, temporal_cutoff=0.3, spatial_cutoff=None)
    controller = SpectralBlendController(time_only)
    processor = SpectralBlendAttnProcessor(time_only, AttnProcessor2_0(), controller, positions)
    naive = naive_spectral_blend_attention(attn, h, positions.pe, 6, stride, None, 0.3, None)
    assert torch.allclose(processor(attn, h), naive, atol=1e-4)


# ---------------------------------------------------------------- on AnimateDiff's UNet
def run(unet, frames, seed=0):
    g = torch.Generator().manual_seed(seed)
    sample = torch.randn(1, 4, frames, 8, 8, generator=g)
    context = torch.randn(1, 77, 32, generator=g).repeat_interleave(frames, dim=0)
    with torch.no_grad():
        return unet(sample, 500, encoder_hidden_states=context).sample


@pytest.fixture
def unet():
    return motion_unet()


def test_short_sequences_and_off_are_the_stock_unet_bit_for_bit(unet):
    before = dict(unet.attn_processors)
    stock_8, stock_24 = run(unet, 8), run(unet, 24)
    enable_spectral_blend(unet, local_frames=8)
    procs = unet.attn_processors
    temporal = set(temporal_processor_names(unet))
    assert all(isinstance(procs[n], SpectralBlendAttnProcessor) for n in temporal)
    assert all(procs[n] is before[n] for n in before if n not in temporal)
    assert torch.equal(run(unet, 8), stock_8)  # no longer than the window: the model's own attention
    blended = run(unet, 24)
    assert torch.isfinite(blended).all() and not torch.allclose(blended, stock_24, atol=1e-4)
    long = run(unet, 40)  # beyond the 32 positions the motion modules know (the stock UNet fails here)
    assert long.shape[2] == 40 and torch.isfinite(long).all()
    disable_spectral_blend(unet)
    with pytest.raises(RuntimeError):
        run(unet, 40)  # stock again
    assert all(unet.attn_processors[n] is before[n] for n in before) and spectral_blend_controller(unet) is None
    assert torch.equal(run(unet, 24), stock_24)


def test_processors_see_the_features_without_positions_when_they_act(unet):
    """The block's position embedding is bypassed when the layer blends, and applied as usual
    when it does not."""
    enable_spectral_blend(unet, local_frames=8)
    name = temporal_processor_names(unet)[0]
    block = unet.get_submodule(name.rsplit(".", 2)[0])
    seen = {}
    block.norm1.register_forward_hook(lambda m, a, out: seen.__setitem__("norm", out))
    processor = unet.attn_processors[name]
    inner = processor.__call__

    def recording(self, attn, hidden_states, *args, **kwargs):
        seen["input"] = hidden_states
        return inner(attn, hidden_states, *args, **kwargs)

    processor.__class__ = type("Recording", (SpectralBlendAttnProcessor,), {"__call__": recording})
    run(unet, 12)
    assert torch.equal(seen["input"], seen["norm"])
    run(unet, 8)
    assert torch.allclose(seen["input"], seen["norm"] + block.pos_embed.pe[:, :8], atol=1e-6)


def test_tiara_sits_beneath_in_either_order(unet):
    tiara_only = None
    enable_tiara(unet, alpha=5.0, window_length=3)
    tiara_only = run(unet, 24)
    disable_tiara(unet)
    enable_spectral_blend(unet, local_frames=8)
    blend_only = run(unet, 24)

    enable_tiara(unet, alpha=5.0, window_length=3)  # after: goes beneath
    name = temporal_processor_names(unet)[0]
    top = unet.attn_processors[name]
    assert isinstance(top, SpectralBlendAttnProcessor) and isinstance(top.fallback, TiaraAttnProcessor)
    assert isinstance(top.fallback.fallback, AttnProcessor2_0)
    both = run(unet, 24)
    assert not torch.allclose(both, blend_only, atol=1e-4) and not torch.allclose(both, tiara_only, atol=1e-4)
    assert torch.equal(run(unet, 24), both)  # the TiARA controller's per-call check keeps the chain

    disable_spectral_blend(unet)
    assert isinstance(unet.attn_processors[name], TiaraAttnProcessor)
    assert torch.equal(run(unet, 24), tiara_only)
    enable_spectral_blend(unet, local_frames=8)  # before TiARA's removal: wraps it
    assert torch.equal(run(unet, 24), both)
    disable_tiara(unet)
    assert isinstance(unet.attn_processors[name].fallback, AttnProcessor2_0)
    assert torch.equal(run(unet, 24), blend_only)
    enable_tiara(unet, alpha=0.0)  # strength 0: SpectralBlend alone, bit for bit
    assert torch.equal(run(unet, 24), blend_only)


def test_replaced_processors_are_retaken_in_their_order_and_restored(unet):
    """One installation mechanism for both methods: after set_attn_processor replaces every
    processor, the next UNet call puts SpectralBlend back on top with TiARA beneath, whichever was
    enabled first, and disabling both leaves the newer processors."""
    for first, second in [(enable_tiara, enable_spectral_blend), (enable_spectral_blend, enable_tiara)]:
        for enable in (first, second):
            enable(unet, **(dict(alpha=5.0, window_length=3) if enable is enable_tiara else dict(local_frames=8)))
        both = run(unet, 24)
        unet.set_attn_processor(AttnProcessor2_0())
        replaced = dict(unet.attn_processors)
        assert torch.equal(run(unet, 24), both)
        name = temporal_processor_names(unet)[0]
        top = unet.attn_processors[name]
        assert isinstance(top, SpectralBlendAttnProcessor) and isinstance(top.fallback, TiaraAttnProcessor)
        assert top.fallback.fallback is replaced[name]
        disable_tiara(unet)
        disable_spectral_blend(unet)
        assert all(unet.attn_processors[n] is replaced[n] for n in replaced)


def test_tiara_reweights_both_branches(unet, monkeypatch):
    import plugdiff.attention_processors.tiara as tiara_module

    lengths = []
    original = tiara_module.tiara_attention

    def recording(query, *args, **kwargs):
        lengths.append(query.shape[2])
        return original(query, *args, **kwargs)

    monkeypatch.setattr(tiara_module, "tiara_attention", recording)
    enable_spectral_blend(unet, local_frames=8, local_stride=8)
    enable_tiara(unet, alpha=5.0, window_length=3)
    run(unet, 20)
    assert set(lengths) == {8, 20}  # local windows of 8 frames and the global branch of 20


def test_settings_and_errors(unet):
    bad = [
        (dict(local_stride=0), "local_stride"),
        (dict(local_frames=4, local_stride=5), "local_stride"),
        (dict(temporal_cutoff=-1.0), "temporal_cutoff"),
        (dict(spatial_cutoff=float("nan")), "spatial_cutoff"),
        (dict(local_frames=1), "local_frames"),
    ]
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            SpectralBlendSettings(**kwargs)
    with pytest.raises(ValueError, match="positions"):
        enable_spectral_blend(unet, local_frames=40, local_stride=4)
    assert spectral_blend_controller(unet) is None and not any(
        isinstance(p, SpectralBlendAttnProcessor) for p in unet.attn_processors.values()
    )
    with pytest.raises(TypeError, match="UNetMotionModel"):
        enable_spectral_blend(tiny_unet3d())
    with pytest.raises(ValueError, match="either"):
        enable_spectral_blend(unet, SpectralBlendSettings(), local_stride=2)
