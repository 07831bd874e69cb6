"""The sampler presets under their former import path, for the modules that still import them from
here (the web UI's gradio_app.py and demo_actions.py, benchmarks/); they live in
:mod:`plugdiff.samplers.presets`."""

from ..samplers.presets import SCHEDULERS, make_scheduler

__all__ = ["SCHEDULERS", "make_scheduler"]
