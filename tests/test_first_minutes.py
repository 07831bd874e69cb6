"""What a new user meets first: the fast commands answer without loading torch, diffusers or
transformers; a default run prints no library warning the user cannot act on; benchmark runs
never replace the published results unless asked to."""

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(name: str):
    """The script benchmarks/<name>.py as a module (benchmarks/ is on pytest's pythonpath)."""
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def startup():
    return _benchmark("cli_startup")


@pytest.mark.parametrize(
    "command",
    ["plugdiff --help", "plugdiff video --help", "plugdiff models", "plugdiff render --check (2 video jobs)"],
)
def test_fast_commands_import_no_heavy_library(startup, tmp_path, command):
    row = startup.run(startup.commands(tmp_path)[command])
    assert row["exit_code"] in (0, None) and row["heavy"] == [], row


def test_the_probe_sees_heavy_imports(startup, tmp_path):
    """The check above can fail: restore jobs build their operators, which need torch."""
    name = "plugdiff render --check examples/jobs/shapesworld.yaml (video + restore jobs)"
    row = startup.run(startup.commands(tmp_path)[name])
    assert row["exit_code"] in (0, None) and "torch" in row["heavy"] and "diffusers" not in row["heavy"], row


def _library_messages(stderr: str) -> list[str]:
    """stderr without progress bars (tqdm redraws with \\r) and blank lines."""
    parts = re.split(r"[\r\n]+", stderr)
    return [p for p in parts if p.strip() and not re.search(r"\d+%\|.*\|", p)]


def _run_python(*arguments, timeout=300) -> subprocess.CompletedProcess:
    """``python *arguments`` with the libraries' own log levels (not the tests' quieter ones)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, env=env, check=False, timeout=timeout, cwd=ROOT
    )


def _run_plugdiff(*arguments, timeout=300) -> subprocess.CompletedProcess:
    return _run_python("-m", "plugdiff", *arguments, timeout=timeout)


def test_a_default_video_run_prints_no_library_warning(tmp_path):
    result = _run_plugdiff(
        "video",
        "--prompt",
        "a red circle moving right",
        "--frames",
        "8",
        "--steps",
        "1",
        "--out",
        str(tmp_path / "circle.gif"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert _library_messages(result.stderr) == []


def test_a_default_restore_run_prints_no_library_warning(tmp_path):
    result = _run_plugdiff(
        "restore",
        "--image",
        "examples/images/shapesworld_circle.png",
        "--operator",
        "sr4",
        "--simulate",
        "--method",
        "dps",
        "--steps",
        "2",
        "--samples",
        "1",
        "--out",
        str(tmp_path / "circle"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert _library_messages(result.stderr) == []


def test_loading_a_pipeline_in_python_prints_no_library_warning():
    """The Python API is as quiet as the command line: the filters are installed where pipelines load
    (diffusers warns about "modules ... kept in float32: []" while building the video UNet)."""
    result = _run_python("-c", "from plugdiff.weights import load_pipeline; load_pipeline('shapesworld-t2v')")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _library_messages(result.stderr) == []


def test_the_filters_drop_only_their_message():
    import logging

    from plugdiff.apps.third_party_logs import hide_unactionable_messages

    hide_unactionable_messages()
    hide_unactionable_messages()  # idempotent
    logger = logging.getLogger("diffusers.models.modeling_utils")
    ours = [f for f in logger.filters if type(f).__module__ == "plugdiff.weights.loading"]
    assert len(ours) == 1  # diffusers may add filters of its own (rank zero) once a distributed run has been set up
    record = logging.LogRecord(logger.name, logging.WARNING, __file__, 1, "", None, None)
    for message, shown in (
        ("There are modules in UNetMotionModel that should be kept in float32: []. Casting ...", False),
        ("There are modules in UNetMotionModel that should be kept in float32: ['norm']. Casting ...", True),
    ):
        record.msg = message
        assert ours[0].filter(record) is shown


# ------------------------------------------------------------------ published benchmark results
@pytest.fixture
def published(monkeypatch, tmp_path):
    """benchmarks/published_results.py with its folders moved under tmp_path."""
    import published_results

    monkeypatch.setattr(published_results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(published_results, "SCRATCH", tmp_path / "scratch")
    (tmp_path / "results").mkdir()
    return published_results


def _parser(default: Path, quick: bool = True):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=default)
    if quick:
        parser.add_argument("--quick", action="store_true")
    return parser


def test_runs_write_beside_the_published_results_unless_told(published, tmp_path, capsys):
    results, scratch = tmp_path / "results", tmp_path / "scratch"
    assert published.parse_args(_parser(results), []).out == scratch
    assert "--publish" in capsys.readouterr().err
    assert published.parse_args(_parser(results / "x.json"), []).out == scratch / "x.json"  # a file --out
    assert published.parse_args(_parser(results), ["--publish"]).out == results
    assert published.parse_args(_parser(results), ["--out", str(tmp_path / "mine")]).out == tmp_path / "mine"
    with pytest.raises(SystemExit) as refused:
        published.parse_args(_parser(results), ["--quick", "--publish"])
    assert refused.value.code == 2 and "never published" in capsys.readouterr().err


def test_a_benchmark_run_leaves_the_published_results_alone(published, tmp_path, startup, monkeypatch):
    kept = tmp_path / "results" / "cli_startup.json"
    kept.write_text('{"published": true}')
    monkeypatch.setattr(startup, "commands", lambda folder: {"plugdiff --version": ["--version"]})
    startup.main(["--repeats", "1", "--out", str(tmp_path / "results")])
    assert json.loads(kept.read_text()) == {"published": True}
    report = json.loads((tmp_path / "scratch" / "cli_startup.json").read_text())
    assert report["commands"]["plugdiff --version"]["imports"] == []


def test_every_benchmark_script_parses_through_the_guard():
    import published_results

    scripts = [p for p in (ROOT / "benchmarks").glob("*.py") if p.name not in published_results.TOOLS]
    assert len(scripts) >= 10
    for script in scripts:
        text = script.read_text()
        assert "published_results.parse_args(parser" in text and "parser.parse_args(" not in text, script.name


def test_the_web_ui_starts_without_library_warnings():
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY")}
    server = subprocess.Popen(
        [sys.executable, "-m", "plugdiff", "demo", "--port", str(port), "--device", "cpu"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and server.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        assert server.poll() is None, server.communicate()[1][-2000:]
    finally:
        server.terminate()
        stdout, stderr = server.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}" in stdout
    # the one line on stderr is plugdiff's own answer to the terminate signal
    assert _library_messages(stderr) in ([], ["closing the web UI"])
