"""Sampler choices by name, for the command line and the web UI: plugdiff's accelerated
schedulers beside diffusers' own, each built from a model's scheduler config."""

from __future__ import annotations

import importlib

SCHEDULERS = {
    "default": None,
    "ddim": "diffusers:DDIMScheduler",
    "ddpm": "diffusers:DDPMScheduler",
    "accelerated-ddim": "plugdiff.samplers:AcceleratedDDIMScheduler",
    "accelerated-ddpm": "plugdiff.samplers:AcceleratedDDPMScheduler",
    "dpm-solver": "diffusers:DPMSolverMultistepScheduler",
    "euler": "diffusers:EulerDiscreteScheduler",
    "euler-ancestral": "diffusers:EulerAncestralDiscreteScheduler",
    "unipc": "diffusers:UniPCMultistepScheduler",
}
"""Names -> ``module:class``; "default" keeps the model's own scheduler."""


def make_scheduler(name: str, default):
    """The scheduler ``name`` built with ``from_config(default.config)`` (same betas and timestep
    convention as the model's), or ``default`` itself for "default"."""
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULERS)}.")
    if SCHEDULERS[name] is None:
        return default
    module, cls = SCHEDULERS[name].split(":")
    return getattr(importlib.import_module(module), cls).from_config(default.config)
