"""Start-up time of the ``plugdiff`` command: how long ``--help``, ``video --help``, ``models`` and
``render --check`` take, and which heavy libraries (torch, diffusers, transformers, gradio) each
one imports. Each command runs in a fresh interpreter, ``--repeats`` times; the table gives the
median and the fastest wall time with the machine's load average (timings on a loaded machine
are slower).

    python benchmarks/cli_startup.py               # ~10 s; writes outputs/benchmarks/cli_startup.json
    python benchmarks/cli_startup.py --publish     # writes benchmarks/results/cli_startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import published_results

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "diffusers", "transformers", "gradio")
VIDEO_JOBS = (
    "jobs:\n  - name: circle\n    prompt: a red circle moving right\n    frames: 64\n"
    "  - name: scenes\n    schedule: {0: a blue square moving up, 24: a blue square moving down}\n    frames: 48\n"
)
PROBE = (
    "import json, runpy, sys\n"
    "report, sys.argv = sys.argv[1], ['plugdiff', *sys.argv[2:]]\n"
    "try:\n"
    "    runpy.run_module('plugdiff', run_name='__main__')\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    f"heavy = [name for name in {HEAVY!r} if name in sys.modules]\n"
    "open(report, 'w').write(json.dumps({'exit_code': code, 'heavy': heavy}))\n"
)
"""``python -m plugdiff ARGS`` that records its exit code and the heavy modules it imported."""


def commands(folder: Path) -> dict[str, list[str]]:
    """The measured commands; job files and outputs go to ``folder``."""
    jobs = folder / "videos.yaml"
    jobs.write_text(VIDEO_JOBS)
    out = str(folder / "out")
    return {
        "plugdiff --help": ["--help"],
        "plugdiff video --help": ["video", "--help"],
        "plugdiff models": ["models"],
        "plugdiff render --check (2 video jobs)": ["render", "--check", str(jobs), "--out", out],
        "plugdiff render --check examples/jobs/shapesworld.yaml (video + restore jobs)": [
            "render",
            "--check",
            str(ROOT / "examples" / "jobs" / "shapesworld.yaml"),
            "--out",
            out,
        ],
    }


def run(arguments: list[str]) -> dict:
    """One fresh ``plugdiff ARGUMENTS``: wall seconds, exit code and the heavy modules it imported."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", PROBE, str(report), *arguments],
            cwd=ROOT,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        seconds = time.perf_counter() - start
        return {"seconds": seconds, **json.loads(report.read_text())}


def machine() -> dict:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": os.getloadavg()[0],
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = published_results.parse_args(parser, argv)
    report = {"machine": machine(), "repeats": args.repeats, "commands": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name, arguments in commands(Path(folder)).items():
            runs = [run(arguments) for _ in range(args.repeats)]
            seconds = [r["seconds"] for r in runs]
            report["commands"][name] = {
                "median_s": statistics.median(seconds),
                "min_s": min(seconds),
                "exit_code": runs[0]["exit_code"],
                "imports": runs[0]["heavy"],
            }
    report["machine"]["load_average_1min_after"] = os.getloadavg()[0]
    m = report["machine"]
    print(
        f"{m['cpu']}, {m['cores']} cores, load average {m['load_average_1min']:.1f} -> "
        f"{m['load_average_1min_after']:.1f}"
    )
    print("| command | median s | fastest s | heavy libraries imported |\n|---|---|---|---|")
    for name, row in report["commands"].items():
        print(f"| `{name}` | {row['median_s']:.2f} | {row['min_s']:.2f} | {', '.join(row['imports']) or 'none'} |")
    args.out.mkdir(parents=True, exist_ok=True)
    published_results.write_json(
        args.out / "cli_startup.json",
        report,
        indent=2,
        models=[published_results.no_weights("none: command start-up times")],
    )
    return report


if __name__ == "__main__":
    main()
