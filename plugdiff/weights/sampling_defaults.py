"""The sampling settings a model was benchmarked with, stored beside its weights.

A model folder may hold ``sampling_defaults.json``: the scheduler (a name of
``plugdiff.samplers.presets`` / the CLI's ``--scheduler``), the number of denoising steps, the
guidance scale and, for text-to-video models, the PromptBlend transition, each chosen by a
measurement that the file names (``"source"``). The CLI, the web UI and the benchmarks use them
for that model unless told otherwise; models without the file (hub checkpoints) get
:data:`GENERIC`, diffusers' usual settings.

A long-video host that cannot use the stored scheduler gets its own entry, a key named after the
host holding ``scheduler`` and ``steps``: ``"fifo": {"scheduler": "default", "steps": 25}``.
FIFO-Diffusion steps every frame at its own noise level, so samplers that keep memory of earlier
model calls (``plugdiff.apps.video.FIFO_REFUSED_SCHEDULERS``) are not open to it.
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
#: Hosts that may carry their own scheduler and steps, and the keys such an entry may hold.
HOST_KEYS: dict[str, tuple[str, ...]] = {"fifo": ("scheduler", "steps")}

__all__ = ["FILE", "GENERIC", "HOST_KEYS", "KEYS", "sampling_defaults"]


def sampling_defaults(name_or_path: str | os.PathLike, host: str | None = None) -> dict:
    """The stored sampling settings of a registry name or a local model folder, completed with
    :data:`GENERIC` for what the file leaves out (hub ids and folders without the file:
    :data:`GENERIC`). Keys: ``scheduler``, ``steps``, ``guidance``, ``transition`` and, when
    stored, ``source``; with ``host`` (a long-video host) its own entry, if the file has one,
    replaces the scheduler and steps. Raises ``ValueError`` naming the key when the file holds an
    unknown key or a value of the wrong kind."""
    from .registry import REGISTRY, bundled_dir

    name = str(name_or_path)
    folder = bundled_dir(name) if name in REGISTRY and REGISTRY[name].source == "bundled" else Path(name).expanduser()
    path = folder / FILE
    if not path.is_file():
        return dict(GENERIC)
    stored = json.loads(path.read_text())
    unknown = sorted(set(stored) - set(KEYS) - {"source"} - set(HOST_KEYS))
    if unknown:
        allowed = ", ".join([*KEYS, "source", *HOST_KEYS])
        raise ValueError(f"{path}: unknown key(s) {unknown}; allowed: {allowed}")
    hosts = {key: stored.pop(key) for key in HOST_KEYS if key in stored}
    _check_kinds(path, stored)
    for key, entry in hosts.items():
        if not isinstance(entry, dict) or not set(entry) <= set(HOST_KEYS[key]):
            raise ValueError(f"{path}: {key} must be an object with {' and/or '.join(HOST_KEYS[key])}, got {entry!r}")
        _check_kinds(path, entry, prefix=f"{key}.")
    return {**GENERIC, **stored, **hosts.get(host, {})}


def _check_kinds(path: Path, stored: dict, prefix: str = "") -> None:
    kinds = {"scheduler": str, "steps": int, "guidance": (int, float), "transition": (int, float), "source": str}
    for key, value in stored.items():
        if isinstance(value, bool) or not isinstance(value, kinds[key]):
            kind = getattr(kinds[key], "__name__", "a number")
            raise ValueError(f"{path}: {prefix}{key} must be {kind}, got {value!r}")
