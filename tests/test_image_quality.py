"""PSNR, SSIM and coverage against their definitions: closed-form cases and a naive per-window
SSIM loop."""

import math

import pytest
import torch

from plugdiff.evaluation.image_quality import _gaussian_window, calibrated_coverage, coverage, psnr, ssim


def test_psnr_closed_form():
    truth = torch.zeros(2, 3, 8, 8)
    estimate = truth.clone()
    estimate[0] += 0.2  # MSE 0.04 -> 10 log10(4 / 0.04) = 20 dB
    estimate[1, :, :4] += 0.4  # MSE 0.08
    assert psnr(estimate, truth).tolist() == pytest.approx([20.0, 10 * math.log10(4 / 0.08)])


def _naive_ssim(x, y, window=7, sigma=1.5, data_range=2.0):
    g = _gaussian_window(window, sigma, torch.float64)
    w = g[:, None] * g[None, :]
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for c in range(x.shape[0]):
        for i in range(x.shape[1] - window + 1):
            for j in range(x.shape[2] - window + 1):
                a, b = x[c, i : i + window, j : j + window], y[c, i : i + window, j : j + window]
                ma, mb = (w * a).sum(), (w * b).sum()
                va, vb = (w * (a - ma) ** 2).sum(), (w * (b - mb) ** 2).sum()
                cov = (w * (a - ma) * (b - mb)).sum()
                values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return torch.stack(values).mean()


def test_ssim_matches_a_naive_window_loop():
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(2, 3, 12, 12, generator=gen, dtype=torch.float64) * 2 - 1
    estimate = (truth + 0.3 * torch.randn(truth.shape, generator=gen, dtype=torch.float64)).clamp(-1, 1)
    fast = ssim(estimate, truth)
    for k in range(2):
        assert float(fast[k]) == pytest.approx(float(_naive_ssim(estimate[k], truth[k])), abs=1e-10)
    assert ssim(truth, truth).tolist() == pytest.approx([1.0, 1.0])
    assert float(ssim(estimate, truth)[0]) == pytest.approx(float(ssim(truth, estimate)[0]))


def test_coverage_counts_pixels_within_k_std():
    truth = torch.zeros(1, 1, 2, 2)
    mean = torch.tensor([[[[0.1, 0.3], [-0.5, 0.0]]]])
    std = torch.full_like(mean, 0.1)
    assert coverage(mean, std, truth).tolist() == [0.5]  # |err| <= 0.2 for 0.1 and 0.0
    assert coverage(mean, std, truth, k=5).tolist() == [1.0]


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 4))
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="`std`"):
        coverage(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2), torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_calibrated_coverage_is_what_a_calibrated_sampler_gets(n):
    """Monte Carlo: truth and n draws from one Gaussian per pixel, mean and (Bessel) std from
    the draws, as the inverse-problem benchmark scores them."""
    g = torch.Generator().manual_seed(n)
    centre, scale = torch.randn(1, 1, 200, 200, generator=g, dtype=torch.float64), 0.3
    draws = centre + scale * torch.randn(n, 1, 1, 200, 200, generator=g, dtype=torch.float64)
    truth = centre + scale * torch.randn(1, 1, 200, 200, generator=g, dtype=torch.float64)
    observed = float(coverage(draws.mean(0), draws.std(0), truth))
    assert observed == pytest.approx(calibrated_coverage(n), abs=0.006)  # 40k pixels: MC error ~0.002


def test_calibrated_coverage_values_and_bad_input():
    assert calibrated_coverage(3) == pytest.approx(0.7746, abs=1e-4)
    assert calibrated_coverage(10_000) == pytest.approx(0.9545, abs=1e-3)
    for bad in (1, 2.5, True):
        with pytest.raises(ValueError, match="num_samples"):
            calibrated_coverage(bad)
