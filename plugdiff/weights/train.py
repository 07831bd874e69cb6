"""Train the bundled ShapesWorld models on CPU: seeded, resumable, safetensors only.

    python -m plugdiff.weights.train ddpm --out plugdiff/weights/shapesworld-ddpm [--steps 4000]

``ddpm``: the image prior, a ``UNet2DModel`` (epsilon prediction, linear betas, 1000 steps: the
form of google/ddpm-* checkpoints) on single ShapesWorld frames, saved as a ``DDPMPipeline``
folder. Training state (weights, EMA weights, optimizer moments, step, data RNG) is written to
``<out>/checkpoint/`` every ``--checkpoint-every`` steps as safetensors + JSON, and ``--resume``
continues from it exactly where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..evaluation.shapesworld import sample_frames
from ..fileio import atomic_write, write_json


def image_unet(size: int) -> UNet2DModel:
    """The image prior's UNet: 1.1M parameters, attention at the coarsest level only."""
    return UNet2DModel(
        sample_size=size, in_channels=3, out_channels=3, block_out_channels=(32, 64, 64), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8,
    )


class Trainer:
    r"""Epsilon-prediction training (Ho et al., NeurIPS 2020, Algorithm 1):
    :math:`\min_\theta \mathbb E_{x_0, t, \varepsilon} \lVert \varepsilon - \varepsilon_\theta(\sqrt{\bar a_t} x_0
    + \sqrt{1-\bar a_t}\,\varepsilon, t)\rVert^2` with AdamW and an exponential moving average of
    the weights (decay ``ema``), which is what gets saved."""

    def __init__(self, args):
        self.args = args
        torch.manual_seed(args.seed)
        self.unet = image_unet(args.size)
        self.ema = image_unet(args.size)
        self.ema.load_state_dict(self.unet.state_dict())
        self.ema.requires_grad_(False)
        self.scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", prediction_type="epsilon")
        self.optimizer = torch.optim.AdamW(self.unet.parameters(), lr=args.lr, weight_decay=0.0)
        self.data = torch.Generator().manual_seed(args.seed + 1)
        self.noise = torch.Generator().manual_seed(args.seed + 2)
        self.step = 0
        self.losses: list[float] = []

    # ------------------------------------------------------------------ training
    def train_step(self) -> float:
        images, _, _ = sample_frames(self.args.batch, self.data, size=self.args.size)
        noise = torch.randn(images.shape, generator=self.noise)
        t = torch.randint(0, 1000, (images.shape[0],), generator=self.noise)
        noisy = self.scheduler.add_noise(images, noise, t)
        loss = torch.nn.functional.mse_loss(self.unet(noisy, t).sample, noise)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.unet.parameters(), 1.0)
        self.optimizer.step()
        with torch.no_grad():
            decay = min(self.args.ema, (1 + self.step) / (10 + self.step))
            for e, p in zip(self.ema.parameters(), self.unet.parameters(), strict=True):
                e.lerp_(p, 1 - decay)
        self.step += 1
        return loss.item()

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {f"unet.{k}": v.contiguous() for k, v in self.unet.state_dict().items()}
        tensors.update({f"ema.{k}": v.contiguous() for k, v in self.ema.state_dict().items()})
        for i, state in self.optimizer.state_dict()["state"].items():
            for key, value in state.items():
                tensors[f"opt.{i}.{key}"] = torch.as_tensor(value).contiguous()
        tensors["rng.data"] = self.data.get_state()
        tensors["rng.noise"] = self.noise.get_state()
        atomic_write(folder / "state.safetensors", lambda tmp: save_file(tensors, str(tmp)))
        write_json(folder / "state.json", {"step": self.step, "losses": self.losses, "args": vars(self.args)})

    def load_checkpoint(self, folder: Path) -> None:
        tensors = load_file(str(folder / "state.safetensors"))
        meta = json.loads((folder / "state.json").read_text())
        self.unet.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("unet.")})
        self.ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        state = self.optimizer.state_dict()
        opt_state: dict = {}
        for key, value in tensors.items():
            if key.startswith("opt."):
                _, index, name = key.split(".", 2)
                opt_state.setdefault(int(index), {})[name] = value
        state["state"] = opt_state
        self.optimizer.load_state_dict(state)
        self.data.set_state(tensors["rng.data"])
        self.noise.set_state(tensors["rng.noise"])
        self.step, self.losses = meta["step"], meta["losses"]

    def export(self, out: Path) -> None:
        """The EMA weights as a DDPMPipeline folder (safetensors)."""
        DDPMPipeline(unet=self.ema, scheduler=self.scheduler).save_pretrained(out, safe_serialization=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m plugdiff.weights.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=["ddpm"], help="which bundled model to train")
    parser.add_argument("--out", type=Path, required=True, help="output folder (a diffusers pipeline folder)")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "size", "checkpoint_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.size % 4:
        parser.error("--size must be a multiple of 4 (two down-samplings)")
    if not (args.lr > 0 and math.isfinite(args.lr)) or not 0 <= args.ema < 1:
        parser.error("--lr must be > 0 and --ema in [0, 1)")
    return args


def main(argv=None) -> Trainer:
    args = parse_args(argv)
    trainer = Trainer(args)
    checkpoint = args.out / "checkpoint"
    if args.resume:
        if not (checkpoint / "state.safetensors").exists():
            sys.exit(f"--resume: no checkpoint in {checkpoint}")
        trainer.load_checkpoint(checkpoint)
    with tqdm(total=args.steps, initial=trainer.step, desc=f"train {args.model}") as bar:
        while trainer.step < args.steps:
            loss = trainer.train_step()
            trainer.losses.append(round(loss, 5))
            bar.update(1)
            bar.set_postfix(loss=f"{sum(trainer.losses[-50:]) / len(trainer.losses[-50:]):.4f}")
            if trainer.step % args.checkpoint_every == 0 or trainer.step == args.steps:
                trainer.save_checkpoint(checkpoint)
                trainer.export(args.out)
    return trainer


if __name__ == "__main__":
    main()
