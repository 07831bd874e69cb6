"""plugdiff video / restore / render on the bundled ShapesWorld models: outputs and sidecars,
the same frames as a direct pipeline call, a failing job among good ones, resume, Ctrl-C, and
the job split across two processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from plugdiff.apps.cli import main
from plugdiff.media import to_uint8_frames
from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.weights import load_pipeline, sampling_defaults

FAST_VIDEO = ["--frames", "20", "--steps", "2", "--window", "16", "--stride", "4", "--quiet"]
FAST_RESTORE = ["--samples", "2", "--etas", "0.5,0.2", "--dds-steps", "2", "--warm-steps", "2", "--quiet"]


def sidecar(path: Path) -> dict:
    return json.loads(path.with_name(path.name + ".json").read_text())


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders of atomic writes (names starting with '.')."""
    return [str(p) for p in folder.rglob(".*")]


def stored_sampler_pipeline():
    """The bundled video pipeline with the sampler its folder stores (what the CLI uses unset)."""
    from plugdiff.samplers.presets import make_scheduler

    pipe = load_pipeline("shapesworld-t2v", pipeline_cls=TiaraAnimateDiffPipeline)
    pipe.scheduler = make_scheduler(sampling_defaults("shapesworld-t2v")["scheduler"], pipe.scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_video_command_matches_the_pipeline_frame_for_frame(tmp_path):
    out = tmp_path / "clip"  # no suffix: lossless PNG frames
    args = [
        "video",
        "--prompt",
        "a red circle moving right",
        "--seed",
        "3",
        "--tiara",
        "4",
        "--guidance",
        "6",
        "--out",
        str(out),
    ]
    assert main(args + FAST_VIDEO) == 0
    frames = np.stack([iio.imread(p) for p in sorted(out.iterdir())])
    pipe = stored_sampler_pipeline()
    expected = pipe(
        "a red circle moving right",
        num_frames=20,
        num_inference_steps=2,
        guidance_scale=6.0,
        tiara={"alpha": 4.0},
        windows={"context_length": 16, "context_stride": 4},
        generator=torch.Generator().manual_seed(3),
        output_type="pt",
    ).frames[0]
    assert np.array_equal(frames, to_uint8_frames(expected))
    record = sidecar(out)
    assert record["status"] == "complete" and record["seed"] == 3 and record["settings"]["tiara"] == {"alpha": 4.0}
    assert record["versions"]["torch"] == torch.__version__ and record["versions"]["plugdiff"]
    assert set(record["timings"]) == {"load_s", "render_s", "write_s", "total_s"}
    assert len(record["files"]) == 20 and record["files"][0] == {
        "path": "clip/frame_00000.png",
        "bytes": (out / "frame_00000.png").stat().st_size,
    }


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".webp"])
def test_video_formats_and_schedules(tmp_path, examples_dir, suffix):
    out = tmp_path / f"travel{suffix}"
    schedule = examples_dir / "schedules" / "shapesworld.txt"
    args = [
        "video",
        "--schedule",
        str(schedule),
        "--frames",
        "64",
        "--steps",
        "1",
        "--scheduler",
        "accelerated-ddim",
        "--upscale",
        "2",
        "--fps",
        "4",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    record = sidecar(out)
    assert record["results"] == {
        "frames": 64,
        "height": 64,
        "width": 64,
        "scheduler_class": "AcceleratedDDIMScheduler",
    }
    assert record["settings"]["schedule"].startswith("# A ShapesWorld prompt schedule")
    assert record["files"] == [{"path": out.name, "bytes": out.stat().st_size}] and leftovers(tmp_path) == []


def test_video_command_errors(tmp_path, capsys):
    out = str(tmp_path / "x.mp4")
    assert main(["video", "--prompt", "a red circle", "--frames", "-2", "--out", out]) == 2
    assert "error: --frames: must be an integer from 1 to 4096, got -2" in capsys.readouterr().err
    assert main(["video", "--prompt", "a", "--schedule", "s.txt", "--out", out]) == 2
    assert "--prompt: give exactly one of prompt and schedule" in capsys.readouterr().err
    assert main(["video", "--prompt", "a red circle", "--out", str(tmp_path / "x.avi")]) == 2
    assert "--out: unknown video format '.avi'" in capsys.readouterr().err
    # a missing model: the job fails with the loader's message, nothing is written
    assert (
        main(["video", "--prompt", "a red circle", "--model", str(tmp_path / "no-model"), "--out", out, "--quiet"])
        == 1
    )
    assert "no such directory" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    with pytest.raises(SystemExit) as exit_info:
        main(["video", "--prompt", "a", "--steps", "many", "--out", out])
    assert exit_info.value.code == 2 and "--steps: invalid int value" in capsys.readouterr().err
    assert main(["video", "--prompt", "a", "--tiara", '{"alpha": 5, "band": [4, 2]}', "--out", out]) == 2
    assert "error: --tiara:" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["video", "--prompt", "a red circle", "--device", "cuda", "--out", out]) == 2
        assert "no CUDA device is available" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_video_shorter_than_the_window_is_one_pass(tmp_path):
    out = tmp_path / "short"
    assert (
        main(["video", "--prompt", "a red circle", "--frames", "8", "--steps", "2", "--quiet", "--out", str(out)]) == 0
    )
    pipe = stored_sampler_pipeline()
    guidance = sampling_defaults("shapesworld-t2v")["guidance"]  # the CLI uses the model's stored guidance
    expected = pipe(
        "a red circle",
        num_frames=8,
        num_inference_steps=2,
        windows=False,
        tiara={"alpha": 5.0},
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(0),
        output_type="pt",
    ).frames[0]
    assert np.array_equal(np.stack([iio.imread(p) for p in sorted(out.iterdir())]), to_uint8_frames(expected))


