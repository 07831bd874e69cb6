"""The example scripts run as documented (against tiny local pipelines, never the hub)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from diffusers import DDPMPipeline, DDPMScheduler
from PIL import Image

from plugdiff.testing import tiny_unet2d

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_swap_scheduler_example(tmp_path, sampler):
    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler()).save_pretrained(tmp_path / "model")
    out = load_example("swap_scheduler").main(
        [str(tmp_path / "model"), "--sampler", sampler, "--steps", "3", "--out", str(tmp_path / "x.png")]
    )
    assert Image.open(out).size == (16, 16)


def test_swap_scheduler_example_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="could not load a DiffusionPipeline"):
        load_example("swap_scheduler").main([str(tmp_path / "nothing-here")])


def test_exact_score_example():
    result = load_example("exact_score_sampling").main(["--steps", "8"])
    assert result["errors"]["AcceleratedDDIMScheduler"] < result["errors"]["DDIMScheduler"]
    assert result["posterior_rmse"] < 0.1


def test_long_video_example(tmp_path):
    import json

    from plugdiff.pipelines import TiaraAnimateDiffPipeline
    from plugdiff.testing import animatediff_components

    TiaraAnimateDiffPipeline(**animatediff_components()).save_pretrained(tmp_path / "model")
    out = load_example("long_video").main(
        [
            str(tmp_path / "model"),
            "a red circle",
            "--frames",
            "40",
            "--steps",
            "1",
            "--size",
            "16",
            "--out",
            str(tmp_path / "v.mp4"),
        ]
    )
    sidecar = json.loads((tmp_path / "v.mp4.json").read_text())
    assert out.stat().st_size > 0 and sidecar["num_frames"] == 40 and sidecar["tiara"] == {"alpha": 5.0}

    out = load_example("long_video").main(
        [
            str(tmp_path / "model"),
            "--schedule",
            str(EXAMPLES / "schedules" / "three_scenes.txt"),
            "--frames",
            "96",
            "--steps",
            "1",
            "--size",
            "16",
            "--transition",
            "20",
            "--out",
            str(tmp_path / "s.gif"),
        ]
    )
    sidecar = json.loads((tmp_path / "s.gif.json").read_text())
    assert (
        out.stat().st_size > 0
        and sidecar["prompt_blend"] == {"transition": 20}
        and "80: a red circle" in sidecar["prompt"]
    )
    with pytest.raises(SystemExit):
        load_example("long_video").main([str(tmp_path / "model")])  # neither a prompt nor a schedule


def test_load_pretrained_is_offline_first(tmp_path):
    from diffusers import DDPMPipeline

    from plugdiff.weights import ModelNotFoundError, load_pretrained

    with pytest.raises(ModelNotFoundError, match="allow_download=True"):
        load_pretrained(DDPMPipeline, "google/ddpm-cifar10-32")  # a hub id, never fetched by default
    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler()).save_pretrained(tmp_path / "m")
    assert isinstance(load_pretrained(DDPMPipeline, str(tmp_path / "m")), DDPMPipeline)


def test_inverse_problem_example(tmp_path):
    import json

    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler()).save_pretrained(tmp_path / "model")
    gradient = np.linspace(0, 255, 20 * 24 * 3).reshape(20, 24, 3).astype(np.uint8)  # not square: cropped and resized
    Image.fromarray(gradient).save(tmp_path / "photo.png")
    common = ["--model", str(tmp_path / "model"), "--image", str(tmp_path / "photo.png"), "--num-samples", "2"]

    out = tmp_path / "sr"
    written = load_example("inverse_problem").main(
        common
        + [
            "--operator",
            "super_resolution",
            "--factor",
            "2",
            "--method",
            "dpnp",
            "--schedule",
            "official",
            "--dds-steps",
            "2",
            "--seed",
            "3",
            "--out",
            str(out),
        ]
    )
    assert sorted(written) == [
        "mean.png",
        "measurement.png",
        "run.json",
        "sample_000.png",
        "sample_001.png",
        "std.png",
        "truth.png",
    ]
    assert Image.open(out / "measurement.png").size == (8, 8)
    assert all(
        Image.open(out / name).size == (16, 16) for name in ("truth.png", "sample_001.png", "mean.png", "std.png")
    )
    record = json.loads((out / "run.json").read_text())
    assert (
        record["seed"] == 3 and record["operator_config"]["factor"] == 2 and record["model_evals"] == 186 + 32
    )  # the recipe's DPS warm start + 16 x 2
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left behind

    out = tmp_path / "inpaint"
    load_example("inverse_problem").main(
        common
        + [
            "--operator",
            "inpainting",
            "--operator-kwargs",
            '{"noise_std": 0.1}',
            "--method",
            "dps",
            "--dps-steps",
            "3",
            "--out",
            str(out),
        ]
    )
    record = json.loads((out / "run.json").read_text())
    assert record["operator_config"]["noise_std"] == 0.1 and record["model_evals"] == 3


def test_inverse_problem_example_bad_input_is_one_clear_error(tmp_path, capsys):
    example = load_example("inverse_problem")
    with pytest.raises(SystemExit, match="could not load a DPnPPipeline"):
        example.main(["--model", str(tmp_path / "nothing-here"), "--image", "x.png"])
    with pytest.raises(SystemExit):
        example.main(["--model", str(tmp_path), "--image", "x.png", "--operator", "inpainting", "--factor", "2"])
    assert "unknown argument 'factor' for operator 'inpainting'" in capsys.readouterr().err
    DDPMPipeline(unet=tiny_unet2d(), scheduler=DDPMScheduler()).save_pretrained(tmp_path / "model")
    with pytest.raises(SystemExit, match="--image: no such image file"):
        example.main(["--model", str(tmp_path / "model"), "--image", str(tmp_path / "missing.png")])


def test_readme_main_command_on_the_bundled_model(tmp_path):
    """The README's main job (64 frames, 25 steps) at 52 frames and 2 steps: same schedule and
    model, a 256x256 MP4 with its settings beside it."""
    import json

    import imageio.v3 as iio

    from plugdiff.weights import sampling_defaults

    transition = str(sampling_defaults("shapesworld-t2v")["transition"])  # what the CLI takes for this model
    out = load_example("long_video").main(
        [
            "shapesworld-t2v",
            "--schedule",
            str(EXAMPLES / "schedules" / "shapesworld.txt"),
            "--frames",
            "52",
            "--steps",
            "2",
            "--upscale",
            "8",
            "--transition",
            transition,
            "--out",
            str(tmp_path / "shapes.mp4"),
        ]
    )
    sidecar = json.loads((tmp_path / "shapes.mp4.json").read_text())
    assert sidecar["model"] == "shapesworld-t2v" and sidecar["tiara"] == {"alpha": 5.0} and sidecar["prompt_blend"]
    frames = iio.imread(out, index=None)
    assert frames.shape == (52, 256, 256, 3)
    # the README's command line (plugdiff video) renders the same video as the example script
    from plugdiff.apps.cli import main

    assert (
        main(
            [
                "video",
                "--schedule",
                str(EXAMPLES / "schedules" / "shapesworld.txt"),
                "--frames",
                "52",
                "--steps",
                "2",
                "--upscale",
                "8",
                "--quiet",
                "--out",
                str(tmp_path / "cli.mp4"),
            ]
        )
        == 0
    )
    assert np.array_equal(iio.imread(tmp_path / "cli.mp4", index=None), frames)
    with pytest.raises(SystemExit, match="did you mean 'shapesworld-t2v'"):
        load_example("long_video").main(["shapeworld-t2v", "a red circle"])
    with pytest.raises(SystemExit):
        load_example("long_video").main(["shapesworld-t2v", "a red circle", "--upscale", "0"])
