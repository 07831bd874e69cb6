"""Published results are replaced only on purpose, and each says where it came from.

``benchmarks/results/`` holds the results the documentation shows. A benchmark replaces them only
when run with ``--publish``; any other run whose ``--out`` points there (the default) writes the
same file names under ``outputs/benchmarks/`` instead and says so on stderr. A ``--quick`` run is a
smoke test and is never published.

Every benchmark script parses its arguments with :func:`parse_args` and writes its JSON with
:func:`write_json`, which adds a ``"provenance"`` record (:func:`provenance`)::

    args = published_results.parse_args(parser, argv)   # instead of parser.parse_args(argv)
    ...
    published_results.write_json(path, report, models=[args.model])

The record holds the command line as run, the git commit (and whether the checkout had
uncommitted changes), the machine, the date, and for each model the run used its name, version
and the sha256 of its weights (:func:`model_record`; :func:`no_weights` for runs on exact scores
or randomly initialised networks). ``tests/test_docs_numbers.py`` checks that every JSON under
``benchmarks/results/`` carries one.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import inspect
import os
import platform
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SCRATCH = ROOT / "outputs" / "benchmarks"
BUNDLED = ROOT / "plugdiff" / "weights"

_RUN: dict = {}  # what parse_args saw: the script and its arguments
TOOLS = frozenset({"published_results.py", "shared.py", "render_docs.py", "backfill_provenance.py", "intervals.py"})
"""The modules in ``benchmarks/`` that are no benchmark: they run none and publish nothing."""


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Add ``--publish`` to ``parser``, parse ``argv`` and move ``args.out`` (a folder or a file)
    from :data:`RESULTS` to the same place under :data:`SCRATCH` unless ``--publish`` is given.
    Remembers the command line for :func:`provenance`."""
    parser.add_argument(
        "--publish",
        action="store_true",
        help=f"write into {RESULTS.parent.name}/{RESULTS.name}/, replacing the published results "
        f"(otherwise: {SCRATCH.parent.name}/{SCRATCH.name}/)",
    )
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(words)
    if args.publish and getattr(args, "quick", False):
        parser.error("--publish: a --quick run is a smoke test and is never published")
    out = Path(args.out).resolve()
    if not args.publish and (out == RESULTS or RESULTS in out.parents):
        args.out = SCRATCH / out.relative_to(RESULTS)
        print(
            f"note: the published results in {RESULTS} are kept; this run writes to {args.out} "
            "(--publish replaces them)",
            file=sys.stderr,
        )
    script = Path(inspect.stack()[1].filename).resolve()
    _RUN.update(script=_relative(script), argv=[str(w) for w in words])
    return args


def command_line() -> str:
    """The command as run: ``python benchmarks/<script>.py <arguments>``."""
    if not _RUN:
        return shlex.join(["python", *sys.argv])
    return shlex.join(["python", _RUN["script"], *_RUN["argv"]])


# ------------------------------------------------------------------ models
def no_weights(description: str) -> dict:
    """The model record of a run that uses no trained weights (exact scores, a randomly
    initialised network): ``description`` says what stands in for a model."""
    return {"name": description, "version": None, "weights_sha256": None, "no_weights": True}


def model_version(folder: Path) -> str:
    """A bundled model's version, from its README's title (``# shapesworld-t2v (v4)``); a bundled
    model whose title names none has had one version, ``v1``. Outside the bundled folders: the
    folder's name."""
    for candidate in (folder, *folder.parents):
        if candidate == BUNDLED.parent:
            break
        readme = candidate / "README.md"
        if candidate.parent == BUNDLED and readme.is_file():
            match = re.search(r"\((v\d+[^)]*)\)", readme.read_text(encoding="utf-8").splitlines()[0])
            return match.group(1) if match else "v1"
    return folder.name


def weights_digest(files: dict[str, str]) -> str:
    """One sha256 for a set of weight files: the sha256 of ``"<relative path> <sha256>\\n"`` lines,
    sorted by path (``files`` maps each path to its own sha256)."""
    lines = "".join(f"{name} {digest}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve(model: str | Path) -> Path | None:
    path = Path(model)
    if path.exists():
        return path.resolve()
    if (BUNDLED / str(model) / "model_index.json").is_file():
        return BUNDLED / str(model)
    if re.fullmatch(r"[\w.-]+/[\w.-]+", str(model)):  # a hub id: its snapshot in the local cache, if any
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(str(model), local_files_only=True))
        except Exception:
            return None
    return None


def model_record(model: str | Path | dict) -> dict:
    """``{"name", "version", "path", "weights_sha256", "weights_files"}`` for a registry name, a
    model folder, a weights file or a cached hub id. ``weights_files`` maps each ``*.safetensors``
    file (relative to the model) to its sha256 and ``weights_sha256`` is :func:`weights_digest` of
    them. A dict (from :func:`no_weights`) is returned as it is."""
    if isinstance(model, dict):
        return model
    path = _resolve(model)
    if path is None:
        return {
            "name": str(model),
            "version": None,
            "weights_sha256": None,
            "note": "not found on this machine when the run was recorded",
        }
    files = [path] if path.is_file() else sorted(path.rglob("*.safetensors"))
    weights = {(p.name if path.is_file() else p.relative_to(path).as_posix()): _sha256(p) for p in files}
    name = _relative(Path(model)) if Path(model).exists() else str(model)
    return {
        "name": name,
        "version": model_version(path if path.is_dir() else path.parent),
        "path": _relative(path),
        "weights_sha256": weights_digest(weights) if weights else None,
        "weights_files": weights,
    }


# ------------------------------------------------------------------ the record
def _git(*words: str) -> str:
    try:
        return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict:
    """Where the run ran: platform, CPU, cores, Python, and torch and its device when loaded."""
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    info = {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name()
    return info


def provenance(models: Iterable[str | Path | dict]) -> dict:
    """The record :func:`write_json` adds: command, commit, machine, date and the models."""
    return {
        "recorded": "at run time",
        "command": command_line(),
        "git_commit": _git("rev-parse", "HEAD") or None,
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "models": [model_record(m) for m in models],
    }


def write_json(path, report: dict, *, models: Iterable[str | Path | dict], indent: int = 1) -> Path:
    """Write ``report`` atomically as JSON with its ``"provenance"`` (:func:`provenance`).
    ``models``: every model the run used (registry names, folders, or :func:`no_weights`)."""
    from plugdiff.media.fileio import write_json as _write

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    report = dict(report)
    earlier = report.pop("provenance", None)  # a run merged into an earlier one keeps that one's record
    if earlier is not None:
        report["earlier_provenance"] = [*report.pop("earlier_provenance", []), earlier]
    return _write(path, {**report, "provenance": provenance(models)}, indent=indent)


def _relative(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
