"""DAPS against exact posteriors, beside DPnP at matched network evaluations, and DAPS's annealing limit.

Priors with exact scores (Gaussian mixtures); the posterior is known in closed form (linear
operators with Gaussian noise) or on a fine grid (two-pixel nonlinear problems):

* ``ring-2d``, ``gmm-4d``, ``image-sr2``, ``image-halves``: the problems of
  ``benchmarks/dpnp_posterior.py`` (two, two, one and three posterior modes);
* ``one-bit-ring``: the 8-mode ring, 1-bit signs of both pixels y = (-1, +1), logistic dither 0.4:
  five posterior modes of masses 0.36 / 2 x 0.23 / 2 x 0.06 (grid of 241 x 241);
* ``phase-retrieval-2px``: coded phase retrieval of two pixels (2 x 4 magnitudes, noise 0.05) under a
  prior symmetric in x -> -x: two sign modes of mass 1/2 (grid of 641 x 641).

Methods, about 250 network evaluations each unless said:

* ``DAPS-posterior``: the exact-posterior mode, ``daps_recipe("posterior")`` without clipping:
  250 levels sigma 100 -> 0.01 (rho = 7), Tweedie's estimate (one ODE step), the exact x0-step
  (linear) or 50 MALA steps (nonlinear), w = 1;
* ``DPnP-posterior``: eta 1.0 -> 0.02 over K = 25 iterations of at most 10 DDPM steps (226), the
  exact likelihood step or the same 50 MALA steps, w = 1;
* ``DAPS-1K (authors' schedule)``: the authors' 200 levels sigma 100 -> 0.1 with 5 ODE steps
  (1000 evaluations) and the same exact / MALA x0-step at w = 1: what the authors' schedule and
  ODE sample when the x0-step is exact;
* ``exact samples``: draws of the exact posterior (the noise floor of each metric).

Errors: for mixtures ``plugdiff.evaluation.mixture_errors`` (``mass_tv`` mode masses, ``mode_sw``
sliced W2 within modes, ``mean_error``, ``sliced_w2`` of the whole law, dominated by mode masses
when modes are far apart); on grids the largest error of a mode's mass, ``sliced_w2`` to exact
grid draws and ``mean_error``. Annealing limit: on a Gaussian prior N(m, 0.25 I) with the first
pixel observed, the variance DAPS gives the unobserved pixel for 1-20 ODE steps (the posterior's
is 0.25; the exact-ODE limit p(x)^(1/2) p(y | x) has 0.5).

    python benchmarks/daps_posterior.py --publish   # ~5 min on one idle CPU thread
    python benchmarks/daps_posterior.py --quick     # seconds (smoke test)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import dpnp_posterior
import published_results
import torch

from plugdiff.evaluation import (
    GaussianMixture,
    empirical_moments,
    mixture_errors,
    ring_mixture_2d,
    sliced_wasserstein,
)
from plugdiff.pipelines.posterior.annealing import AnnealingSchedule, PolynomialSchedule
from plugdiff.pipelines.posterior.daps import daps_sample
from plugdiff.pipelines.posterior.daps_recipes import daps_recipe
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.operators import MatrixOperator, PhaseRetrieval, Quantized1Bit
from plugdiff.pipelines.posterior.proximal_sampling import LangevinSettings

ALPHAS_CUMPROD = dpnp_posterior.ALPHAS_CUMPROD
MALA = LangevinSettings(num_steps=50, step_scale=1.0, damping=0.0, metropolis=True)
METHODS = ("DAPS-posterior", "DPnP-posterior", "DAPS-1K (authors' schedule)")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class GridPosterior:
    """p(x | y) ∝ p(x) p(y | x) on a size x size grid of cell centres over [-limit, limit]^2 (two pixels)."""

    def __init__(self, prior, operator, y, limit: float, size: int):
        axis = torch.linspace(-limit, limit, size, dtype=torch.float64)
        self.cell = float(axis[1] - axis[0])
        x1, x2 = torch.meshgrid(axis, axis, indexing="ij")
        self.points = torch.stack([x1.reshape(-1), x2.reshape(-1)], 1)
        images = self.points.reshape(-1, 1, 1, 2)
        loglik = torch.cat(
            [operator.log_likelihood(chunk, y.expand(len(chunk), *y.shape[1:])) for chunk in images.split(32768)]
        )
        self.weights = torch.softmax(prior.log_prob(images) + loglik, 0)

    def prob(self, mask: torch.Tensor) -> float:
        return float(self.weights[mask].sum())

    def mean(self) -> torch.Tensor:
        return self.weights @ self.points

    def sample(self, n: int, generator) -> torch.Tensor:
        cells = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        return self.points[cells] + self.cell * (torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5)


def _sector(points: torch.Tensor) -> torch.Tensor:
    """The nearest ring mode by angle (modes every 45 degrees)."""
    return torch.round(torch.atan2(points[:, 1], points[:, 0]) / (math.pi / 4)).long() % 8


def _sign_mode(points: torch.Tensor) -> torch.Tensor:
    return (points.sum(1) > 0).long()


class GridProblem:
    """A two-pixel nonlinear problem with its grid posterior, mode labels and n chains."""

    def __init__(self, name: str, n: int):
        self.name = name
        if name == "one-bit-ring":
            ring = ring_mixture_2d(8, 1.0, 0.1)
            self.prior = GaussianMixture(ring.weights, ring.means, torch.full((8,), 0.01), event_shape=(1, 1, 2))
            self.operator = Quantized1Bit(scale=0.4)
            y1 = torch.tensor([-1.0, 1.0], dtype=torch.float64).reshape(1, 1, 1, 2)
            self.grid, self.modes, self.num_modes = GridPosterior(self.prior, self.operator, y1, 1.6, 241), _sector, 8
        else:
            self.prior = GaussianMixture([0.5, 0.5], [[0.7, 0.25], [-0.7, -0.25]], [0.04, 0.04], event_shape=(1, 1, 2))
            self.operator = PhaseRetrieval(noise_std=0.05, seed=0)
            truth = torch.tensor([0.8, 0.3], dtype=torch.float64).reshape(1, 1, 1, 2)
            y1 = self.operator.measure(truth, generator=_gen(0))
            self.grid = GridPosterior(self.prior, self.operator, y1, 1.6, 641)
            self.modes, self.num_modes = _sign_mode, 2
        self.y = y1.expand(n, *y1.shape[1:]).clone()
        self.image_shape = (n, 1, 1, 2)
        self.eps = self.prior.eps_model(ALPHAS_CUMPROD)
        self.reference = self.grid.sample(n, _gen(3))
        self.linear = False

    def errors(self, samples: torch.Tensor) -> dict:
        points = samples.reshape(-1, 2).double()
        labels = self.modes(points)
        exact = [self.grid.prob(self.modes(self.grid.points) == k) for k in range(self.num_modes)]
        got = [float((labels == k).double().mean()) for k in range(self.num_modes)]
        return {
            "max_mass_error": max(abs(a - b) for a, b in zip(got, exact, strict=True)),
            "sliced_w2": sliced_wasserstein(points, self.reference, generator=_gen(4)),
            "mean_error": float((empirical_moments(points)[0] - self.grid.mean()).norm()),
            "masses": got,
            "exact_masses": exact,
        }


class MixtureProblem(dpnp_posterior.Problem):
    linear = True

    def errors(self, samples) -> dict:
        return mixture_errors(samples, self.posterior)


def run(problem, method: str) -> dict:
    x0_step = "exact" if problem.linear else MALA
    if method == "DAPS-posterior":
        recipe = daps_recipe("posterior", problem.operator, clip_denoised=False, x0_step=x0_step)
        kwargs = recipe.sampler_kwargs()
    elif method == "DPnP-posterior":

        def call():
            return dpnp_sample(
                problem.eps,
                ALPHAS_CUMPROD,
                problem.operator,
                problem.y,
                etas=AnnealingSchedule(1.0, 0.02, 25),
                num_steps=10,
                pcs="exact" if problem.linear else MALA,
                image_shape=problem.image_shape,
                generator=_gen(2),
            )
    else:
        kwargs = daps_recipe("authors", problem.operator, likelihood_weight=1.0, x0_step=x0_step).sampler_kwargs()
    if method != "DPnP-posterior":

        def call():
            return daps_sample(
                problem.eps,
                ALPHAS_CUMPROD,
                problem.operator,
                problem.y,
                **kwargs,
                image_shape=problem.image_shape,
                generator=_gen(2),
            )

    t0 = time.perf_counter()
    out = call()
    return {
        "nfe": out.model_evals,
        "seconds": time.perf_counter() - t0,
        "acceptance_rate": out.acceptance_rate,
        **problem.errors(out.samples),
    }


def annealing_limit(n: int, levels: int, ode_steps=(1, 2, 5, 20)) -> dict:
    """Unobserved-pixel variance of DAPS (exact x0-step, 100 -> 0.01) on a Gaussian prior."""
    prior = GaussianMixture([1.0], [[0.3, -0.2]], [0.25], event_shape=(1, 1, 2))
    operator = MatrixOperator(torch.tensor([[1.0, 0.0]], dtype=torch.float64), noise_std=0.2)
    y = torch.full((n, 1), 0.5, dtype=torch.float64)
    eps = prior.eps_model(ALPHAS_CUMPROD)
    rows = {}
    for steps in ode_steps:
        out = daps_sample(
            eps,
            ALPHAS_CUMPROD,
            operator,
            y,
            sigmas=PolynomialSchedule(100.0, 0.01, levels),
            ode_steps=steps,
            image_shape=(n, 1, 1, 2),
            generator=_gen(0),
        )
        variance = out.samples.reshape(n, 2).var(0)
        rows[str(steps)] = {
            "nfe": out.model_evals,
            "unobserved_variance": float(variance[1]),
            "observed_variance": float(variance[0]),
        }
    posterior = prior.posterior(operator.matrix, y[0], 0.2).covariance()
    return {
        "levels": levels,
        "samples": n,
        "posterior_unobserved_variance": float(posterior[1, 1]),
        "posterior_observed_variance": float(posterior[0, 0]),
        "flattened_prior_unobserved_variance": 0.5,
        "flattened_prior_observed_variance": 1 / (1 / 0.5 + 1 / 0.04),
        "by_ode_steps": rows,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = published_results.parse_args(parser, argv)
    torch.set_num_threads(1)  # tiny tensors: threads only add overhead
    if args.quick:
        sizes = {"ring-2d": 100}
        limit = (200, 20)
    else:
        sizes = {
            "ring-2d": 2000,
            "gmm-4d": 2000,
            "image-sr2": 500,
            "image-halves": 500,
            "one-bit-ring": 2000,
            "phase-retrieval-2px": 1000,
        }
        limit = (3000, 200)
    report = {"samples": sizes, "methods": list(METHODS), "problems": {}}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"daps_posterior{'_quick' if args.quick else ''}.json"
    models = [published_results.no_weights("exact Gaussian-mixture priors (plugdiff.evaluation)")]
    for name, n in sizes.items():
        problem = GridProblem(name, n) if name in ("one-bit-ring", "phase-retrieval-2px") else MixtureProblem(name, n)
        rows = {method: run(problem, method) for method in METHODS}
        if problem.linear:
            rows["exact samples"] = problem.errors(problem.posterior.sample(n, generator=_gen(9)))
        else:
            rows["exact samples"] = problem.errors(problem.grid.sample(n, _gen(9)))
        report["problems"][name] = rows
        for method, r in rows.items():
            shown = {k: round(v, 4) for k, v in r.items() if isinstance(v, float)}
            print(f"{name:20} {method:28} {shown}", flush=True)
        published_results.write_json(path, report, models=models)  # after every problem: nothing lost
    report["annealing_limit"] = annealing_limit(*limit)
    for steps, r in report["annealing_limit"]["by_ode_steps"].items():
        print(
            f"annealing limit, {steps} ODE steps: unobserved variance {r['unobserved_variance']:.3f} "
            f"(posterior 0.25, flattened prior 0.5), observed {r['observed_variance']:.4f}",
            flush=True,
        )
    published_results.write_json(path, report, models=models)
    return report


if __name__ == "__main__":
    main()
