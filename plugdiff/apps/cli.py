"""The ``plugdiff`` command line: ``info``, ``models``, ``video``, ``restore``, ``render`` and
``demo`` (the web UI).

Exit status: 0 all done, 1 a job failed (the others still ran) or the summary could not be
written, 2 bad arguments, an unusable job file or output folder (nothing ran), 75 the output
folder is in use by another plugdiff run (nothing ran; ``--wait`` waits for it), 130 interrupted
(finished outputs are kept; ``--resume`` continues).

torch, diffusers and transformers are imported only by the commands that use them, so
``--help``, ``render --check`` and ``models`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path

from .. import __version__
from . import fields
from .jobs import JobError, JobFileError, check_names_fit, fields_of, load_jobs, make_job
from .third_party_logs import hide_unactionable_messages
from .video import FORMATS


def _exported_components(package: str, suffix: str) -> list[str]:
    """``"package:Name"`` for every name ``package`` exports (its ``__all__``) that ends with
    ``suffix``, diffusers' naming of a component kind (``...Scheduler``, ``...Pipeline``). The
    packages export lazily, so nothing heavy is imported."""
    return [f"{package}:{name}" for name in importlib.import_module(package).__all__ if name.endswith(suffix)]


COMPONENTS = {
    "schedulers": _exported_components("plugdiff.samplers", "Scheduler"),
    "pipelines": _exported_components("plugdiff.pipelines", "Pipeline"),
    "processors": _exported_components("plugdiff.attention_processors", "AttnProcessor"),
}
"""plugdiff's diffusers components by kind, as ``module:Class``, from the packages' exports."""

EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_INTERRUPTED = 1, 2, 75, 130


def environment_report() -> dict:
    """Versions of plugdiff and its stack, the torch device, and the components available."""
    import torch

    from .batch import stack_versions

    return {**stack_versions(), "cuda": torch.cuda.is_available(), "components": COMPONENTS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plugdiff", description="Training-free diffusion methods for diffusers.")
    parser.add_argument("--version", action="version", version=f"plugdiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print versions, device and available components")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    models = sub.add_parser("models", help="list the registry's models and whether each loads offline here")
    models.add_argument("--json", action="store_true", help="machine-readable output")

    run = argparse.ArgumentParser(add_help=False)
    group = run.add_argument_group("running")
    group.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N or mps")
    group.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "float16", "bfloat16"],
        help="auto: float16 for video on CUDA, else float32",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bars or per-job lines")
    group.add_argument(
        "--allow-download", action="store_true", help="let diffusers fetch hub models (offline otherwise)"
    )
    group.add_argument(
        "--no-memory-check",
        dest="memory_check",
        action="store_false",
        help="render a job even when its estimated memory exceeds what is available",
    )
    group.add_argument(
        "--wait",
        action="store_true",
        help="wait for another plugdiff run writing into the same output folder to finish "
        f"(default: stop at once with status {EXIT_BUSY}, naming it)",
    )

    video = sub.add_parser(
        "video",
        parents=[run],
        help="render one long video (TiARA, PromptBlend)",
        description="Render one video; the output's suffix picks the format (.mp4, .gif, .webp, "
        "none: a folder of PNG frames). A JSON sidecar is written beside it.",
    )
    video.add_argument(
        "--out", type=Path, required=True, help="output file (.mp4 / .gif / .webp) or folder for PNG frames"
    )
    _add_field_flags(video, "video", skip=("name", "format"))
    restore = sub.add_parser(
        "restore",
        parents=[run],
        help="restore one image (DPnP or DPS posterior sampling)",
        description="Sample the posterior of one measured image; writes mean, std and sample PNGs, "
        "measurement.npy and a JSON sidecar beside the folder.",
    )
    restore.add_argument("--out", type=Path, required=True, help="output folder")
    _add_field_flags(restore, "restore", skip=("name",))

    render = sub.add_parser(
        "render",
        parents=[run],
        help="render a batch of video and restore jobs from a YAML / JSON file",
        description="Render every job of a job file into --out: validated up front, each output "
        "written atomically with a JSON sidecar, failures reported while the rest go "
        "on, a summary at the end (and --out/summary.json). Under accelerate launch or "
        "torchrun the jobs are split across the processes.",
    )
    render.add_argument("jobs", type=Path, help="job file (YAML or JSON; see examples/jobs/)")
    render.add_argument("--out", type=Path, required=True, help="output folder")
    render.add_argument("--resume", action="store_true", help="skip jobs whose outputs and sidecars are complete")
    render.add_argument("--check", action="store_true", help="only validate the job file and list the jobs")
    demo = sub.add_parser(
        "demo",
        help="start the web UI (needs the ui extra: pip install 'plugdiff[ui]')",
        description="Start the plugdiff web UI (Gradio) on the bundled ShapesWorld models or --model.",
    )
    from .gradio_app import add_arguments

    add_arguments(demo)
    return parser


def _add_field_flags(parser: argparse.ArgumentParser, kind: str, skip: tuple[str, ...]) -> None:
    """One flag per job field; flags left out take the field's default."""
    group = parser.add_argument_group(f"{kind} settings (the same names as in job files)")
    for field in fields_of(kind).values():
        if field.name in skip or field.flag_type is None:
            continue
        default = (
            " (required)"
            if field.default is fields.REQUIRED
            else ""
            if field.default in (None, {})
            else f" (default: {field.default})"
        )
        common = dict(default=argparse.SUPPRESS, help=field.help + default)
        if field.flag_type is bool:
            group.add_argument(field.flag, action=argparse.BooleanOptionalAction, **common)
        else:
            metavar = None if field.choices else field.name.upper()
            group.add_argument(field.flag, type=field.flag_type, choices=field.choices, metavar=metavar, **common)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.command_line = " ".join(
        ["plugdiff", *argv]
    )  # recorded in the output folder's lock for a second run's message
    hide_unactionable_messages()
    try:
        if args.command == "info":
            return _info(args)
        if args.command == "models":
            return _models(args)
        if args.command == "render":
            return _render(args)
        if args.command == "demo":
            return _demo(args)
        return _single(args)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished outputs are kept (every file is written atomically); "
            "rerun with --resume to continue.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED


