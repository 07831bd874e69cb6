"""Sampling settings stored with a model: read from its folder, completed with the generic ones,
and refused by key when the file is wrong."""

import json

import pytest

from plugdiff.weights import sampling_defaults
from plugdiff.weights.sampling_defaults import FILE, GENERIC


def test_a_folder_without_the_file_gets_the_generic_settings(tmp_path):
    assert sampling_defaults(tmp_path) == GENERIC
    assert sampling_defaults("org/some-hub-model") == GENERIC


def test_stored_settings_override_the_generic_ones(tmp_path):
    (tmp_path / FILE).write_text(json.dumps({"scheduler": "accelerated-ddim", "steps": 12, "source": "x.json"}))
    assert sampling_defaults(tmp_path) == {**GENERIC, "scheduler": "accelerated-ddim", "steps": 12, "source": "x.json"}


def test_a_host_entry_replaces_scheduler_and_steps_for_that_host_only(tmp_path):
    stored = {"scheduler": "accelerated-ddim", "steps": 15, "fifo": {"scheduler": "ddim", "steps": 32}}
    (tmp_path / FILE).write_text(json.dumps(stored))
    assert sampling_defaults(tmp_path) == {**GENERIC, "scheduler": "accelerated-ddim", "steps": 15}
    assert sampling_defaults(tmp_path, host="windows") == sampling_defaults(tmp_path)
    assert sampling_defaults(tmp_path, host="fifo") == {**GENERIC, "scheduler": "ddim", "steps": 32}


@pytest.mark.parametrize(
    "stored, message",
    [
        ({"step": 12}, "unknown key"),
        ({"steps": "12"}, "steps must be int"),
        ({"steps": True}, "steps must be int"),
        ({"guidance": "high"}, "guidance must be a number"),
        ({"fifo": {"steps": "32"}}, "fifo.steps must be int"),
        ({"fifo": {"guidance": 3}}, "fifo must be an object with scheduler and/or steps"),
        ({"fifo": 32}, "fifo must be an object"),
    ],
)
def test_a_wrong_file_is_refused_by_key(tmp_path, stored, message):
    (tmp_path / FILE).write_text(json.dumps(stored))
    with pytest.raises(ValueError, match=message):
        sampling_defaults(tmp_path)


def test_the_bundled_video_model_stores_what_its_main_job_was_scored_with():
    from pathlib import Path

    stored = sampling_defaults("shapesworld-t2v")
    assert {k: stored[k] for k in ("scheduler", "steps", "guidance", "transition")} == {
        "scheduler": "accelerated-ddim",
        "steps": 15,
        "guidance": 7.5,
        "transition": 4,
    }
    for source in stored["source"].split("; "):
        results = Path(__file__).resolve().parents[1] / source.split(":")[0]
        assert results.is_file(), source


def test_fifo_jobs_get_a_stored_sampler_they_can_step():
    """FIFO cannot step the bundled model's accelerated-ddim (memory of earlier calls) and needs
    steps in multiples of the window: the model stores its own FIFO entry, so a FIFO job with no
    sampler settings is valid as it stands."""
    from plugdiff.apps.jobs import make_job
    from plugdiff.apps.video import FIFO_REFUSED_SCHEDULERS

    stored = sampling_defaults("shapesworld-t2v", host="fifo")
    assert stored["scheduler"] not in FIFO_REFUSED_SCHEDULERS
    job = make_job("video", {"prompt": "a red circle moving right on a white background", "long_video": "fifo"})
    assert (job.settings["scheduler"], job.settings["steps"]) == (stored["scheduler"], stored["steps"])
    assert job.settings["steps"] % job.settings["window"] == 0


def test_video_jobs_take_the_models_stored_settings_unless_given():
    from plugdiff.apps.jobs import make_job

    stored = sampling_defaults("shapesworld-t2v")
    job = make_job("video", {"prompt": "a red circle moving right on a white background"})
    assert {k: job.settings[k] for k in ("scheduler", "steps", "guidance", "transition")} == {
        k: stored[k] for k in ("scheduler", "steps", "guidance", "transition")
    }
    given = make_job("video", {"prompt": "a red circle", "guidance": 9, "steps": 3, "scheduler": "euler"})
    assert (given.settings["guidance"], given.settings["steps"], given.settings["scheduler"]) == (9.0, 3, "euler")


def test_the_web_ui_starts_at_the_models_stored_settings():
    from plugdiff.apps.demo_actions import DemoSession

    session = DemoSession("shapesworld-t2v", "shapesworld-ddpm", device="cpu")
    try:
        assert session.video_defaults == sampling_defaults("shapesworld-t2v")
    finally:
        session.close()
