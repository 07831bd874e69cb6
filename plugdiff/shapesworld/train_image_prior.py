"""Training of ``shapesworld-ddpm``, the ShapesWorld image prior."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMPipeline, DDPMScheduler

from .models import image_unet
from .training import Trainer
from .world import sample_frames


class ImagePriorTrainer(Trainer):
    r"""Epsilon-prediction training (Ho et al., NeurIPS 2020, Algorithm 1) of :func:`image_unet` on
    single ShapesWorld frames drawn afresh at every step:
    :math:`\min_\theta \mathbb E_{x_0, t, \varepsilon} \lVert \varepsilon - \varepsilon_\theta(\sqrt{\bar a_t} x_0
    + \sqrt{1-\bar a_t}\,\varepsilon, t)\rVert^2`, linear betas, 1000 steps. Exports a
    ``DDPMPipeline`` folder (the form of google/ddpm-* checkpoints)."""

    def __init__(self, args):
        torch.manual_seed(args.seed)
        super().__init__(args, {"unet": image_unet(args.size)})
        self.scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")

    def loss(self) -> torch.Tensor:
        images = sample_frames(self.args.batch, self.data, size=self.args.size)[0].to(self.device)
        return self.epsilon_loss(self.scheduler, images, lambda noisy, t: self.models["unet"](noisy, t).sample)

    def export(self, out: Path) -> None:
        DDPMPipeline(unet=self.ema["unet"], scheduler=self.scheduler).save_pretrained(out, safe_serialization=True)