def test_tiara_and_prompt_blend_settings_reach_the_sidecar(tmp_path):
    out = tmp_path / "x.gif"
    args = [
        "video",
        "--schedule",
        '{"0": "a red circle", "8": "a blue circle"}',
        "--tiara",
        '{"alpha": 3, "adaptive": false}',
        "--blend-steps",
        "0,0.5",
        "--no-prompt-blend",
        "--out",
        str(out),
    ]
    assert main(args + FAST_VIDEO) == 2  # --schedule on the command line is a file
    schedule = tmp_path / "s.json"
    schedule.write_text('{"0": "a red circle", "8": "a blue circle"}')
    args[2] = str(schedule)
    assert main(args + FAST_VIDEO) == 0
    settings = sidecar(out)["settings"]
    assert settings["tiara"] == {"alpha": 3.0, "adaptive": False} and settings["blend_steps"] == [0.0, 0.5]
    assert settings["prompt_blend"] is False and settings["schedule"] == {"0": "a red circle", "8": "a blue circle"}


def test_restore_simulate_then_restore_from_the_saved_measurement(tmp_path, examples_dir):
    image = examples_dir / "images" / "shapesworld_circle.png"
    first = tmp_path / "sim"
    assert (
        main(["restore", "--image", str(image), "--operator", "sr4", "--simulate", "--out", str(first)] + FAST_RESTORE)
        == 0
    )
    names = sorted(p.name for p in first.iterdir())
    assert names == [
        "mean.png",
        "measurement.npy",
        "measurement.png",
        "sample_000.png",
        "sample_001.png",
        "std.png",
        "truth.png",
    ]
    assert np.load(first / "measurement.npy").shape == (1, 3, 8, 8)
    record = sidecar(first)
    assert record["results"]["operator_config"] == {"factor": 4, "method": "average", "noise_std": 0.05}
    assert record["results"]["model_evals"] == 2 + 4 and 10 < record["results"]["psnr_mean_db"] < 60
    second = tmp_path / "real"
    args = [
        "restore",
        "--image",
        str(first / "measurement.npy"),
        "--operator",
        "sr4",
        "--method",
        "dps",
        "--steps",
        "3",
        "--out",
        str(second),
    ]
    assert main(args + FAST_RESTORE) == 0
    assert "truth.png" not in {p.name for p in second.iterdir()} and sidecar(second)["results"]["model_evals"] == 3


@pytest.mark.parametrize("operator", ["inpaint-random", "motion-blur", "phase-retrieval", "1bit"])
def test_restore_operators(tmp_path, examples_dir, operator):
    image = examples_dir / "images" / "shapesworld_square.png"
    out = tmp_path / operator
    assert (
        main(
            [
                "restore",
                "--image",
                str(image),
                "--operator",
                operator,
                "--simulate",
                "--noise",
                "0.1",
                "--out",
                str(out),
            ]
            + FAST_RESTORE
        )
        == 0
    )
    config = sidecar(out)["results"]["operator_config"]
    assert config.get("noise_std", config.get("scale")) == 0.1
    if operator == "1bit":  # a black-and-white measurement picture is read back as the same signs
        again = tmp_path / "again"
        assert (
            main(
                ["restore", "--image", str(out / "measurement.png"), "--operator", "1bit", "--out", str(again)]
                + FAST_RESTORE
            )
            == 0
        )
        assert np.array_equal(np.load(again / "measurement.npy"), np.load(out / "measurement.npy"))


