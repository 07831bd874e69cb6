"""DPnP against DPS on exact-score Gaussian-mixture priors, where the posterior is known exactly.

Problems (linear A, Gaussian noise; exact posterior = a Gaussian mixture):

* ``ring-2d``: eight modes on the unit circle, the first coordinate observed (= 0, s = 0.05):
  two posterior modes (0, +-1) of mass 0.5 each;
* ``gmm-4d``: three 4-D components, one pixel observed (s = 0.1): modes of mass 0.61 / 0.38;
* ``image-sr2``: a 3x8x8 image mixture (4 textures), x2 average-pooling super-resolution
  (s = 0.05): one posterior mode, 192 dimensions;
* ``image-halves``: a 3x8x8 mixture whose three components share the left half's mean and
  differ on the right; the right half is missing (s = 0.05): three posterior modes.

Sections:

1. matched network evaluations (NFE): DPnP-DDPM and DPnP-DDIM (schedule ``AnnealingSchedule(1.0,
   0.02, K)``, 10 DDS steps per iteration, K = NFE / 10), DPnP with the official schedule
   (K = 16, NFE / 16 DDS steps) and DPS (NFE steps, best of step sizes 0.1 / 0.3 / 1.0, chosen
   per problem and budget with the exact posterior, which favours DPS);
2. DPnP's error against its schedule (eta_max, eta_min, K) at 10 DDS steps per iteration;
3. the proximal (likelihood) step: exact sampling against MALA and the official unadjusted
   Langevin chain, by likelihood-gradient evaluations and accuracy of the proximal law.

Errors (``plugdiff.evaluation.mixture_errors``): ``mass_tv`` (mode masses), ``mode_sw`` (shape
within modes), ``mean_error`` (posterior mean) and ``sliced_w2`` (whole law, dominated by mode
masses when modes are far apart). Exact samples of the same size give the noise floor.

    python benchmarks/dpnp_posterior.py            # ~15 min on 2 CPU cores
    python benchmarks/dpnp_posterior.py --quick    # seconds (smoke test)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import published_results
import torch
from diffusers import DDPMScheduler
from shared import pyplot, save_figure

from plugdiff.evaluation import GaussianMixture, image_mixture, mixture_errors, ring_mixture_2d
from plugdiff.pipelines.posterior.annealing import AnnealingSchedule
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.dps import dps_sample
from plugdiff.pipelines.posterior.operators import Inpainting, MatrixOperator, SuperResolution
from plugdiff.pipelines.posterior.proximal_sampling import PCS_PRESETS, langevin_proximal_sample

ALPHAS_CUMPROD = DDPMScheduler(num_train_timesteps=1000).alphas_cumprod.double()
DPS_STEP_SIZES = (0.1, 0.3, 1.0)
METRICS = ("mass_tv", "mode_sw", "mean_error", "sliced_w2")


# ---------------------------------------------------------------- problems
def ring_2d():
    ring = ring_mixture_2d(8, 1.0, 0.1)
    prior = GaussianMixture(ring.weights, ring.means, torch.full((8,), 0.01), event_shape=(1, 1, 2))
    return (
        prior,
        MatrixOperator(torch.tensor([[1.0, 0.0]], dtype=torch.float64), noise_std=0.05),
        torch.zeros(1, 1, dtype=torch.float64),
    )


def gmm_4d():
    means = [[1.0, 1.0, 0.5, -0.5], [-1.0, -1.0, 0.0, 0.5], [1.0, -1.0, -0.5, 0.0]]
    prior = GaussianMixture([0.4, 0.35, 0.25], means, [0.1, 0.1, 0.1], event_shape=(1, 2, 2))
    operator = MatrixOperator(torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64), noise_std=0.1)
    return prior, operator, torch.tensor([[0.2]], dtype=torch.float64)


def _measured(prior, operator, seed=0):
    x = prior.sample(1, generator=torch.Generator().manual_seed(seed)).reshape(1, *prior.event_shape)
    return prior, operator, operator.measure(x, generator=torch.Generator().manual_seed(seed + 1))


def image_sr2():
    return _measured(image_mixture((3, 8, 8), num_components=4, seed=1), SuperResolution(2, "average", noise_std=0.05))


def image_halves():
    base = image_mixture((3, 8, 8), num_components=3, seed=1)
    right = torch.zeros(3, 8, 8, dtype=torch.float64)
    right[:, :, 4:] = 1
    right = right.reshape(-1)
    means = base.means[0][None] * (1 - right) + base.means * right
    prior = GaussianMixture.from_eigen([0.5, 0.3, 0.2], means, base.eigvals, base.basis, event_shape=(3, 8, 8))
    return _measured(prior, Inpainting("box", box=(0.0, 0.5, 1.0, 0.5), noise_std=0.05))


PROBLEMS = {"ring-2d": ring_2d, "gmm-4d": gmm_4d, "image-sr2": image_sr2, "image-halves": image_halves}


class Problem:
    """A prior, an operator, one measurement repeated for n chains, and the exact posterior."""

    def __init__(self, name: str, n: int):
        self.name = name
        self.prior, self.operator, y1 = PROBLEMS[name]()
        self.image_shape = (n, *self.prior.event_shape)
        self.y = y1.expand(n, *y1.shape[1:]).clone()
        matrix = self.operator.as_matrix((1, *self.prior.event_shape))
        self.posterior = self.prior.posterior(matrix, y1.reshape(-1), self.operator.noise_std)
        self.eps = self.prior.eps_model(ALPHAS_CUMPROD)

    def errors(self, samples) -> dict:
        return {k: v for k, v in mixture_errors(samples, self.posterior).items() if k in METRICS}


class GradientCounter:
    """Counts likelihood-gradient evaluations on an operator: A^T applications (exact PCS, CG),
    explicit likelihood gradients (Langevin / MALA) and DPS's distance gradients."""

    def __init__(self, operator):
        self.count = 0
        self.depth = 0
        for name in ("adjoint", "log_likelihood_grad", "distance"):
            original = getattr(operator, name)
            setattr(operator, name, self._counted(original))

    def _counted(self, fn):
        def wrapper(*args, **kwargs):
            self.count += self.depth == 0  # a gradient that calls A^T inside counts once
            self.depth += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1

        return wrapper


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


