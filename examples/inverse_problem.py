"""Solve an inverse problem with a diffusion prior: measure an image, then sample its posterior.

    python examples/inverse_problem.py --model MODEL_DIR --image face.png \
        [--operator super_resolution --factor 4 | --operator inpainting --mask random | ...]
        [--operator-kwargs '{"noise_std": 0.05}'] [--method dpnp|dps] [--recipe authors|posterior]
        [--num-samples 4] [--seed 0] [--out outputs/inverse_problem] [--allow-download]

MODEL_DIR is a local diffusers folder with an unconditional epsilon-prediction UNet2DModel and
its scheduler, e.g. google/ddpm-celebahq-256 downloaded with
``huggingface-cli download google/ddpm-celebahq-256 --local-dir MODEL_DIR``; nothing is
downloaded unless --allow-download (then MODEL_DIR may be a hub id). The image is cropped and
resized to the model's size and measured with the operator (noise drawn from --seed); then DPnP
(Xu & Chi, NeurIPS 2024) or DPS (Chung et al., ICLR 2023) draws --num-samples posterior
samples. Written to --out: truth.png (the resized input), measurement.png, sample_000.png ...,
mean.png, std.png (the per-pixel posterior std, scaled so its maximum is white) and run.json
(every setting, the seed and the scales).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from plugdiff.media.fileio import write_json
from plugdiff.media.image_io import posterior_pictures, read_image, save_image
from plugdiff.pipelines import DPnPPipeline, DPSPipeline
from plugdiff.pipelines.posterior.operators import OPERATORS, make_operator
from plugdiff.weights import ModelNotFoundError, load_pretrained

PIPELINES = {"dpnp": DPnPPipeline, "dps": DPSPipeline}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", required=True, help="local folder with unet/ and scheduler/ (e.g. a google/ddpm-* download)"
    )
    parser.add_argument(
        "--allow-download", action="store_true", help="let diffusers fetch --model from the hub (off by default)"
    )
    parser.add_argument("--image", type=Path, required=True, help="the ground-truth image to measure")
    parser.add_argument("--operator", choices=list(OPERATORS), default="inpainting")
    parser.add_argument("--factor", type=int, help="super_resolution: downsampling factor (2 or 4)")
    parser.add_argument("--mask", help="inpainting: 'box' or 'random'")
    parser.add_argument("--noise-std", type=float, help="measurement noise std in [-1, 1] image units")
    parser.add_argument("--operator-kwargs", default="{}", help="JSON object of further operator arguments")
    parser.add_argument("--method", choices=sorted(PIPELINES), default="dpnp")
    parser.add_argument(
        "--recipe",
        choices=["authors", "posterior"],
        default="authors",
        help="DPnP settings: the authors' warm-start recipe or the cold-start exact-posterior mode",
    )
    parser.add_argument(
        "--schedule", choices=["official", "accurate"], help="DPnP annealing preset (default: the recipe's)"
    )
    parser.add_argument(
        "--pcs", choices=["auto", "exact", "mala", "langevin"], help="DPnP proximal sampler (default: the recipe's)"
    )
    parser.add_argument("--dds", choices=["ddpm", "ddim"], help="DPnP denoising sampler (default: the recipe's)")
    parser.add_argument(
        "--dds-steps",
        type=int,
        help="DPnP: UNet evaluations per denoising step (default: the recipe's: 4 for \"authors\", 10 for "
        "\"posterior\")",
    )
    parser.add_argument("--dps-steps", type=int, default=None, help="DPS: timesteps (default: all training steps)")
    parser.add_argument("--step-size", type=float, default=1.0, help="DPS likelihood step zeta")
    parser.add_argument("--num-samples", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/inverse_problem"))
    args = parser.parse_args(argv)

    try:
        operator_kwargs = json.loads(args.operator_kwargs)
        if not isinstance(operator_kwargs, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:
        parser.error(f"--operator-kwargs must be a JSON object: {err}")
    flags = {"factor": args.factor, "mask": args.mask, "noise_std": args.noise_std}
    operator_kwargs.update({k: v for k, v in flags.items() if v is not None})
    try:
        operator = make_operator(args.operator, **operator_kwargs)
    except ValueError as err:
        parser.error(str(err))

    try:
        pipe = load_pretrained(PIPELINES[args.method], args.model, allow_download=args.allow_download)
    except ModelNotFoundError as err:
        sys.exit(str(err))
    if torch.cuda.is_available():
        pipe.to("cuda")
    config = pipe.unet.config
    size = config.sample_size
    height, width = (size, size) if isinstance(size, int) else size
    try:
        truth = read_image(args.image, config.in_channels, (width, height)).to(pipe.device)
    except ValueError as err:
        sys.exit(f"error: --image: {err}")

    generator = torch.Generator(pipe.device).manual_seed(args.seed)
    y = operator.measure(truth, generator=generator)
    if args.method == "dpnp":
        method = dict(recipe=args.recipe, etas=args.schedule, pcs=args.pcs, dds=args.dds, num_dds_steps=args.dds_steps)
    else:
        method = dict(step_size=args.step_size, num_inference_steps=args.dps_steps)
    try:
        out = pipe(y, operator, num_samples=args.num_samples, generator=generator, output_type="pt", **method)
    except ValueError as err:
        sys.exit(f"error: {err}")

    args.out.mkdir(parents=True, exist_ok=True)
    shown, scales = posterior_pictures(y, out, config.in_channels)
    pictures = {"truth.png": truth, **shown}
    written = {name: save_image(tensor, args.out / name) for name, tensor in pictures.items()}
    record = {
        **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "operator": args.operator,
        "operator_config": operator.config(),
        "method_settings": method,
        "image_size": [height, width],
        "model_evals": out.model_evals,
        "acceptance_rate": out.acceptance_rate,
        **scales,
        "files": sorted(written),
    }
    written["run.json"] = write_json(args.out / "run.json", record)
    print(f"wrote {len(written)} files to {args.out} ({args.method}, {out.model_evals} UNet evaluations per sample)")
    return written


if __name__ == "__main__":
    main()
