"""AcceleratedLogSNRScheduler's step plan and history against a naive re-implementation of the same
equations (every output kept, each step's weights computed when it is taken): bit for bit, at every
step, for every published preset, under the settings and step counts of tests/fingerprints.py."""

from functools import reduce

import numpy as np
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor
from fingerprints import analytic_model, plugdiff_presets, sampler_noise, sampler_runs

from plugdiff.samplers import AcceleratedLogSNRScheduler
from plugdiff.samplers.scheduling_accelerated_logsnr import (
    INTERPOLATIONS,
    DataStep,
    EpsJump,
    GaussianJump,
    data_step_weights,
    final_eps_weights,
    gaussian_final_step,
    log_snr,
)

LOGSNR_PRESETS = {name: build for name, build in plugdiff_presets().items() if "logsnr" in name.lower()}


def weighted_sum(weights, tensors):
    """sum_j weights[j] * tensors[j], left to right."""
    return reduce(torch.add, [w * t for w, t in zip(weights, tensors)])


class NaiveLogSNR:
    """The same sampler written out per step: outputs oldest first, nothing precomputed. The grid
    and the model-output conversion (x0, clipped) are the scheduler's (not a subclass, so that it
    does not join the schedulers' ``compatibles``)."""

    def __init__(self, config, **grid):
        self.grid = AcceleratedLogSNRScheduler.from_config(config)
        self.grid.set_timesteps(**grid)
        self.x0s, self.epss, self.state, self.draw = [], [], None, None

    def step(self, k, model_output, sample, generator):
        c, a = self.grid.config, self.grid.levels
        x0, _ = self.grid._x0_and_eps(model_output, sample, float(a[k]))
        n, order, rho = len(a) - 1, c.solver_order, INTERPOLATIONS[c.interpolation]
        alpha, sigma, lam = np.sqrt(a), np.sqrt(1.0 - a), log_snr(a)
        gaussian_final = (
            c.final_step == "gaussian" and n > 1 and sigma[n] == 0 and a[n - 1] >= c.final_fit_min_alpha_bar
        )
        ode_before_jump = n > 1 and sigma[n] == 0 and (gaussian_final or not c.lower_order_final)

        def tau2(j):  # of step j -> j + 1
            return 0.0 if ode_before_jump and j == n - 2 else float(c.stochasticity) ** 2

        def decay(j):
            if sigma[j + 1] == 0:
                return 0.0
            return sigma[j + 1] / sigma[j] * np.exp(-tau2(j) * (lam[j + 1] - lam[j]))

        def x0_term(j, nodes):  # alpha_{j+1} * integral of the x0 interpolant through the outputs at nodes
            w = alpha[j + 1] * data_step_weights(lam, j, j + 1, nodes, rho, 1.0 + tau2(j))
            return weighted_sum(w.tolist(), [self.x0s[i] for i in nodes])

        self.x0s.append(x0)
        self.epss.append((sample - alpha[k] * x0) / sigma[k])
        state = sample
        if c.use_corrector and k > 0:
            state = decay(k - 1) * self.state + x0_term(k - 1, list(range(k, max(k - order - 1, -1), -1)))
            if self.draw is not None:
                state = state + self.draw
        self.state = state
        if k == n - 1 and gaussian_final:
            eps_now = (state - alpha[k] * x0) / sigma[k]
            return gaussian_final_step(
                state / alpha[k], eps_now, self.epss[k - 1], sigma[k] / alpha[k], sigma[k - 1] / alpha[k - 1]
            )
        if sigma[k + 1] == 0 and not c.lower_order_final:
            nodes = list(range(k, max(k - min(order, 2), -1), -1))
            w = alpha[k + 1] * final_eps_weights(sigma / alpha, k, nodes)
            return alpha[k + 1] / alpha[k] * state - weighted_sum(w.tolist(), [self.epss[i] for i in nodes])
        p = order if sigma[k + 1] > 0 else 1
        prev = decay(k) * state + x0_term(k, list(range(k, max(k - p, -1), -1)))
        self.draw = None
        std = sigma[k + 1] * np.sqrt(-np.expm1(-2.0 * tau2(k) * (lam[k + 1] - lam[k]))) if sigma[k + 1] > 0 else 0.0
        if std > 0:
            self.draw = std * randn_tensor(sample.shape, generator=generator, device=sample.device, dtype=sample.dtype)
            prev = prev + self.draw
        return prev


def bits(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous().view(torch.int32)


@pytest.mark.parametrize("preset", sorted(LOGSNR_PRESETS))
def test_every_step_equals_the_naive_sampler_bit_for_bit(preset):
    kinds = set()
    for label, scheduler, steps, grid in sampler_runs(LOGSNR_PRESETS[preset]):
        grid = grid or {"num_inference_steps": steps}
        scheduler.set_timesteps(**grid)
        naive = NaiveLogSNR(scheduler.config, **grid)
        kinds.update(type(step).__name__ for step in scheduler._plan)
        eps = analytic_model(scheduler.alphas_cumprod)
        x = y = sampler_noise()
        ours, theirs = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        for k, t in enumerate(scheduler.timesteps):
            x_next = scheduler.step(eps(x, t), t, x, generator=ours).prev_sample
            y_next = naive.step(k, eps(y, t), y, generator=theirs)
            assert torch.equal(bits(x_next), bits(y_next)), f"{preset}, {label}: step at t = {int(t)}"
            x, y = x_next, y_next
    assert kinds <= {"DataStep", "EpsJump", "GaussianJump"}


def test_the_plan_names_each_kind_of_step():
    """A schedule ending at sigma = 0 ends with the eps jump, the Gaussian jump (last call at
    alpha-bar >= 0.75) or, with lower_order_final, a first-order data step; one ending above
    sigma = 0 is data steps throughout."""
    config = dict(timestep_spacing="trailing")
    plan = lambda **kwargs: (s := AcceleratedLogSNRScheduler(**config, **kwargs), s.set_timesteps(8), s._plan)[2]
    assert isinstance(plan()[-1], EpsJump) and all(isinstance(s, DataStep) for s in plan()[:-1])
    assert isinstance(plan(final_step="gaussian")[-1], GaussianJump)
    last = plan(lower_order_final=True)[-1]
    assert isinstance(last, DataStep) and last.decay == 0 and len(last.weights) == 1 and last.noise_std == 0
    assert all(isinstance(s, DataStep) and s.noise_std == 0 for s in plan(set_alpha_to_one=False))
    assert all(len(s.weights) == min(k + 1, 3) for k, s in enumerate(plan(solver_order=3)[:-1]))