def test_restore_command_errors(tmp_path, examples_dir, capsys):
    broken = tmp_path / "broken.png"
    broken.write_text("not a picture")
    out = str(tmp_path / "out")
    assert main(["restore", "--image", str(broken), "--operator", "blur", "--out", out]) == 2
    assert "error: --image: could not read" in capsys.readouterr().err
    assert main(["restore", "--image", str(tmp_path / "none.png"), "--operator", "blur", "--out", out]) == 2
    assert "--image: no such file" in capsys.readouterr().err
    image = str(examples_dir / "images" / "shapesworld_circle.png")
    assert (
        main(["restore", "--image", image, "--operator", "blur", "--operator-options", '{"sigma": 0}', "--out", out])
        == 2
    )
    assert "--operator-options:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["restore", "--image", image, "--operator", "sr8", "--out", out])
    assert "invalid choice: 'sr8'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def write_jobs(tmp_path, jobs, defaults=None) -> Path:
    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps(
            {
                "defaults": {
                    "frames": 16,
                    "steps": 2,
                    "samples": 1,
                    "etas": "0.5,0.2",
                    "dds_steps": 2,
                    "warm_steps": 2,
                    **(defaults or {}),
                },
                "jobs": jobs,
            }
        )
    )
    return path


def good_and_bad_jobs(examples_dir):
    image = str(examples_dir / "images" / "shapesworld_circle.png")
    return [
        {"name": "v1", "prompt": "a red circle moving right"},
        {"name": "bad-frames", "prompt": "a red circle", "frames": -4},
        {"name": "r1", "image": image, "operator": "blur", "simulate": True},
        {"name": "no-model", "prompt": "a red circle", "model": "./models/none"},
        {"name": "v2", "prompt": "a blue square moving up", "format": "gif"},
    ]


