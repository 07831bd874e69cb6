"""Sampler benchmark on exact-score targets: plugdiff's accelerated samplers beside diffusers' own.

Every scheduler runs in the standard diffusers loop (``plugdiff.samplers.denoise``) over the
*exact* noise prediction of a known Gaussian mixture, so all error is the sampler's own:

* deterministic end-point error: RMSE (per coordinate) of the sample against a tight DOP853
  solution of the probability-flow ODE from the same start (deterministic samplers only);
* distribution error: sliced 2-Wasserstein distance to exact samples, for every sampler, with
  the Monte-Carlo floor (the same distance between two exact sample sets) printed beside it;
* ``step()`` overhead of each scheduler on a 4x64x64 latent, as a ratio to ``DDIMScheduler``.

All schedulers share the model's noise schedule (linear betas, 1000 steps) and "trailing"
spacing, so they all start at t = 999; NFE counts real model calls (Heun makes 2 per step).

    python benchmarks/samplers.py            # full run, ~6 min on 1 CPU core
    python benchmarks/samplers.py --quick    # smoke run, seconds
    python benchmarks/samplers.py --grids    # the grid section, ~5 min on 1 core
    python benchmarks/samplers.py --kl       # the stochastic samplers' exact KL, ~2 min on 1 core

Writes ``samplers.json`` and ``samplers.png`` to --out (default benchmarks/results) and prints
markdown tables.

``--grids`` asks instead how the sampling grid matters: every deterministic scheduler that takes
custom timesteps runs on the same grids, diffusers' "trailing" one and grids evenly spaced in
log-SNR down to timestep 20, 35, 50, 75 or 100 (:func:`plugdiff.samplers.logsnr_timesteps`),
and the end-point error is reported per grid (``samplers_grids.json``).

``--kl`` measures the stochastic samplers (and, for reference, the best deterministic one) by
their exact KL to Gaussian targets: every sampler here is affine in Gaussian inputs, so on a
Gaussian target its output is Gaussian and the closed-form KL of its sampled moments is exact up
to Monte-Carlo error (``samplers_kl.json``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import published_results
import torch
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    HeunDiscreteScheduler,
    UniPCMultistepScheduler,
)
from shared import pyplot, save_figure

from plugdiff.evaluation import (
    empirical_moments,
    gaussian_kl,
    image_mixture,
    ring_mixture_2d,
    rotated_gaussian,
    sliced_wasserstein,
    solve_probability_flow,
)
from plugdiff.samplers import (
    SCHEDULERS,
    AcceleratedDDIMScheduler,
    AcceleratedDDPMScheduler,
    AcceleratedLogSNRScheduler,
    denoise,
    logsnr_timesteps,
)
from plugdiff.samplers.loop import step_kwargs
from plugdiff.samplers.scheduling_base import spaced_timesteps

EXACT_SCORES = published_results.no_weights("exact Gaussian-mixture scores (plugdiff.evaluation)")

# A plain dict: an in-memory config lists its default-valued keys in `_use_default_values`, and
# `from_config` drops those, so e.g. Heun would silently fall back to its own (SD) betas.
BASE_CONFIG = {
    k: v
    for k, v in DDPMScheduler(beta_schedule="linear", timestep_spacing="trailing", clip_sample=False).config.items()
    if not k.startswith("_")
}


def preset(name: str):
    """Factory of an AcceleratedLogSNRScheduler row with the overrides of the command line's
    ``--scheduler NAME`` (:data:`plugdiff.samplers.SCHEDULERS`), so a row is the preset users get."""
    _, overrides = SCHEDULERS[name]
    return lambda c: AcceleratedLogSNRScheduler.from_config(c, **overrides)


# name -> (factory from the shared config, deterministic?, model calls per step)
METHODS = {
    "DDIM": (lambda c: DDIMScheduler.from_config(c), True, 1),
    "AcceleratedDDIM": (lambda c: AcceleratedDDIMScheduler.from_config(c), True, 1),
    "AcceleratedLogSNR(2M)": (preset("accelerated-logsnr-2m"), True, 1),
    "AcceleratedLogSNR(3M)": (preset("accelerated-logsnr-3m"), True, 1),
    "AcceleratedLogSNR(2M+corrector)": (preset("accelerated-logsnr-pc"), True, 1),
    "AcceleratedLogSNR(3M+corrector+Gaussian final)": (preset("accelerated-logsnr-gauss"), True, 1),
    "DPM-Solver++(2M)": (
        lambda c: DPMSolverMultistepScheduler.from_config(
            c, algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero"
        ),
        True,
        1,
    ),
    "UniPC": (lambda c: UniPCMultistepScheduler.from_config(c, final_sigmas_type="zero"), True, 1),
    "Heun": (lambda c: HeunDiscreteScheduler.from_config(c), True, 2),
    "DDPM": (lambda c: DDPMScheduler.from_config(c), False, 1),
    "DDPM (fixed_large)": (lambda c: DDPMScheduler.from_config(c, variance_type="fixed_large"), False, 1),
    "AcceleratedDDPM": (lambda c: AcceleratedDDPMScheduler.from_config(c), False, 1),
    "DPM-Solver++(2M) SDE": (
        lambda c: DPMSolverMultistepScheduler.from_config(
            c, algorithm_type="sde-dpmsolver++", solver_order=2, final_sigmas_type="zero"
        ),
        False,
        1,
    ),
    "AcceleratedLogSNR SDE(2M+corrector+Gaussian final)": (preset("accelerated-logsnr-sde"), False, 1),
}


FLOOR_DRAWS = 5


def steps_for_budget(nfe: int, calls_per_step: int) -> int:
    """Most steps whose model calls fit in ``nfe`` (Heun: 2 per step but 1 on the last)."""
    return nfe if calls_per_step == 1 else (nfe + 1) // 2


def evaluate_target(name, target, nfes, n_dist, n_end, seed=0):
    """Run every method at every NFE on one target; returns (results, floor, reference seconds)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randn(n_dist, *target.event_shape, generator=g, dtype=torch.float64)
    exact = target.sample(n_dist, torch.Generator().manual_seed(seed + 1))
    # exact-vs-exact distances over independent draws: differences inside this spread are noise
    floors = torch.tensor(
        [
            sliced_wasserstein(
                target.sample(n_dist, torch.Generator().manual_seed(seed + 100 + i)),
                exact,
                generator=torch.Generator().manual_seed(7),
            )
            for i in range(FLOOR_DRAWS)
        ]
    )
    floor = {"mean": float(floors.mean()), "std": float(floors.std()), "draws": FLOOR_DRAWS}
    alphas_cumprod = DDPMScheduler.from_config(BASE_CONFIG).alphas_cumprod
    model = target.eps_model(alphas_cumprod)
    t0 = time.perf_counter()
    reference = solve_probability_flow(target.eps, start[:n_end], float(alphas_cumprod.double()[-1]))
    ref_seconds = time.perf_counter() - t0
    results = {}
    for method, (make, deterministic, calls_per_step) in METHODS.items():
        results[method] = {}
        for nfe in nfes:
            sched = make(BASE_CONFIG)
            t0 = time.perf_counter()
            out, calls = denoise(
                sched,
                model,
                start,
                steps_for_budget(nfe, calls_per_step),
                generator=torch.Generator().manual_seed(seed + 3),
            )
            seconds = time.perf_counter() - t0
            if round(float(sched.timesteps[0])) != len(alphas_cumprod) - 1 or not torch.equal(
                sched.alphas_cumprod, alphas_cumprod
            ):
                raise RuntimeError(f"{method} does not share the model's noise schedule and start at t = T - 1")
            row = {
                "nfe": calls,
                "sliced_w2": sliced_wasserstein(out, exact, generator=torch.Generator().manual_seed(7)),
                "seconds": seconds,
            }
            if deterministic:
                row["endpoint_rmse"] = float((out[:n_end] - reference).pow(2).mean().sqrt())
            results[method][str(nfe)] = row
        print(f"  {name}: {method} done", file=sys.stderr)
    return results, floor, ref_seconds


