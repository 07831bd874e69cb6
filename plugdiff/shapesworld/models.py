"""Architectures of the bundled ShapesWorld models, built from configs (no download).

- :func:`image_unet`: the image prior, a ``UNet2DModel`` on 32x32 RGB frames (1.1M parameters).
- :func:`frame_autoencoder`: an ``AutoencoderKL`` that maps a 32x32 RGB frame to 8x8x4 latents
  (factor 4, 1.0M parameters).
- :func:`text_to_video_unet` + :func:`motion_adapter`: the AnimateDiff pair over those latents,
  ``UNet2DConditionModel`` (4.2M) and ``MotionAdapter`` (1.7M, 16-frame window, 32 at most).
- :func:`world_tokenizer` + :func:`world_text_encoder`: a word-level CLIP tokenizer over the
  world's captions (unknown words fall back to letters, ``CAPTION_TOKENS`` tokens per prompt) and
  a small CLIP text encoder that starts as the identity on its word embeddings.
"""

from __future__ import annotations

import string

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
    UNet2DModel,
)
from transformers import CLIPTokenizer

from .text_models import BOS, EOS, clip_text_encoder
from .world import BACKGROUNDS, COLOURS, DIRECTIONS, SHAPES, ClipSpec

#: Latent channels and the frame-to-latent size factor of :func:`frame_autoencoder`.
LATENT_CHANNELS, LATENT_FACTOR = 4, 4
TEXT_WIDTH = 64
#: Tokens per prompt of the t2v model: a caption is 11-12 tokens with its start and end marks,
#: so 16 leaves room; CLIP's 77 made every cross-attention read 5x more keys for nothing.
CAPTION_TOKENS = 16
_T2V_CHANNELS = (64, 128)


def image_unet(size: int) -> UNet2DModel:
    """The image prior's UNet: 1.1M parameters, attention at the coarsest level only."""
    return UNet2DModel(
        sample_size=size,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )


def frame_autoencoder(size: int = 32) -> AutoencoderKL:
    """KL autoencoder, (3, size, size) in [-1, 1] <-> (4, size/4, size/4); three levels."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        latent_channels=LATENT_CHANNELS,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        norm_num_groups=8,
        sample_size=size,
    )


def text_to_video_unet(latent_size: int = 8) -> UNet2DConditionModel:
    """The spatial (per-frame) half of the text-to-video model: cross-attention at both levels."""
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=_T2V_CHANNELS,
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_WIDTH,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def motion_adapter() -> MotionAdapter:
    """The temporal half: AnimateDiff motion modules matching :func:`text_to_video_unet`, with
    every temporal transformer's output projection zero-initialised (AnimateDiff, Guo et al.,
    ICLR 2024, Sec. 4.2) so that a fresh adapter leaves the spatial UNet's output unchanged."""
    adapter = MotionAdapter(
        block_out_channels=_T2V_CHANNELS,
        motion_layers_per_block=1,
        motion_num_attention_heads=8,
        motion_norm_num_groups=32,
        motion_max_seq_length=32,
        use_motion_mid_block=True,
    )
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if ".proj_out." in name:
                param.zero_()
    return adapter


def video_scheduler() -> DDIMScheduler:
    """DDIM over DDPM's linear betas (1e-4 .. 0.02, 1000 steps; nearly zero terminal SNR, which
    tiny latents need), ``trailing`` spacing so that few steps start at t = 999."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=1e-4,
        beta_end=0.02,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=0,
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )


def caption_words() -> list[str]:
    """Every word of the ShapesWorld caption grammar, in a fixed order."""
    words: dict[str, None] = {}
    for colour in COLOURS:
        for background in (b for b in BACKGROUNDS if b != colour):
            for shape in SHAPES:
                for direction in DIRECTIONS:
                    spec = ClipSpec(shape, colour, background, direction, 1.0, 4.0, (16.0, 16.0))
                    words.update(dict.fromkeys(spec.caption.split()))
    return list(words)


def _learn_merges(words: list[str]) -> list[tuple[str, str]]:
    """Byte-pair merges (Sennrich et al., ACL 2016) that turn every word into one symbol: merge
    the most frequent adjacent pair, ties broken by the pair's text, until none is left."""
    spelled = [tuple(w[:-1]) + (w[-1] + "</w>",) for w in words]
    merges: list[tuple[str, str]] = []
    while True:
        counts: dict[tuple[str, str], int] = {}
        for symbols in spelled:
            for pair in zip(symbols[:-1], symbols[1:], strict=True):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            return merges
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        for i, symbols in enumerate(spelled):
            merged, j = [], 0
            while j < len(symbols):
                if symbols[j : j + 2] == best:
                    merged.append(best[0] + best[1])
                    j += 2
                else:
                    merged.append(symbols[j])
                    j += 1
            spelled[i] = tuple(merged)


def world_tokenizer(model_max_length: int = 77) -> CLIPTokenizer:
    """A CLIP tokenizer whose byte-pair merges make every caption word one token; any other
    lower-case word still tokenizes (into pieces down to single letters and digits).
    Deterministic: the same vocabulary and merges on every call."""
    alphabet = string.ascii_lowercase + string.digits
    merges = _learn_merges(caption_words())
    vocab = {BOS: 0, EOS: 1}
    for token in [c + end for c in alphabet for end in ("", "</w>")] + [a + b for a, b in merges]:
        vocab.setdefault(token, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def world_text_encoder(vocab_size: int, seed: int = 0):
    r"""CLIP text encoder, width 64, 4 layers, 4 heads (0.2M parameters), built so that no word can
    be lost: every layer's residual branch (attention ``out_proj`` and MLP ``fc2``) starts at zero,
    so at initialisation the output at position i is :math:`\mathrm{LN}(E[w_i] + P[i])`, the
    word's own embedding plus its position's. Training keeps ``E`` and ``P`` fixed
    (:func:`frozen_text_embeddings`) and learns the layers, which can add context but start from a
    representation in which all five caption slots are distinct. (A learned embedding collapsed
    the direction word: in the first bundled model "moving left" and "moving right" encoded
    1.4 % apart.)"""
    encoder = clip_text_encoder(vocab_size, hidden_size=TEXT_WIDTH, num_layers=4, num_heads=4, seed=seed)
    with torch.no_grad():
        for layer in encoder.encoder.layers:
            for branch in (layer.self_attn.out_proj, layer.mlp.fc2):
                branch.weight.zero_()
                branch.bias.zero_()
    return encoder


def frozen_text_embeddings(encoder) -> None:
    """Stop training the word and position embeddings of a :func:`world_text_encoder`."""
    encoder.embeddings.requires_grad_(False)
