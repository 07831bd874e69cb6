"""Render a long video with TiARA from any AnimateDiff pipeline folder you have on disk.

    python examples/long_video.py PIPELINE_DIR_OR_HUB_ID "a red circle moving right" \
        [--frames 128] [--steps 25] [--alpha 5.0] [--size 512] [--seed 0] [--out outputs/video.mp4]
        [--allow-download]

The output (.mp4, .gif, or a folder of PNGs) gets a JSON sidecar with every setting and the
seed. Loads local files only unless --allow-download.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from plugdiff.pipelines import TiaraAnimateDiffPipeline, save_video
from plugdiff.weights import ModelNotFoundError, load_pretrained


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="AnimateDiff pipeline folder (or hub id with --allow-download)")
    parser.add_argument("prompt")
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--alpha", type=float, default=5.0, help="TiARA strength; 0 turns it off")
    parser.add_argument("--size", type=int, default=None, help="height = width in pixels (default: the model's)")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=Path("outputs/video.mp4"))
    parser.add_argument("--allow-download", action="store_true")
    args = parser.parse_args(argv)

    try:
        pipe = load_pretrained(TiaraAnimateDiffPipeline, args.model, allow_download=args.allow_download)
    except ModelNotFoundError as err:
        sys.exit(str(err))
    if torch.cuda.is_available():
        pipe.to("cuda", torch.float16)
    settings = dict(prompt=args.prompt, num_frames=args.frames, num_inference_steps=args.steps, guidance_scale=args.guidance,
                    height=args.size, width=args.size, tiara={"alpha": args.alpha})
    frames = pipe(**settings, generator=torch.Generator(pipe.device).manual_seed(args.seed), output_type="pt").frames[0]
    path = save_video(frames, args.out, fps=args.fps, metadata={**settings, "seed": args.seed, "model": args.model})
    print(f"wrote {path} ({args.frames} frames)")
    return path


if __name__ == "__main__":
    main()