class UniPCOnGrid(UniPCMultistepScheduler):
    """diffusers' UniPC on custom ``timesteps`` (its own ``set_timesteps`` takes custom sigmas only
    for flow models): timesteps and sigmas set as UniPC sets them for a spacing rule (the sigma
    of each timestep, then ``final_sigmas_type``'s zero). On the trailing grid it equals stock
    UniPC bit for bit (tested)."""

    def set_timesteps(self, num_inference_steps=None, device=None, timesteps=None, **kwargs):
        if timesteps is None:
            return super().set_timesteps(num_inference_steps, device, **kwargs)
        super().set_timesteps(len(timesteps), device, **kwargs)
        grid = np.asarray(timesteps, dtype=np.int64)
        sigmas = np.array(((1 - self.alphas_cumprod) / self.alphas_cumprod) ** 0.5)[grid]
        self.sigmas = torch.from_numpy(np.concatenate([sigmas, [0.0]]).astype(np.float32))
        self.timesteps = torch.from_numpy(grid).to(device=device, dtype=torch.int64)


# the deterministic rows whose schedulers take custom timesteps (UniPC through UniPCOnGrid)
GRID_METHODS = {
    **{
        m: make
        for m, (make, deterministic, calls) in METHODS.items()
        if deterministic and calls == 1 and m not in ("DDIM", "UniPC")
    },
    "UniPC": lambda c: UniPCOnGrid.from_config(c, final_sigmas_type="zero"),
}
GRID_ENDS = (20, 35, 50, 75, 100)


