"""DPnP and DPS against exact posteriors (Gaussian-mixture priors with exact scores)."""

import math

import pytest
import torch
from posterior_problems import ALPHAS_CUMPROD, linear_proximal_problem, ring_problem, super_resolution_problem

from plugdiff.evaluation import GaussianMixture, empirical_moments, mixture_errors
from plugdiff.pipelines.posterior.annealing import AnnealingSchedule
from plugdiff.pipelines.posterior.diffusion_denoising import dds_ddim, dds_ddpm
from plugdiff.pipelines.posterior.dpnp import dpnp_sample
from plugdiff.pipelines.posterior.dps import dps_sample
from plugdiff.pipelines.posterior.operators import MatrixOperator
from plugdiff.pipelines.posterior.proximal_sampling import (
    LangevinSettings,
    langevin_proximal_sample,
)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def ring():
    return ring_problem()


def test_dpnp_converges_to_the_exact_two_mode_posterior_as_eta_min_shrinks(ring):
    prior, operator, y, posterior, shape = ring
    eps = prior.eps_model(ALPHAS_CUMPROD)
    errors = []
    for eta_min in (0.3, 0.1, 0.02):
        out = dpnp_sample(
            eps,
            ALPHAS_CUMPROD,
            operator,
            y,
            etas=AnnealingSchedule(3.0, eta_min, 40),
            num_steps=10,
            image_shape=shape,
            generator=_gen(2),
        )
        errors.append(mixture_errors(out.samples, posterior))
    total = [e["mass_tv"] + e["mode_sw"] for e in errors]
    assert total[0] > total[1] > total[2]
    final = errors[-1]
    assert final["mass_tv"] < 0.03 and final["mode_sw"] < 0.02 and final["mean_error"] < 0.05
    assert out.model_evals == 368 and out.etas[0] == 3.0 and out.acceptance_rate is None


def test_dpnp_ddim_variant_also_matches(ring):
    prior, operator, y, posterior, shape = ring
    out = dpnp_sample(
        prior.eps_model(ALPHAS_CUMPROD),
        ALPHAS_CUMPROD,
        operator,
        y,
        dds="ddim",
        etas=AnnealingSchedule(3.0, 0.02, 40),
        num_steps=10,
        image_shape=shape,
        generator=_gen(2),
    )
    errors = mixture_errors(out.samples, posterior)
    assert errors["mass_tv"] < 0.03 and errors["mode_sw"] < 0.025 and errors["mean_error"] < 0.05


def test_dps_is_measurably_worse_at_matched_network_evaluations():
    """x2 super-resolution of a 48-dimensional image mixture: DPnP's posterior mean is within
    sampling noise of the exact one; DPS's, at every step size and with more network calls, is not."""
    prior, operator, y, posterior, shape = super_resolution_problem(n=1000)
    eps = prior.eps_model(ALPHAS_CUMPROD)
    dpnp = dpnp_sample(
        eps,
        ALPHAS_CUMPROD,
        operator,
        y,
        etas=AnnealingSchedule(1.0, 0.02, 40),
        num_steps=10,
        image_shape=shape,
        generator=_gen(2),
    )
    ours = mixture_errors(dpnp.samples, posterior)
    assert ours["mean_error"] < 0.035  # exact samples: ~0.02 at n = 1000
    for step_size in (0.1, 1.0):  # DPS's best here, and its usual default
        dps = dps_sample(
            eps, ALPHAS_CUMPROD, operator, y, step_size=step_size, num_steps=400, image_shape=shape, generator=_gen(2)
        )
        assert dps.model_evals == 400 >= dpnp.model_evals
        theirs = mixture_errors(dps.samples, posterior)
        assert ours["mean_error"] < 0.6 * theirs["mean_error"], step_size
        assert ours["sliced_w2"] < theirs["sliced_w2"], step_size


def test_fixed_eta_chain_has_the_distorted_posterior_as_its_law():
    """At a fixed eta the Gibbs pair (exact PCS, DDS) targets p(x) N(y; Ax, s^2 + eta^2 AA^T):
    the exact posterior for the noise level sqrt(s^2 + eta^2) here (A A^T = 1). The mode masses
    pin eta down: the same samples are far from the laws for eta = 0.35 or 0.7."""
    prior, operator, y, _, shape = ring_problem(n=3000)

    def distorted(eta):
        return prior.posterior(operator.matrix, y[0], math.sqrt(operator.noise_std**2 + eta**2))

    for dds in ("ddpm", "ddim"):
        out = dpnp_sample(
            prior.eps_model(ALPHAS_CUMPROD),
            ALPHAS_CUMPROD,
            operator,
            y,
            etas=[0.5] * 30,
            dds=dds,
            num_steps=20,
            image_shape=shape,
            generator=_gen(5),
        )
        errors = mixture_errors(out.samples, distorted(0.5))
        assert errors["mass_tv"] < 0.05 and errors["mode_sw"] < 0.03, (dds, errors)
        for wrong in (0.35, 0.7):
            assert mixture_errors(out.samples, distorted(wrong))["mass_tv"] > 0.12, (dds, wrong)


