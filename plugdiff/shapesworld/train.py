"""Train the bundled ShapesWorld models: seeded, resumable to the bit, safetensors only, on CPU
or a GPU (``--device``).

    python -m plugdiff.shapesworld.train ddpm --out plugdiff/weights/shapesworld-ddpm
    python -m plugdiff.shapesworld.train vae  --out runs/shapesworld-vae
    python -m plugdiff.shapesworld.train t2v  --out plugdiff/weights/shapesworld-t2v --vae runs/shapesworld-vae

``ddpm``: the image prior (``DDPMPipeline`` folder). ``vae``: the frame autoencoder that
``t2v`` needs (an ``AutoencoderKL`` folder). ``t2v``: the text-to-video model (AnimateDiff
folder: spatial UNet and text encoder on frames for ``--image-steps``, then everything on clips).
Training state (weights, EMA weights, optimizer moments, step, data and noise RNG) is written
to ``<out>/checkpoint/`` every ``--checkpoint-every`` steps together with an export of the EMA
weights, and ``--resume`` continues from it exactly where it stopped.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from .track_loss import T_MAX
from .train_autoencoder import AutoencoderTrainer
from .train_image_prior import ImagePriorTrainer
from .train_text_to_video import TextToVideoTrainer
from .training import Trainer, run
from .world import PLACEMENTS, V5_MIX_SHARE, V5_TRANSITION_SHARE, WORLDS

TRAINERS = {"ddpm": ImagePriorTrainer, "vae": AutoencoderTrainer, "t2v": TextToVideoTrainer}
_DEFAULTS = {  # per model: steps, batch, lr
    "ddpm": (4000, 32, 2e-4),
    "vae": (2000, 64, 5e-4),
    "t2v": (4000, 8, 3e-4),
}


def _parser(model: str) -> argparse.ArgumentParser:
    steps, batch, lr = _DEFAULTS[model]
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", type=Path, required=True, help="output folder (a diffusers folder)")
    p.add_argument("--steps", type=int, default=steps, help="total optimizer steps")
    p.add_argument("--batch", type=int, default=batch, help="images (ddpm, vae) or clips (t2v) per step")
    p.add_argument("--size", type=int, default=32, help="frame size in pixels")
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--mixed-precision", choices=["no", "bf16"], default="no", help="bf16 autocast of the forward pass")
    if model in ("vae", "t2v"):
        p.add_argument(
            "--world",
            choices=WORLDS,
            default="v4",
            help="training data: world v4 (bounded motion, pure captions) or v5 (wrapping motion, a shade the "
            "caption does not name, in-between captions and prompt changes; see shapesworld.world)",
        )
    if model == "vae":
        p.add_argument("--kl-weight", type=float, default=1e-6, help="weight of the per-pixel KL term")
        p.add_argument("--init", type=Path, default=None, help="start from an exported autoencoder folder")
        p.add_argument(
            "--decoder-only",
            action="store_true",
            help="with --init: train the decoder alone; the encoder and the scaling factor stay the init's, "
            "so the latents a text-to-video model was trained on keep their meaning",
        )
        p.add_argument(
            "--latent-noise",
            type=float,
            default=0.0,
            help="with --decoder-only: std of Gaussian noise added to the latents the decoder sees, in the "
            "diffusion model's (scaled) latent units, so it learns to draw slightly-off latents too",
        )
    if model == "t2v":
        p.add_argument("--vae", type=Path, required=True, help="folder of the trained frame autoencoder")
        p.add_argument("--image-steps", type=int, default=1000, help="steps of the single-frame stage")
        p.add_argument("--image-batch", type=int, default=128, help="frames per single-frame step")
        p.add_argument("--frames", type=int, default=16, help="clip length of the video stage")
        p.add_argument("--pool-clips", type=int, default=2048, help="clips drawn once and encoded as training data")
        p.add_argument(
            "--placement",
            choices=PLACEMENTS,
            default="uniform",
            help="where training clips sit: uniform starts, or centred paths whose mean position does not "
            "give the direction away (see shapesworld.world)",
        )
        p.add_argument(
            "--v5-shares",
            type=float,
            nargs=2,
            default=[V5_MIX_SHARE, V5_TRANSITION_SHARE],
            metavar=("MIX", "TRANSITION"),
            help="world v5: the shares of training clips with a static in-between caption and with a prompt "
            f"change inside (default {V5_MIX_SHARE} {V5_TRANSITION_SHARE}; 0 0: wrapping, shaded clips only)",
        )
        p.add_argument(
            "--v5-centred",
            type=float,
            default=0.0,
            metavar="SHARE",
            help="world v5: the share of training clips whose path's midpoint lies in the frame's central "
            "square, so that where the object starts tells its direction, as in world v4 (default 0: every "
            "start uniform over the torus)",
        )
        p.add_argument(
            "--clip-weight-max",
            type=float,
            default=1.0,
            help="cap of the truncated-SNR weight max(1, 1/SNR) of the clip loss (1: the plain loss)",
        )
        p.add_argument(
            "--track-loss",
            type=float,
            default=0.0,
            help="weight of the auxiliary loss on the predicted clip's object drift (0: off; see "
            "shapesworld.track_loss)",
        )
        p.add_argument(
            "--track-max-t",
            type=int,
            default=T_MAX,
            help=f"highest timestep the track loss is taken at (default {T_MAX}; 0-999)",
        )
        p.add_argument(
            "--clip-t-focus",
            type=float,
            nargs=3,
            metavar=("LOW", "HIGH", "SHARE"),
            default=None,
            help="draw SHARE of the clip terms' timesteps from [LOW, HIGH] instead of from all (default: all uniform)",
        )
        p.add_argument(
            "--frame-noise",
            type=float,
            default=0.0,
            metavar="SHARE",
            help="give SHARE of the clips a noise level per frame, rising along the frames as in FIFO-Diffusion's "
            "windows (0: off; see shapesworld.frame_noise)",
        )
        p.add_argument("--uncond-prob", type=float, default=0.1, help="caption dropout for guidance")
        p.add_argument("--init", type=Path, default=None, help="start from the weights of an exported t2v folder")
        p.add_argument(
            "--fresh-text",
            action="store_true",
            help="with --init: new tokenizer and text encoder, only the UNet and motion adapter from --init",
        )
        p.add_argument("--image-mix", type=int, default=0, help="single frames added to every clip step's loss")
        p.add_argument(
            "--direction-probe",
            type=float,
            default=0.0,
            help="weight of the auxiliary direction-probe loss (0: off; see shapesworld.direction_probe)",
        )
        p.add_argument(
            "--word-contrast",
            type=float,
            default=0.0,
            help="weight of the swapped-direction-word track loss (0: off; needs --track-loss; see "
            "shapesworld.word_contrast)",
        )
        p.add_argument(
            "--motion-only",
            action="store_true",
            help="in the clip stage train the motion modules only (spatial layers and text encoder frozen)",
        )
        p.add_argument(
            "--eval-clips",
            type=int,
            default=0,
            help="score every export on this many clips per held-out and seen triple (0: off)",
        )
    return p


def parse_args(argv=None) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="python -m plugdiff.shapesworld.train", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="model", required=True, metavar="{ddpm,vae,t2v}")
    for model in TRAINERS:
        sub.add_parser(model, parents=[_parser(model)], help=f"train the {model} model")
    args = top.parse_args(argv)
    positive = ["steps", "batch", "size", "checkpoint_every"]
    if args.model == "t2v":
        positive += ["image_batch", "frames", "pool_clips"]
        if not 0 <= args.image_steps <= args.steps:
            top.error("--image-steps must be in [0, --steps]")
        if not 0 <= args.uncond_prob < 1:
            top.error("--uncond-prob must be in [0, 1)")
        if args.image_mix < 0 or args.eval_clips < 0:
            top.error("--image-mix and --eval-clips must be >= 0")
        if not (args.clip_weight_max >= 1 and math.isfinite(args.clip_weight_max)):
            top.error("--clip-weight-max must be a finite number >= 1")
        if not (args.track_loss >= 0 and math.isfinite(args.track_loss)):
            top.error("--track-loss must be a finite weight >= 0")
        if not 0 <= args.track_max_t <= 999:
            top.error(f"--track-max-t must be a timestep in [0, 999], got {args.track_max_t}")
        if args.motion_only and args.direction_probe:
            top.error("--motion-only freezes the layers the direction probe trains: drop --direction-probe")
        if not (args.word_contrast >= 0 and math.isfinite(args.word_contrast)):
            top.error("--word-contrast must be a finite weight >= 0")
        if args.word_contrast and not args.track_loss:
            top.error("--word-contrast needs --track-loss > 0 (it is a track loss on the swapped caption)")
        if args.clip_t_focus is not None:
            low, high, share = args.clip_t_focus
            if not (low == int(low) and high == int(high) and 0 <= low <= high <= 999 and 0 <= share <= 1):
                top.error(
                    "--clip-t-focus takes LOW HIGH SHARE: whole timesteps 0 <= LOW <= HIGH <= 999 and a share "
                    f"in [0, 1], got {' '.join(str(v) for v in args.clip_t_focus)}"
                )
            args.clip_t_focus = (int(low), int(high), share)
        if not 0 <= args.frame_noise <= 1:
            top.error(f"--frame-noise must be a share in [0, 1], got {args.frame_noise}")
        if not (args.direction_probe >= 0 and math.isfinite(args.direction_probe)):
            top.error("--direction-probe must be a finite weight >= 0")
        mix, transition = args.v5_shares
        if not (0 <= mix and 0 <= transition and mix + transition <= 1):
            top.error(f"--v5-shares must be two shares >= 0 with a sum <= 1, got {mix} {transition}")
        if args.world != "v5" and args.v5_shares != [V5_MIX_SHARE, V5_TRANSITION_SHARE]:
            top.error("--v5-shares goes with --world v5")
        if not 0 <= args.v5_centred <= 1:
            top.error(f"--v5-centred must be a share in [0, 1], got {args.v5_centred}")
        if args.world != "v5" and args.v5_centred:
            top.error("--v5-centred goes with --world v5")
        if args.fresh_text and args.init is None:
            top.error("--fresh-text goes with --init")
        if args.frames > 32:
            top.error("--frames must be <= 32 (the motion modules' maximum)")
    for name in positive:
        if getattr(args, name) < 1:
            top.error(f"--{name.replace('_', '-')} must be >= 1")
    multiple = 8 if args.model == "t2v" else 4  # t2v: the autoencoder's factor 4, then the UNet's 2
    if args.size % multiple:
        top.error(f"--size must be a multiple of {multiple}")
    if not (args.lr > 0 and math.isfinite(args.lr)) or not 0 <= args.ema < 1:
        top.error("--lr must be > 0 and --ema in [0, 1)")
    if args.model == "vae":
        if not args.kl_weight >= 0:
            top.error("--kl-weight must be >= 0")
        if args.decoder_only and args.init is None:
            top.error("--decoder-only goes with --init (the encoder it keeps)")
        if not (args.latent_noise >= 0 and math.isfinite(args.latent_noise)):
            top.error(f"--latent-noise must be a finite number >= 0, got {args.latent_noise}")
        if args.latent_noise and not args.decoder_only:
            top.error("--latent-noise goes with --decoder-only (its units are the kept encoder's)")
        if args.init is not None and not (args.init / "config.json").is_file():
            top.error(f"--init {args.init}: not an exported autoencoder folder (no config.json)")
    if args.model == "t2v" and not (args.vae / "config.json").is_file():
        top.error(
            f"--vae {args.vae}: no autoencoder there (train one: python -m plugdiff.shapesworld.train vae --out DIR)"
        )
    if args.model == "t2v" and args.init is not None and not (args.init / "model_index.json").is_file():
        top.error(f"--init {args.init}: not an exported t2v folder (no model_index.json)")
    return args


def main(argv=None) -> Trainer:
    args = parse_args(argv)
    trainer = TRAINERS[args.model](args)
    return run(
        trainer,
        args.out,
        steps=args.steps,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        desc=f"train {args.model}",
    )


if __name__ == "__main__":
    main()