def _options(args, resume: bool = False):
    from .batch import RunOptions

    return RunOptions(
        device=args.device,
        dtype=args.dtype,
        quiet=args.quiet,
        allow_download=args.allow_download,
        resume=resume,
        memory_check=args.memory_check,
        wait=args.wait,
    )


def _single(args) -> int:
    """``video`` / ``restore``: the flags make one job, run like a batch of one."""
    values = {name: getattr(args, name) for name in fields_of(args.command) if hasattr(args, name)}
    out = args.out
    values["name"] = out.name if args.command == "restore" else out.stem if out.suffix else out.name
    if args.command == "video":
        suffix_format = {suffix: name for name, suffix in FORMATS.items()}
        if out.suffix.lower() not in suffix_format:
            return _usage_error(
                f"--out: unknown video format {out.suffix!r}; use .mp4, .gif, .webp or no suffix (PNG frames)"
            )
        values["format"] = suffix_format[out.suffix.lower()]
    try:
        job = make_job(args.command, values, label=args.command)
        _, too_long = check_names_fit([job], out.parent)
        if too_long:
            raise too_long[0]
    except JobError as err:
        flag = f"--{err.field.replace('_', '-')}" if err.field and err.field != "name" else "--out"
        return _usage_error(f"{flag}: {err.message}")
    from .batch import OutDirError, holding, run_jobs

    try:
        with holding(out.parent, _options(args), command=args.command_line):
            (row,) = run_jobs([job], out.parent, _options(args))
    except OutDirError as err:
        return _out_dir_error(err)
    except ValueError as err:  # e.g. --device cuda without CUDA
        return _usage_error(str(err))
    if row["status"] == "failed":
        return EXIT_FAILED
    if not args.quiet:
        print(f"sidecar: {row['output']}.json")
    return 0


def _render(args) -> int:
    """``render``: validate the job file; with ``--check`` list the jobs (no model, no torch),
    else render them. Under a launcher every process ends the launch's process group on the way
    out, whatever happened."""
    if args.check:  # under a launcher only the first process (RANK 0) prints
        return _render_file(args, os.environ.get("RANK", "0") == "0")
    from .batch import end_launch, process_state

    finished = False
    try:
        try:
            main_process = process_state(args.device).is_main_process
        except ValueError as err:
            code = _usage_error(str(err))
        else:
            code = _render_file(args, main_process)
        finished = True
        return code
    finally:
        end_launch(finished=finished)


