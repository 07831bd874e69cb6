"""Randomly initialised diffusers components built from configs (no downloads), for the tests and
the benchmarks.

An AnimateDiff pipeline comes in the sizes of :class:`AnimateDiffLayout`: :data:`TINY` (16x16
frames, 8x8x4 latents; the tests, with sizes after diffusers' own fast tests), :data:`SMALL` (a
real AnimateDiff layout at reduced width; the CPU benchmarks) and :data:`SD15` (Stable Diffusion
1.5's UNet and VAE with the AnimateDiff v1.5 motion adapter layout; the GPU benchmarks). Each
model is initialised right after ``torch.manual_seed(0)``, so the same call builds the same
weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
    UNet2DModel,
    UNet3DConditionModel,
    UNetMotionModel,
)

from plugdiff.shapesworld.text_models import char_clip_tokenizer, clip_text_encoder


@dataclass(frozen=True)
class AnimateDiffLayout:
    """The sizes of a randomly initialised AnimateDiff pipeline: a UNet whose blocks have
    ``channels`` (cross-attention in all but the last, two layers each, attention heads of 8
    channels), a motion adapter to match, a VAE with 4 latent channels and a character-level CLIP
    text encoder of width ``text_dim`` (the UNet's cross-attention width)."""

    channels: tuple[int, ...] = (32, 64)
    sample_size: int = 16  # latent height = width the UNet's config names
    norm_groups: int = 2  # of the UNet, the VAE and the motion modules
    motion_heads: int = 4
    vae_channels: tuple[int, ...] = (32, 64)
    vae_layers: int = 1
    text_dim: int = 32
    text_heads: int = 4
    betas: tuple[float, float] | None = None  # the DDIM scheduler's (beta_start, beta_end); None: its defaults


TINY = AnimateDiffLayout()
SMALL = AnimateDiffLayout(
    channels=(64, 128, 256, 256),
    sample_size=8,
    norm_groups=32,
    motion_heads=8,
    vae_channels=(32, 64, 64, 64),
    vae_layers=2,
    text_dim=256,
    text_heads=8,
    betas=(0.00085, 0.012),
)
SD15 = AnimateDiffLayout(
    channels=(320, 640, 1280, 1280),
    sample_size=64,
    norm_groups=32,
    motion_heads=8,
    vae_channels=(128, 256, 512, 512),
    vae_layers=2,
    text_dim=768,
    text_heads=8,
    betas=(0.00085, 0.012),
)


def autoencoder(layout: AnimateDiffLayout = TINY) -> AutoencoderKL:
    blocks = len(layout.vae_channels)
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=layout.vae_channels,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        layers_per_block=layout.vae_layers,
        norm_num_groups=layout.norm_groups,
    )


def unet2d_condition(layout: AnimateDiffLayout = TINY) -> UNet2DConditionModel:
    cross = len(layout.channels) - 1
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=layout.channels,
        layers_per_block=2,
        sample_size=layout.sample_size,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * cross + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * cross,
        cross_attention_dim=layout.text_dim,
        attention_head_dim=8,
        norm_num_groups=layout.norm_groups,
    )


def motion_adapter(layout: AnimateDiffLayout = TINY) -> MotionAdapter:
    torch.manual_seed(0)
    return MotionAdapter(
        block_out_channels=layout.channels,
        motion_layers_per_block=2,
        motion_norm_num_groups=layout.norm_groups,
        motion_num_attention_heads=layout.motion_heads,
        motion_max_seq_length=32,
    )


def text_components(layout: AnimateDiffLayout = TINY) -> dict:
    tokenizer = char_clip_tokenizer()
    encoder = clip_text_encoder(len(tokenizer), hidden_size=layout.text_dim, num_layers=2, num_heads=layout.text_heads)
    return {"tokenizer": tokenizer, "text_encoder": encoder}


def animatediff_components(layout: AnimateDiffLayout = TINY) -> dict:
    """Every component of an AnimateDiff pipeline of ``layout``:
    ``TiaraAnimateDiffPipeline(**animatediff_components())`` (or diffusers' AnimateDiffPipeline)."""
    betas = {} if layout.betas is None else dict(zip(("beta_start", "beta_end"), layout.betas, strict=True))
    return dict(
        vae=autoencoder(layout),
        unet=unet2d_condition(layout),
        motion_adapter=motion_adapter(layout),
        scheduler=DDIMScheduler(beta_schedule="linear", clip_sample=False, timestep_spacing="trailing", **betas),
        feature_extractor=None,
        image_encoder=None,
        **text_components(layout),
    )


def motion_unet(layout: AnimateDiffLayout = TINY) -> UNetMotionModel:
    """The AnimateDiff UNet of ``layout`` (UNet2D + MotionAdapter as one UNetMotionModel), eval mode."""
    return UNetMotionModel.from_unet2d(unet2d_condition(layout), motion_adapter(layout)).eval()


def tiny_unet2d() -> UNet2DModel:
    """Unconditional UNet (the form of google/ddpm-* checkpoints), 3x16x16."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=16,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )


def tiny_unet3d() -> UNet3DConditionModel:
    """Text-to-video UNet (ModelScope layout), 4x16x16 latents, text dim 32."""
    torch.manual_seed(0)
    return UNet3DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=4,
    ).eval()
