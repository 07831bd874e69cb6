"""Training of the ShapesWorld frame autoencoder (the VAE of ``shapesworld-t2v``)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

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
    a fixed batch of frames, so that scaled latents have unit variance as diffusion expects."""

    def __init__(self, args):
        torch.manual_seed(args.seed)
        super().__init__(args, {"vae": frame_autoencoder(args.size)})

    def loss(self) -> torch.Tensor:
        images = sample_frames(self.args.batch, self.data, size=self.args.size)[0].to(self.device)
        vae = self.models["vae"]
        with self.autocast():
            posterior = vae.encode(images).latent_dist
            z = posterior.mean + posterior.std * self.randn(posterior.mean.shape)
            recon = vae.decode(z).sample.float()
        kl = posterior.kl().mean() / images[0].numel()
        return F.l1_loss(recon, images) + F.mse_loss(recon, images) + self.args.kl_weight * kl

    @torch.no_grad()
    def export(self, out: Path) -> None:
        vae = self.ema["vae"]
        images = sample_frames(_SCALE_FRAMES, torch.Generator().manual_seed(self.args.seed + 3), size=self.args.size)[
            0
        ]
        latents = vae.encode(images.to(self.device)).latent_dist.mean
        vae.register_to_config(scaling_factor=round(1.0 / float(latents.std()), 5))
        vae.save_pretrained(out, safe_serialization=True)
