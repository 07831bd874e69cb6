r"""Denoising diffusion samplers (DDS): draw :math:`x \sim p(x \mid x')` for
:math:`x' = x + \eta\,n`, :math:`n \sim \mathcal N(0, I)`, using only an unconditional
epsilon-prediction prior (the prior step of DPnP; Xu & Chi, NeurIPS 2024, Sec. 3).

In the variance-exploding (VE) view a training step t of the VP prior is the noise level
:math:`\sigma_t^2 = 1/\bar\alpha_t - 1`; x' is a VE sample at level :math:`\eta^2`, so only the
steps with :math:`\bar\alpha_t > 1/(1+\eta^2)` (levels below eta) are used.
"""

from __future__ import annotations

import torch

from .posterior_sampling import EpsModel, check_alphas_cumprod, denoised, timestep_grid


def last_step_below(alphas_cumprod: torch.Tensor, eta: float) -> int:
    """The largest training step whose VE level is below eta (-1 when even step 0 is above)."""
    below = (alphas_cumprod > 1.0 / (1.0 + eta**2)).nonzero()
    return int(below[-1]) if len(below) else -1


def dds_ddpm(
    eps_model: EpsModel,
    alphas_cumprod: torch.Tensor,
    x_noisy: torch.Tensor,
    eta: float,
    *,
    num_steps: int | None = None,
    clip_denoised: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""DDS-DDPM: ancestral sampling of the reverse VE process from level :math:`\eta^2` to 0.

    On the grid :math:`\varsigma_1 = \eta > \sigma_{t_2} > \dots > \sigma_{t_m} > 0` (training
    steps :math:`t_1 > \dots > t_m = 0` below eta; all of them or ``num_steps`` evenly spaced),
    each step takes Tweedie's :math:`\hat x_0 = x - \varsigma_k\,\varepsilon_\theta(\sqrt{\bar\alpha_{t_k}}x, t_k)`
    and draws from the Gaussian bridge between :math:`\hat x_0` and x:

    .. math::
        x \leftarrow \hat x_0 + \frac{\varsigma_{k+1}^2}{\varsigma_k^2}(x - \hat x_0)
            + \frac{\varsigma_{k+1}}{\varsigma_k}\sqrt{\varsigma_k^2 - \varsigma_{k+1}^2}\; z,

    with :math:`\varsigma_{m+1} = 0` (the last step returns :math:`\hat x_0`). This is DDPM
    sampling written in VE coordinates; to first order in the step it equals the official
    update :math:`x + 2(\sqrt{\tau_{t-1}} - \sqrt{\tau_t})\,e + \sqrt{\tau_t - \tau_{t-1}}\,z`, and unlike
    that update it stays a valid sampler on coarse grids. The first step queries the model at
    the training step nearest below eta. When eta is below every training level the input is
    returned unchanged. ``alphas_cumprod`` is used in float64 (in float32, 1/alpha-bar - 1 loses
    its digits at the small levels).
    """
    alphas_cumprod = check_alphas_cumprod(alphas_cumprod)
    last = last_step_below(alphas_cumprod, eta)
    if last < 0:
        return x_noisy
    grid = timestep_grid(last, num_steps)
    sigmas = [eta] + [float((1.0 / alphas_cumprod[t] - 1.0).sqrt()) for t in grid[1:]] + [0.0]
    x = x_noisy
    for k, t in enumerate(grid):
        level, nxt = sigmas[k], sigmas[k + 1]
        x0 = denoised(eps_model, x, t, level, float(alphas_cumprod[t]), clip_denoised)
        ratio = nxt / level
        x = x0 + ratio**2 * (x - x0)
        if nxt > 0:
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
            x = x + ratio * (level**2 - nxt**2) ** 0.5 * z
    return x


def remapped_alpha_bar(alpha_bar: torch.Tensor, eta: float) -> torch.Tensor:
    r""":math:`\bar\alpha'_t = ((1+\eta^2)\bar\alpha_t - 1)/(\eta^2 + \bar\alpha_t - 1)`: the level of
    the residual process at which p(x_0 | x', u_t) is a VE observation at training level t."""
    return ((1 + eta**2) * alpha_bar - 1) / (eta**2 + alpha_bar - 1)


def dds_ddim(
    eps_model: EpsModel,
    alphas_cumprod: torch.Tensor,
    x_noisy: torch.Tensor,
    eta: float,
    *,
    num_steps: int | None = None,
    clip_denoised: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""DDS-DDIM: a deterministic DDIM run on the residual :math:`u = x_0 - x'`, started from noise.

    Given x', the residual has the prior :math:`p(u) \propto p(x' + u)\,\mathcal N(u; 0, \eta^2 I)`.
    Diffuse it as :math:`u_t = \sqrt{\bar\alpha'_t}\,u + \sqrt{1-\bar\alpha'_t}\,\varepsilon` with the
    remapped schedule :func:`remapped_alpha_bar`. Then :math:`p(x_0 \mid x', u_t)` combines
    two Gaussian views of :math:`x_0`, and it is exactly a VE observation at the training level
    :math:`\sigma_t^2` centred at :math:`c_t = x' + \sigma_t^2\sqrt{\bar\alpha'_t}\,u_t / (1-\bar\alpha'_t)`.
    So the prior gives :math:`\hat u_0 = \hat x_0(c_t) - x'`, and DDIM (Song et al., ICLR 2021,
    eq. 12 with sigma = 0) steps :math:`u_t \to \sqrt{\bar\alpha'_{s}}\,\hat u_0 +
    \sqrt{1-\bar\alpha'_{s}}\,(u_t - \sqrt{\bar\alpha'_t}\hat u_0)/\sqrt{1-\bar\alpha'_t}` down to
    :math:`\bar\alpha' = 1`. Returns :math:`x' + u_0`. This is the schedule of the official
    ``DDIMDenoiser`` without its extra interpolated levels; the first step starts exactly at
    :math:`\bar\alpha' = 0` (level eta, centre x'), querying the model at the training step
    nearest below eta. ``alphas_cumprod`` is used in float64, as in :func:`dds_ddpm`.
    """
    alphas_cumprod = check_alphas_cumprod(alphas_cumprod)
    last = last_step_below(alphas_cumprod, eta)
    if last < 0:
        return x_noisy
    grid = timestep_grid(last, num_steps)
    remapped = remapped_alpha_bar(alphas_cumprod[: last + 1], eta)
    u = torch.randn(x_noisy.shape, generator=generator, dtype=x_noisy.dtype, device=x_noisy.device)
    for k, t in enumerate(grid):
        alpha_bar = float(alphas_cumprod[t])
        # the first step starts at alpha' = 0 exactly (level eta, centre x'), like dds_ddpm
        a_r, sigma2 = (0.0, eta**2) if k == 0 else (float(remapped[t]), 1.0 / alpha_bar - 1.0)
        a_next = float(remapped[grid[k + 1]]) if k + 1 < len(grid) else 1.0
        centre = x_noisy + sigma2 * a_r**0.5 / (1 - a_r) * u
        u0 = denoised(eps_model, centre, t, sigma2**0.5, alpha_bar, clip_denoised) - x_noisy
        eps_u = (u - a_r**0.5 * u0) / (1 - a_r) ** 0.5
        u = a_next**0.5 * u0 + (1 - a_next) ** 0.5 * eps_u
    return x_noisy + u


DDS_SAMPLERS = {"ddpm": dds_ddpm, "ddim": dds_ddim}
