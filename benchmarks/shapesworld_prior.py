"""Quality of a ShapesWorld image prior: the share of its samples that the detector reads back as
one clean shape of a valid colour (our bar: >= 80 %), with DDPM (all 1000 steps) and
AcceleratedDDPM at fewer steps, plus the shape / colour mix against the training distribution.

    python benchmarks/shapesworld_prior.py [--model plugdiff/weights/shapesworld-ddpm] [--num-samples 256]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from diffusers import DDPMPipeline
from PIL import Image

from plugdiff.media.fileio import atomic_write
from plugdiff.samplers import AcceleratedDDPMScheduler, denoise
from plugdiff.shapesworld.detector import detect

sys.path.insert(0, str(Path(__file__).resolve().parent))
import published_results

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "plugdiff" / "weights" / "shapesworld-ddpm"


def score(images: torch.Tensor) -> dict:
    """Detector read-back of (N, 3, H, W) samples in [-1, 1]."""
    found = detect(images.clamp(-1, 1))
    clean = [d for d in found if d is not None and d.clean]
    return {
        "n": len(found),
        "clean_fraction": len(clean) / len(found),
        "shapes": dict(Counter(d.shape for d in clean)),
        "colours": dict(Counter(d.colour for d in clean)),
        "backgrounds": dict(Counter(d.background for d in clean)),
    }


def sample(pipe, scheduler, steps: int, n: int, seed: int) -> tuple[torch.Tensor, float]:
    unet = pipe.unet
    size = unet.config.sample_size
    noise = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    with torch.no_grad():
        images, _ = denoise(scheduler, lambda x, t: unet(x, t).sample, noise, steps, generator=torch.Generator().manual_seed(seed + 1))
    return images, time.perf_counter() - t0


def strip(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) images in [-1, 1] side by side: an (H, N W, 3) float array in [0, 1] for imshow."""
    return np.concatenate(list(((images.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy()), axis=1)


def grid(images: torch.Tensor, path: Path, columns: int = 16) -> None:
    pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()
    rows = -(-len(pixels) // columns)
    h, w = pixels.shape[1:3]
    canvas = np.full((rows * (h + 1), columns * (w + 1), 3), 255, dtype=np.uint8)
    for i, p in enumerate(pixels):
        r, c = divmod(i, columns)
        canvas[r * (h + 1): r * (h + 1) + h, c * (w + 1): c * (w + 1) + w] = p
    atomic_write(path, lambda tmp: Image.fromarray(canvas).save(tmp))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 50])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = published_results.parse_args(parser, argv)
    pipe = DDPMPipeline.from_pretrained(args.model, use_safetensors=True, local_files_only=True)
    report = {"model": str(args.model), "num_samples": args.num_samples, "runs": {}}
    for steps in args.steps:
        scheduler = pipe.scheduler if steps == 1000 else AcceleratedDDPMScheduler.from_config(dict(pipe.scheduler.config))
        name = f"{type(scheduler).__name__}-{steps}"
        images, seconds = sample(pipe, scheduler, steps, args.num_samples, args.seed)
        report["runs"][name] = {"seconds": seconds, **score(images)}
        print(f"{name}: clean {report['runs'][name]['clean_fraction']:.3f} of {args.num_samples} in {seconds:.0f} s; "
              f"shapes {report['runs'][name]['shapes']}, colours {report['runs'][name]['colours']}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        grid(images[:64], args.out / f"shapesworld_prior_{name}.png")
        # after every run: nothing lost
        published_results.write_json(args.out / "shapesworld_prior.json", report, models=[args.model])
    return report


if __name__ == "__main__":
    main()
