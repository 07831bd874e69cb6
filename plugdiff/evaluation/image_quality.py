"""Full-reference image quality for restorations: PSNR, SSIM and the calibration of a per-pixel
posterior standard deviation. Images are (N, C, H, W) tensors in [-1, 1]; every metric returns
one value per image (:func:`calibrated_coverage` is the reference value coverage is read against)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..argument_checks import check_int

#: Width of the [-1, 1] image range (PSNR's peak value).
DATA_RANGE = 2.0


def psnr(estimate: torch.Tensor, truth: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    r"""Peak signal-to-noise ratio per image, :math:`10 \log_{10}(R^2 / \mathrm{MSE})` in dB
    (R = ``data_range``; the MSE over all channels and pixels)."""
    _check_pair(estimate, truth)
    mse = (estimate.double() - truth.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def _gaussian_window(size: int, sigma: float, dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(
    estimate: torch.Tensor,
    truth: torch.Tensor,
    data_range: float = DATA_RANGE,
    window: int = 7,
    sigma: float = 1.5,
) -> torch.Tensor:
    r"""Structural similarity per image (Wang et al., IEEE TIP 2004), averaged over channels and
    over the valid (unpadded) window positions:

    .. math::
        \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
                             {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},
        \quad C_1 = (0.01 R)^2,\ C_2 = (0.03 R)^2,

    with local statistics under a ``window`` x ``window`` Gaussian of std ``sigma`` (7 rather than
    the paper's 11 because ShapesWorld frames are 32 x 32; R = ``data_range``)."""
    _check_pair(estimate, truth)
    if min(truth.shape[-2:]) < window:
        raise ValueError(f"images of {tuple(truth.shape[-2:])} pixels are smaller than the SSIM window ({window}).")
    x, y = estimate.double(), truth.double()
    channels = x.shape[1]
    g = _gaussian_window(window, sigma, torch.float64)
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, window, window).contiguous()

    def local_mean(z):
        return F.conv2d(z, kernel, groups=channels)

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return index.flatten(1).mean(1)


def coverage(mean: torch.Tensor, std: torch.Tensor, truth: torch.Tensor, k: float = 2.0) -> torch.Tensor:
    r"""Calibration of a per-pixel posterior std: the fraction of values with
    :math:`|x - \hat\mu| \le k\,\hat\sigma`, per image (0.954 for k = 2 if the posterior were
    Gaussian and the mean and std exact)."""
    _check_pair(mean, truth)
    if std.shape != truth.shape:
        raise ValueError(f"`std` must have the images' shape {tuple(truth.shape)}, got {tuple(std.shape)}.")
    inside = (mean.double() - truth.double()).abs() <= k * std.double()
    return inside.flatten(1).double().mean(1)


def calibrated_coverage(num_samples: int, k: float = 2.0) -> float:
    r"""The :func:`coverage` a perfectly calibrated sampler is expected to get when the mean and
    std are estimated from ``num_samples`` draws (``std`` with Bessel's correction, torch's
    default): with the truth and the draws independent from one Gaussian,
    :math:`(x - \hat\mu)/(\hat\sigma\sqrt{1 + 1/n})` has Student's t law with n - 1 degrees of
    freedom, so the value is :math:`P(|t_{n-1}| \le k/\sqrt{1+1/n})`: 0.775 for 3 draws, 0.828
    for 4, 0.899 for 8, tending to 0.954 (k = 2). A coverage below it means an over-confident
    sampler, above it an over-dispersed one."""
    from scipy.stats import t as student_t

    check_int(num_samples, "num_samples", minimum=2)
    return float(2 * student_t.cdf(k / math.sqrt(1 + 1 / num_samples), num_samples - 1) - 1)


def _check_pair(estimate: torch.Tensor, truth: torch.Tensor) -> None:
    if estimate.ndim != 4 or estimate.shape != truth.shape:
        raise ValueError(
            f"expected two (N, C, H, W) tensors of one shape, got {tuple(estimate.shape)} and {tuple(truth.shape)}."
        )
