"""PromptBlend's cost: a multi-prompt video against a one-prompt video, same pipeline and seed.

Variants, interleaved in rounds (order rotated each round) after a warm-up, median time per
variant and the median of per-round ratios to the one-prompt video:

* one prompt;
* a 3-prompt schedule with diffusers' linear interpolation (``prompt_blend=False``);
* the same schedule with PromptBlend (aligned slots, gated cross-attention);
* PromptBlend + TiARA.

Model: a randomly initialised AnimateDiff layout, as in ``tiara_overhead.py`` (``shared.random_animatediff``:
``--model small`` on CPU, ``sd15`` on GPU), window denoising (16 / 4), classifier-free guidance on.

    python benchmarks/promptblend_cost.py                 # CPU, ~5 min
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import published_results
import torch
from shared import ANIMATEDIFF_MODELS, random_animatediff, upper_median

ONE_PROMPT = "a red circle moving right on a blue background"
SCHEDULE = (
    "0: a red circle moving right on a blue background\n"
    "{1}: a red circle | bouncing | | on a blue background\n"
    "{2}: a red circle sleeping on a blue background at night"
)
VARIANTS = {
    "one prompt": dict(prompt=ONE_PROMPT),
    "3 prompts, linear": dict(prompt=SCHEDULE, prompt_blend=False),
    "3 prompts, PromptBlend": dict(prompt=SCHEDULE),
    "3 prompts, PromptBlend + TiARA": dict(prompt=SCHEDULE, tiara={"alpha": 5.0}),
}


def measure(pipe, frames: int, args) -> dict:
    size = args.size or ANIMATEDIFF_MODELS[args.model][1]
    device = pipe.device
    base = dict(
        num_frames=frames,
        height=size,
        width=size,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        output_type="pt",
    )

    def run(name):
        call = dict(VARIANTS[name])
        if call["prompt"] is SCHEDULE:
            call["prompt"] = SCHEDULE.format(0, frames // 3, 2 * frames // 3)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = pipe(generator=torch.Generator(device).manual_seed(0), **base, **call).frames
        if device.type == "cuda":
            torch.cuda.synchronize()
        if not bool(torch.isfinite(out).all()):
            raise RuntimeError(f"non-finite frames: {name}")
        return time.perf_counter() - t0

    names = list(VARIANTS)
    for name in names:  # warm-up
        run(name)
    times = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(run(name))
    reference = times["one prompt"]
    return {
        name: {
            "seconds": upper_median(t),
            "ratio_to_one_prompt": upper_median([a / b for a, b in zip(t, reference)]),
            "all_seconds": t,
        }
        for name, t in times.items()
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(ANIMATEDIFF_MODELS), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = published_results.parse_args(parser, argv)

    pipe = random_animatediff(args.model, torch.device(args.device), getattr(torch, args.dtype))
    results = {frames: measure(pipe, frames, args) for frames in args.frames}
    size = args.size or ANIMATEDIFF_MODELS[args.model][1]
    print(
        f"\n### PromptBlend cost, {args.model} model, {size} px, {args.device} {args.dtype}, {args.steps} step(s), "
        f"CFG {args.guidance}\n"
    )
    print("| frames | variant | seconds | ratio to one prompt |\n|---|---|---|---|")
    for frames, by_variant in results.items():
        for name, r in by_variant.items():
            print(f"| {frames} | {name} | {r['seconds']:.2f} | {r['ratio_to_one_prompt']:.3f} |")
    report = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count()},
        "results": {str(frames): r for frames, r in results.items()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    layout = published_results.no_weights(f"randomly initialised AnimateDiff layout '{args.model}' (plugdiff.testing)")
    published_results.write_json(
        args.out / f"promptblend_cost_{args.model}-{args.device}-{args.dtype}.json", report, models=[layout]
    )
    return report


if __name__ == "__main__":
    main()
