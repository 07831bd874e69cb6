"""The CLI never loses a user's file, never reports a broken output as done, and refuses absurd
work up front (before memory is allocated or a model runs)."""

import json
import os
import time
from pathlib import Path

import pytest
import torch

from plugdiff.apps.cli import main

FAST_RESTORE = {"operator": "blur", "simulate": True, "samples": 1, "etas": "0.5,0.2", "dds_steps": 1}
FAST_VIDEO = {"prompt": "a red circle", "frames": 8, "window": 8, "stride": 4, "steps": 1}


def jobs_file(folder: Path, jobs: list, name: str = "jobs.json") -> Path:
    path = folder / name
    path.write_text(json.dumps({"jobs": jobs}))
    return path


@pytest.fixture
def image(examples_dir) -> str:
    return str(examples_dir / "images" / "shapesworld_circle.png")


def test_a_folder_beside_someone_elses_json_is_never_replaced(tmp_path, image, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "important.txt").write_text("keep")
    (tmp_path / "data.json").write_text('{"my": 1}')
    path = jobs_file(tmp_path, [{"name": "data", "image": image, **FAST_RESTORE}])
    assert main(["render", str(path), "--out", str(tmp_path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'data'} exists and was not written by plugdiff" in err and "move it away" in err
    assert (tmp_path / "data" / "important.txt").read_text() == "keep" and (
        tmp_path / "data.json"
    ).read_text() == '{"my": 1}'


@pytest.mark.parametrize("existing", ["clip.mp4", "clip.mp4.json"])
def test_a_video_or_sidecar_plugdiff_did_not_write_is_never_overwritten(tmp_path, existing, capsys):
    (tmp_path / existing).write_bytes(b"someone else's")
    assert (
        main(
            [
                "video",
                "--out",
                str(tmp_path / "clip.mp4"),
                "--prompt",
                "a red circle",
                "--frames",
                "8",
                "--window",
                "8",
                "--steps",
                "1",
                "--quiet",
            ]
        )
        == 1
    )
    assert "was not written by plugdiff" in capsys.readouterr().err
    assert (tmp_path / existing).read_bytes() == b"someone else's" and len(list(tmp_path.iterdir())) == 1


def test_a_failed_encoder_keeps_the_previous_video_and_fails_the_job(tmp_path, monkeypatch, capsys):
    import plugdiff.media.video_io as video_io

    out = tmp_path / "out"
    path = jobs_file(tmp_path, [{"name": "v", **FAST_VIDEO}])
    assert main(["render", str(path), "--out", str(out), "--quiet"]) == 0
    good = (out / "v.mp4").read_bytes()
    sidecar = (out / "v.mp4.json").read_text()
    real = video_io._write_mp4
    for broken in (
        lambda array, p, fps: None,
        lambda array, p, fps: p.write_bytes(b"\0" * 100),
        lambda array, p, fps: real(array[:-1], p, fps),
    ):  # nothing, garbage, a frame short
        monkeypatch.setattr(video_io, "_write_mp4", broken)
        path = jobs_file(tmp_path, [{"name": "v", **FAST_VIDEO, "seed": 5}])
        assert main(["render", str(path), "--out", str(out), "--quiet", "--resume"]) == 1
        assert "error: v: OSError" in capsys.readouterr().err
        assert (out / "v.mp4").read_bytes() == good and (out / "v.mp4.json").read_text() == sidecar
        assert json.loads((out / "summary.json").read_text())["rows"][0]["status"] == "failed"
        monkeypatch.setattr(video_io, "_write_mp4", real)
    assert [str(p) for p in out.rglob(".*")] == []
    assert main(["render", str(path), "--out", str(out), "--quiet", "--resume"]) == 0  # the encoder works again
    assert json.loads((out / "v.mp4.json").read_text())["seed"] == 5


def test_non_finite_results_are_not_written(tmp_path, monkeypatch, capsys):
    from plugdiff.apps.video import VideoRenderer

    real = VideoRenderer.__call__

    def diverged(self, settings, generator):
        rendered = real(self, settings, generator)
        rendered.media[0, 0, 0, 0] = float("nan")
        return rendered

    monkeypatch.setattr(VideoRenderer, "__call__", diverged)
    out = tmp_path / "v.mp4"
    assert (
        main(
            [
                "video",
                "--out",
                str(out),
                "--prompt",
                "a red circle",
                "--frames",
                "8",
                "--window",
                "8",
                "--steps",
                "1",
                "--quiet",
            ]
        )
        == 1
    )
    assert "holds NaN or infinite values" in capsys.readouterr().err and list(tmp_path.iterdir()) == []


def test_a_job_may_not_write_the_batch_summary(tmp_path, image):
    from plugdiff.apps.jobs import load_jobs

    jobs, errors = load_jobs(
        jobs_file(
            tmp_path,
            [
                {"name": "summary", "image": image, **FAST_RESTORE},
                {"name": "summary", "prompt": "x", "format": "png"},
                {"name": "summary", "prompt": "x"},
            ],
        )
    )
    assert [j.output_name() for j in jobs] == ["summary.mp4"]
    assert len(errors) == 2 and all("'summary.json', which the batch itself writes" in str(e) for e in errors)


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"prompt": "x", "frames": 1_000_000_000}, "frames", "from 1 to 4096"),
        ({"prompt": "x", "size": 100000}, "size", "from 8 to 2048"),
        ({"prompt": "x", "upscale": 100000}, "upscale", "from 1 to 16"),
        ({"prompt": "x", "steps": 10**9}, "steps", "from 1 to 1000"),
        ({"prompt": "x", "seed": 2**70}, "seed", "from 0 to 9223372036854775807"),
        ({"prompt": "x", "guidance": 1e300}, "guidance", "<= 100"),
        ({"prompt": "x", "fps": 1e300}, "fps", "<= 240"),
        ({"prompt": "x", "tiara": 1e300}, "tiara", "<= 100"),
        ({"prompt": "x", "transition": 1e300}, "transition", "<= 4096"),
        ({"prompt": "x" * 20000}, "prompt", "at most 10000 characters"),
        ({"schedule": "/dev/zero"}, "schedule", "not a regular file"),
        ({"image": "IMAGE", "operator": "sr4", "samples": 10**9}, "samples", "from 1 to 256"),
        ({"image": "IMAGE", "operator": "sr4", "dds_steps": 10**9}, "dds_steps", "from 1 to 1000"),
        ({"image": "IMAGE", "operator": "sr4", "method": "dps", "steps": 10**9}, "steps", "from 1 to 1000"),
        ({"image": "IMAGE", "operator": "sr4", "step_size": 1e300}, "step_size", "<= 100"),
        (
            {"image": "IMAGE", "operator": "blur", "operator_options": {"kernel_size": 100001}},
            "operator_options",
            "at most 256",
        ),
        ({"image": "IMAGE", "operator": "sr4", "etas": [0.5] * 5000}, "etas", "at most 1000 noise levels"),
        ({"image": "/dev/zero", "operator": "sr4"}, "image", "no such file"),
    ],
)
def test_absurd_values_are_refused_by_check(tmp_path, image, capsys, values, field, message):
    values = {k: image if v == "IMAGE" else v for k, v in values.items()}
    start = time.perf_counter()
    assert main(["render", str(jobs_file(tmp_path, [values])), "--out", str(tmp_path / "o"), "--check"]) == 1
    err = capsys.readouterr().err
    assert f"field {field!r}" in err and message in err, err
    assert len(err) < 600 and time.perf_counter() - start < 10