# ---------------------------------------------------------------- section 1: matched NFE
def run_dpnp(problem, *, etas, num_steps, dds="ddpm", pcs="auto", seed=2):
    counter = GradientCounter(problem.operator)
    try:
        out, seconds = timed(
            lambda: dpnp_sample(
                problem.eps,
                ALPHAS_CUMPROD,
                problem.operator,
                problem.y,
                etas=etas,
                dds=dds,
                pcs=pcs,
                num_steps=num_steps,
                image_shape=problem.image_shape,
                generator=torch.Generator().manual_seed(seed),
            )
        )
    finally:
        _restore(problem.operator)
    return {
        "nfe": out.model_evals,
        "seconds": seconds,
        "likelihood_grads": counter.count,
        "acceptance_rate": out.acceptance_rate,
        **problem.errors(out.samples),
    }


def run_dps(problem, *, num_steps, step_size, seed=2):
    counter = GradientCounter(problem.operator)
    try:
        out, seconds = timed(
            lambda: dps_sample(
                problem.eps,
                ALPHAS_CUMPROD,
                problem.operator,
                problem.y,
                step_size=step_size,
                num_steps=num_steps,
                image_shape=problem.image_shape,
                generator=torch.Generator().manual_seed(seed),
            )
        )
    finally:
        _restore(problem.operator)
    return {
        "nfe": out.model_evals,
        "seconds": seconds,
        "likelihood_grads": counter.count,
        "step_size": step_size,
        **problem.errors(out.samples),
    }


def _restore(operator):
    for name in ("adjoint", "log_likelihood_grad", "distance"):
        operator.__dict__.pop(name, None)