def test_dds_draws_the_prior_back_from_noisy_prior_samples():
    """x ~ p, x' = x + eta n  =>  DDS(x') ~ p(x | x') has marginal p."""
    prior = GaussianMixture(
        [0.4, 0.35, 0.25],
        [[1, 1, 0.5, -0.5], [-1, -1, 0, 0.5], [1, -1, -0.5, 0]],
        [0.1, 0.1, 0.1],
        event_shape=(1, 2, 2),
    )
    eps = prior.eps_model(ALPHAS_CUMPROD)
    x = prior.sample(3000, generator=_gen(0))
    for eta in (0.05, 0.4, 3.0):
        noisy = x + eta * torch.randn(x.shape, generator=_gen(1), dtype=x.dtype)
        for dds in (dds_ddpm, dds_ddim):
            for num_steps in (None, 50):
                out = dds(eps, ALPHAS_CUMPROD, noisy, eta, num_steps=num_steps, generator=_gen(2))
                errors = mixture_errors(out, prior)
                assert errors["mass_tv"] < 0.03 and errors["mode_sw"] < 0.05, (eta, dds.__name__, num_steps, errors)
    noisy = x + 0.001 * torch.randn(x.shape, generator=_gen(1), dtype=x.dtype)
    assert torch.equal(dds_ddpm(eps, ALPHAS_CUMPROD, noisy, 0.001), noisy)  # below every training level


def test_exact_pcs_has_the_closed_form_gaussian_moments():
    matrix = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    op = MatrixOperator(matrix, noise_std=0.3)
    eta, n = 0.7, 40000
    center = torch.tensor([0.2, -0.4, 1.0], dtype=torch.float64).reshape(1, 1, 1, 3).expand(n, 1, 1, 3)
    y = torch.tensor([[1.0, -0.5]], dtype=torch.float64).expand(n, 2)
    x = op.proximal_sample(center, y, eta, generator=_gen(1))
    precision = matrix.T @ matrix / 0.09 + torch.eye(3, dtype=torch.float64) / eta**2
    cov = torch.linalg.inv(precision)
    mean = cov @ (matrix.T @ y[0] / 0.09 + center[0].reshape(-1) / eta**2)
    got_mean, got_cov = empirical_moments(x)
    assert torch.allclose(got_mean, mean, atol=4 * cov.diagonal().max().sqrt() / math.sqrt(n))
    assert torch.allclose(got_cov, cov, atol=0.02 * cov.abs().max())
    assert torch.allclose(op.proximal_mean(center[:1], y[:1], eta).reshape(-1), mean)


def test_mala_leaves_the_proximal_law_invariant_and_reports_acceptance():
    """MALA on a linear Gaussian problem, where the proximal law is known exactly."""
    op, center, y = linear_proximal_problem(n=4000)
    eta = 0.5
    exact = op.proximal_sample(center, y, eta, generator=_gen(3))
    settings = LangevinSettings(num_steps=1000, step_scale=1.0, damping=0.0, metropolis=True)
    x, rate = langevin_proximal_sample(op, y, center, eta, settings, generator=_gen(1))
    assert 0.5 < rate < 0.65  # adapted towards 0.574
    m1, c1 = empirical_moments(x)
    m2, c2 = empirical_moments(exact)
    mean = op.proximal_mean(center[:1], y[:1], eta).reshape(-1)
    assert torch.allclose(m1, mean, atol=0.01) and torch.allclose(m2, mean, atol=0.01)  # ~4 standard errors
    assert torch.allclose(c1, c2, atol=0.003)
    # the official unadjusted chain runs and moves towards the same law (biased by its step)
    x, rate = langevin_proximal_sample(op, y, center, eta, LangevinSettings(num_steps=1000), generator=_gen(1))
    assert rate is None and torch.allclose(empirical_moments(x)[0], m2, atol=0.05)
