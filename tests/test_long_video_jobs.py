"""The long-video host in job files and on the command line: the fields, their checks (each error
names its field) and what the renderer passes to the pipeline. No model is loaded."""

import pytest

from plugdiff.apps.cli import main
from plugdiff.apps.jobs import JobError, make_job
from plugdiff.apps.video import _long_video, _windows


def job(**values):
    return make_job("video", {"prompt": "a red circle", **values}, label="video")


def test_hosts_and_what_the_pipeline_gets():
    windows = job()
    assert windows.settings["long_video"] == "windows" and windows.settings["fifo_lookahead"] is True
    assert _long_video(windows.settings) is None
    assert _windows(windows.settings) == {"context_length": 16, "context_stride": 4}
    fifo = job(long_video="fifo", steps=32, fifo_lookahead=False)
    assert _long_video(fifo.settings) == {"host": "fifo", "window": 16, "lookahead": False}
    assert _windows(fifo.settings) is None
    freelong = job(long_video="freelong", window=8, stride=2, frames=7)
    assert _long_video(freelong.settings) == {"host": "freelong", "local_frames": 8, "local_stride": 2}
    assert _windows(freelong.settings) is None  # shorter than a window: FreeLong leaves it alone


@pytest.mark.parametrize(
    "values, field, message",
    [
        (dict(long_video="stream"), "long_video", "must be one of windows, fifo, freelong"),
        (dict(long_video="fifo", steps=25), "steps", "25 steps is not a multiple of window=16; use 16 or 32 steps"),
        (dict(long_video="fifo", window=5, steps=10), "window", "even window"),
        (dict(long_video="fifo", window=1, stride=1, steps=4), "window", "at least 2"),
        (dict(long_video="fifo", steps=32, scheduler="dpm-solver"), "scheduler", "keeps memory of earlier steps"),
        (dict(long_video="fifo", steps=32, scheduler="accelerated-ddim"), "scheduler", "accelerated-ddpm"),
        (dict(fifo_lookahead="yes"), "fifo_lookahead", "must be True or False"),
        (dict(long_video="fifo", steps=16, tiara={"window_length": 9}, window=8), "tiara", "window_length"),
    ],
)
def test_each_mistake_names_its_field(values, field, message):
    with pytest.raises(JobError, match=message) as info:
        job(**values)
    assert info.value.field == field


def test_fifo_with_odd_window_without_lookahead_and_steps_that_fit():
    assert job(long_video="fifo", window=5, steps=10, fifo_lookahead=False, tiara=0).settings["window"] == 5


def test_command_line_flags(capsys, tmp_path):
    out = str(tmp_path / "clip.mp4")
    assert main(["video", "--prompt", "a red circle", "--long-video", "fifo", "--steps", "20", "--out", out]) == 2
    assert "--steps: FIFO-Diffusion takes partitions x window denoising steps" in capsys.readouterr().err
    assert (
        main(
            [
                "video",
                "--prompt",
                "a red circle",
                "--long-video",
                "fifo",
                "--steps",
                "32",
                "--scheduler",
                "unipc",
                "--out",
                out,
            ]
        )
        == 2
    )
    assert "--scheduler: 'unipc' keeps memory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["video", "--prompt", "a red circle", "--long-video", "stream", "--out", out])
    assert "invalid choice: 'stream'" in capsys.readouterr().err


def test_web_ui_action_takes_the_host_and_names_the_field(tmp_path):
    from plugdiff.apps.demo_actions import DemoInputError, DemoSession

    session = DemoSession(work_dir=tmp_path)
    with pytest.raises(DemoInputError, match="^steps: FIFO-Diffusion takes partitions x window denoising steps"):
        session.video([[0, "a red circle"]], long_video="fifo", steps=20)
    with pytest.raises(DemoInputError, match="^long_video: must be one of windows, fifo, freelong"):
        session.video([[0, "a red circle"]], long_video="stream")
