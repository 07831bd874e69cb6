"""The diffusers sampling loop over a plain epsilon-prediction callable."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

#: ``eps_model(x_t, t)`` -> the predicted noise, shaped like ``x_t``: the model interface of :func:`denoise`
#: and of the posterior samplers (:mod:`plugdiff.pipelines.posterior`).
EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def step_kwargs(scheduler, generator: torch.Generator | None) -> dict:
    """The extra ``step`` arguments this scheduler accepts (diffusers pipelines' rule)."""
    return {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}


@torch.no_grad()
def denoise(
    scheduler,
    eps_model: EpsModel,
    noise: torch.Tensor,
    num_inference_steps: int | None = None,
    *,
    timesteps=None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Run any diffusers scheduler from ``noise`` exactly as a diffusers pipeline does.

    ``latents = noise * init_noise_sigma``; for each timestep t the model is called as
    ``eps_model(scale_model_input(latents, t), t)`` with t a 0-d tensor (fractional for the
    Karras-sigma schedulers) and ``latents = step(eps, t, latents).prev_sample``.

    Returns:
        (final sample, number of model calls).
    """
    if timesteps is not None:
        scheduler.set_timesteps(timesteps=timesteps, device=noise.device)
    else:
        scheduler.set_timesteps(num_inference_steps, device=noise.device)
    latents = noise * scheduler.init_noise_sigma
    extra = step_kwargs(scheduler, generator)
    calls = 0
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(latents, t)
        eps = eps_model(model_input, t)
        calls += 1
        latents = scheduler.step(eps, t, latents, **extra).prev_sample
    return latents, calls
