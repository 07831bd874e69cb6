"""TiARA's cost, and memory against video length, for TiaraAnimateDiffPipeline.

Same pipeline, same seed, with and without TiARA, for 32 / 64 / 128 / 256 frames, in two long-
video modes: plugdiff's window denoising (whole UNet per 16-frame window, stride 4) and
diffusers' FreeNoise (windows inside the motion modules). Models (and a small character-level
CLIP text encoder; diffusers' FreeNoise path needs a text prompt) are randomly initialised from
configs (no download; ``shared.random_animatediff``, the layouts ``SMALL`` and ``SD15`` of
``plugdiff.testing``):

* ``--model small`` (CPU default): a real AnimateDiff layout at reduced width (UNet channels
  64-128-256-256, 8 heads, motion adapter to match, 4-block VAE, 64x64 frames);
* ``--model sd15`` (GPU): Stable Diffusion 1.5's UNet and VAE with the AnimateDiff v1.5 motion
  adapter layout, 256x256 frames, fp16, attention by SDPA or xformers.

Each (mode, frames) pair runs in its own process, so peak memory is its own (CPU: peak RSS and
its rise over the loaded-model baseline; CUDA: the allocator's peak per variant). Inside it,
generations with TiARA off and on alternate (order flipped each round) after a warm-up, and the
time ratio is the median of the per-round ratios, so machine drift hits both alike.

    python benchmarks/tiara_overhead.py                                  # CPU, ~10 min
    python benchmarks/tiara_overhead.py --model sd15 --device cuda --dtype float16 --attention xformers
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import published_results
import torch
from shared import ANIMATEDIFF_MODELS, random_animatediff, upper_median

FRAMES = (32, 64, 128, 256)
MODES = ("windows", "freenoise")


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args) -> dict:
    """One (mode, frames) configuration in this process: TiARA off and on, interleaved."""
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    pipe = random_animatediff(args.model, device, dtype)
    if args.attention == "xformers":
        pipe.enable_xformers_memory_efficient_attention()
    if args.mode == "freenoise":
        pipe.enable_free_noise(context_length=16, context_stride=4)
    size = args.size or ANIMATEDIFF_MODELS[args.model][1]
    call = dict(
        prompt="a red circle moving right",
        num_frames=args.frames,
        height=size,
        width=size,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        output_type="pt",
        **({} if args.mode == "freenoise" else {"windows": {"context_length": 16, "context_stride": 4}}),
    )
    variants = {"off": None, "on": {"alpha": 5.0}}
    baseline = current_rss_mb()

    def generate(variant):
        if device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        frames = pipe(generator=torch.Generator(device).manual_seed(0), tiara=variants[variant], **call).frames
        if device.type == "cuda":
            torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
        return time.perf_counter() - t0, peak, frames

    for variant in variants:  # warm-up
        generate(variant)
    times = {"off": [], "on": []}
    peaks = {}
    for round_index in range(args.repeats):  # interleaved, order alternating, so drift hits both
        for variant in ("off", "on") if round_index % 2 == 0 else ("on", "off"):
            seconds, peak, frames = generate(variant)
            times[variant].append(seconds)
            peaks[variant] = peak
            if not bool(torch.isfinite(frames).all()):
                raise RuntimeError(f"non-finite frames with TiARA {variant}")
    result = {
        "frames": args.frames,
        "mode": args.mode,
        "seconds_off": upper_median(times["off"]),
        "seconds_on": upper_median(times["on"]),
        "time_ratio": upper_median([on / off for on, off in zip(times["on"], times["off"])]),
        "all_seconds": times,
    }
    if device.type == "cuda":
        result.update(peak_off_mb=peaks["off"], peak_on_mb=peaks["on"])
    else:  # one process runs both: its peak covers both (TiARA's own buffers are small)
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["peak_above_model_mb"] = result["peak_mb"] - baseline
    return result


# (rows = batch x latent positions, channels) of SD-1.5's motion modules at 512x512 with CFG
SD15_MOTION_SHAPES = [(2 * 64 * 64, 320), (2 * 32 * 32, 640), (2 * 16 * 16, 1280), (2 * 8 * 8, 1280)]


def attention_microbenchmark(device, dtype, frames: int = 16, heads: int = 8, repeats: int = 20) -> list[dict]:
    """TiARA's attention against SDPA alone, at the shapes SD-1.5's motion modules see."""
    import torch.nn.functional as F

    from plugdiff.attention_processors import tiara_attention

    rows = []
    for batch, channels in SD15_MOTION_SHAPES:
        q, k, v = (torch.randn(batch, heads, frames, channels // heads, device=device, dtype=dtype) for _ in range(3))
        timings = {}
        for name, fn in (
            ("sdpa", functools.partial(F.scaled_dot_product_attention, q, k, v)),
            ("tiara", functools.partial(tiara_attention, q, k, v, scale=(channels // heads) ** -0.5, alpha=5.0)),
        ):
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(repeats):
                fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            timings[name] = (time.perf_counter() - t0) / repeats * 1e3
        rows.append(
            {
                "rows": batch,
                "channels": channels,
                "sdpa_ms": timings["sdpa"],
                "tiara_ms": timings["tiara"],
                "ratio": timings["tiara"] / timings["sdpa"],
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(ANIMATEDIFF_MODELS), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "xformers"])
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--size", type=int, default=None, help="frame height = width (default: the model's)")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument(
        "--guidance", type=float, default=1.0, help="1 = no classifier-free guidance (half the UNet batch)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--micro-repeats", type=int, default=20, help="repeats of the attention microbenchmark")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default=None, help="output name suffix (default: model-device-dtype-attention)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    args = published_results.parse_args(parser, argv)

    if args.worker:
        args.frames = args.frames[0]
        print(json.dumps(worker(args)))
        return None

    tag = (
        args.tag
        or f"{args.model}-{args.size or ANIMATEDIFF_MODELS[args.model][1]}px-{args.device}-"
        f"{args.dtype}-{args.attention}"
    )
    rows = []
    for mode in args.modes:
        for frames in args.frames:
            cmd = [sys.executable, __file__, "--worker", "--mode", mode, "--frames", str(frames)]
            for flag in ("model", "device", "dtype", "attention", "steps", "guidance", "repeats", "size"):
                if getattr(args, flag) is not None:
                    cmd += [f"--{flag}", str(getattr(args, flag))]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                rows.append({"frames": frames, "mode": mode, "error": done.stderr.strip().splitlines()[-1]})
            else:
                rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(
                f"{mode:9s} {frames:4d} frames: {rows[-1].get('time_ratio', rows[-1].get('error'))}",
                file=sys.stderr,
                flush=True,
            )

    cuda = args.device != "cpu"
    memory_head = "peak off / on (MB)" if cuda else "peak RSS (MB) / above model"
    table = [
        f"| mode | frames | time off (s) | time on (s) | on / off (median of rounds) | {memory_head} | peak vs "
        f"{args.frames[0]} frames |",
        "|---|---|---|---|---|---|---|",
    ]
    summary = []
    for mode in args.modes:
        by = {r["frames"]: r for r in rows if r["mode"] == mode}
        peak_of = (lambda r: r["peak_on_mb"]) if cuda else (lambda r: r["peak_above_model_mb"])
        first = by.get(args.frames[0], {})
        for frames in args.frames:
            r = by[frames]
            if "error" in r:
                table.append(f"| {mode} | {frames} | {r['error']} | | | | |")
                continue
            growth = peak_of(r) / peak_of(first) if "error" not in first else float("nan")
            memory = (
                f"{r['peak_off_mb']:.0f} / {r['peak_on_mb']:.0f}"
                if cuda
                else f"{r['peak_mb']:.0f} / {r['peak_above_model_mb']:.0f}"
            )
            summary.append(
                {"mode": mode, "frames": frames, "time_ratio": r["time_ratio"], "peak_growth_vs_first": growth}
            )
            table.append(
                f"| {mode} | {frames} | {r['seconds_off']:.2f} | {r['seconds_on']:.2f} | {r['time_ratio']:.3f} | "
                f"{memory} | {growth:.2f} |"
            )
    note = (
        "CPU: one process per row; peak RSS, and its rise above the loaded model"
        if not cuda
        else "CUDA: torch.cuda.max_memory_allocated per variant"
    )
    print(f"\n### TiARA overhead, {tag} ({note})\n")
    print("\n".join(table))
    micro = attention_microbenchmark(torch.device(args.device), getattr(torch, args.dtype), repeats=args.micro_repeats)
    print(f"\n### Temporal attention alone, SD-1.5 motion-module shapes, 16 frames, {args.device} {args.dtype}\n")
    print("| rows x channels | SDPA (ms) | TiARA (ms) | TiARA / SDPA |\n|---|---|---|---|")
    for r in micro:
        print(f"| {r['rows']} x {r['channels']} | {r['sdpa_ms']:.2f} | {r['tiara_ms']:.2f} | {r['ratio']:.2f} |")
    report = {
        "attention_microbenchmark": micro,
        "tag": tag,
        "args": {k: v for k, v in vars(args).items() if k not in ("worker", "mode", "out", "micro_repeats")},
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu_count": os.cpu_count(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "memory_measure": note,
        "rows": rows,
        "summary": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    layout = published_results.no_weights(f"randomly initialised AnimateDiff layout '{args.model}' (plugdiff.testing)")
    published_results.write_json(args.out / f"tiara_overhead_{tag}.json", report, models=[layout])
    return report


if __name__ == "__main__":
    main()
