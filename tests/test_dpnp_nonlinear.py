"""DPnP with nonlinear likelihoods (1-bit sensing, coded phase retrieval) against exact posteriors
computed on a fine grid: two-pixel images (1, 1, 2), p(x | y) ∝ p(x) p(y | x) cell by cell."""

import math

import pytest
import torch
from posterior_problems import ALPHAS_CUMPROD, ring_prior

from plugdiff.evaluation import GaussianMixture, empirical_moments, image_mixture, sliced_wasserstein
from plugdiff.pipelines.posterior import dpnp as dpnp_module
from plugdiff.pipelines.posterior.annealing import AnnealingSchedule
from plugdiff.pipelines.posterior.diffusion_denoising import last_step_below
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.operators import MatrixOperator, PhaseRetrieval, Quantized1Bit
from plugdiff.pipelines.posterior.posterior_sampling import timestep_grid
from plugdiff.pipelines.posterior.proximal_sampling import PCS_PRESETS, LangevinSettings

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors


def _gen(seed):
    return torch.Generator().manual_seed(seed)


class GridPosterior:
    """p(x | y) ∝ p(x) p(y | x) on a size x size grid of cell centres over [-limit, limit]^2."""

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
        # the grid must hold the whole posterior: nothing within two cells of its border
        assert self.prob(lambda p: p.abs().amax(1) > limit - 2 * self.cell) < 1e-8

    def prob(self, region) -> float:
        """P(x in region | y); region maps points (N, 2) to a bool mask (N,)."""
        return float(self.weights[region(self.points)].sum())

    def moments(self, region=None):
        """Mean (2,) and covariance (2, 2), given x in region (default: everywhere)."""
        w = self.weights if region is None else torch.where(region(self.points), self.weights, 0.0)
        w = w / w.sum()
        mean = w @ self.points
        centred = self.points - mean
        return mean, (w[:, None] * centred).T @ centred

    def sample(self, n: int, generator) -> torch.Tensor:
        """n exact draws (up to the cell size): a cell by weight, then uniform within it."""
        cells = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        jitter = torch.rand(n, 2, generator=generator, dtype=torch.float64) - 0.5
        return self.points[cells] + self.cell * jitter


def _sector(points: torch.Tensor) -> torch.Tensor:
    """Index of the nearest ring mode by angle (modes every 45 degrees, the first at 0)."""
    return torch.round(torch.atan2(points[:, 1], points[:, 0]) / (math.pi / 4)).long() % 8


def _quadrant(points: torch.Tensor) -> torch.Tensor:
    return (points[:, 0] > 0).long() * 2 + (points[:, 1] > 0).long()


# ----------------------------------------------------------------------------- 1-bit sensing


@pytest.fixture(scope="module")
def one_bit():
    """Ring prior (8 modes), 1-bit signs of both pixels at c = 0.4: y = (-1, +1) here, so the
    posterior keeps 5 of the 8 modes with clearly different masses (0.36, 2 x 0.23, 2 x 0.06)."""
    prior, operator = ring_prior(), Quantized1Bit(scale=0.4)
    x_true = torch.tensor([-0.6, 0.8], dtype=torch.float64).reshape(1, 1, 1, 2)
    y1 = operator.measure(x_true, generator=_gen(0))
    assert y1.reshape(-1).tolist() == [-1.0, 1.0]
    grid = GridPosterior(prior, operator, y1, limit=1.6, size=481)
    n = 2000
    out = dpnp_sample(
        prior.eps_model(ALPHAS_CUMPROD),
        ALPHAS_CUMPROD,
        operator,
        y1.expand(n, 1, 1, 2).clone(),
        pcs="mala",
        etas=AnnealingSchedule(1.0, 0.02, 40),
        num_steps=10,
        generator=_gen(1),
    )
    return grid, out


def test_one_bit_mala_matches_the_grid_posterior(one_bit):
    grid, out = one_bit
    n = out.samples.shape[0]
    assert out.samples.shape == (n, 1, 1, 2) and bool(torch.isfinite(out.samples).all())
    samples = out.samples.reshape(n, 2)
    for regions in (_sector, _quadrant):
        labels = regions(samples)
        for k in range(int(regions(grid.points).max()) + 1):
            exact = grid.prob(lambda p, regions=regions, k=k: regions(p) == k)
            got = float((labels == k).double().mean())
            assert abs(got - exact) < 0.05, (regions.__name__, k, got, exact)  # binomial SE <= 0.011
    mean, cov = grid.moments()
    got_mean, got_cov = empirical_moments(samples)
    standard_error = (cov.diagonal() / n).sqrt()  # ~0.012
    assert bool(((got_mean - mean).abs() < 4 * standard_error).all()), (got_mean, mean)
    assert torch.allclose(got_cov, cov, atol=0.04), (got_cov, cov)  # SE of a variance ~0.01
    # sliced W2 to exact grid draws: two independent exact sets of this size are ~0.03 apart
    # (more when mode masses fluctuate); a PCS at 2 eta, or no Metropolis test, gives > 0.12
    reference = grid.sample(n, _gen(3))
    assert sliced_wasserstein(samples, reference, generator=_gen(4)) < 0.08
    # eta << c: the proximal law is almost the Gaussian the proposal integrates exactly, so the
    # adapted step is large and almost everything is accepted; 1.0 would mean no Metropolis test
    assert 0.3 < out.acceptance_rate < 0.99
    calls = [len(timestep_grid(last_step_below(ALPHAS_CUMPROD, eta), 10)) for eta in out.etas]
    assert out.model_evals == sum(calls) and max(calls) == 10  # at most num_steps per DDS call
    assert out.etas[0] == 1.0 and len(out.etas) == 40


