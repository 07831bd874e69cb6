"""Swap plugdiff's accelerated sampler into any diffusers pipeline you have on disk.

    python examples/swap_scheduler.py PATH_OR_HUB_ID [--sampler ddim|ddpm] [--steps 10]
        [--prompt "a red circle"] [--seed 0] [--out sample.png] [--allow-download]

Works with unconditional pipelines (DDPMPipeline, e.g. a google/ddpm-* checkpoint) and text-
conditioned ones (Stable Diffusion style). Loads local files only unless --allow-download.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from plugdiff import AcceleratedDDIMScheduler, AcceleratedDDPMScheduler
from plugdiff.weights import ModelNotFoundError, load_pretrained

SAMPLERS = {"ddim": AcceleratedDDIMScheduler, "ddpm": AcceleratedDDPMScheduler}


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="local pipeline folder (or hub id with --allow-download)")
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default="ddim")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--prompt", default="a red circle", help="used only by text-conditioned pipelines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("sample.png"))
    parser.add_argument("--allow-download", action="store_true", help="let diffusers fetch the model from the hub")
    args = parser.parse_args(argv)

    try:
        pipe = load_pretrained(DiffusionPipeline, args.model, allow_download=args.allow_download)
    except ModelNotFoundError as err:
        sys.exit(str(err))
    # the one line that matters: same noise schedule, accelerated update
    pipe.scheduler = SAMPLERS[args.sampler].from_config(pipe.scheduler.config, timestep_spacing="trailing")

    call = dict(num_inference_steps=args.steps, generator=torch.Generator().manual_seed(args.seed))
    if "prompt" in inspect.signature(pipe.__call__).parameters:
        call["prompt"] = args.prompt
    image = pipe(**call).images[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({type(pipe.scheduler).__name__}, {args.steps} steps)")
    return args.out


if __name__ == "__main__":
    main()
