"""TiARA's cost, and memory against video length, for TiaraAnimateDiffPipeline.

Same pipeline, same seed, with and without TiARA, for 32 / 64 / 128 / 256 frames, in two long-
video modes: plugdiff's window denoising (whole UNet per 16-frame window, stride 4) and
diffusers' FreeNoise (windows inside the motion modules). Models (and a small character-level
CLIP text encoder; diffusers' FreeNoise path needs a text prompt) are randomly initialised from
configs (no download):

* ``--model small`` (CPU default): a real AnimateDiff layout at reduced width (UNet channels
  64-128-256-256, 8 heads, motion adapter to match, 4-block VAE, 64x64 frames);
* ``--model sd15`` (GPU): Stable Diffusion 1.5's UNet and VAE with the AnimateDiff v1.5 motion
  adapter layout, 256x256 frames, fp16, attention by SDPA or xformers.

Each configuration runs in its own process, so peak memory is that configuration's own (CPU:
peak RSS, and its rise over the loaded-model baseline; CUDA: the allocator's peak). Time is
the median of ``--repeats`` full generations after a warm-up.

    python benchmarks/tiara_overhead.py                                  # CPU, ~10 min
    python benchmarks/tiara_overhead.py --model sd15 --device cuda --dtype float16 --attention xformers
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, MotionAdapter, UNet2DConditionModel

from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.weights.text_models import char_clip_tokenizer, clip_text_encoder

MODELS = {
    "small": dict(
        unet=dict(block_out_channels=(64, 128, 256, 256), attention_head_dim=8, cross_attention_dim=256, sample_size=8),
        adapter=dict(block_out_channels=(64, 128, 256, 256), motion_num_attention_heads=8),
        vae=dict(block_out_channels=(32, 64, 64, 64)),
        text_dim=256,
        size=64,
    ),
    "sd15": dict(
        unet=dict(block_out_channels=(320, 640, 1280, 1280), attention_head_dim=8, cross_attention_dim=768, sample_size=64),
        adapter=dict(block_out_channels=(320, 640, 1280, 1280), motion_num_attention_heads=8),
        vae=dict(block_out_channels=(128, 256, 512, 512)),
        text_dim=768,
        size=256,
    ),
}
FRAMES = (32, 64, 128, 256)
MODES = ("windows", "freenoise")


def build_pipeline(model: str, device, dtype) -> TiaraAnimateDiffPipeline:
    cfg = MODELS[model]
    torch.manual_seed(0)
    with torch.device(device):  # initialise in place: much faster for the GPU-sized model
        return _build(cfg).to(dtype=dtype)


def _build(cfg) -> TiaraAnimateDiffPipeline:
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=4, layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, **cfg["unet"],
    )
    adapter = MotionAdapter(motion_layers_per_block=2, motion_max_seq_length=32, **cfg["adapter"])
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, layers_per_block=2, **cfg["vae"],
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False, timestep_spacing="trailing")
    tokenizer = char_clip_tokenizer()
    text_encoder = clip_text_encoder(len(tokenizer), hidden_size=cfg["text_dim"], num_layers=2, num_heads=8)
    pipe = TiaraAnimateDiffPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, motion_adapter=adapter, scheduler=scheduler,
        feature_extractor=None, image_encoder=None,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(args) -> dict:
    """One configuration in this process: returns timings and peak memory."""
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    pipe = build_pipeline(args.model, device, dtype)
    if args.attention == "xformers":
        pipe.enable_xformers_memory_efficient_attention()
    if args.mode == "freenoise":
        pipe.enable_free_noise(context_length=16, context_stride=4)
    size = MODELS[args.model]["size"]
    call = dict(
        prompt="a red circle moving right", num_frames=args.frames, height=size, width=size,
        num_inference_steps=args.steps, guidance_scale=args.guidance, output_type="pt",
        tiara={"alpha": 5.0} if args.tiara == "on" else None,
        **({} if args.mode == "freenoise" else {"windows": {"context_length": 16, "context_stride": 4}}),
    )
    baseline = current_rss_mb()

    def generate():
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        frames = pipe(generator=torch.Generator(device).manual_seed(0), **call).frames
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, frames

    generate()  # warm-up
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.repeats):
        seconds, frames = generate()
        times.append(seconds)
    result = {
        "frames": args.frames, "mode": args.mode, "tiara": args.tiara, "seconds": sorted(times)[len(times) // 2],
        "all_seconds": times, "finite": bool(torch.isfinite(frames).all()),
        "checksum": float(frames.float().mean()),
    }
    if device.type == "cuda":
        result["peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    else:
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["peak_above_model_mb"] = result["peak_mb"] - baseline
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    parser.add_argument("--attention", default="sdpa", choices=["sdpa", "xformers"])
    parser.add_argument("--frames", type=int, nargs="+", default=list(FRAMES))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--guidance", type=float, default=1.0, help="1 = no classifier-free guidance (half the UNet batch)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default=None, help="output name suffix (default: model-device-dtype-attention)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--tiara", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        args.frames = args.frames[0]
        print(json.dumps(worker(args)))
        return None

    tag = args.tag or f"{args.model}-{args.device}-{args.dtype}-{args.attention}"
    rows = []
    for mode in args.modes:
        for frames in args.frames:
            for tiara in ("off", "on"):
                cmd = [sys.executable, __file__, "--worker", "--mode", mode, "--tiara", tiara, "--frames", str(frames)]
                for flag in ("model", "device", "dtype", "attention", "steps", "guidance", "repeats"):
                    cmd += [f"--{flag}", str(getattr(args, flag))]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    rows.append({"frames": frames, "mode": mode, "tiara": tiara, "error": done.stderr.strip().splitlines()[-1]})
                else:
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
                print(f"{mode:9s} {frames:4d} frames tiara={tiara}: {rows[-1].get('seconds', rows[-1].get('error'))}", file=sys.stderr, flush=True)

    table = ["| mode | frames | time off (s) | time on (s) | on / off | peak off (MB) | peak on (MB) | peak / peak at 32 |", "|---|---|---|---|---|---|---|---|"]
    summary = []
    for mode in args.modes:
        by = {(r["frames"], r["tiara"]): r for r in rows if r["mode"] == mode}
        peak_key = "peak_above_model_mb" if args.device == "cpu" else "peak_mb"
        base = by.get((args.frames[0], "on"), {}).get(peak_key)
        for frames in args.frames:
            off, on = by[(frames, "off")], by[(frames, "on")]
            if "error" in off or "error" in on:
                table.append(f"| {mode} | {frames} | {off.get('error', '')} | {on.get('error', '')} | | | | |")
                continue
            ratio = on["seconds"] / off["seconds"]
            growth = on[peak_key] / base if base else float("nan")
            summary.append({"mode": mode, "frames": frames, "time_ratio": ratio, "peak_growth_vs_first": growth})
            table.append(
                f"| {mode} | {frames} | {off['seconds']:.2f} | {on['seconds']:.2f} | {ratio:.3f} | "
                f"{off[peak_key]:.0f} | {on[peak_key]:.0f} | {growth:.2f} |"
            )
    note = "CPU: peak RSS above the loaded-model baseline" if args.device == "cpu" else "CUDA: torch.cuda.max_memory_allocated"
    print(f"\n### TiARA overhead, {tag} ({note})\n")
    print("\n".join(table))
    report = {
        "tag": tag, "args": {k: v for k, v in vars(args).items() if k not in ("worker", "mode", "tiara", "out")},
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "memory_measure": note, "rows": rows, "summary": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"tiara_overhead_{tag}.json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