def test_official_unadjusted_langevin_runs_and_reports_no_acceptance(one_bit):
    """The official preset (1000 unadjusted steps per iteration) on a short schedule: no
    acceptance rate, and the chain moves from the prior (mean 0) most of the way to the posterior."""
    grid, _ = one_bit
    assert PCS_PRESETS["langevin"] == LangevinSettings() and not LangevinSettings().metropolis
    prior, operator = ring_prior(), Quantized1Bit(scale=0.4)
    n = 256
    y = torch.tensor([-1.0, 1.0], dtype=torch.float64).reshape(1, 1, 1, 2).expand(n, 1, 1, 2).clone()
    eps = prior.eps_model(ALPHAS_CUMPROD)
    out = dpnp_sample(
        eps,
        ALPHAS_CUMPROD,
        operator,
        y,
        pcs="langevin",
        etas=AnnealingSchedule(1.0, 0.1, 4),
        num_steps=10,
        generator=_gen(1),
    )
    assert out.acceptance_rate is None and out.samples.shape == (n, 1, 1, 2)
    assert bool(torch.isfinite(out.samples).all())
    direction = torch.tensor([-1.0, 1.0], dtype=torch.float64) / math.sqrt(2)  # towards y's quadrant
    target = float(grid.moments()[0] @ direction)  # ~0.66
    got = float(out.samples.reshape(n, 2).mean(0) @ direction)  # ~0.46, SE ~0.04
    assert got > 0.5 * target, (got, target)
    # a short unadjusted chain (50 steps) runs too, also without an acceptance rate
    short = dpnp_sample(
        eps,
        ALPHAS_CUMPROD,
        operator,
        y[:64],
        pcs=LangevinSettings(num_steps=50),
        etas=[0.5, 0.2],
        num_steps=5,
        generator=_gen(2),
    )
    assert short.acceptance_rate is None and bool(torch.isfinite(short.samples).all())


def test_auto_pcs_reports_the_mean_mala_acceptance_over_iterations(monkeypatch):
    """pcs="auto" picks MALA for nonlinear operators (the exact sampler for linear Gaussian ones,
    which has no acceptance rate); the reported rate is the mean of the per-iteration rates."""
    rates = []
    original = dpnp_module.langevin_proximal_sample

    def recording(*args, **kwargs):
        x, rate = original(*args, **kwargs)
        rates.append(rate)
        return x, rate

    monkeypatch.setattr(dpnp_module, "langevin_proximal_sample", recording)
    prior = ring_prior()
    eps = prior.eps_model(ALPHAS_CUMPROD)
    y = torch.tensor([1.0, -1.0], dtype=torch.float64).reshape(1, 1, 1, 2).expand(16, 1, 1, 2).clone()
    out = dpnp_sample(
        eps, ALPHAS_CUMPROD, Quantized1Bit(0.4), y, pcs="auto", etas=[0.8, 0.3, 0.05], num_steps=5, generator=_gen(0)
    )
    assert len(rates) == 3 and all(r is not None and 0 < r <= 1 for r in rates)
    assert out.acceptance_rate == pytest.approx(sum(rates) / 3)
    rates.clear()
    linear = MatrixOperator(torch.eye(2, dtype=torch.float64), noise_std=0.1)
    out = dpnp_sample(
        eps,
        ALPHAS_CUMPROD,
        linear,
        y.reshape(16, 2),
        pcs="auto",
        etas=[0.8, 0.3],
        num_steps=5,
        image_shape=(16, 1, 1, 2),
        generator=_gen(0),
    )
    assert out.acceptance_rate is None and rates == []


# ----------------------------------------------------------------------------- phase retrieval


@pytest.fixture(scope="module")
def two_pixel_phase_retrieval():
    r"""Coded phase retrieval of two pixels. On a 2 x 4 canvas the 8 magnitudes are
    :math:`|x_1 m_1 \pm x_2 m_2|` and :math:`\sqrt{x_1^2 + x_2^2}` (over sqrt 8): with a +-1 code M
    they cannot tell x from -x (nor the coded swap :math:`x_1 m_1 \leftrightarrow x_2 m_2`). A prior
    that is symmetric under x -> -x (two components at +-mu) makes the posterior exactly
    symmetric: two sign modes of mass 1/2; mu breaks the swap ambiguity (its mode keeps < 1 %)."""
    operator = PhaseRetrieval(noise_std=0.05, seed=0)
    assert operator.measurement_shape((1, 1, 1, 2)) == (1, 1, 2, 4)
    assert bool((operator.mask(1, 2).abs() == 1).all())  # seed 0: M = (1, -1)
    prior = GaussianMixture([0.5, 0.5], [[0.7, 0.25], [-0.7, -0.25]], [0.04, 0.04], event_shape=(1, 1, 2))
    x_true = torch.tensor([0.8, 0.3], dtype=torch.float64).reshape(1, 1, 1, 2)
    assert torch.allclose(operator(x_true), operator(-x_true))
    y1 = operator.measure(x_true, generator=_gen(0))
    grid = GridPosterior(prior, operator, y1, limit=1.6, size=641)
    return prior, operator, y1, grid