def test_a_big_input_image_is_refused_by_its_header(tmp_path):
    from PIL import Image

    from plugdiff.apps.jobs import load_jobs

    Image.new("1", (5000, 5000)).save(tmp_path / "huge.png")  # 25 megapixels in a few kB
    _, (error,) = load_jobs(jobs_file(tmp_path, [{"image": "huge.png", "operator": "sr4"}]))
    assert error.field == "image" and "at most 16777216" in error.message


def test_yaml_alias_bombs_and_deep_nesting_are_refused(tmp_path, capsys):
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    bomb += [
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefgh", "bcdefghi")
    ]
    cases = {
        "bomb.yaml": "\n".join(bomb) + "\njobs: [*i]\n",
        "deep.json": "[" * 100000 + "]" * 100000,
        "deep.yaml": "jobs: " + "[" * 5000 + "]" * 5000 + "\n",
        "big.yaml": "jobs: []\n" + "#" * 2_000_000,
    }
    messages = {
        "bomb.yaml": "expands to more than 100000 values",
        "deep.json": "nests deeper than 32 levels",
        "deep.yaml": "nests deeper than 32 levels",
        "big.yaml": "job files are at most 1000000 bytes",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        start = time.perf_counter()
        assert main(["render", str(tmp_path / name), "--out", str(tmp_path / "o"), "--check"]) == 2
        err = capsys.readouterr().err
        assert messages[name] in err and len(err) < 600, (name, err[:300])
        assert time.perf_counter() - start < 10, name


def test_a_huge_value_is_quoted_short():
    from plugdiff.apps.jobs import JobError, make_job

    with pytest.raises(JobError) as caught:
        make_job("video", {"prompt": "x", "frames": "9" * 100000})
    assert len(str(caught.value)) < 300


def test_a_nested_sidecar_is_not_ours_and_gives_a_clear_error(tmp_path, capsys):
    (tmp_path / "v.mp4").write_bytes(b"x")
    (tmp_path / "v.mp4.json").write_text("[" * 100000 + "]" * 100000)
    path = jobs_file(tmp_path, [{"name": "v", **FAST_VIDEO}])
    assert main(["render", str(path), "--out", str(tmp_path), "--quiet", "--resume"]) == 1
    assert "v.mp4 exists and was not written by plugdiff" in capsys.readouterr().err


def test_the_output_folder_is_checked_before_any_work(tmp_path, capsys, monkeypatch):
    import plugdiff.apps.batch as batch

    monkeypatch.setattr(batch.Renderers, "get", lambda *a: pytest.fail("rendered although --out is unusable"))
    path = jobs_file(tmp_path, [{"name": "v", **FAST_VIDEO}])
    (tmp_path / "file").write_text("not a folder")
    assert main(["render", str(path), "--out", str(tmp_path / "file"), "--quiet"]) == 2
    assert "--out: " in capsys.readouterr().err and (tmp_path / "file").read_text() == "not a folder"
    assert main(["render", str(path), "--out", "/proc/plugdiff-cannot-write-here", "--quiet"]) == 2
    assert "--out: cannot write into /proc/plugdiff-cannot-write-here" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes into read-only folders
        (tmp_path / "ro").mkdir(mode=0o555)
        assert main(["render", str(path), "--out", str(tmp_path / "ro"), "--quiet"]) == 2
        assert "--out: cannot write into" in capsys.readouterr().err


def test_a_job_bigger_than_memory_is_refused_before_it_renders(tmp_path, capsys, monkeypatch):
    import plugdiff.apps.batch as batch

    monkeypatch.setattr(batch, "available_memory", lambda: 2**30)
    args = [
        "video",
        "--prompt",
        "x",
        "--frames",
        "4096",
        "--size",
        "2048",
        "--upscale",
        "16",
        "--window",
        "16",
        "--quiet",
    ]
    start = time.perf_counter()
    assert main([*args, "--out", str(tmp_path / "v")]) == 1  # PNG frames: 32768-pixel sides are too large for MP4
    err = capsys.readouterr().err
    assert "GiB of memory" in err and "1.0 GiB are available" in err and "--no-memory-check" in err
    assert time.perf_counter() - start < 30 and list(tmp_path.iterdir()) == []


def test_seeds_up_to_the_bound_work():
    from plugdiff.apps import fields

    torch.Generator().manual_seed(fields.SEED_MAX)


# Every value --check accepts can be written: what used to render first and fail at write time.
CJK_NAME = "\u4e2d" * 200  # 200 characters, 600 bytes: over the 255 bytes a file name may take


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"name": "a\u0000b"}, "name", "no control characters"),
        ({"name": "tab\there"}, "name", "no control characters"),
        ({"name": CJK_NAME}, "name", "at most 200 bytes); it takes 600 bytes"),
        ({"name": "bad\ud800"}, "name", "holds characters no file name can"),
        ({"fps": 1e-300}, "fps", "must be a finite number >= 0.01 and <= 240"),
        ({"fps": 0.001}, "fps", "must be a finite number >= 0.01 and <= 240"),
        (
            {"size": 1024, "upscale": 16, "format": "webp"},
            "upscale",
            "too large for .webp files (at most 16383 pixels",
        ),
        ({"size": 1536, "upscale": 16}, "upscale", "too large for .mp4 files (at most 16384 pixels"),
    ],
)
def test_check_refuses_what_the_write_would_refuse(tmp_path, capsys, values, field, message):
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"jobs": [{**FAST_VIDEO, **values}]}))  # JSON escapes the NUL and the surrogate
    assert main(["render", str(path), "--out", str(tmp_path / "o"), "--check"]) == 1
    err = capsys.readouterr().err
    assert f"field {field!r}" in err and message in err, err
    assert len(err) < 600


