"""Jobs: validated settings for one video or restoration, built from a job file or the flags of
``plugdiff video`` / ``plugdiff restore``.

A job file (YAML or JSON)::

    defaults:              # optional: applied to every job whose kind has the field
      steps: 20
      seed: 1
    jobs:
      - name: red-circle   # video (it has a prompt or a schedule)
        prompt: a red circle moving right
        frames: 64
      - name: face-sr
        kind: restore      # or inferred from `image`
        image: images/face.png
        operator: sr4
        simulate: true

Relative paths (``image``, ``schedule``) are relative to the job file's folder. Every problem is
reported as ``job N ('name'), field 'x': what is allowed, got what``.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..media.fileio import json_depth_exceeds
from . import fields as f
from . import restore, video

KINDS = {"video": video, "restore": restore}
"""Job kinds and the module that declares their ``FIELDS`` and ``check``."""

RENDERERS = {"video": video.VideoRenderer, "restore": restore.RestoreRenderer}
"""Job kinds and the renderer class that runs them."""

_TOP_LEVEL = ("defaults", "jobs")
RESERVED = {"summary.json", ".plugdiff", ".plugdiff.lock"}
"""Names in an output folder that belong to the batch (its summary, the staging folder, the
lock file)."""

TEMPORARY_BYTES = 10
"""The bytes a writer's temporary file name adds around an output's name and suffix: ``.`` +
name + ``.`` + 8 random characters + suffix (``tempfile.mkstemp``), and ``.<name>.old.`` + 8 for
a folder moved aside."""


class JobFileError(ValueError):
    """The job file as a whole is unusable (unreadable, not YAML / JSON, wrong layout, bad defaults)."""


class JobError(ValueError):
    """One job is invalid; ``field`` names the setting (None: the job as a whole); ``index`` is
    the job's place in its file (1-based) when it came from one."""

    def __init__(self, label: str, field: str | None, message: str, index: int | None = None):
        message = f.shorten(message)
        self.label, self.field, self.message, self.index = label, field, message, index
        super().__init__(f"{label}{f', field {field!r}' if field else ''}: {message}")


@dataclass(frozen=True)
class Job:
    """A validated job: its kind, its place in the file (1-based) and every setting of its kind
    (defaults filled in; a schedule file replaced by its content; paths absolute)."""

    kind: str
    index: int
    settings: dict

    @property
    def name(self) -> str:
        return self.settings["name"]

    def output_name(self) -> str:
        """The output's file or folder name: ``name`` plus the format's suffix."""
        return RENDERERS[self.kind].output_name(self.settings)

    def longest_name_bytes(self) -> int:
        """The longest file name, in bytes, that writing this job creates in the output folder
        or its staging folder: the sidecar ``<output>.json``, or a writer's temporary file
        (see TEMPORARY_BYTES)."""
        output = self.output_name()
        suffix = Path(output).suffix
        return f.name_bytes(output) + max(len(".json"), TEMPORARY_BYTES + len(suffix), len(".old.") + 9)


def fields_of(kind: str) -> dict[str, f.Field]:
    return {field.name: field for field in KINDS[kind].FIELDS}


