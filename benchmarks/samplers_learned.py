"""Every scheduler of the samplers benchmark on a learned model, the bundled ShapesWorld image prior:
sample quality against fresh ground-truth frames at 5-50 model evaluations (part 2 of the sampler benchmarks).

    python benchmarks/samplers_learned.py [--quick] [--num-samples 256] [--nfe 5 10 20 50] [--methods NAME ...]
    python benchmarks/samplers_learned.py --merge --methods NAME ...   # add schedulers to an earlier run
    python benchmarks/samplers_learned.py --grid-end 50 [--clip-sample]  # on a grid even in log-SNR

Per (scheduler, NFE), from the same starting noise:
* ``sliced_w2``: sliced 2-Wasserstein distance in pixel space between the samples and as many fresh
  ShapesWorld frames (``sample_frames``, a seed no training run used); ``floor`` is the same
  distance between two independent sets of true frames, the value a perfect sampler would get;
* ``clean``: share of samples the detector reads back as one clean shape of a valid colour;
* ``seconds``: wall time of the sampling loop.
Every scheduler shares the model's noise schedule (linear betas, 1000 steps) with ``trailing``
spacing, so all of them start at t = 999, and no x0 clipping unless ``--clip-sample``. That sets
``clip_sample`` (DDIM, DDPM, Heun and plugdiff's schedulers) and also ``thresholding`` with
``sample_max_value=1``, which is the same clipping to [-1, 1] for the schedulers that have no
``clip_sample`` (DPM-Solver, UniPC). Writes ``results/samplers_learned{,_clipped}.{json,png}``.

``--merge`` runs only ``--methods`` and adds them to the report already at ``--out``, keeping its
other schedulers' rows. It refuses unless that report was made with the same model, clipping,
sample count and NFE list and its floor (a function of the seed's truth frames) is reproduced
exactly, so every row of the merged report shares the same start noise and truth.

``--grid-end E`` runs the schedulers that take custom timesteps (those of ``samplers.py
--grids``) on a grid even in log-SNR from t = 999 down to E (:func:`plugdiff.samplers.logsnr_timesteps`)
instead of "trailing"; default report ``results/samplers_learned_logsnr{,_clipped}.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import published_results
import torch
from samplers import GRID_METHODS, METHODS, steps_for_budget
from shared import DEFAULT_PRIOR, detector_score, load_prior, pyplot, save_figure

from plugdiff.evaluation.distances import sliced_wasserstein
from plugdiff.samplers import denoise, logsnr_timesteps
from plugdiff.shapesworld.world import sample_frames

RESULTS = Path(__file__).resolve().parent / "results"
TRUTH_SEED = 10_000


def run(pipe, config: dict, nfes, n: int, seed: int, methods=tuple(METHODS), grid_end: int | None = None) -> dict:
    """Every scheduler of ``methods`` at every NFE on the prior ``pipe`` (``shared.load_prior``)."""
    size = pipe.unet.config.sample_size
    start = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    truth = sample_frames(n, torch.Generator().manual_seed(TRUTH_SEED), size=size)[0]
    other = sample_frames(n, torch.Generator().manual_seed(TRUTH_SEED + 1), size=size)[0]
    projections = torch.Generator().manual_seed(7)
    floor = sliced_wasserstein(other, truth, generator=projections)
    report = {"num_samples": n, "floor": floor, "truth_clean": detector_score(truth)["clean_fraction"], "methods": {}}
    for method in methods:
        make, _, calls_per_step = METHODS[method]
        make = make if grid_end is None else GRID_METHODS[method]
        rows = report["methods"][method] = {}
        for nfe in nfes:
            sched = make(config)
            grid = {} if grid_end is None else {"timesteps": logsnr_timesteps(sched.alphas_cumprod, nfe, grid_end)}
            t0 = time.perf_counter()
            with torch.no_grad():
                images, calls = denoise(
                    sched,
                    pipe.eps_model,
                    start,
                    None if grid else steps_for_budget(nfe, calls_per_step),
                    generator=torch.Generator().manual_seed(seed + 1),
                    **grid,
                )
            seconds = time.perf_counter() - t0
            images = images.clamp(-1, 1)
            rows[str(nfe)] = {
                "nfe": calls,
                "sliced_w2": sliced_wasserstein(images, truth, generator=torch.Generator().manual_seed(7)),
                "clean": detector_score(images)["clean_fraction"],
                "seconds": seconds,
            }
            print(
                f"{method:>20} NFE {calls:3d}: sliced W2 {rows[str(nfe)]['sliced_w2']:.4f} "
                f"(x{rows[str(nfe)]['sliced_w2'] / floor:.2f} floor), clean {rows[str(nfe)]['clean']:.3f}, "
                f"{seconds:.1f} s",
                flush=True,
            )
    return report


def plot(report: dict, path: Path) -> None:
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(11, 4))
    for method, rows in report["methods"].items():
        nfe = [r["nfe"] for r in rows.values()]
        left.plot(nfe, [r["sliced_w2"] / report["floor"] for r in rows.values()], marker="o", label=method)
        right.plot(nfe, [r["clean"] for r in rows.values()], marker="o", label=method)
    left.axhline(1.0, color="k", lw=0.8, ls=":")
    right.axhline(report["truth_clean"], color="k", lw=0.8, ls=":")
    left.set(
        xscale="log",
        yscale="log",
        xlabel="model evaluations",
        ylabel="sliced W2 / floor",
        title="distance to true frames (1 = two true sets)",
    )
    right.set(xscale="log", xlabel="model evaluations", ylabel="clean-shape share", title="detector read-back")
    left.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _earlier_report(parser, args) -> dict:
    """The report at ``--out`` that ``--merge`` adds to, after checking it was made the same way."""
    source = args.out
    if not source.exists() and published_results.SCRATCH in source.parents:  # merge into the published report
        source = published_results.RESULTS / source.relative_to(published_results.SCRATCH)
    if not source.exists():
        parser.error(f"--merge: no earlier report at {args.out}")
    earlier = {"clip_sample": False, **json.loads(source.read_text())}  # reports from before --clip-sample: unclipped
    same = {"model": str(args.model), "clip_sample": args.clip_sample, "num_samples": args.num_samples}
    for key, value in same.items():
        if earlier.get(key) != value:
            parser.error(f"--merge: the earlier report has {key}={earlier.get(key)!r}, this run {value!r}")
    for method, rows in earlier["methods"].items():
        if method not in args.methods and sorted(map(int, rows)) != sorted(args.nfe):
            parser.error(
                f"--merge: the earlier report ran {method} at NFE {sorted(map(int, rows))}, this run at "
                f"{sorted(args.nfe)}"
            )
    return earlier


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_PRIOR)
    parser.add_argument("--num-samples", type=int, default=256)
    parser.add_argument("--nfe", type=int, nargs="+", default=[5, 10, 20, 50])
    parser.add_argument("--quick", action="store_true", help="64 samples at NFE 5 and 20 (about a minute)")
    parser.add_argument("--clip-sample", action="store_true", help="clip predicted x0 to [-1, 1] where supported")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=list(METHODS),
        default=list(METHODS),
        metavar="NAME",
        help=f"schedulers to run (default: all of {', '.join(METHODS)})",
    )
    parser.add_argument(
        "--merge",
        action="store_true",
        help="add --methods to the report at --out (same settings) instead of replacing it",
    )
    parser.add_argument(
        "--grid-end",
        type=int,
        default=None,
        help="sample on a grid even in log-SNR down to this timestep (default: trailing spacing)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="report path (default results/samplers_learned{,_logsnr}{,_clipped}.json)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--out" or a.startswith("--out=") for a in argv):  # else a second --out would win
        name = "samplers_learned" + ("_logsnr" if any(a.startswith("--grid-end") for a in argv) else "")
        name += "_clipped" if "--clip-sample" in argv else ""
        argv += ["--out", str(RESULTS / f"{name}.json")]
    args = published_results.parse_args(parser, argv)
    if args.grid_end is not None:
        args.methods = [m for m in args.methods if m in GRID_METHODS]
        if args.merge:
            parser.error("--merge and --grid-end do not go together")
    if args.quick:
        args.num_samples, args.nfe = 64, [5, 20]
    if args.num_samples < 2 or min(args.nfe) < 1:
        parser.error("--num-samples must be >= 2 and every --nfe >= 1")
    pipe = load_prior(args.model)
    config = {**dict(pipe.scheduler.config), "timestep_spacing": "trailing", "clip_sample": args.clip_sample}
    if args.clip_sample:  # dynamic thresholding capped at 1 clips x0 to [-1, 1] exactly
        config.update(thresholding=True, sample_max_value=1.0)
    earlier = _earlier_report(parser, args) if args.merge else None
    grid = "trailing" if args.grid_end is None else f"logSNR to {args.grid_end}"
    report = {
        "model": str(args.model),
        "clip_sample": args.clip_sample,
        "grid": grid,
        **run(pipe, config, args.nfe, args.num_samples, args.seed, args.methods, args.grid_end),
    }
    if earlier is not None:
        if report["floor"] != earlier["floor"]:
            parser.error(
                f"--merge: the floor {report['floor']} differs from the earlier report's {earlier['floor']} "
                "(another seed or truth set); rerun every method instead"
            )
        report["methods"] = {
            **{m: r for m, r in earlier["methods"].items() if m not in args.methods},
            **report["methods"],
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    published_results.write_json(args.out, report, models=[args.model])
    plot(report, args.out.with_suffix(".png"))
    return report


if __name__ == "__main__":
    main()
