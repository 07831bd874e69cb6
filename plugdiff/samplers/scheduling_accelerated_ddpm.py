"""Accelerated stochastic (DDPM-type) sampler of Li et al., ICML 2024, as a diffusers scheduler."""

from __future__ import annotations

import numpy as np

# diffusers' from_pretrained records this component as ["<this module>", class name] and picks its
# loader by looking up the loader base classes (SchedulerMixin) in this module: keep it imported.
from diffusers import SchedulerMixin  # noqa: F401
from diffusers.utils.torch_utils import randn_tensor

from .scheduling_base import AcceleratedSchedulerBase


class AcceleratedDDPMScheduler(AcceleratedSchedulerBase):
    r"""Accelerated stochastic sampler (one model call per step), a drop-in for ``DDPMScheduler``.

    Source: G. Li, Y. Huang, T. Efimov, Y. Wei, Y. Chi, Y. Chen, "Accelerating Convergence of
    Score-Based Diffusion Models, Provably", ICML 2024 (arXiv 2403.03852). With per-step
    alpha :math:`\alpha_k = a_k / a_{k+1}` DDPM's injected noise is split in two halves and the
    model is evaluated after the first:

    .. math::
        y_k = x_k + \sqrt{(1-\alpha_k)/2}\; z_k, \qquad
        x_{k+1} = \frac{1}{\sqrt{\alpha_k}}\Big(y_k - \frac{1-\alpha_k}{\sqrt{1-a_k}}\,
                  \varepsilon(y_k, \tau_k)\Big) + \sqrt{(1-\alpha_k)/2}\; z_k^+ ,

    no post-noise after the last step (O(1/T) convergence against DDPM's O(1/sqrt T)). The
    mean step is taken in diffusers' x0 form, so clipping / thresholding act as in
    ``DDPMScheduler``.

    Inside a diffusers loop the model is called at the sample ``step`` returned, so ``step``
    returns the *pre-noised* y_{k+1}: x_{k+1} plus one Gaussian draw carrying the post-noise of
    step k and the pre-noise of step k+1 (variances added); the final step returns the clean
    x_N. The first step sees the pipeline's initial noise with no pre-noise (pipelines differ in
    whether they apply ``init_noise_sigma``, so it stays 1) and is a plain DDPM step with the
    full noise variance 1 - alpha_0; measured on exact Gaussian scores this costs nothing. The
    pre-noise scale sqrt((1-alpha)/2) is the paper's; the authors' code multiplies it by
    sqrt(alpha), which gave a 1.3-3x larger exact KL in our tests.

    Config arguments are the union of ``DDPMScheduler``'s and ``DDIMScheduler``'s.
    ``variance_type`` is recorded but the injected noise is the algorithm's (a learned variance's
    extra output channels are dropped). ``step`` takes ``eta`` (0.0, what pipelines pass by
    default, or 1.0) so that ``DDIMPipeline`` and Stable Diffusion pipelines can drive it.
    """

    accepted_etas = (0.0, 1.0)  # diffusers' default, and DDPM's full noise (what this sampler is)

    def _precompute(self, levels: np.ndarray) -> None:
        a_cur, a_next = levels[:-1], levels[1:]
        beta = 1.0 - a_cur / a_next  # 1 - alpha_k
        # DDPM posterior mean  mu = c_x0 * x0 + c_y * y   (x0 form, DDPMScheduler eq. 7)
        self._c_x0 = (np.sqrt(a_next) * beta / (1.0 - a_cur)).tolist()
        self._c_y = (np.sqrt(1.0 - beta) * (1.0 - a_next) / (1.0 - a_cur)).tolist()
        post_var = beta / 2.0
        post_var[0] = beta[0]  # first step: plain DDPM (its input carried no pre-noise)
        pre_var_next = np.append(beta[1:] / 2.0, 0.0)
        noise_var = post_var + pre_var_next
        noise_var[-1] = 0.0  # nothing after the final step
        self._noise_std = np.sqrt(noise_var).tolist()

    def _update(self, k, sample, x0, eps, generator):
        prev_sample = self._c_x0[k] * x0 + self._c_y[k] * sample  # mean step from the model's input y_k
        if self._noise_std[k] > 0:
            noise = randn_tensor(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
            prev_sample = prev_sample + self._noise_std[k] * noise
        return prev_sample