def make_job(kind: str, values: dict, *, index: int = 1, label: str | None = None, base_dir: Path = Path(".")) -> Job:
    """Validate ``values`` (missing fields take their defaults) into a :class:`Job`.

    Raises:
        JobError: naming the job (``label``, default ``job <index>``) and the field.
    """
    label = label or f"job {index}"
    declared = fields_of(kind)
    unknown = [key for key in values if key not in declared]
    if unknown:
        close = difflib.get_close_matches(unknown[0], declared, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise JobError(label, str(unknown[0])[:40], f"unknown field{hint}; {kind} jobs take: {', '.join(declared)}")
    settings = {}
    for name, field in declared.items():
        value = values.get(name, field.default)
        if value is f.REQUIRED:
            raise JobError(label, name, f"required for {kind} jobs ({field.help})")
        try:
            settings[name] = field.check(value)
        except ValueError as err:
            raise JobError(label, name, str(err)) from None
    if settings["name"] is None:
        settings["name"] = f"job-{index:03d}"
    try:
        settings = KINDS[kind].check(settings, Path(base_dir))
    except ValueError as err:
        field, _, message = str(err).partition(": ")
        raise JobError(label, field, message) from None
    _check_model(settings["model"], label)
    return Job(kind, index, settings)


def _check_model(model: str, label: str) -> None:
    """A registry model that is not on this machine is reported up front, with how to get it."""
    from ..weights.registry import REGISTRY, is_available

    if model in REGISTRY and not is_available(model):
        raise JobError(label, "model", f"{model!r} is not on this machine; get it with: {REGISTRY[model].get_it()}")


MAX_JOB_FILE_BYTES = 1_000_000
MAX_NESTING = 32
MAX_YAML_NODES = 100_000
"""Limits of a job file: its size, how deeply it nests, and how many values its YAML aliases
may expand to (a small file must not expand into gigabytes)."""


def read_job_file(path) -> dict:
    """Parse a job file: JSON (``.json``) or YAML (anything else; JSON is YAML too), within the
    limits above."""
    path = Path(path)
    try:
        if not path.is_file():
            raise OSError("no such file, or not a regular file")
        if path.stat().st_size > MAX_JOB_FILE_BYTES:
            raise OSError(f"{path.stat().st_size} bytes; job files are at most {MAX_JOB_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise JobFileError(f"could not read the job file {path}: {err}") from None
    if path.suffix.lower() == ".json" and json_depth_exceeds(text, MAX_NESTING):
        raise JobFileError(f"{path} nests deeper than {MAX_NESTING} levels; a job file is a mapping of jobs of fields")
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return _safe_yaml(text)
    except json.JSONDecodeError as err:
        raise JobFileError(f"{path} is not valid JSON: {err}") from None
    except RecursionError:
        raise JobFileError(
            f"{path} nests deeper than {MAX_NESTING} levels; a job file is a mapping of jobs of fields"
        ) from None
    except _TooLarge as err:
        raise JobFileError(f"{path}: {err}") from None
    except Exception as err:  # yaml.YAMLError and its subclasses: say where the syntax breaks
        raise JobFileError(f"{path} is not valid YAML: {err}") from None


class _TooLarge(ValueError):
    pass


def _safe_yaml(text: str):
    """``yaml.safe_load``, after checking on the composed node graph (where an alias is one
    shared node) that the document expands to at most MAX_YAML_NODES values, MAX_NESTING deep."""
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    sizes: dict[int, int] = {}

    def expanded(node, depth: int) -> int:
        if depth > MAX_NESTING:
            raise _TooLarge(f"nests deeper than {MAX_NESTING} levels")
        if id(node) not in sizes:
            children = (
                node.value
                if isinstance(node, yaml.SequenceNode)
                else ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else [])
            )
            sizes[id(node)] = 1 + sum(expanded(child, depth + 1) for child in children)
            if sizes[id(node)] > MAX_YAML_NODES:
                raise _TooLarge(f"expands to more than {MAX_YAML_NODES} values (YAML aliases); refused")
        return sizes[id(node)]

    if root is not None:
        expanded(root, 0)
    return yaml.safe_load(text)


def parse_jobs(data, *, source: str = "job file", base_dir: Path = Path(".")) -> tuple[list[Job], list[JobError]]:
    """Validate a parsed job file (``{"defaults": {...}, "jobs": [...]}`` or a bare list of jobs).

    Returns:
        (valid jobs, errors): every job is checked; an invalid one does not stop the others.

    Raises:
        JobFileError: the layout or the defaults are wrong (nothing can run).
    """
    if isinstance(data, list):
        data = {"jobs": data}
    if not isinstance(data, dict):
        raise JobFileError(
            f"{source}: expected a mapping with 'jobs' (and optional 'defaults'), got {type(data).__name__}"
        )
    unknown = [k for k in data if k not in _TOP_LEVEL]
    if unknown:
        raise JobFileError(f"{source}: unknown top-level key {f.quote(unknown[0])}; allowed: {', '.join(_TOP_LEVEL)}")
    defaults = data.get("defaults") or {}
    jobs = data.get("jobs")
    if not isinstance(defaults, dict):
        raise JobFileError(f"{source}: 'defaults' must be a mapping of field: value")
    if not isinstance(jobs, list) or not jobs:
        raise JobFileError(f"{source}: 'jobs' must be a non-empty list")
    all_fields = {name for kind in KINDS for name in fields_of(kind)} | {"kind"}
    for key in defaults:
        if key not in all_fields or key == "name":
            raise JobFileError(
                f"{source}: defaults: unknown field {f.quote(key)}; allowed: "
                f"{', '.join(sorted(all_fields - {'name'}))}"
            )

    valid, errors, names = [], [], set()
    for index, values in enumerate(jobs, start=1):
        label = f"job {index}"
        try:
            if not isinstance(values, dict):
                raise JobError(label, None, f"must be a mapping of field: value, {f.got(values)}")
            if isinstance(values.get("name"), str):
                label = f"job {index} ({f.quote(values['name'])})"
            kind = _kind(values, defaults, label)
            own = {k: v for k, v in defaults.items() if k in fields_of(kind)}
            own.update({k: v for k, v in values.items() if k != "kind"})
            job = make_job(kind, own, index=index, label=label, base_dir=base_dir)
            written = {job.output_name(), job.output_name() + ".json"}
            if written & names:
                raise JobError(
                    label, "name", f"another job already writes {sorted(written & names)[0]!r}; names must be unique"
                )
            if written & RESERVED:
                raise JobError(
                    label,
                    "name",
                    f"{job.name!r} would write {sorted(written & RESERVED)[0]!r}, which the batch "
                    "itself writes (its summary); choose another name",
                )
            names |= written
            valid.append(job)
        except JobError as err:
            err.index = index
            errors.append(err)
    return valid, errors


def load_jobs(path) -> tuple[list[Job], list[JobError]]:
    """:func:`read_job_file` then :func:`parse_jobs`, paths relative to the file's folder."""
    path = Path(path)
    return parse_jobs(read_job_file(path), source=str(path), base_dir=path.parent)


KEY_FIELDS = {"restore": ("image", "operator"), "video": ("prompt", "schedule")}
"""The fields that say a job's kind when it does not say ``kind``."""


def _kind(values: dict, defaults: dict, label: str) -> str:
    """The job's kind: ``kind`` (the job's, else the defaults'), else inferred from the fields
    that name a kind (``image`` / ``operator``: restore, ``prompt`` / ``schedule``: video), the
    job's own first, then the defaults' (a file whose defaults carry the prompt and whose jobs
    give only names is a file of video jobs)."""
    kind = values.get("kind", defaults.get("kind"))
    if kind is None:
        kind = _only_kind(values) or _only_kind(defaults, strict=True)
    if kind is None:
        raise JobError(label, "kind", "say `kind: video` or `kind: restore` (or give a prompt / an image)")
    if kind not in KINDS:
        raise JobError(label, "kind", f"must be one of {', '.join(KINDS)}, {f.got(kind)}")
    return kind


def _only_kind(values: dict, *, strict: bool = False) -> str | None:
    """The kind whose key fields ``values`` holds: the first (restore, as before) or, when
    ``strict``, the only one (None: neither, or both when strict)."""
    kinds = [kind for kind, names in KEY_FIELDS.items() if any(n in values for n in names)]
    return kinds[0] if kinds and (len(kinds) == 1 or not strict) else None


def check_names_fit(jobs: list[Job], out_dir) -> tuple[list[Job], list[JobError]]:
    """Split ``jobs`` into those whose files can be named in ``out_dir`` (its nearest existing
    folder's file system: the most bytes a name may take, ``NAME_MAX``) and errors for the
    others."""
    limit = name_max(out_dir)
    fit, errors = [], []
    for job in jobs:
        longest = job.longest_name_bytes()
        if longest > limit:
            errors.append(
                JobError(
                    f"job {job.index} ({f.quote(job.name)})",
                    "name",
                    f"too long for the file system of {out_dir}: writing it makes names of {longest} bytes, and that "
                    f"file system takes at most {limit} bytes per name; shorten the name",
                    index=job.index,
                )
            )
        else:
            fit.append(job)
    return fit, errors


def name_max(folder) -> int:
    """The most bytes a file name may take in ``folder`` (or its nearest existing parent)."""
    path = Path(folder).absolute()
    while not path.is_dir() and path != path.parent:
        path = path.parent
    try:
        return os.pathconf(path, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255
