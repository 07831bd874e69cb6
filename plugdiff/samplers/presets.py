"""Named sampler presets: plugdiff's accelerated schedulers (with their settings) beside diffusers'
own, each built from a model's scheduler config. The command line's ``--scheduler``, the web UI,
the benchmarks and the models' stored sampling defaults use these names. No torch until a
scheduler is built."""

from __future__ import annotations

import importlib

SCHEDULERS = {
    "default": None,
    "ddim": "diffusers:DDIMScheduler",
    "ddpm": "diffusers:DDPMScheduler",
    "accelerated-ddim": "plugdiff.samplers:AcceleratedDDIMScheduler",
    "accelerated-ddpm": "plugdiff.samplers:AcceleratedDDPMScheduler",
    "accelerated-logsnr-2m": ("plugdiff.samplers:AcceleratedLogSNRScheduler", {"solver_order": 2}),
    "accelerated-logsnr-3m": ("plugdiff.samplers:AcceleratedLogSNRScheduler", {"solver_order": 3}),
    "accelerated-logsnr-pc": (
        "plugdiff.samplers:AcceleratedLogSNRScheduler",
        {"use_corrector": True, "lower_order_final": True},
    ),
    "accelerated-logsnr-gauss": (
        "plugdiff.samplers:AcceleratedLogSNRScheduler",
        {"solver_order": 3, "use_corrector": True, "final_step": "gaussian", "interpolation": "asinh_sigma_sq"},
    ),
    "accelerated-logsnr-sde": (
        "plugdiff.samplers:AcceleratedLogSNRScheduler",
        {"use_corrector": True, "final_step": "gaussian", "stochasticity": 1.0},
    ),
    "dpm-solver": "diffusers:DPMSolverMultistepScheduler",
    "euler": "diffusers:EulerDiscreteScheduler",
    "euler-ancestral": "diffusers:EulerAncestralDiscreteScheduler",
    "unipc": "diffusers:UniPCMultistepScheduler",
}
"""Names -> ``module:class`` or (``module:class``, config overrides); "default" keeps the model's own
scheduler."""


def make_scheduler(name: str, default):
    """The scheduler ``name`` built with ``from_config(default.config, **overrides)`` (same betas and
    timestep convention as the model's), or ``default`` itself for "default"."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULERS)}.")
    if SCHEDULERS[name] is None:
        return default
    entry = SCHEDULERS[name]
    target, overrides = entry if isinstance(entry, tuple) else (entry, {})
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls).from_config(default.config, **overrides)