def sampling_grids(alphas_cumprod, nfe: int, ends) -> dict[str, list[int]]:
    """The grids of the ``--grids`` section for ``nfe`` model calls: "trailing" and "logSNR to e"."""
    grids = {"trailing": spaced_timesteps(len(alphas_cumprod), nfe, "trailing").tolist()}
    grids.update({f"logSNR to {e}": logsnr_timesteps(alphas_cumprod, nfe, e) for e in ends})
    return grids


def evaluate_grids(target, nfes, ends, n_end, seed=0) -> dict:
    """End-point RMSE of every GRID_METHODS scheduler on every grid: {grid: {nfe: {method: rmse}}}."""
    start = torch.randn(n_end, *target.event_shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    alphas_cumprod = DDPMScheduler.from_config(BASE_CONFIG).alphas_cumprod
    model = target.eps_model(alphas_cumprod)
    reference = solve_probability_flow(target.eps, start, float(alphas_cumprod.double()[-1]))
    results: dict = {}
    for nfe in nfes:
        for grid_name, grid in sampling_grids(alphas_cumprod, nfe, ends).items():
            row = results.setdefault(grid_name, {}).setdefault(str(nfe), {"timesteps": grid})
            for method, make in GRID_METHODS.items():
                out, calls = denoise(
                    make(BASE_CONFIG), model, start, timesteps=grid, generator=torch.Generator().manual_seed(seed + 3)
                )
                if calls != nfe:
                    raise RuntimeError(f"{method} made {calls} model calls on a grid of {nfe}")
                row[method] = float((out - reference).pow(2).mean().sqrt())
    return results


def grid_table(results, nfes, ours: str) -> str:
    """Markdown: per grid and NFE, our end-point error and its ratio to DPM-Solver++(2M) and UniPC."""
    lines = ["| grid | " + " | ".join(f"NFE {n}" for n in nfes) + " |", "|" + "---|" * (len(nfes) + 1)]
    for grid_name, rows in results.items():
        cells = []
        for n in nfes:
            r = rows[str(n)]
            cells.append(f"{r[ours]:.4f} ({r[ours] / r['DPM-Solver++(2M)']:.2f}x / {r[ours] / r['UniPC']:.2f}x)")
        lines.append(f"| {grid_name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_grids(args, nfes, targets, sizes) -> dict:
    """The ``--grids`` section: writes ``samplers_grids.json``."""
    ends = GRID_ENDS if not args.quick else (50,)
    ours = "AcceleratedLogSNR(3M+corrector+Gaussian final)"
    report = {
        "description": "end-point error on shared sampling grids (benchmarks/samplers.py --grids)",
        "config": {"nfe": nfes, "ends": list(ends), "scheduler_base_config": BASE_CONFIG},
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "targets": {},
    }
    for (name, target), (_, n_end) in zip(targets.items(), sizes.values(), strict=True):
        print(f"target {name}: {n_end} reference ODE solves", file=sys.stderr)
        report["targets"][name] = evaluate_grids(target, nfes, ends, n_end)
        print(f"\n### {name}: {ours} end-point RMSE (ratio to DPM-Solver++(2M) / UniPC on the same grid)\n")
        print(grid_table(report["targets"][name], nfes, ours))
    args.out.mkdir(parents=True, exist_ok=True)
    published_results.write_json(args.out / "samplers_grids.json", report, models=[EXACT_SCORES])
    print(f"\nwrote {args.out / 'samplers_grids.json'}", file=sys.stderr)
    return report


# Gaussian targets of the --kl section: (variances along a random rotation, mean, rotation seed)
KL_TARGETS = {
    "4-D, variances 0.02-1.5": ([0.02, 0.1, 0.4, 1.5], [0.5, -0.3, 0.8, 0.0], 1),
    "5-D, variances 0.005-2": ([0.005, 0.05, 0.3, 1.0, 2.0], [0.3, 0.0, -0.6, 0.2, 0.4], 11),
    "3-D, variances 0.01-0.8": ([0.01, 0.2, 0.8], [-0.2, 0.5, 0.1], 12),
    "6-D, variances 0.03-1.6": ([0.03, 0.06, 0.5, 0.9, 1.2, 1.6], [0.0, 0.4, -0.4, 0.2, -0.1, 0.3], 13),
}
KL_OURS, KL_BASELINES = (
    "AcceleratedLogSNR SDE(2M+corrector+Gaussian final)",
    ("AcceleratedDDPM", "DPM-Solver++(2M) SDE"),
)
KL_METHODS = {
    **{m: make for m, (make, deterministic, _) in METHODS.items() if not deterministic},
    "AcceleratedLogSNR SDE, stochasticity 0.5": lambda c: AcceleratedLogSNRScheduler.from_config(
        c, **{**SCHEDULERS["accelerated-logsnr-sde"][1], "stochasticity": 0.5}
    ),
    "AcceleratedLogSNR(3M+corrector+Gaussian final), deterministic": METHODS[
        "AcceleratedLogSNR(3M+corrector+Gaussian final)"
    ][0],
}


def evaluate_kl(target, nfes, n: int, seed=0) -> dict:
    """Exact KL of every KL_METHODS sampler's output to ``target``: {method: {nfe: kl}}."""
    alphas_cumprod = DDPMScheduler.from_config(BASE_CONFIG).alphas_cumprod
    model = target.eps_model(alphas_cumprod)
    start = torch.randn(n, target.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    results = {}
    for method, make in KL_METHODS.items():
        results[method] = {}
        for nfe in nfes:
            out, calls = denoise(
                make(BASE_CONFIG), model, start, nfe, generator=torch.Generator().manual_seed(seed + 3)
            )
            if calls != nfe:
                raise RuntimeError(f"{method} made {calls} model calls for {nfe} steps")
            mean, cov = empirical_moments(out)
            results[method][str(nfe)] = gaussian_kl(mean, cov, target.mean(), target.covariance())
    return results


def kl_table(results, nfes) -> str:
    """Markdown: KL per method and NFE, and our SDE's ratio to the stochastic baselines."""
    lines = ["| method | " + " | ".join(f"NFE {n}" for n in nfes) + " |", "|" + "---|" * (len(nfes) + 1)]
    lines += [f"| {m} | " + " | ".join(f"{rows[str(n)]:.4f}" for n in nfes) + " |" for m, rows in results.items()]
    for base in KL_BASELINES:
        ratios = " | ".join(f"{results[KL_OURS][str(n)] / results[base][str(n)]:.2f}x" for n in nfes)
        lines.append(f"| *ours / {base}* | {ratios} |")
    return "\n".join(lines)


def run_kl(args, nfes) -> dict:
    """The ``--kl`` section: writes ``samplers_kl.json``."""
    n = 2**12 if args.quick else 2**16
    report = {
        "description": "exact KL of stochastic samplers on Gaussian targets (benchmarks/samplers.py --kl)",
        "config": {
            "nfe": nfes,
            "samples": n,
            "scheduler_base_config": BASE_CONFIG,
            "monte_carlo_note": "KL of moments from n samples: bias about d(d+3)/(4n)",
        },
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "targets": {},
    }
    for name, (variances, mean, seed) in KL_TARGETS.items():
        print(f"target {name}", file=sys.stderr)
        results = evaluate_kl(rotated_gaussian(variances, mean, seed), nfes, n)
        report["targets"][name] = {"variances": variances, "mean": mean, "rotation_seed": seed, "kl": results}
        print(f"\n### {name}: exact KL to the target (lower is better)\n")
        print(kl_table(results, nfes))
    args.out.mkdir(parents=True, exist_ok=True)
    published_results.write_json(args.out / "samplers_kl.json", report, models=[EXACT_SCORES])
    print(f"\nwrote {args.out / 'samplers_kl.json'}", file=sys.stderr)
    return report


def step_overhead(repeats: int, steps: int = 50) -> dict:
    """Median seconds per ``step()`` call on a (1, 4, 64, 64) float32 latent, and ratio to DDIM."""
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(1, 4, 64, 64, generator=g)
    outputs = torch.randn(steps, 1, 4, 64, 64, generator=g)
    timings = {}
    for method, (make, _, calls_per_step) in METHODS.items():
        sched = make(BASE_CONFIG)
        extra = step_kwargs(sched, g)
        per_step = []
        for _ in range(repeats):
            sched.set_timesteps(steps_for_budget(steps, calls_per_step))
            x = latent
            t0 = time.perf_counter()
            for i, t in enumerate(sched.timesteps):
                x = sched.step(outputs[i % steps], t, x, **extra).prev_sample
            per_step.append((time.perf_counter() - t0) / len(sched.timesteps))
        timings[method] = sorted(per_step)[len(per_step) // 2]
    return {m: {"seconds_per_step": s, "ratio_to_ddim": s / timings["DDIM"]} for m, s in timings.items()}


def markdown_table(results, metric, nfes, floor=None) -> str:
    head = "| method | " + " | ".join(f"NFE {n}" for n in nfes) + " |"
    lines = [head, "|" + "---|" * (len(nfes) + 1)]
    for method, rows in results.items():
        if metric not in rows[str(nfes[0])]:
            continue
        cells = []
        for n in nfes:
            row = rows[str(n)]
            mark = f" ({row['nfe']})" if row["nfe"] != n else ""
            cells.append(f"{row[metric]:.4f}{mark}")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    if floor is not None:
        cell = f"{floor['mean']:.4f} ± {floor['std']:.4f}"
        lines.append(
            f"| *exact vs exact (mean ± std of {floor['draws']} draws)* | " + " | ".join(cell for _ in nfes) + " |"
        )
    return "\n".join(lines)


def ratio_lines(results, nfes) -> list[str]:
    """End-point error of each of plugdiff's deterministic samplers as a ratio to the baselines."""
    lines = []
    for target, res in results.items():
        ours = [m for m in res if m.startswith("Accelerated") and "endpoint_rmse" in res[m][str(nfes[0])]]
        for method in ours:
            for n in nfes:
                err = res[method][str(n)]["endpoint_rmse"]
                parts = [
                    f"{other} {err / res[other][str(n)]['endpoint_rmse']:.2f}x"
                    for other in ("DDIM", "DPM-Solver++(2M)", "UniPC")
                ]
                lines.append(f"{target} NFE {n}: {method} error = " + ", ".join(parts))
    return lines


def plot(report, path: Path) -> None:
    targets = list(report["targets"])
    fig, axes = pyplot().subplots(len(targets), 2, figsize=(11, 4.2 * len(targets)), squeeze=False)
    for row, target in enumerate(targets):
        res = report["targets"][target]["results"]
        for col, (metric, label) in enumerate(
            [("endpoint_rmse", "end-point RMSE vs reference ODE"), ("sliced_w2", "sliced W2 to exact samples")]
        ):
            ax = axes[row][col]
            for method, rows in res.items():
                pts = [(r["nfe"], r[metric]) for r in rows.values() if metric in r]
                if pts:
                    style = "-o" if "Accelerated" in method else "--."
                    ax.loglog(*zip(*pts), style, label=method, linewidth=2 if "Accelerated" in method else 1)
            if metric == "sliced_w2":
                floor = report["targets"][target]["floor_sliced_w2"]
                ax.axhspan(
                    floor["mean"] - floor["std"],
                    floor["mean"] + floor["std"],
                    color="grey",
                    alpha=0.25,
                    label="exact vs exact (±1 std)",
                )
            ax.set_title(f"{target}: {label}")
            ax.set_xlabel("model calls (NFE)")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][1].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--grids", action="store_true", help="only the section on sampling grids (samplers_grids.json)"
    )
    parser.add_argument(
        "--kl",
        action="store_true",
        help="only the stochastic samplers' exact KL on Gaussian targets (samplers_kl.json)",
    )
    args = published_results.parse_args(parser, argv)
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    if args.quick:
        nfes, sizes, repeats = [5, 10], {"2d": (2000, 64), "image": (128, 16)}, 2
        targets = {"2-D ring of 8": ring_mixture_2d(), "3x8x8 image mixture": image_mixture((3, 8, 8))}
    else:
        nfes, sizes, repeats = [5, 8, 10, 15, 20, 50], {"2d": (20000, 512), "image": (2048, 128)}, 20
        targets = {"2-D ring of 8": ring_mixture_2d(), "3x16x16 image mixture": image_mixture((3, 16, 16))}

    if args.grids:
        return run_grids(args, nfes, targets, sizes)
    if args.kl:
        return run_kl(args, nfes)
    report = {
        "description": "exact-score sampler benchmark (benchmarks/samplers.py)",
        "config": {"nfe": nfes, "scheduler_base_config": BASE_CONFIG},
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor(),
        },
        "targets": {},
    }
    for (name, target), (n_dist, n_end) in zip(targets.items(), sizes.values()):
        print(f"target {name}: {n_dist} samples, {n_end} reference ODE solves", file=sys.stderr)
        results, floor, ref_seconds = evaluate_target(name, target, nfes, n_dist, n_end)
        report["targets"][name] = {
            "dim": target.dim,
            "samples": n_dist,
            "reference_solves": n_end,
            "reference_seconds": ref_seconds,
            "floor_sliced_w2": floor,
            "results": results,
        }
    report["step_overhead_4x64x64"] = step_overhead(repeats)

    for name, entry in report["targets"].items():
        print(f"\n### {name}: end-point RMSE vs reference ODE (lower is better)\n")
        print(markdown_table(entry["results"], "endpoint_rmse", nfes))
        print(f"\n### {name}: sliced W2 to exact samples (lower is better)\n")
        print(markdown_table(entry["results"], "sliced_w2", nfes, floor=entry["floor_sliced_w2"]))
    print("\n### step() overhead on a 4x64x64 latent\n\n| scheduler | ms / step | ratio to DDIM |\n|---|---|---|")
    for method, row in report["step_overhead_4x64x64"].items():
        print(f"| {method} | {1e3 * row['seconds_per_step']:.3f} | {row['ratio_to_ddim']:.2f} |")
    print("\n" + "\n".join(ratio_lines({k: v["results"] for k, v in report["targets"].items()}, nfes)))

    args.out.mkdir(parents=True, exist_ok=True)
    published_results.write_json(args.out / "samplers.json", report, models=[EXACT_SCORES])
    if not args.no_plot:
        plot(report, args.out / "samplers.png")
    print(
        f"\nwrote {args.out / 'samplers.json'}" + ("" if args.no_plot else f" and {args.out / 'samplers.png'}"),
        file=sys.stderr,
    )
    return report


if __name__ == "__main__":
    main()
