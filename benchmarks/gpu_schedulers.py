"""Scheduler cost at real size on a GPU: step() overhead and a full SD-1.5-sized denoising loop.

A randomly initialised UNet with Stable Diffusion 1.5's config (860M parameters, no download)
denoises a 4x64x64 latent (a 512x512 image) with each scheduler at 20 steps; the table gives
the per-step time of the UNet + scheduler loop, the time spent inside ``step()`` alone and its
share of the loop, in fp16 and fp32, and checks that every output is finite. Needs CUDA.

    python benchmarks/gpu_schedulers.py --out DIR
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import published_results
import torch
from samplers import BASE_CONFIG, METHODS, steps_for_budget

from plugdiff.samplers.loop import step_kwargs
from plugdiff.testing import SD15, unet2d_condition


def timed_loop(unet, scheduler, latents, context, steps, generator):
    """One diffusers-style loop; returns (output, total seconds, seconds inside step())."""
    extra = step_kwargs(scheduler, generator)
    scheduler.set_timesteps(steps, device=latents.device)
    x = latents * scheduler.init_noise_sigma
    in_step = 0.0
    torch.cuda.synchronize()
    start = time.perf_counter()
    for t in scheduler.timesteps:
        eps = unet(scheduler.scale_model_input(x, t), t, encoder_hidden_states=context).sample
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        x = scheduler.step(eps, t, x, **extra).prev_sample
        torch.cuda.synchronize()
        in_step += time.perf_counter() - t0
    return x, time.perf_counter() - start, in_step


@torch.no_grad()
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--steps", type=int, default=20)
    args = published_results.parse_args(parser, argv)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_schedulers.py needs a CUDA device")
    device = torch.device("cuda")
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "steps": args.steps, "results": {}}
    unet = unet2d_condition(SD15).to(device).eval()
    report["unet_parameters"] = sum(p.numel() for p in unet.parameters())
    finals = {}
    for dtype in (torch.float16, torch.float32):
        unet.to(dtype)
        g = torch.Generator(device).manual_seed(0)
        latents = torch.randn(1, 4, 64, 64, generator=g, device=device, dtype=dtype)
        context = torch.randn(1, 77, 768, generator=g, device=device, dtype=dtype)
        for method, (make, _, calls_per_step) in METHODS.items():
            sched = make(BASE_CONFIG)
            steps = steps_for_budget(args.steps, calls_per_step)
            timed_loop(unet, sched, latents, context, 3, g)  # warm-up
            out, total, in_step = timed_loop(unet, sched, latents, context, steps, g)
            calls = len(sched.timesteps)
            row = {
                "model_calls": calls,
                "ms_per_call": 1e3 * total / calls,
                "step_ms": 1e3 * in_step / calls,
                "step_share": in_step / total,
                "finite": bool(torch.isfinite(out).all()),
                "output_dtype": str(out.dtype),
            }
            report["results"].setdefault(str(dtype).replace("torch.", ""), {})[method] = row
            finals.setdefault(method, []).append(out.float())
            print(f"{dtype} {method:20s} {row}", flush=True)
    # same seed, same weights: how far the fp16 run lands from the fp32 one (UNet + scheduler)
    for method, (half, full) in finals.items():
        report["results"]["float16"][method]["rel_diff_to_fp32"] = float((half - full).norm() / full.norm())
    ddim = {k: v["DDIM"]["step_ms"] for k, v in report["results"].items()}
    print(
        "\n| scheduler | dtype | UNet+step ms/call | step() ms | step share of loop | step() vs DDIM "
        "| finite | fp16 vs fp32 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for dtype, rows in report["results"].items():
        for method, row in rows.items():
            print(
                f"| {method} | {dtype} | {row['ms_per_call']:.2f} | {row['step_ms']:.3f} | "
                f"{100 * row['step_share']:.2f}% | {row['step_ms'] / ddim[dtype]:.2f} | {row['finite']} | "
                f"{row.get('rel_diff_to_fp32', 0.0):.2e} |"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    published_results.write_json(
        args.out / "gpu_schedulers.json",
        report,
        models=[
            published_results.no_weights(
                "randomly initialised UNet2DConditionModel with Stable Diffusion 1.5's config"
            )
        ],
    )


if __name__ == "__main__":
    main()