def run_matched_nfe(problem, budgets) -> dict:
    """Section 1: each DPnP variant and DPS at each budget of network evaluations."""
    rows = {}
    for nfe in budgets:
        k = max(2, nfe // 10)
        rows[str(nfe)] = {
            "DPnP-DDPM": run_dpnp(problem, etas=AnnealingSchedule(1.0, 0.02, k), num_steps=10),
            "DPnP-DDIM": run_dpnp(problem, etas=AnnealingSchedule(1.0, 0.02, k), num_steps=10, dds="ddim"),
            "DPnP-official": run_dpnp(problem, etas="official", num_steps=max(1, nfe // 16)),
        }
        dps = [run_dps(problem, num_steps=nfe, step_size=s) for s in DPS_STEP_SIZES]
        rows[str(nfe)]["DPS (best step)"] = min(dps, key=lambda r: r["sliced_w2"] + r["mean_error"])
        rows[str(nfe)]["DPS (step 1.0)"] = dps[-1]
    return rows


# ---------------------------------------------------------------- section 2: schedule
def schedule_sweep(problem, eta_maxes, eta_mins, ks) -> list[dict]:
    rows = []
    for eta_max in eta_maxes:
        for eta_min in eta_mins:
            for k in ks:
                row = run_dpnp(problem, etas=AnnealingSchedule(eta_max, eta_min, k), num_steps=10)
                rows.append({"eta_max": eta_max, "eta_min": eta_min, "K": k, **row})
    return rows


# ---------------------------------------------------------------- section 3: proximal step
def proximal_step(problem, eta: float, n: int) -> dict:
    """Sample the proximal law at one eta from a fixed centre; compare with its exact moments."""
    op = problem.operator
    D = math.prod(problem.prior.event_shape)
    center = problem.prior.sample(1, generator=torch.Generator().manual_seed(7)).reshape(1, *problem.prior.event_shape)
    center = center.expand(n, *center.shape[1:]).clone()
    y = problem.y[:1].expand(n, *problem.y.shape[1:]).clone()
    matrix = op.as_matrix((1, *problem.prior.event_shape))
    precision = matrix.T @ matrix / op.noise_std**2 + torch.eye(D, dtype=torch.float64) / eta**2
    exact_var = torch.linalg.inv(precision).diagonal()
    exact_mean = op.proximal_mean(center[:1], y[:1], eta).reshape(-1)
    scale = exact_var.sqrt()

    def grade(x, grads, seconds, rate=None):
        flat = x.reshape(n, -1)
        return {
            "likelihood_grads": grads,
            "seconds": seconds,
            "acceptance_rate": rate,
            "mean_error_in_std": float(((flat.mean(0) - exact_mean) / scale).abs().max()),
            "std_ratio_range": [float(v) for v in (flat.std(0) / scale).aminmax()],
        }

    rows = {}
    counter = GradientCounter(op)
    try:
        x, seconds = timed(lambda: op.proximal_sample(center, y, eta, generator=torch.Generator().manual_seed(1)))
        rows["exact"] = grade(x, counter.count, seconds)
        for name, settings in PCS_PRESETS.items():
            counter.count = 0
            (x, rate), seconds = timed(
                lambda s=settings: langevin_proximal_sample(
                    op, y, center, eta, s, generator=torch.Generator().manual_seed(1)
                )
            )
            rows[name] = grade(x, counter.count, seconds, rate)
    finally:
        _restore(op)
    rows["standard_error_in_std"] = 1 / math.sqrt(n)
    return rows


# ---------------------------------------------------------------- report
def table(rows: dict, problem: str) -> str:
    lines = [
        f"\n{problem}: error at matched NFE (ratio = DPnP-DDPM error / best-DPS error)",
        "| NFE | method | nfe | mass TV | mode SW | mean err | sliced W2 | lik. grads | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for nfe, methods in rows.items():
        for name, r in methods.items():
            step = f" (step {r['step_size']})" if "step_size" in r and "best" in name else ""
            lines.append(
                f"| {nfe} | {name}{step} | {r['nfe']} | {r['mass_tv']:.3f} | {r['mode_sw']:.4f} | "
                f"{r['mean_error']:.3f} | {r['sliced_w2']:.4f} | {r['likelihood_grads']} | {r['seconds']:.1f} |"
            )
        ours, dps = methods["DPnP-DDPM"], methods["DPS (best step)"]
        ratios = ", ".join(f"{m} {ours[m] / max(dps[m], 1e-12):.2f}" for m in METRICS)
        lines.append(f"| {nfe} | ratio DPnP-DDPM / DPS | | {ratios} | | | | | |")
    return "\n".join(lines)


PLOTTED = ("mass_tv", "mode_sw", "mean_error")


def plot(report: dict, path: Path) -> None:
    problems = list(report["matched_nfe"])
    fig, axes = pyplot().subplots(len(PLOTTED), len(problems), figsize=(4 * len(problems), 9), squeeze=False)
    for col, name in enumerate(problems):
        rows = report["matched_nfe"][name]
        budgets = [int(b) for b in rows]
        for method in next(iter(rows.values())):
            for row, metric in enumerate(PLOTTED):
                values = [max(rows[str(b)][method][metric], 1e-4) for b in budgets]
                axes[row, col].plot(budgets, values, marker="o", label=method)
        for row, metric in enumerate(PLOTTED):
            floor = max(report["noise_floor"][name][metric], 1e-4)
            axes[row, col].axhline(floor, color="gray", ls=":", label="exact samples")
            axes[row, col].set(xscale="log", yscale="log", xlabel="network evaluations", ylabel=metric, title=name)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--plot-only", action="store_true", help="redraw the PNG from the JSON in --out")
    args = published_results.parse_args(parser, argv)
    if args.plot_only:
        report = json.loads((args.out / "dpnp_posterior.json").read_text())
        plot(report, args.out / "dpnp_posterior.png")
        return report
    if args.quick:
        problems = {"ring-2d": 200, "image-sr2": 50}
        budgets, sweep = (40,), ((1.0,), (0.02,), (4,))
        sweep_problems, pcs_n = ("ring-2d",), 50
    else:
        problems = {"ring-2d": 4000, "gmm-4d": 4000, "image-sr2": 500, "image-halves": 500}
        budgets, sweep = (100, 400, 1000), ((0.4, 1.0, 3.0), (0.3, 0.1, 0.02), (16, 40, 100))
        sweep_problems, pcs_n = ("ring-2d", "image-sr2"), 500
    report = {
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
        "samples": problems,
        "matched_nfe": {},
        "noise_floor": {},
        "schedule_sweep": {},
        "proximal_step": {},
    }
    for name, n in problems.items():
        problem = Problem(name, n)
        report["noise_floor"][name] = problem.errors(
            problem.posterior.sample(n, generator=torch.Generator().manual_seed(9))
        )
        report["matched_nfe"][name] = run_matched_nfe(problem, budgets)
        print(table(report["matched_nfe"][name], name))
        floor = report["noise_floor"][name]
        print("exact samples (noise floor): " + ", ".join(f"{k} {v:.4f}" for k, v in floor.items()), flush=True)
    for name in sweep_problems:
        problem = Problem(name, problems[name])
        rows = schedule_sweep(problem, *sweep)
        report["schedule_sweep"][name] = rows
        print(f"\n{name}: DPnP-DDPM error against the schedule (10 DDS steps per iteration)")
        print(
            "| eta_max | eta_min | K | nfe | mass TV | mode SW | mean err | sliced W2 |\n"
            "|---|---|---|---|---|---|---|---|"
        )
        for r in rows:
            print(
                f"| {r['eta_max']} | {r['eta_min']} | {r['K']} | {r['nfe']} | {r['mass_tv']:.3f} | {r['mode_sw']:.4f} "
                f"| {r['mean_error']:.3f} | {r['sliced_w2']:.4f} |"
            )
    problem = Problem("image-sr2", pcs_n)
    report["proximal_step"] = {"problem": "image-sr2", "eta": 0.16, **proximal_step(problem, 0.16, pcs_n)}
    print("\nproximal step on image-sr2 at eta = 0.16 (official final eta); errors in units of the exact std")
    print(
        "| sampler | likelihood grads | max mean error | std ratio range | acceptance | s |\n|---|---|---|---|---|---|"
    )
    for name in ("exact", *PCS_PRESETS):
        r = report["proximal_step"][name]
        acc = "" if r["acceptance_rate"] is None else f"{r['acceptance_rate']:.2f}"
        print(
            f"| {name} | {r['likelihood_grads']} | {r['mean_error_in_std']:.3f} | "
            f"{r['std_ratio_range'][0]:.2f}-{r['std_ratio_range'][1]:.2f} | {acc} | {r['seconds']:.2f} |"
        )
    official_total = 16 * PCS_PRESETS["langevin"].num_steps
    print(
        f"per DPnP run (K = 16): exact {16 * report['proximal_step']['exact']['likelihood_grads']} "
        f"likelihood-gradient evaluations, official Langevin {official_total}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    exact = published_results.no_weights("exact Gaussian-mixture priors (plugdiff.evaluation)")
    published_results.write_json(args.out / "dpnp_posterior.json", report, models=[exact])
    if not args.no_plot:
        plot(report, args.out / "dpnp_posterior.png")
    return report


if __name__ == "__main__":
    main()
