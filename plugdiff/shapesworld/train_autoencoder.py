"""Training of the ShapesWorld frame autoencoder (the VAE of ``shapesworld-t2v``)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from .models import frame_autoencoder
from .training import Trainer
from .world import sample_frames

_SCALE_FRAMES = 512


class AutoencoderTrainer(Trainer):
    r"""KL autoencoder (Kingma & Welling 2014; the latent-diffusion recipe of Rombach et al.,
    CVPR 2022, without the adversarial term) on single ShapesWorld frames:
    :math:`\mathcal L = \lVert \hat x - x\rVert_1 + \lVert \hat x - x\rVert_2^2 + w\,
    \mathrm{KL}(q(z|x)\,\Vert\,\mathcal N(0, I))`, :math:`\hat x = D(z),\ z \sim q(z|x)`, with a
    small ``kl_weight`` w. The export sets ``scaling_factor`` to 1 / std of the latent means over
    a fixed batch of frames, so that scaled latents have unit variance as diffusion expects.

    Frames come from ``args.world`` (v4 or v5: :func:`~plugdiff.shapesworld.world.sample_frames`).
    ``args.init`` starts from an exported autoencoder; with ``args.decoder_only`` only the decoder
    (``post_quant_conv`` and ``decoder``) trains and the export keeps the init's scaling factor, so
    the encoder's latents, and a text-to-video model trained on them, are unchanged: this is how
    the decoder learns to draw what a new world adds (objects split across the frame's edges,
    in-between colours) under a model that already exists. ``args.latent_noise`` :math:`\sigma`
    (decoder-only) decodes :math:`z + (\sigma / s)\,\epsilon` instead, :math:`s` the scaling
    factor, so that the decoder learns what latents a diffusion model leaves slightly off
    (:math:`\sigma` in that model's units) mean, instead of only the encoder's exact ones."""

    def __init__(self, args):
        torch.manual_seed(args.seed)
        if args.init is None:
            vae = frame_autoencoder(args.size)
        else:
            vae = AutoencoderKL.from_pretrained(args.init, use_safetensors=True)
        if args.decoder_only:
            vae.requires_grad_(False)
            for part in (vae.post_quant_conv, vae.decoder):
                part.requires_grad_(True)
        super().__init__(args, {"vae": vae})

    def _frames(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return sample_frames(n, generator, size=self.args.size, world=self.args.world)[0]

    def loss(self) -> torch.Tensor:
        images = self._frames(self.args.batch, self.data).to(self.device)
        vae = self.models["vae"]
        with self.autocast():
            posterior = vae.encode(images).latent_dist
            z = posterior.mean + posterior.std * self.randn(posterior.mean.shape)
            if self.args.latent_noise:
                z = z + self.args.latent_noise / vae.config.scaling_factor * self.randn(z.shape)
            recon = vae.decode(z).sample.float()
        kl = posterior.kl().mean() / images[0].numel()
        return F.l1_loss(recon, images) + F.mse_loss(recon, images) + self.args.kl_weight * kl

    @torch.no_grad()
    def export(self, out: Path) -> None:
        vae = self.ema["vae"]
        if not self.args.decoder_only:
            images = self._frames(_SCALE_FRAMES, torch.Generator().manual_seed(self.args.seed + 3))
            latents = vae.encode(images.to(self.device)).latent_dist.mean
            vae.register_to_config(scaling_factor=round(1.0 / float(latents.std()), 5))
        vae.save_pretrained(out, safe_serialization=True)
