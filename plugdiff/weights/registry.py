"""Named models and :func:`load_pipeline`: one call that turns a registry name, a local folder or
a hub id into a ready pipeline, offline first, safetensors only, with one clear error when the
model is not on this machine (what to download or train, and where to put it).

The registry knows the two bundled ShapesWorld models (trained by ``python -m
plugdiff.shapesworld.train``, kept beside this file) and a few hub checkpoints for users who have them
in their Hugging Face cache.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .loading import ModelNotFoundError, hide_unactionable_messages, load_pretrained

BUNDLED_ROOT = Path(__file__).resolve().parent
"""Folder that holds the bundled models (``<BUNDLED_ROOT>/<name>/model_index.json``)."""

_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
_SD15 = "stable-diffusion-v1-5/stable-diffusion-v1-5"


@dataclass(frozen=True)
class ModelSpec:
    """A model :func:`load_pipeline` knows by name.

    Attributes:
        name: the registry key, e.g. ``"shapesworld-t2v"``.
        kind: ``"t2v"`` (text to video) or ``"image"`` (unconditional image prior).
        source: ``"bundled"`` (a folder ``BUNDLED_ROOT / name`` inside the installed package) or a
            hub id such as ``"google/ddpm-celebahq-256"``.
        pipeline: name of the pipeline class it loads with by default (``"TiaraAnimateDiffPipeline"``,
            ``"DDPMPipeline"``, ``"DPnPPipeline"`` or ``"DPSPipeline"``).
        description: one line for listings.
        download_hint: the command that puts the model on this machine (``{dir}`` stands for the
            expected folder of a bundled model).
        base: for a motion adapter, the hub id of the text-to-image pipeline it is composed with.
    """

    name: str
    kind: Literal["t2v", "image"]
    source: str
    pipeline: str
    description: str
    download_hint: str
    base: str | None = None

    def get_it(self) -> str:
        """The command that puts this model on this machine (``{dir}`` filled in)."""
        return self.download_hint.replace("{dir}", str(bundled_dir(self.name)))


REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="shapesworld-t2v",
            kind="t2v",
            source="bundled",
            pipeline="TiaraAnimateDiffPipeline",
            description="ShapesWorld text-to-video (AnimateDiff layout, 16-frame window), trained here; runs on CPU",
            download_hint=(
                "python -m plugdiff.shapesworld.train vae --out {dir}-vae\n"
                "    python -m plugdiff.shapesworld.train t2v --vae {dir}-vae --out {dir}"
            ),
        ),
        ModelSpec(
            name="shapesworld-ddpm",
            kind="image",
            source="bundled",
            pipeline="DDPMPipeline",
            description="ShapesWorld image prior (UNet2DModel, epsilon, linear betas, 1000 steps), trained here",
            download_hint="python -m plugdiff.shapesworld.train ddpm --out {dir}",
        ),
        ModelSpec(
            name="animatediff-sd15",
            kind="t2v",
            source="guoyww/animatediff-motion-adapter-v1-5-2",
            base=_SD15,
            pipeline="TiaraAnimateDiffPipeline",
            description="AnimateDiff v1.5.2 motion adapter on Stable Diffusion 1.5 (512x512, 16-frame window)",
            download_hint=(
                "hf download guoyww/animatediff-motion-adapter-v1-5-2 --include '*.json' '*.safetensors'\n"
                f"    hf download {_SD15} --include 'model_index.json' '*/*.json' '*/*.txt' "
                "'*/*.safetensors' --exclude '*fp16*' '*non_ema*' 'safety_checker/*'"
            ),
        ),
        ModelSpec(
            name="ddpm-celebahq-256",
            kind="image",
            source="google/ddpm-celebahq-256",
            pipeline="DDPMPipeline",
            description="DDPM on CelebA-HQ faces, 256x256 (Ho et al. 2020)",
            download_hint="hf download google/ddpm-celebahq-256 --include '*.json' '*.safetensors'",
        ),
    )
}
"""Models known by name. Add a :class:`ModelSpec` to make another name loadable."""

# model_index.json ``_class_name`` -> the class load_pipeline builds for it.
_CLASS_FOR_INDEX = {
    "AnimateDiffPipeline": "TiaraAnimateDiffPipeline",
    "TiaraAnimateDiffPipeline": "TiaraAnimateDiffPipeline",
    "DDPMPipeline": "DDPMPipeline",
    "DPnPPipeline": "DPnPPipeline",
    "DPSPipeline": "DPSPipeline",
}


def load_pipeline(name_or_path: str | os.PathLike, *, pipeline_cls=None, allow_download: bool = False, **kwargs):
    """Load a pipeline from a registry name, a local folder or a hub id; offline unless
    ``allow_download``; safetensors only (``use_safetensors=True``), never remote code.

    Args:
        name_or_path: one of
            - a key of :data:`REGISTRY` (``"shapesworld-t2v"``, ``"shapesworld-ddpm"``,
              ``"animatediff-sd15"``, ``"ddpm-celebahq-256"``);
            - a folder written by ``save_pretrained``: its ``model_index.json`` ``_class_name``
              picks the class (AnimateDiffPipeline / TiaraAnimateDiffPipeline ->
              TiaraAnimateDiffPipeline; DDPMPipeline, DPnPPipeline, DPSPipeline -> themselves);
            - a hub id ``"org/name"``: loaded from the local Hugging Face cache, or downloaded when
              ``allow_download=True``.
        pipeline_cls: the pipeline class to build instead of the default (e.g. ``DPnPPipeline``
            over a DDPM folder); a class or one of the class names above.
        allow_download: allow fetching from the hub (otherwise ``local_files_only=True``).
        **kwargs: passed to ``from_pretrained`` (``torch_dtype``, ``revision``, ...).

    Returns:
        The pipeline, e.g. a :class:`~plugdiff.pipelines.TiaraAnimateDiffPipeline`.

    Raises:
        ModelNotFoundError: the model is not on this machine (the message says what to download
            or train and where to put it), a folder is not a pipeline folder, names an unsupported
            pipeline class, or holds pickle weights only.
        ValueError: an unknown name (the message lists the registry), or a request for remote code
            or pickle loading.

    Examples:
        >>> from plugdiff.weights import load_pipeline
        >>> pipe = load_pipeline("shapesworld-t2v")              # bundled, offline
        >>> video = pipe("a red circle moving right", num_frames=64).frames[0]
        >>> from plugdiff.pipelines import DPnPPipeline
        >>> dpnp = load_pipeline("shapesworld-ddpm", pipeline_cls=DPnPPipeline)
        >>> pipe = load_pipeline("./models/my-ddpm")             # any save_pretrained folder
        >>> pipe = load_pipeline("google/ddpm-cat-256", allow_download=True)
    """
    hide_unactionable_messages()  # before the pipeline classes are imported (_pipeline_classes)
    with no_network(not allow_download):
        return _load(name_or_path, pipeline_cls, allow_download, kwargs)


@contextlib.contextmanager
def no_network(active: bool = True):
    """While ``active``, huggingface_hub is offline (``HF_HUB_OFFLINE``), so that nothing it
    does reaches the network: not only downloads (``local_files_only`` stops those) but also
    the requests it makes on its own, such as refreshing its registry of agent harnesses."""
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = before or active
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _load(name_or_path, pipeline_cls, allow_download: bool, kwargs: dict):
    cls = _resolve_class(pipeline_cls) if pipeline_cls is not None else None
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()

    if text in REGISTRY:
        return _load_spec(REGISTRY[text], cls, allow_download, kwargs)
    if path.is_dir():
        return _load_folder(path, cls, allow_download, kwargs)
    if path.exists():
        raise ModelNotFoundError(
            f"{text!r} is a file, not a model folder: pass the folder that holds model_index.json."
        )
    if _looks_local(text):
        raise ModelNotFoundError(
            f"no such directory: {text!r} (resolved to {path.absolute()}). Pass a folder written by "
            f"save_pretrained, a hub id 'org/name', or one of: {', '.join(REGISTRY)}."
        )
    if _HUB_ID.match(text):
        return _load_hub(
            text, cls, allow_download, kwargs, hint=f"hf download {text} --include '*.json' '*.txt' '*.safetensors'"
        )
    close = difflib.get_close_matches(text, REGISTRY, n=1)
    raise ValueError(
        f"unknown model {text!r}{f' (did you mean {close[0]!r}?)' if close else ''}. "
        f"Registry names: {', '.join(REGISTRY)}; or pass a local folder written by save_pretrained, "
        "or a hub id 'org/name'."
    )


def bundled_dir(name: str) -> Path:
    """Where the bundled model ``name`` lives (it may not exist yet: train it first)."""
    return BUNDLED_ROOT / name


def is_available(name: str, cache_dir: str | os.PathLike | None = None) -> bool:
    """Whether the registry model ``name`` loads offline: a bundled folder with its
    ``model_index.json``, or every hub repo it needs in the Hugging Face cache (the pipeline's
    ``model_index.json``; a motion adapter's ``config.json``). Never touches the network."""
    if name not in REGISTRY:
        raise ValueError(f"unknown registry name {name!r}; choose one of: {', '.join(REGISTRY)}.")
    spec = REGISTRY[name]
    if spec.source == "bundled":
        return (bundled_dir(name) / "model_index.json").is_file()
    from huggingface_hub import try_to_load_from_cache

    needed = (
        [(spec.source, "config.json"), (spec.base, "model_index.json")]
        if spec.base
        else [(spec.source, "model_index.json")]
    )
    return all(isinstance(try_to_load_from_cache(repo, file, cache_dir=cache_dir), str) for repo, file in needed)


def _looks_local(text: str) -> bool:
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    return (
        text.startswith(("./", "../", "~", "/", ".\\", "..\\"))
        or os.path.isabs(text)
        or (any(s in text for s in seps) and not _HUB_ID.match(text))
    )


def _pipeline_classes() -> dict:
    # Imported here: the pipelines sit above weights in the package layering.
    from diffusers import DDPMPipeline

    from ..pipelines import DPnPPipeline, DPSPipeline, TiaraAnimateDiffPipeline

    classes = {
        "TiaraAnimateDiffPipeline": TiaraAnimateDiffPipeline,
        "DDPMPipeline": DDPMPipeline,
        "DPnPPipeline": DPnPPipeline,
        "DPSPipeline": DPSPipeline,
    }
    return {name: classes[target] for name, target in _CLASS_FOR_INDEX.items()}


def _resolve_class(pipeline_cls):
    if not isinstance(pipeline_cls, str):
        return pipeline_cls
    classes = _pipeline_classes()
    if pipeline_cls not in classes:
        raise ValueError(
            f"unknown pipeline_cls {pipeline_cls!r}; supported names: {', '.join(sorted(classes))}, or pass a class."
        )
    return classes[pipeline_cls]


def _load_spec(spec: ModelSpec, cls, allow_download: bool, kwargs: dict):
    cls = cls or _resolve_class(spec.pipeline)
    if spec.source == "bundled":
        folder = bundled_dir(spec.name)
        if not (folder / "model_index.json").is_file():
            raise ModelNotFoundError(
                f"the bundled model {spec.name!r} is not installed in this checkout (expected "
                f"{folder}/model_index.json).\nTrain it with:\n    {spec.get_it()}"
            )
        return _load_folder(folder, cls, allow_download, kwargs)
    hint = spec.download_hint
    if spec.base is not None and "motion_adapter" not in kwargs:
        from diffusers import MotionAdapter

        adapter_kwargs = {k: kwargs[k] for k in ("torch_dtype", "cache_dir", "token") if k in kwargs}
        kwargs = {
            **kwargs,
            "motion_adapter": _load_hub(spec.source, MotionAdapter, allow_download, adapter_kwargs, hint, spec.name),
        }
    return _load_hub(spec.base or spec.source, cls, allow_download, kwargs, hint, spec.name)


def _load_hub(repo_id: str, cls, allow_download: bool, kwargs: dict, hint: str, registry_name: str | None = None):
    try:
        cls = cls or _pick_class(_hub_model_index(repo_id, allow_download, kwargs), repo_id)
        return load_pretrained(cls, repo_id, allow_download=allow_download, **kwargs)
    except ModelNotFoundError as err:
        if allow_download:
            raise
        name = registry_name or repo_id
        local = f"models/{repo_id.split('/')[-1]}"
        raise ModelNotFoundError(
            f"{name + ' is not on this machine: ' if registry_name else ''}{repo_id!r} is not a local folder and not "
            f"in the Hugging Face cache, and downloads are off.\nDownload it once (into the cache, then {name!r} "
            f"loads offline):\n    {hint}\n"
            + (
                ""
                if registry_name
                else f"or into a folder and pass that folder:\n    hf download {repo_id} --local-dir {local}\n"
                f"    load_pipeline({local!r})\n"
            )
            + f"or allow downloads: load_pipeline({name!r}, allow_download=True) (CLI: --allow-download).\n"
            "(`hf` comes with huggingface_hub; older versions call it `huggingface-cli download`.)"
        ) from err


def _hub_model_index(repo_id: str, allow_download: bool, kwargs: dict) -> dict:
    from huggingface_hub import hf_hub_download

    try:
        file = hf_hub_download(
            repo_id,
            "model_index.json",
            local_files_only=not allow_download,
            **{k: kwargs[k] for k in ("revision", "cache_dir", "token") if k in kwargs},
        )
    except Exception as err:  # offline, missing from the cache, no such repo, HTTP errors
        raise ModelNotFoundError(f"could not read model_index.json of {repo_id!r}: {err}") from err
    return json.loads(Path(file).read_text())


def _read_model_index(folder: Path) -> dict:
    index = folder / "model_index.json"
    if not index.is_file():
        inside = sorted(p.name for p in folder.iterdir())[:10]
        raise ModelNotFoundError(
            f"{folder} has no model_index.json, so it is not a diffusers pipeline folder (it holds: "
            f"{', '.join(inside) or 'nothing'}). Pass the folder a pipeline's save_pretrained wrote."
        )
    try:
        return json.loads(index.read_text())
    except (OSError, ValueError) as err:
        raise ModelNotFoundError(f"cannot read {index}: {err}") from err


def _pick_class(model_index: dict, where):
    name = model_index.get("_class_name")
    classes = _pipeline_classes()
    if name not in classes:
        raise ModelNotFoundError(
            f"model_index.json of {where} names the pipeline class {name!r}, which load_pipeline does not "
            f"know. Supported: {', '.join(sorted(classes))}; or pass pipeline_cls=<a DiffusionPipeline subclass>."
        )
    return classes[name]


def _refuse_pickle_only(folder: Path, model_index: dict) -> None:
    """Fail before diffusers does, with the fix: components saved as pickle only."""
    pickled = []
    for component, value in model_index.items():
        sub = folder / component
        if component.startswith("_") or not isinstance(value, list) or value[0] is None or not sub.is_dir():
            continue
        files = [p for p in sub.iterdir() if p.is_file()]
        if not any(p.name.endswith(".safetensors") for p in files):
            pickled += [f"{component}/{p.name}" for p in files if p.name.endswith(_PICKLE_SUFFIXES)]
    if pickled:
        raise ModelNotFoundError(
            f"{folder} holds pickle weights only ({', '.join(pickled)}); plugdiff loads safetensors only, "
            "since unpickling can run arbitrary code. If you trust where the folder came from, convert it "
            "once: load it with its pipeline's from_pretrained(folder, use_safetensors=False) and "
            "save_pretrained(folder, safe_serialization=True)."
        )


def _load_folder(folder: Path, cls, allow_download: bool, kwargs: dict):
    model_index = _read_model_index(folder)
    cls = cls or _pick_class(model_index, folder)
    _refuse_pickle_only(folder, model_index)
    return load_pretrained(cls, str(folder), allow_download=allow_download, **kwargs)
