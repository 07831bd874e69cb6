"""The sampling settings a model was benchmarked with, stored beside its weights.

A model folder may hold ``sampling_defaults.json``: the scheduler (a name of
``plugdiff.samplers.presets`` / the CLI's ``--scheduler``), the number of denoising steps, the
guidance scale and, for text-to-video models, the PromptBlend transition, each chosen by a
measurement that the file names (``"source"``). The CLI, the web UI and the benchmarks use them
for that model unless told otherwise; models without the file (hub checkpoints) get
:data:`GENERIC`, diffusers' usual settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "sampling_defaults.json"
#: Settings for a model that stores none: its own scheduler, 25 steps, guidance 7.5, PromptBlend's
#: transition over half of every gap between key frames.
GENERIC: dict = {"scheduler": "default", "steps": 25, "guidance": 7.5, "transition": 0.5}
KEYS = tuple(GENERIC)

__all__ = ["FILE", "GENERIC", "KEYS", "sampling_defaults"]


def sampling_defaults(name_or_path: str | os.PathLike) -> dict:
    """The stored sampling settings of a registry name or a local model folder, completed with
    :data:`GENERIC` for what the file leaves out (hub ids and folders without the file:
    :data:`GENERIC`). Keys: ``scheduler``, ``steps``, ``guidance``, ``transition`` and, when
    stored, ``source``. Raises ``ValueError`` naming the key when the file holds an unknown key
    or a value of the wrong kind."""
    from .registry import REGISTRY, bundled_dir

    name = str(name_or_path)
    folder = bundled_dir(name) if name in REGISTRY and REGISTRY[name].source == "bundled" else Path(name).expanduser()
    path = folder / FILE
    if not path.is_file():
        return dict(GENERIC)
    stored = json.loads(path.read_text())
    unknown = sorted(set(stored) - set(KEYS) - {"source"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {', '.join(KEYS)}, source")
    kinds = {"scheduler": str, "steps": int, "guidance": (int, float), "transition": (int, float), "source": str}
    for key, value in stored.items():
        if isinstance(value, bool) or not isinstance(value, kinds[key]):
            raise ValueError(f"{path}: {key} must be {getattr(kinds[key], '__name__', 'a number')}, got {value!r}")
    return {**GENERIC, **stored}
