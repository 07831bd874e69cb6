"""Render a long video with TiARA (and PromptBlend for several prompts) from the bundled
ShapesWorld model or any AnimateDiff pipeline folder you have on disk.

    python examples/long_video.py shapesworld-t2v --schedule examples/schedules/shapesworld.txt \
        --frames 64 --upscale 8 --out outputs/shapesworld.mp4
    python examples/long_video.py PIPELINE_DIR_OR_HUB_ID "a red circle moving right" \
        [--frames 128] [--steps N] [--scheduler NAME] [--alpha 5.0] [--size 512] [--seed 0] [--out outputs/video.mp4]
        [--allow-download]
    python examples/long_video.py PIPELINE_DIR --schedule examples/schedules/three_scenes.txt \
        [--transition 0.5] [--no-prompt-blend] [--negative "blurry"] ...

A schedule file holds prompt-travel lines ``<frame>: <prompt>`` (or a JSON object
``{"0": "...", "48": "..."}``). The output (.mp4, .gif, or a folder of PNGs) gets a JSON sidecar
with every setting and the seed. MODEL is a registry name (``shapesworld-t2v``, bundled;
``animatediff-sd15``), a folder or a hub id; local files only unless --allow-download.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from plugdiff.media import save_video
from plugdiff.pipelines import TiaraAnimateDiffPipeline, read_schedule_file
from plugdiff.samplers.presets import make_scheduler
from plugdiff.weights import ModelNotFoundError, load_pipeline, sampling_defaults


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="registry name (shapesworld-t2v), AnimateDiff pipeline folder, or hub id")
    parser.add_argument("prompt", nargs="?", help="one prompt (or use --schedule)")
    parser.add_argument("--schedule", type=Path, help="prompt schedule file: prompt-travel lines or a JSON object")
    parser.add_argument(
        "--transition",
        type=float,
        default=None,
        help="PromptBlend transition: fraction of each gap between key frames (<= 1) or frames (> 1); "
        "default: the model's stored one",
    )
    parser.add_argument(
        "--no-prompt-blend", action="store_true", help="diffusers' linear interpolation instead of PromptBlend"
    )
    parser.add_argument("--negative", default=None, help="negative prompt")
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's stored steps")
    parser.add_argument(
        "--scheduler", default=None, help="a plugdiff sampler name (--scheduler of the CLI); default: the model's"
    )
    parser.add_argument("--alpha", type=float, default=5.0, help="TiARA strength; 0 turns it off")
    parser.add_argument("--size", type=int, default=None, help="height = width in pixels (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's stored guidance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=8.0)
    parser.add_argument(
        "--upscale", type=int, default=1, help="enlarge frames by this integer factor (nearest) when saving"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/video.mp4"))
    parser.add_argument("--allow-download", action="store_true")
    args = parser.parse_args(argv)
    if (args.prompt is None) == (args.schedule is None):
        parser.error("give one prompt or --schedule FILE, not both")
    if args.upscale < 1:
        parser.error("--upscale must be an integer >= 1")
    try:
        prompt = args.prompt if args.schedule is None else read_schedule_file(args.schedule)
    except ValueError as err:
        parser.error(str(err))
    stored = sampling_defaults(args.model)  # what the model was benchmarked with (sampling_defaults.json)
    for key in ("transition", "steps", "guidance", "scheduler"):
        if getattr(args, key) is None:
            setattr(args, key, stored[key])
    transition = int(args.transition) if args.transition > 1 else args.transition

    try:
        pipe = load_pipeline(args.model, pipeline_cls=TiaraAnimateDiffPipeline, allow_download=args.allow_download)
    except (ModelNotFoundError, ValueError) as err:
        sys.exit(str(err))
    pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler)
    if torch.cuda.is_available():
        pipe.to("cuda", torch.float16)
    settings = dict(
        prompt=prompt,
        negative_prompt=args.negative,
        num_frames=args.frames,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        height=args.size,
        width=args.size,
        tiara={"alpha": args.alpha},
        prompt_blend=False if args.no_prompt_blend else {"transition": transition},
    )
    frames = pipe(**settings, generator=torch.Generator(pipe.device).manual_seed(args.seed), output_type="pt").frames[
        0
    ]
    frames = frames.repeat_interleave(args.upscale, dim=-1).repeat_interleave(args.upscale, dim=-2)
    path = save_video(frames, args.out, fps=args.fps, metadata={**settings, "seed": args.seed, "model": args.model})
    print(f"wrote {path} ({args.frames} frames)")
    return path


if __name__ == "__main__":
    main()
