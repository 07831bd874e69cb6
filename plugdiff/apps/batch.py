"""Run jobs: load each model once, render, write every output with a JSON sidecar by a write
protocol that survives a kill at any point (:mod:`plugdiff.apps.outputs`), keep going past a
failed job, skip completed ones on resume, and split the jobs across the processes of
``accelerate launch`` / ``torchrun`` (accelerate's ``PartialState``).

Per job ``out/<name><suffix>`` (a file, or a folder for PNG frames and restorations) and its
sidecar ``out/<name><suffix>.json``: the settings, seed, model, device, dtype, versions, timings
and the output files with their sizes. A sidecar exists only for a complete, verified output;
``resume`` skips a job whose sidecar has the same settings and whose file list matches the files
on disk (every file there with its size, nothing missing, nothing else); a sidecar that does not
match is reported and its job rendered again. Nothing plugdiff did not write is ever replaced.

One run at a time writes into an output folder (:mod:`plugdiff.apps.folder_lock`): under a
launcher, process 0 holds the lock for all of them.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from .. import __version__
from ..media.fileio import write_json
from . import folder_lock, outputs
from .fields import shorten
from .jobs import RENDERERS, Job
from .rendered import Rendered

VERSIONED = ["torch", "diffusers", "transformers", "accelerate", "xformers", "gradio"]
SIDECAR_FORMAT = 2


@dataclass(frozen=True)
class RunOptions:
    """How jobs run (not part of any job's settings).

    Attributes:
        device: "auto" (the process's accelerator if any, else CPU), "cpu", "cuda", "cuda:N", "mps".
        dtype: "auto" (float16 for video on CUDA, else float32), "float32", "float16", "bfloat16".
        quiet: no progress bars, no per-job lines (errors and the summary still print).
        allow_download: let diffusers fetch hub models (offline otherwise).
        resume: skip jobs whose outputs and sidecars are complete.
        memory_check: refuse a job whose estimated memory exceeds what is available.
        wait: wait for another plugdiff run that holds the output folder (else stop at once,
            naming it).
    """

    device: str = "auto"
    dtype: str = "auto"
    quiet: bool = False
    allow_download: bool = False
    resume: bool = False
    memory_check: bool = True
    wait: bool = False


class OutDirError(ValueError):
    """The output folder cannot be used: ``busy`` when another plugdiff run holds it (the
    message names that run), else a bad folder (a file, not writable, a link at .plugdiff)."""

    def __init__(self, message: str, busy: bool = False):
        super().__init__(message)
        self.busy = busy


DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def stack_versions() -> dict:
    """plugdiff, Python and the stack's versions (None: not installed)."""
    report = {"plugdiff": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            report[name] = importlib.import_module(name).__version__
        except ImportError:
            report[name] = None
    return report


def completion(job: Job, output: Path) -> tuple[bool, str | None]:
    """Whether ``output`` holds this job's finished result, decided from plugdiff's sidecar and
    the files on disk together: the same settings, and the sidecar's file list equal to the
    files there (each with its size; none missing, none else). Returns (complete, why the
    sidecar cannot be trusted: None when there is no sidecar, or only the settings changed)."""
    record = outputs.read_sidecar(output)
    if record is None:
        return False, None
    if record.get("status") != "complete":
        return False, "the sidecar does not say complete"
    if record.get("settings") != _jsonable(job.settings):
        return False, None
    wrong = outputs.mismatch(output, record)
    return wrong is None, wrong and f"its sidecar does not match the files on disk: {wrong}"


def is_complete(job: Job, output: Path) -> bool:
    """Whether ``output`` holds this job's finished result (:func:`completion`)."""
    return completion(job, output)[0]


class Renderers:
    """Loaded models, one renderer per (job kind, model), on one device; a model is loaded on
    its first job."""

    def __init__(self, options: RunOptions, device: torch.device):
        self.options, self.device, self._loaded = options, device, {}

    def dtype(self, kind: str) -> torch.dtype:
        if self.options.dtype != "auto":
            return DTYPES[self.options.dtype]
        return torch.float16 if kind == "video" and self.device.type == "cuda" else torch.float32

    def load(self, kind: str, model: str):
        """The renderer of ``kind`` over ``model``, loaded on first use."""
        if (kind, model) not in self._loaded:
            from ..weights import load_pipeline

            cls = RENDERERS[kind]
            dtype = self.dtype(kind)
            kwargs = {} if dtype == torch.float32 else {"torch_dtype": dtype}  # float32: loads as saved, no warning
            pipe = load_pipeline(
                model, pipeline_cls=cls.pipeline_class(), allow_download=self.options.allow_download, **kwargs
            )
            pipe.to(self.device)
            self._loaded[kind, model] = cls(pipe)
        return self._loaded[kind, model]

    def get(self, job: Job):
        """The renderer for ``job``, its progress bars named after the job."""
        renderer = self.load(job.kind, job.settings["model"])
        for pipe in renderer.pipelines:
            pipe.set_progress_bar_config(disable=self.options.quiet, leave=False, desc=job.name)
        return renderer


def render_and_write(job: Job, output: Path, renderers: Renderers, *, process: int = 0) -> Rendered:
    """Render ``job``, check that it is finite, write and verify it, then install it with its
    sidecar at ``output`` (:mod:`plugdiff.apps.outputs`); raises on failure, leaving the
    previous output as it was."""
    start = time.perf_counter()
    outputs.recover(output)
    outputs.check_replaceable(output)
    renderer = renderers.get(job)
    if renderers.options.memory_check:
        check_memory(renderer.memory_estimate(job.settings))
    loaded = time.perf_counter()
    generator = torch.Generator(renderers.device).manual_seed(job.settings["seed"])
    rendered = renderer(job.settings, generator)
    rendered.check_finite()
    done = time.perf_counter()
    try:
        staged = outputs.prepare(output)
        rendered.write(staged)
        written = time.perf_counter()
        timings = {
            "load_s": loaded - start,
            "render_s": done - loaded,
            "write_s": written - done,
            "total_s": written - start,
        }
        outputs.install(output, _sidecar(job, output, staged, renderers, rendered.results, timings, process))
    except BaseException:
        outputs.recover(output)  # committed: finish; not yet: throw the staged files away
        raise
    return rendered


def run_job(job: Job, out_dir: Path, renderers: Renderers, *, process: int = 0) -> dict:
    """Render one job into ``out_dir``; never raises for a failing job (the row says why), only
    for KeyboardInterrupt (after which no half-written file remains). A sidecar that does not
    match its files is not trusted by ``resume``: the job is rendered again, and the row's
    ``note`` says why."""
    output = out_dir / job.output_name()
    row = {
        "job": job.name,
        "index": job.index,
        "kind": job.kind,
        "output": str(output),
        "process": process,
        "error": None,
    }
    start = time.perf_counter()
    try:
        outputs.recover(output)  # a write interrupted by a kill is finished or undone first
        if renderers.options.resume:
            complete, distrust = completion(job, output)
            if complete:
                return {**row, "status": "skipped", "seconds": 0.0}
            if distrust:
                row["note"] = shorten(f"rendered again: {distrust}")
                print(f"note: {job.name}: {row['note']}", file=sys.stderr)
        render_and_write(job, output, renderers, process=process)
    except Exception as err:  # one failing job is reported; the batch goes on
        message = shorten(str(err).strip() or type(err).__name__)
        return {
            **row,
            "status": "failed",
            "seconds": time.perf_counter() - start,
            "error": f"{type(err).__name__}: {message}",
        }
    return {**row, "status": "done", "seconds": time.perf_counter() - start}


def available_memory() -> int | None:
    """Bytes of memory available now, from the kernel's MemAvailable estimate (None where there
    is no /proc/meminfo: the check is skipped there)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(needed: int) -> None:
    """Refuse, before anything is allocated, a job that needs more memory than is available."""
    available = available_memory()
    if available is not None and needed > available:
        raise MemoryError(
            f"this job needs about {needed / 2**30:.1f} GiB of memory for its frames and latents, but "
            f"{available / 2**30:.1f} GiB are available; lower frames, size or upscale (or samples), or "
            "pass --no-memory-check to try anyway"
        )


def check_out_dir(out_dir: Path) -> None:
    """Make ``out_dir`` (and its parents) and check that it is a writable folder, before any
    rendering. Raises ``ValueError`` saying what is wrong."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out: {out_dir} is a file, not a folder; choose a folder for the outputs")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=out_dir, prefix=".plugdiff-probe-")
        probe.close()
    except OSError as err:
        raise ValueError(f"--out: cannot write into {out_dir}: {err.strerror or err}") from None
    try:
        outputs.check_staging_root(out_dir)
    except outputs.NotOurs as err:
        raise ValueError(f"--out: {err}") from None


_HELD: set[str] = set()
"""Output folders whose lock this launch holds (every process of it records them)."""


@contextmanager
def holding(out_dir, options: RunOptions, *, command: str | None = None):
    """Hold ``out_dir``'s lock (made and checked first) for the ``with`` block, as the only
    plugdiff run writing into it. Under a launcher process 0 takes the lock and tells the others.
    Re-entrant: a folder this launch already holds is not locked again. ``command`` is recorded
    for the message another run gets (default: this process's arguments).

    Raises:
        OutDirError: the folder is unusable, or another run holds it (``busy``; with
            ``options.wait`` this waits instead).
    """
    out_dir = Path(out_dir)
    key = os.path.abspath(out_dir)
    if key in _HELD:
        yield
        return
    state = process_state(options.device)
    lock, failure = None, None
    if state.is_main_process:
        try:
            check_out_dir(out_dir)
            lock = folder_lock.acquire(
                out_dir,
                wait=options.wait,
                command=command,
                on_wait=lambda line: print(line, file=sys.stderr, flush=True),
            )
        except folder_lock.FolderBusy as err:
            failure = (str(err), True)
        except (ValueError, folder_lock.LockError) as err:
            failure = (str(err), False)
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        failure = broadcast_object_list([failure])[0]
    if failure is not None:
        raise OutDirError(*failure)
    if lock is not None and lock.stale is not None:
        print(
            f"note: {lock.path} was left by a run that ended without releasing it "
            f"({folder_lock.describe(lock.stale)}); taken over",
            file=sys.stderr,
        )
    _HELD.add(key)
    try:
        yield
    finally:
        _HELD.discard(key)
        if lock is not None:
            lock.release()


def _sidecar(
    job: Job, output: Path, staged: Path, renderers: Renderers, results: dict, timings: dict, process: int
) -> dict:
    """The sidecar record of ``output``, its file list read from the ``staged`` copy."""
    files = [staged] if staged.is_file() else sorted(p for p in staged.rglob("*") if p.is_file())
    return {
        "format": SIDECAR_FORMAT,
        "writer": outputs.WRITER,
        "output": output.name,
        "status": "complete",
        "job": job.name,
        "kind": job.kind,
        "settings": _jsonable(job.settings),
        "seed": job.settings["seed"],
        "model": job.settings["model"],
        "device": str(renderers.device),
        "dtype": str(renderers.dtype(job.kind)).removeprefix("torch."),
        "process": process,
        "versions": stack_versions(),
        "results": results,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": [{"path": str(p.relative_to(staged.parent)), "bytes": p.stat().st_size} for p in files],
    }


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def run_jobs(jobs: list[Job], out_dir, options: RunOptions) -> list[dict]:
    """Render ``jobs`` into ``out_dir``, split across the processes of the current launch (one
    process without a launcher); returns every process's rows on every process, in job order.

    KeyboardInterrupt propagates after the job in progress is abandoned (its files are written
    atomically, so nothing half-written is left).

    Raises:
        OutDirError: ``out_dir`` is unusable or another plugdiff run holds it (:func:`holding`,
            taken here unless the caller holds it already).
    """
    with holding(out_dir, options):
        return _run_jobs(jobs, Path(out_dir), options)


def _run_jobs(jobs: list[Job], out_dir: Path, options: RunOptions) -> list[dict]:
    from accelerate.utils import gather_object

    state = process_state(options.device)
    device = resolve_device(options.device, state)
    renderers = Renderers(options, device)
    _quiet_loading(options.quiet)
    rows = []
    with state.split_between_processes(jobs) as mine:
        bar = _job_bar(len(jobs), len(mine), state, options.quiet)
        for job in mine:
            row = run_job(job, out_dir, renderers, process=state.process_index)
            rows.append(row)
            bar.update()
            if row["status"] == "failed":
                bar.write(f"error: {job.name}: {row['error']}", file=sys.stderr)
            elif not options.quiet:
                bar.write(f"{row['status']}: {job.name} -> {row['output']} ({row['seconds']:.1f} s)")
        bar.close()
    if state.num_processes > 1:
        rows = gather_object(rows)
    return sorted(rows, key=lambda r: r["index"])


def process_state(device: str):
    """accelerate's ``PartialState`` for this process: CPU processes when ``device`` is "cpu", or
    "auto" without CUDA (accelerate otherwise treats CPU processes as unrelated single runs).
    Raises rather than let every process of a launch render every job."""
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu" or (device == "auto" and not torch.cuda.is_available()))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != state.num_processes:
        raise ValueError(
            f"launched as {launched} processes but accelerate joined {state.num_processes} for --device {device}; "
            "every process would render every job. Use --device cpu for CPU processes or cuda for GPUs."
        )
    return state


def end_launch(*, finished: bool = False) -> None:
    """End this launch's process group, if there is one, so that each process exits with
    torch.distributed's threads shut down (a process that exits with them running can abort with
    "terminate called without an active exception"). With ``finished`` (every process got through
    its jobs) the processes first wait for each other, so none tears its end down while another
    still talks to it; after an error they do not (the others may be in another collective). A
    no-op in a single process."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if finished and torch.distributed.get_world_size() > 1:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def resolve_device(name: str, state) -> torch.device:
    """The torch device for ``--device name`` in this process (``state``: its PartialState)."""
    if name == "auto":
        return state.device
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here; use --device cpu or auto.")
    if device.type == "cuda" and device.index is None and state.num_processes > 1:
        return state.device  # one GPU per process
    return device


def _job_bar(total: int, mine: int, state, quiet: bool):
    from tqdm.auto import tqdm

    desc = f"jobs (process {state.process_index})" if state.num_processes > 1 else "jobs"
    return tqdm(total=mine, desc=desc, disable=quiet or total < 2, position=0, leave=True)


def _quiet_loading(quiet: bool) -> None:
    """Hide the libraries' loading bars and warnings when quiet."""
    if quiet:
        import diffusers
        import transformers

        diffusers.utils.logging.disable_progress_bar()
        diffusers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()


def write_summary(out_dir: Path, record: dict) -> Path:
    """Write ``out_dir/summary.json`` atomically, first removing the temporary files of a
    summary write that a kill interrupted (never following a link)."""
    for stale in out_dir.glob(".summary.json.*"):
        if not stale.is_dir() or stale.is_symlink():
            stale.unlink(missing_ok=True)
    return write_json(out_dir / "summary.json", record, indent=2)


def _last_column(row: dict) -> str:
    text = row["error"] or row["output"] or ""
    return f"{text} ({row['note']})" if row.get("note") else text


def summary_table(rows: list[dict]) -> str:
    """A plain-text table of the rows: job, kind, status, seconds, and the output or the error."""
    header = ("#", "job", "kind", "status", "seconds", "output / error")
    lines = [(str(r["index"]), r["job"], r["kind"], r["status"], f"{r['seconds']:.1f}", _last_column(r)) for r in rows]
    widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]

    def line(cells) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False)) + "  " + cells[-1]

    return "\n".join([line(header), *(line(cells) for cells in lines)])