def test_the_longest_name_and_the_extreme_frame_rates_check_accepts_are_written(tmp_path, capsys):
    from plugdiff.apps.jobs import load_jobs
    from plugdiff.media.video_io import MAX_FPS, MIN_FPS

    name = "\u4e2d" * 66 + "ab"  # 200 bytes exactly
    jobs = [
        {**FAST_VIDEO, "name": name, "format": fmt, "fps": fps}
        for fmt, fps in (("mp4", MIN_FPS), ("gif", MIN_FPS), ("webp", MAX_FPS), ("png", MIN_FPS))
    ]
    jobs = [{**job, "name": f"{job['name'][:-1]}{i}"} for i, job in enumerate(jobs)]
    path = tmp_path / "jobs.json"
    path.write_text(json.dumps({"jobs": jobs}))
    valid, errors = load_jobs(path)
    assert len(valid) == 4 and errors == []
    out = tmp_path / "out"
    assert main(["render", str(path), "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir() if not p.name.endswith(".json")) == sorted(
        j.output_name() for j in valid
    )


def test_names_are_checked_against_the_output_folders_file_system(tmp_path, capsys, monkeypatch):
    """A file system that takes shorter names than 255 bytes (eCryptfs: 143) is asked for its
    limit: a name that fits the field's 200 bytes but not that file system is refused by --check."""
    import plugdiff.apps.jobs as jobs_module

    monkeypatch.setattr(
        jobs_module.os, "pathconf", lambda path, name: 143 if name == "PC_NAME_MAX" else os.pathconf(path, name)
    )
    path = jobs_file(tmp_path, [{**FAST_VIDEO, "name": "x" * 130}, {**FAST_VIDEO, "name": "short"}])
    assert main(["render", str(path), "--out", str(tmp_path / "not-yet" / "o"), "--check"]) == 1
    captured = capsys.readouterr()
    assert (
        "field 'name': too long for the file system" in captured.err and "makes names of 148 bytes" in captured.err
    )  # .<name>.mp4.XXXXXXXX.mp4
    assert "at most 143 bytes per name" in captured.err and "ok: job 2 'short'" in captured.out


def test_a_schedule_of_ten_thousand_key_frames_is_refused_in_one_short_line(tmp_path, capsys):
    (tmp_path / "travel.txt").write_text("\n".join(f"{i}: a red circle" for i in range(10_000)))
    (tmp_path / "late.txt").write_text("\n".join(f"{i}: a red circle" for i in range(1000)))
    path = jobs_file(tmp_path, [{"schedule": "travel.txt", "frames": 64}, {"schedule": "late.txt", "frames": 64}])
    assert main(["render", str(path), "--out", str(tmp_path / "o"), "--check"]) == 1
    first, second = capsys.readouterr().err.splitlines()
    assert "field 'schedule': at most 1000 prompts, got 10000" in first and len(first) < 300, first[:300]
    assert "key frame(s) [64, 65, 66, ... (936 items)] lie outside [0, num_frames=64)" in second, second[:300]
    assert len(second) < 300


def test_long_messages_are_summarised_with_a_count():
    from plugdiff.apps.fields import MAX_MESSAGE, shorten

    assert shorten("key frames [1, 2, 3]") == "key frames [1, 2, 3]"
    assert shorten(f"got {list(range(100))}") == "got [0, 1, 2, ... (100 items)]"
    long = shorten("x" * 100_000)
    assert len(long) <= MAX_MESSAGE and long.endswith("(99640 more characters)")


def test_defaults_with_a_prompt_make_name_only_jobs_video_jobs(tmp_path, image):
    from plugdiff.apps.jobs import load_jobs

    path = tmp_path / "jobs.json"
    path.write_text(
        json.dumps({"defaults": {"prompt": "a red circle", "frames": 8}, "jobs": [{"name": "a"}, {"name": "b"}]})
    )
    jobs, errors = load_jobs(path)
    assert errors == [] and [(j.kind, j.settings["prompt"]) for j in jobs] == [("video", "a red circle")] * 2
    path.write_text(
        json.dumps(
            {"defaults": {"image": image, "operator": "sr4"}, "jobs": [{"name": "r"}, {"name": "v", "prompt": "x"}]}
        )
    )
    jobs, errors = load_jobs(path)
    assert errors == [] and [j.kind for j in jobs] == ["restore", "video"]  # a job's own prompt still wins
    path.write_text(json.dumps({"defaults": {"prompt": "x", "image": image}, "jobs": [{"name": "a"}]}))
    jobs, (error,) = load_jobs(path)
    assert jobs == [] and error.field == "kind"  # both kinds' fields in the defaults: the job must say