def _positive(p):
    return p.sum(1) > 0  # the sign mode of +x_true: x1 + x2 > 0 (|x1 + x2| ~ 1.1 is measured)


def test_phase_retrieval_sign_modes_get_equal_mass_and_the_grid_mode_law(two_pixel_phase_retrieval):
    prior, operator, y1, grid = two_pixel_phase_retrieval
    assert grid.prob(_positive) == pytest.approx(0.5, abs=1e-9)
    assert grid.prob(lambda p: p.sum(1).abs() < 0.3) < 1e-8  # the two modes are well separated
    assert grid.prob(lambda p: _positive(p) & (p[:, 1] > p[:, 0])) < 0.01  # the swap mode
    mean, cov = grid.moments(_positive)  # ~(0.77, 0.23), sd ~(0.06, 0.07)
    n = 1000
    mala = LangevinSettings(num_steps=50, step_scale=1.0, damping=0.0, metropolis=True)  # "mala", shorter
    out = dpnp_sample(
        prior.eps_model(ALPHAS_CUMPROD),
        ALPHAS_CUMPROD,
        operator,
        y1.expand(n, 1, 2, 4).clone(),
        pcs=mala,
        etas=AnnealingSchedule(1.0, 0.02, 25),
        num_steps=10,
        image_shape=(n, 1, 1, 2),
        generator=_gen(1),
    )
    samples = out.samples.reshape(n, 2)
    assert bool(torch.isfinite(samples).all())
    positive = _positive(samples)
    assert abs(float(positive.double().mean()) - 0.5) < 0.05  # binomial SE 0.016
    # the law within the sign mode: fold the other mode onto it (exact by symmetry)
    folded = torch.where(positive[:, None], samples, -samples)
    got_mean, got_cov = empirical_moments(folded)
    standard_error = (cov.diagonal() / n).sqrt()  # ~0.0023
    assert bool(((got_mean - mean).abs() < 4 * standard_error).all()), (got_mean, mean)
    assert bool(((got_cov.diagonal() / cov.diagonal()).sqrt().sub(1).abs() < 0.25).all()), (got_cov, cov)
    for sign in (1, -1):  # each mode on its own (half the samples)
        half = samples[positive if sign == 1 else ~positive]
        error = (half.mean(0) - sign * mean).abs()
        assert bool((error < 4 * math.sqrt(2) * standard_error).all()), (sign, half.mean(0))
    assert 0.3 < out.acceptance_rate < 0.9


def test_phase_retrieval_end_to_end_on_small_images():
    """The library's operator on (2, 1, 4, 4) images (8 x 8 magnitudes), two different
    measurements in one batch, pcs="auto" (MALA): the samples fit y far better than the prior."""
    prior = image_mixture((1, 4, 4), num_components=3, seed=0)
    operator = PhaseRetrieval(noise_std=0.05, seed=1)
    x_true = prior.sample(2, generator=_gen(0)).reshape(2, 1, 4, 4)
    y = operator.measure(x_true, generator=_gen(1))
    assert y.shape == (2, 1, 8, 8)
    out = dpnp_sample(
        prior.eps_model(ALPHAS_CUMPROD),
        ALPHAS_CUMPROD,
        operator,
        y,
        etas=AnnealingSchedule(1.0, 0.05, 6),
        num_steps=10,
        image_shape=(2, 1, 4, 4),
        generator=_gen(2),
    )
    assert out.samples.shape == (2, 1, 4, 4) and out.samples.dtype == y.dtype
    assert bool(torch.isfinite(out.samples).all())
    assert out.acceptance_rate is not None and 0 < out.acceptance_rate < 1
    fit = operator.distance(out.samples, y)  # ~0.5
    truth_fit = operator.distance(x_true, y)  # the noise alone: ~0.05 * 8 = 0.4
    prior_draws = prior.sample(64, generator=_gen(3)).reshape(64, 1, 4, 4)
    prior_fit = torch.stack(
        [operator.distance(prior_draws, y[i : i + 1].expand(64, 1, 8, 8)).median() for i in range(2)]
    )  # ~1.1
    assert bool((fit < 0.6 * prior_fit).all()), (fit, prior_fit)
    assert bool((fit < 1.5 * truth_fit).all()), (fit, truth_fit)
    swapped = operator.distance(out.samples.flip(0), y)  # each chain fits its own measurement
    assert bool((fit < 0.8 * swapped).all()), (fit, swapped)