def test_render_reports_bad_jobs_and_finishes_the_good_ones(tmp_path, examples_dir, capsys):
    out = tmp_path / "out"
    assert (
        main(["render", str(write_jobs(tmp_path, good_and_bad_jobs(examples_dir))), "--out", str(out), "--quiet"]) == 1
    )
    captured = capsys.readouterr()
    assert "job 2 ('bad-frames'), field 'frames': must be an integer from 1 to 4096, got -4" in captured.err
    assert "no-model: ModelNotFoundError" in captured.err
    rows = {r["job"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    assert [rows[n]["status"] for n in ("v1", "r1", "v2", "no-model")] == ["done", "done", "done", "failed"]
    assert rows["job 2 ('bad-frames')"]["status"] == "invalid"
    for name in ("v1.mp4", "r1", "v2.gif"):
        assert sidecar(out / name)["status"] == "complete"
    assert "3 done, 1 failed, 1 invalid" in captured.out and "bad-frames" in captured.out
    assert leftovers(out) == []


def test_check_only_validates(tmp_path, examples_dir, capsys):
    assert (
        main(
            [
                "render",
                str(write_jobs(tmp_path, good_and_bad_jobs(examples_dir))),
                "--out",
                str(tmp_path / "o"),
                "--check",
            ]
        )
        == 1
    )
    text = capsys.readouterr()
    assert "ok: job 5 'v2' (video)" in text.out and "bad-frames" in text.err and not (tmp_path / "o").exists()


def test_example_job_files_are_valid(examples_dir, tmp_path):
    files = sorted((examples_dir / "jobs").glob("*.*"))
    assert files
    for path in files:
        assert main(["render", str(path), "--out", str(tmp_path), "--check"]) == 0, path


def test_malformed_job_file_runs_nothing(tmp_path, capsys):
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  - prompt: [unclosed\n")
    assert main(["render", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "is not valid YAML" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_resume_skips_complete_jobs_and_redoes_changed_or_damaged_ones(tmp_path, capsys):
    jobs = [{"name": f"v{i}", "prompt": "a red circle moving right", "seed": i} for i in range(3)]
    path, out = write_jobs(tmp_path, jobs), tmp_path / "out"
    assert main(["render", str(path), "--out", str(out), "--quiet"]) == 0
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert main(["render", str(path), "--out", str(out), "--quiet", "--resume"]) == 0
    assert "3 skipped" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != "summary.json"} == {
        k: v for k, v in stamps.items() if k != "summary.json"
    }

    jobs[0]["seed"] = 7  # changed settings
    path = write_jobs(tmp_path, jobs)
    (out / "v1.mp4").write_bytes(b"truncated")  # damaged output
    record = sidecar(out / "v2.mp4")
    record["files"][0]["bytes"] += 1  # a sidecar that does not match its output
    (out / "v2.mp4.json").write_text(json.dumps(record))
    assert main(["render", str(path), "--out", str(out), "--quiet", "--resume"]) == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [r["status"] for r in rows] == ["done", "done", "done"] and sidecar(out / "v0.mp4")["seed"] == 7

    (out / "v2.mp4.json").write_text('{"status": "comp')  # not a sidecar plugdiff could have written: hands off
    assert main(["render", str(path), "--out", str(out), "--quiet", "--resume"]) == 1
    assert "v2.mp4 exists and was not written by plugdiff" in capsys.readouterr().err
    assert (out / "v2.mp4.json").read_text() == '{"status": "comp'


def test_ctrl_c_leaves_no_half_written_file_and_resume_finishes(tmp_path, monkeypatch, capsys):
    import plugdiff.media.video_io as video_io

    real_write = video_io._write_mp4
    calls = []

    def write_then_interrupt(array, path, fps):
        calls.append(path)
        if len(calls) == 2:  # Ctrl-C in the middle of writing the second video
            path.write_bytes(b"half a video")
            raise KeyboardInterrupt
        real_write(array, path, fps)

    monkeypatch.setattr(video_io, "_write_mp4", write_then_interrupt)
    path, out = (
        write_jobs(tmp_path, [{"name": f"v{i}", "prompt": "a red circle", "seed": i} for i in range(3)]),
        tmp_path / "out",
    )
    assert main(["render", str(path), "--out", str(out), "--quiet"]) == 130
    assert "rerun with --resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["v0.mp4", "v0.mp4.json"]  # no partial v1, no temporary file
    monkeypatch.setattr(video_io, "_write_mp4", real_write)
    assert main(["render", str(path), "--out", str(out), "--quiet", "--resume"]) == 0
    assert [r["status"] for r in json.loads((out / "summary.json").read_text())["rows"]] == ["skipped", "done", "done"]


def test_a_folder_plugdiff_did_not_write_is_never_replaced(tmp_path, examples_dir, capsys):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "holiday.jpg").write_bytes(b"precious")
    image = str(examples_dir / "images" / "shapesworld_circle.png")
    assert (
        main(["restore", "--image", image, "--operator", "blur", "--simulate", "--out", str(out)] + FAST_RESTORE) == 1
    )
    assert (
        "was not written by plugdiff" in capsys.readouterr().err and (out / "holiday.jpg").read_bytes() == b"precious"
    )


def test_render_ends_the_launch_process_group_on_every_way_out(tmp_path, monkeypatch):
    """Under a launcher each process tears its process group down before it exits (a process
    exiting with torch.distributed's threads alive can abort), also when the job file is bad."""
    import torch.distributed as dist

    monkeypatch.setenv("WORLD_SIZE", "1")
    bad = tmp_path / "jobs.json"
    bad.write_text("[{")
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert main(["render", str(bad), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_a_launched_process_leaves_with_its_exit_code_and_its_messages(tmp_path):
    """Under a launcher ``python -m plugdiff`` ends with os._exit: the exit code and what was
    printed must still come out (here: a bad job file, checked without torch)."""
    bad = tmp_path / "jobs.json"
    bad.write_text("[{")
    env = {**os.environ, "WORLD_SIZE": "2", "RANK": "0"}
    command = [sys.executable, "-m", "plugdiff", "render", str(bad), "--out", str(tmp_path / "out"), "--check"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and str(bad) in result.stderr


def test_two_processes_render_each_job_exactly_once(tmp_path, examples_dir):
    """torchrun with 2 CPU processes (accelerate launch --cpu starts only one): PartialState
    splits the jobs, every job is rendered by exactly one process, process 0 writes the summary."""
    image = str(examples_dir / "images" / "shapesworld_square.png")
    jobs = [{"name": f"v{i}", "prompt": "a red circle moving right", "seed": i} for i in range(3)]
    jobs.append({"name": "r", "image": image, "operator": "inpaint-box", "simulate": True})
    path, out = write_jobs(tmp_path, jobs), tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a free port for the processes to meet on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        str(port),
        "-m",
        "plugdiff",
        "render",
        str(path),
        "--out",
        str(out),
        "--quiet",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [r["job"] for r in rows] == ["v0", "v1", "v2", "r"] and {r["status"] for r in rows} == {"done"}
    assert {r["process"] for r in rows} == {0, 1}
    for row in rows:
        assert sidecar(Path(row["output"]))["process"] == row["process"]
    assert result.stdout.count("4 done") == 1  # one summary, from process 0