def _render_file(args, main_process: bool) -> int:
    """``render`` for one process: load and check the job file, then list or render the jobs."""
    try:
        jobs, errors = load_jobs(args.jobs)
    except JobFileError as err:
        return _usage_error(str(err), show=main_process)
    jobs, too_long = check_names_fit(jobs, args.out)
    errors = sorted(errors + too_long, key=lambda e: e.index)
    if main_process:
        for err in errors:
            print(f"error: {args.jobs}: {err}", file=sys.stderr)
    if args.check:
        if main_process:
            for job in jobs:
                print(f"ok: job {job.index} {job.name!r} ({job.kind}) -> {args.out / job.output_name()}")
        return EXIT_FAILED if errors else 0
    from .batch import OutDirError, holding, run_jobs, summary_table, write_summary

    options = _options(args, resume=args.resume)
    try:
        with holding(args.out, options, command=args.command_line):
            rows = run_jobs(jobs, args.out, options)
            rows += [
                {
                    "job": err.label,
                    "index": err.index,
                    "kind": "?",
                    "status": "invalid",
                    "seconds": 0.0,
                    "output": None,
                    "process": None,
                    "error": str(err),
                }
                for err in errors
            ]
            rows.sort(key=lambda r: r["index"])
            written = True
            if main_process:
                try:
                    write_summary(args.out, {"jobs_file": str(args.jobs), "rows": rows})
                except OSError as err:
                    written = False
                    print(
                        f"error: could not write {args.out / 'summary.json'}: {err.strerror or err}; the outputs "
                        "listed below are as their rows say (each finished one has its sidecar)",
                        file=sys.stderr,
                    )
    except OutDirError as err:
        return _out_dir_error(err, show=main_process)
    except ValueError as err:
        return _usage_error(str(err), show=main_process)
    if main_process:
        counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "skipped", "failed", "invalid")}
        print(summary_table(rows))
        where = f"summary: {args.out / 'summary.json'}" if written else "summary.json NOT written"
        print(", ".join(f"{n} {s}" for s, n in counts.items() if n) + f"; {where}")
    failed = any(r["status"] in ("failed", "invalid") for r in rows) or not written
    return EXIT_FAILED if failed else 0


def _out_dir_error(err, show: bool = True) -> int:
    """--out unusable (exit 2), or in use by another run (exit 75)."""
    if show:
        print(f"error: {err}", file=sys.stderr)
    return EXIT_BUSY if err.busy else EXIT_USAGE


def _demo(args) -> int:
    from .gradio_app import ServerAddressError, check_free, launch, server_address

    try:
        address = server_address(args)  # first: gradio's own import fails on a malformed GRADIO_SERVER_PORT
    except ServerAddressError as err:
        return _usage_error(str(err))
    try:
        import gradio  # noqa: F401
    except ImportError:
        return _usage_error("the web UI needs gradio: pip install 'plugdiff[ui]'")
    try:
        check_free(*address)  # before any model loads
        launch(args)
    except ServerAddressError as err:
        return _usage_error(str(err))
    return 0


def _usage_error(message: str, show: bool = True) -> int:
    if show:
        print(f"error: {fields.shorten(message)}", file=sys.stderr)
    return EXIT_USAGE


def _info(args) -> int:
    report = environment_report()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report.items():
        if key != "components":
            print(f"{key:>12}: {value if value is not None else 'not installed'}")
    for kind, names in report["components"].items():
        print(f"{kind:>12}: {', '.join(n.split(':')[1] for n in names)}")
    return 0


def _models(args) -> int:
    rows = models_report()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(
            f"{r['name']:<{width}}  {'available' if r['available'] else 'missing':9}  {r['kind']:5}  "
            f"{r['description']}"
        )
        if r["get_it"]:
            first, *rest = (line.strip() for line in r["get_it"].splitlines())
            print(f"{'':<{width}}  get it: {first}")
            for line in rest:
                print(f"{'':<{width}}          {line}")
    return 0


def models_report() -> list[dict]:
    """One row per registry model: name, kind, source, pipeline, description, availability and,
    when missing, the command that gets it."""
    from ..weights.registry import REGISTRY, is_available

    rows = []
    for spec in REGISTRY.values():
        available = is_available(spec.name)
        rows.append(
            {
                "name": spec.name,
                "kind": spec.kind,
                "source": spec.source,
                "pipeline": spec.pipeline,
                "description": spec.description,
                "available": available,
                "get_it": None if available else spec.get_it(),
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
