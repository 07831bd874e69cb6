"""Tiny, randomly initialised diffusers components built from configs (no downloads).

Shared by the pipeline tests; sizes follow diffusers' own fast tests.
"""

from __future__ import annotations

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    MotionAdapter,
    UNet2DConditionModel,
    UNet2DModel,
    UNet3DConditionModel,
)

from plugdiff.shapesworld.text_models import char_clip_tokenizer, clip_text_encoder


def tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=2,
    )


def tiny_unet2d() -> UNet2DModel:
    """Unconditional UNet (the form of google/ddpm-* checkpoints), 3x16x16."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=16, in_channels=3, out_channels=3, block_out_channels=(16, 32), layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=8,
    )


def tiny_unet2d_condition(norm_num_groups: int = 32) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, norm_num_groups=norm_num_groups,
    )


def tiny_motion_adapter() -> MotionAdapter:
    torch.manual_seed(0)
    return MotionAdapter(
        block_out_channels=(32, 64), motion_layers_per_block=2, motion_norm_num_groups=2,
        motion_num_attention_heads=4,
    )


def tiny_unet3d() -> UNet3DConditionModel:
    """Text-to-video UNet (ModelScope layout), 4x16x16 latents, text dim 32."""
    torch.manual_seed(0)
    return UNet3DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=4,
    ).eval()


def text_components() -> dict:
    tokenizer = char_clip_tokenizer()
    return {"tokenizer": tokenizer, "text_encoder": clip_text_encoder(len(tokenizer))}


def animatediff_components() -> dict:
    """Every component of a tiny AnimateDiff pipeline (16x16 frames, 8x8x4 latents)."""
    return dict(
        vae=tiny_vae(), unet=tiny_unet2d_condition(norm_num_groups=2), motion_adapter=tiny_motion_adapter(),
        scheduler=DDIMScheduler(beta_schedule="linear", clip_sample=False, timestep_spacing="trailing"),
        feature_extractor=None, image_encoder=None, **text_components(),
    )


def tiny_motion_unet():
    """The tiny AnimateDiff UNet (UNet2D + MotionAdapter as one UNetMotionModel), eval mode."""
    from diffusers import UNetMotionModel

    return UNetMotionModel.from_unet2d(tiny_unet2d_condition(norm_num_groups=2), tiny_motion_adapter()).eval()
