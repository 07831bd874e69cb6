"""Quality of a ShapesWorld image prior: the share of its samples that the detector reads back as
one clean shape of a valid colour (our bar: >= 80 %), with DDPM (all 1000 steps) and
AcceleratedDDPM at fewer steps, plus the shape / colour mix against the training distribution.

    python benchmarks/shapesworld_prior.py [--model plugdiff/weights/shapesworld-ddpm] [--num-samples 256]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import published_results
import torch
from shared import DEFAULT_PRIOR, detector_score, load_prior, save_grid

from plugdiff.samplers import AcceleratedDDPMScheduler, denoise


def sample(pipe, scheduler, steps: int, n: int, seed: int) -> tuple[torch.Tensor, float]:
    size = pipe.unet.config.sample_size
    noise = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    with torch.no_grad():
        images, _ = denoise(scheduler, pipe.eps_model, noise, steps, generator=torch.Generator().manual_seed(seed + 1))
    return images, time.perf_counter() - t0


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_PRIOR)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 50])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = published_results.parse_args(parser, argv)
    pipe = load_prior(args.model)
    report = {"model": str(args.model), "num_samples": args.num_samples, "runs": {}}
    for steps in args.steps:
        scheduler = (
            pipe.scheduler if steps == 1000 else AcceleratedDDPMScheduler.from_config(dict(pipe.scheduler.config))
        )
        name = f"{type(scheduler).__name__}-{steps}"
        images, seconds = sample(pipe, scheduler, steps, args.num_samples, args.seed)
        report["runs"][name] = {"seconds": seconds, **detector_score(images)}
        print(
            f"{name}: clean {report['runs'][name]['clean_fraction']:.3f} of {args.num_samples} in {seconds:.0f} s; "
            f"shapes {report['runs'][name]['shapes']}, colours {report['runs'][name]['colours']}",
            flush=True,
        )
        args.out.mkdir(parents=True, exist_ok=True)
        save_grid(images[:64], args.out / f"shapesworld_prior_{name}.png")
        # after every run: nothing lost
        published_results.write_json(args.out / "shapesworld_prior.json", report, models=[args.model])
    return report


if __name__ == "__main__":
    main()
