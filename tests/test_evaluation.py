"""The exact-score toolkit is itself checked against independent computations."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from plugdiff.evaluation import (
    Gaussian,
    GaussianMixture,
    empirical_moments,
    gaussian_kl,
    sliced_wasserstein,
    solve_probability_flow,
)

f64 = torch.float64


def random_spd(d, generator, floor=0.05):
    a = torch.randn(d, d, generator=generator, dtype=f64)
    return a @ a.T / d + floor * torch.eye(d, dtype=f64)


@pytest.fixture
def mixture():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(3, 4, generator=g, dtype=f64)
    covs = torch.stack([random_spd(4, g) for _ in range(3)])
    return GaussianMixture([0.2, 0.5, 0.3], means, covs)


@pytest.mark.parametrize("alpha_bar", [0.02, 0.5, 0.97, 1.0])
def test_score_is_gradient_of_log_prob(mixture, alpha_bar):
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(1), dtype=f64).requires_grad_(True)
    (grad,) = torch.autograd.grad(mixture.log_prob(x, alpha_bar).sum(), x)
    assert torch.allclose(mixture.score(x.detach(), alpha_bar), grad, atol=1e-10)
    if alpha_bar < 1:
        assert torch.allclose(mixture.eps(x.detach(), alpha_bar), -math.sqrt(1 - alpha_bar) * grad, atol=1e-10)


def test_log_prob_matches_scipy_density():
    from scipy.stats import multivariate_normal

    g = torch.Generator().manual_seed(2)
    means, covs = torch.randn(2, 3, generator=g, dtype=f64), torch.stack([random_spd(3, g) for _ in range(2)])
    mix = GaussianMixture([0.3, 0.7], means, covs)
    x = torch.randn(4, 3, generator=g, dtype=f64)
    a = 0.4
    ref = sum(
        w * multivariate_normal(math.sqrt(a) * m.numpy(), a * c.numpy() + (1 - a) * np.eye(3)).pdf(x.numpy())
        for w, m, c in zip([0.3, 0.7], means, covs)
    )
    assert np.allclose(mix.log_prob(x, a).exp().numpy(), ref, rtol=1e-10)


def test_diagonal_shared_and_full_bases_agree():
    g = torch.Generator().manual_seed(3)
    D = 5
    U, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=f64))
    lam = torch.rand(2, D, generator=g, dtype=f64) + 0.1
    means = torch.randn(2, D, generator=g, dtype=f64)
    shared = GaussianMixture.from_eigen([1, 2], means, lam, U)
    full = GaussianMixture([1, 2], means, U @ torch.diag_embed(lam) @ U.T)
    per_comp = GaussianMixture.from_eigen([1, 2], means, lam, U.expand(2, D, D))
    x = torch.randn(6, D, generator=g, dtype=f64)
    for a in (0.1, 0.8):
        assert torch.allclose(shared.eps(x, a), full.eps(x, a), atol=1e-12)
        assert torch.allclose(per_comp.eps(x, a), full.eps(x, a), atol=1e-12)
    draw = lambda m: m.sample(64, torch.Generator().manual_seed(0))
    assert torch.allclose(draw(per_comp), draw(shared), atol=1e-12)
    diag = GaussianMixture([1, 2], means, lam)
    assert torch.allclose(
        diag.eps(x, 0.3), GaussianMixture([1, 2], means, torch.diag_embed(lam)).eps(x, 0.3), atol=1e-12
    )


def test_image_shaped_samples_and_per_sample_levels():
    mix = GaussianMixture([1.0, 1.0], torch.zeros(2, 3 * 4 * 4), torch.tensor([0.5, 2.0]), event_shape=(3, 4, 4))
    x = mix.sample(7, torch.Generator().manual_seed(0))
    assert x.shape == (7, 3, 4, 4)
    levels = torch.linspace(0.1, 0.9, 7, dtype=f64)
    per_sample = mix.eps(x, levels)
    one_by_one = torch.cat([mix.eps(x[i : i + 1], float(levels[i])) for i in range(7)])
    assert per_sample.shape == x.shape and torch.allclose(per_sample, one_by_one)


def test_sample_moments_match(mixture):
    x = mixture.sample(200_000, torch.Generator().manual_seed(4))
    mean, cov = empirical_moments(x)
    assert torch.allclose(mean, mixture.mean(), atol=0.02)
    assert torch.allclose(cov, mixture.covariance(), atol=0.03)
    noisy = mixture.sample(200_000, torch.Generator().manual_seed(5), alpha_bar=0.3)
    _, cov_t = empirical_moments(noisy)
    assert torch.allclose(cov_t, 0.3 * mixture.covariance() + 0.7 * torch.eye(4, dtype=f64), atol=0.03)


def test_posterior_matches_bayes_rule_on_a_grid():
    """1-D mixture, y = 2 x + 0.3 n: posterior mean / variance against numerical integration."""
    mix = GaussianMixture([0.4, 0.6], torch.tensor([[-1.0], [1.5]]), torch.tensor([0.2, 0.5]))
    A, y, s = torch.tensor([[2.0]]), torch.tensor([0.7]), 0.3
    post = mix.posterior(A, y, s)

    def unnorm(x):
        prior = float(mix.log_prob(torch.tensor([[x]], dtype=f64)).exp())
        return prior * math.exp(-0.5 * ((2 * x - 0.7) / s) ** 2)

    Z = quad(unnorm, -10, 10, points=[0.35], limit=200)[0]
    m1 = quad(lambda x: x * unnorm(x), -10, 10, points=[0.35], limit=200)[0] / Z
    m2 = quad(lambda x: x * x * unnorm(x), -10, 10, points=[0.35], limit=200)[0] / Z
    assert math.isclose(float(post.mean()), m1, rel_tol=1e-7)
    assert math.isclose(float(post.covariance()), m2 - m1**2, rel_tol=1e-6)


def test_posterior_single_gaussian_information_form():
    g = torch.Generator().manual_seed(6)
    S, mu = random_spd(4, g), torch.randn(4, generator=g, dtype=f64)
    A, y = torch.randn(2, 4, generator=g, dtype=f64), torch.randn(2, generator=g, dtype=f64)
    post = Gaussian(mu, S).posterior(A, y, 0.5)
    precision = torch.linalg.inv(S) + A.T @ A / 0.25
    cov = torch.linalg.inv(precision)
    mean = cov @ (torch.linalg.solve(S, mu) + A.T @ y / 0.25)
    assert torch.allclose(post.covariance(), cov, atol=1e-10)
    assert torch.allclose(post.mean(), mean, atol=1e-10)


def test_reference_ode_matches_closed_form_gaussian_flow():
    g = torch.Generator().manual_seed(7)
    gauss = Gaussian(torch.randn(6, generator=g, dtype=f64), random_spd(6, g, floor=0.02))
    x = torch.randn(16, 6, generator=g, dtype=f64)
    for a_from, a_to in [(4.0e-5, 1.0), (0.1, 0.9)]:
        ref = solve_probability_flow(gauss.eps, x, a_from, a_to)
        assert torch.allclose(ref, gauss.flow(x, a_from, a_to), atol=1e-8)


def test_reference_ode_transports_mixture_marginals(mixture):
    """Pushing exact q_t samples through the ODE must give q_1 samples (moments agree)."""
    x = mixture.sample(4000, torch.Generator().manual_seed(8), alpha_bar=0.05)
    end = solve_probability_flow(mixture.eps, x, 0.05, 1.0, rtol=1e-7, atol=1e-7)
    mean, cov = empirical_moments(end)
    assert torch.allclose(mean, mixture.mean(), atol=0.08)
    assert torch.allclose(cov, mixture.covariance(), atol=0.15)


def test_gaussian_kl_closed_form():
    assert gaussian_kl([0.0], [[1.0]], [0.0], [[1.0]]) == pytest.approx(0.0, abs=1e-14)
    # 1-D: KL = log(s_q/s_p) + (s_p^2 + (m_p-m_q)^2)/(2 s_q^2) - 1/2
    expected = math.log(2.0 / 0.5) + (0.25 + 1.0) / 8.0 - 0.5
    assert gaussian_kl([1.0], [[0.25]], [0.0], [[4.0]]) == pytest.approx(expected, rel=1e-12)


def test_sliced_wasserstein_of_a_shift():
    """For y = x + v, every projection is shifted by theta.v, so SW2^2 = E (theta.v)^2 = |v|^2 / D."""
    x = torch.randn(5000, 8, generator=torch.Generator().manual_seed(9), dtype=f64)
    v = torch.arange(8, dtype=f64) / 4
    sw = sliced_wasserstein(x, x + v, num_projections=4000, generator=torch.Generator().manual_seed(1))
    assert sw == pytest.approx(float(v.norm()) / math.sqrt(8), rel=0.05)
    assert sliced_wasserstein(x, x) == 0.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=[1.0, -1.0], means=torch.zeros(2, 2), covariances=torch.ones(2)), "weights"),
        (dict(weights=[1.0], means=torch.zeros(1, 2), covariances=-torch.ones(1)), "positive definite"),
        (dict(weights=[1.0], means=torch.zeros(1, 2), covariances=torch.ones(1, 3)), "covariances"),
        (dict(weights=[1.0], means=torch.zeros(1, 4), covariances=torch.ones(1), event_shape=(3,)), "event_shape"),
    ],
)
def test_bad_mixture_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(**kwargs)


def test_bad_calls(mixture):
    with pytest.raises(ValueError, match="shape"):
        mixture.eps(torch.zeros(2, 5), 0.5)
    with pytest.raises(ValueError, match="alpha_bar"):
        mixture.eps(torch.zeros(2, 4), 1.5)
    with pytest.raises(ValueError, match="noise_std"):
        mixture.posterior(torch.eye(4), torch.zeros(4), 0.0)
    with pytest.raises(ValueError, match="alpha_from"):
        solve_probability_flow(mixture.eps, torch.zeros(1, 4), 0.5, 0.1)


def test_standard_targets():
    from plugdiff.evaluation import dct_matrix, image_mixture, ring_mixture_2d

    U = dct_matrix(8)
    assert torch.allclose(U.T @ U, torch.eye(8, dtype=f64), atol=1e-12)
    ring = ring_mixture_2d(num_modes=6, radius=3.0)
    assert torch.allclose(ring.means.norm(dim=1), torch.full((6,), 3.0, dtype=f64))
    img = image_mixture((3, 8, 8), num_components=3)
    x = img.sample(5, torch.Generator().manual_seed(0))
    assert x.shape == (5, 3, 8, 8) and img.means.abs().max() <= 0.8 + 1e-12
    # the shared-basis fast path agrees with the full-covariance form
    full = GaussianMixture(img.weights, img.means, img.covariance_matrices(), event_shape=(3, 8, 8))
    assert torch.allclose(img.eps(x, 0.3), full.eps(x, 0.3), atol=1e-10)
