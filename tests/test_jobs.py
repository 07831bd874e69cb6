"""Job files: defaults and overrides, kind inference, relative paths, and an error that names the
job and the field for each kind of mistake."""

import json

import pytest

from plugdiff.apps.jobs import JobError, JobFileError, load_jobs, make_job, parse_jobs

IMAGE = "../images/shapesworld_circle.png"


def write(tmp_path, text, name="jobs.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_apply_per_kind_and_jobs_override(tmp_path, examples_dir):
    data = {
        "defaults": {"seed": 3, "frames": 32, "samples": 2},
        "jobs": [
            {"prompt": "a red circle moving right"},
            {"name": "long", "prompt": "a red circle moving right", "frames": 128, "seed": 5},
            {"image": str(examples_dir / "images" / "shapesworld_circle.png"), "operator": "sr4"},
        ],
    }
    jobs, errors = parse_jobs(data)
    assert errors == []
    first, second, third = jobs
    assert (first.kind, first.name, first.settings["frames"], first.settings["seed"]) == ("video", "job-001", 32, 3)
    assert (second.name, second.settings["frames"], second.settings["seed"]) == ("long", 128, 5)
    assert third.kind == "restore" and third.settings["samples"] == 2 and "frames" not in third.settings
    assert first.output_name() == "job-001.mp4" and third.output_name() == "job-003"
    assert first.settings["tiara"] == {"alpha": 5.0} and first.settings["model"] == "shapesworld-t2v"


def test_paths_are_relative_to_the_job_file(tmp_path, examples_dir):
    folder = tmp_path / "nested"
    folder.mkdir()
    (folder / "travel.txt").write_text("0: a red circle\n8: a blue circle\n")
    image = examples_dir / "images" / "shapesworld_circle.png"
    (folder / "in.png").write_bytes(image.read_bytes())
    path = write(folder, "jobs:\n  - {schedule: travel.txt, frames: 16}\n  - {image: in.png, operator: blur}\n")
    (video, restore), errors = load_jobs(path)
    assert errors == []
    assert video.settings["schedule"] == "0: a red circle\n8: a blue circle\n"  # the content, recorded in the sidecar
    assert restore.settings["image"] == str((folder / "in.png").resolve())


@pytest.mark.parametrize(
    ("job", "field", "message"),
    [
        ({"prompt": "a red circle", "frames": -3}, "frames", "must be an integer from 1 to 4096, got -3"),
        ({"prompt": "a red circle", "frames": 2.5}, "frames", "must be an integer from 1 to 4096"),
        ({"prompt": "a red circle", "frame": 16}, "frame", "unknown field (did you mean 'frames'?)"),
        ({"prompt": "a red circle", "schedule": {0: "a"}}, "prompt", "exactly one of prompt and schedule"),
        ({"schedule": {0: "a", 40: "b"}, "frames": 32}, "schedule", "outside [0, num_frames=32)"),
        ({"schedule": "missing.txt"}, "schedule", "could not read the schedule file"),
        ({"prompt": "x", "stride": 20}, "stride", "must not exceed window=16"),
        ({"prompt": "x", "size": "30x32"}, "size", "multiples of 8"),
        ({"prompt": "x", "tiara": {"alpha": 5, "strength": 1}}, "tiara", "allowed keys: alpha"),
        ({"prompt": "x", "tiara": -1}, "tiara", "must be a finite number >= 0"),
        ({"prompt": "x", "tiara": {"alpha": 5, "window_length": 0}}, "tiara", "window_length"),
        ({"prompt": "x", "tiara": {"alpha": 5, "window_length": 9}, "frames": 8}, "tiara", "larger than the 8 frames"),
        ({"prompt": "x", "blend_steps": [0.5, 0.1]}, "blend_steps", "step_range"),
        ({"prompt": "x", "blend_steps": "0.1"}, "blend_steps", "must be two fractions"),
        ({"prompt": "x", "format": "avi"}, "format", "must be one of mp4, gif, webp, png"),
        ({"prompt": "x", "scheduler": "heun"}, "scheduler", "must be one of default, ddim"),
        ({"prompt": "x", "prompt_blend": "yes"}, "prompt_blend", "must be True or False"),
        ({"prompt": "x", "name": "../escape"}, "name", "must be a file name"),
        ({"prompt": "x", "model": "animatediff-sd15"}, "model", "is not on this machine; get it with: hf download"),
        ({"prompt": "x", "kind": "audio"}, "kind", "must be one of video, restore"),
        ({"frames": 16}, "kind", "say `kind: video` or `kind: restore`"),
        ({"image": "nope.png", "operator": "sr4"}, "image", "no such file"),
        ({"image": "jobs.yaml", "operator": "sr4"}, "image", "could not read"),
        ({"image": IMAGE, "operator": "sr3"}, "operator", "must be one of sr4, sr2"),
        ({"image": IMAGE}, "operator", "required for restore jobs"),
        ({"image": IMAGE, "operator": "phase-retrieval"}, "image", "measures Fourier magnitudes, not a picture"),
        ({"image": IMAGE, "operator": "blur", "operator_options": {"sigma": -1}}, "operator_options", "sigma"),
        (
            {"image": IMAGE, "operator": "blur", "operator_options": {"radius": 2}},
            "operator_options",
            "unknown argument 'radius'",
        ),
        ({"image": IMAGE, "operator": "sr4", "etas": "fast"}, "etas", "unknown annealing preset"),
        ({"image": IMAGE, "operator": "sr4", "etas": [0.2, 0.5]}, "etas", "non-increasing"),
        ({"image": IMAGE, "operator": "sr4", "samples": 0}, "samples", "must be an integer from 1 to 256, got 0"),
    ],
)
def test_each_mistake_names_the_job_and_field(tmp_path, examples_dir, job, field, message, monkeypatch):
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    (tmp_path / "jobs").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "shapesworld_circle.png").write_bytes(
        (examples_dir / "images" / "shapesworld_circle.png").read_bytes()
    )
    path = tmp_path / "jobs" / "jobs.yaml"
    path.write_text(json.dumps({"jobs": [{"prompt": "a good job"}, {"name": "bad", **job}]}))
    good, errors = load_jobs(path)
    assert [j.name for j in good] == ["job-001"]  # the good job survives its bad neighbour
    (error,) = errors
    assert isinstance(error, JobError) and error.label.startswith("job 2") and error.field == field
    assert message in error.message, error.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jobs: [ {prompt: a red circle\n", "is not valid YAML"),
        ("- just\n- strings\n", "job 1"),  # a list of non-mappings: each job is reported, not the file
        ("jobz: []\n", "unknown top-level key 'jobz'"),
        ("jobs: []\n", "'jobs' must be a non-empty list"),
        ("defaults: {frame: 3}\njobs: [{prompt: x}]\n", "defaults: unknown field 'frame'"),
        ("42\n", "expected a mapping with 'jobs'"),
    ],
)
def test_malformed_files(tmp_path, text, message):
    path = write(tmp_path, text)
    try:
        _, errors = load_jobs(path)
    except JobFileError as err:
        assert message in str(err)
    else:
        assert errors and message in str(errors[0])


def test_json_job_files_and_duplicate_outputs(tmp_path):
    path = write(
        tmp_path,
        json.dumps(
            [{"name": "a", "prompt": "x"}, {"name": "a", "prompt": "y"}, {"name": "a", "prompt": "z", "format": "gif"}]
        ),
        "jobs.json",
    )
    jobs, errors = load_jobs(path)
    assert [j.output_name() for j in jobs] == ["a.mp4", "a.gif"]
    assert len(errors) == 1 and errors[0].field == "name" and "already writes 'a.mp4'" in errors[0].message
    with pytest.raises(JobFileError, match="not valid JSON"):
        load_jobs(write(tmp_path, "{nope", "bad.json"))


def test_make_job_for_the_command_line():
    from plugdiff.weights import sampling_defaults

    job = make_job("video", {"prompt": "a red circle", "frames": 8, "name": "clip"}, label="video")
    assert job.output_name() == "clip.mp4" and job.settings["steps"] == sampling_defaults("shapesworld-t2v")["steps"]
    with pytest.raises(JobError, match="video, field 'steps': must be an integer from 1 to 1000, got 0"):
        make_job("video", {"prompt": "a red circle", "steps": 0}, label="video")
