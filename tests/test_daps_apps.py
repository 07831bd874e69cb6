"""DAPS from the command line (``plugdiff restore --method daps``) and the web UI's Restore action, on
the bundled ShapesWorld prior: outputs, seeding, clear errors naming the flag."""

import json
from pathlib import Path

import pytest

from plugdiff.apps.cli import main
from plugdiff.apps.demo_actions import DemoSession
from plugdiff.apps.restore import METHODS
from plugdiff.apps.restore import RECIPES as CLI_RECIPES
from plugdiff.pipelines.posterior.daps_recipes import RECIPES

FAST = ["--samples", "2", "--levels", "3", "--ode-steps", "2", "--quiet"]


def _sidecar(folder: Path) -> dict:
    return json.loads(folder.with_name(folder.name + ".json").read_text())


def _restore(tmp_path, name, *extra) -> Path:
    image = Path(__file__).resolve().parents[1] / "examples" / "images" / "shapesworld_circle.png"
    out = tmp_path / name
    args = ["restore", "--image", str(image), "--operator", "sr4", "--simulate", "--method", "daps", "--out", str(out)]
    assert main(args + FAST + list(extra)) == 0
    return out


def test_the_command_line_offers_daps_and_its_recipes():
    assert "daps" in METHODS and tuple(CLI_RECIPES) == tuple(RECIPES)


def test_restore_with_daps_writes_the_outputs_and_is_seeded(tmp_path):
    first = _restore(tmp_path, "a", "--seed", "4")
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
    record = _sidecar(first)
    assert record["settings"]["method"] == "daps" and record["settings"]["levels"] == 3
    assert record["results"]["model_evals"] == 3 * 2 and 5 < record["results"]["psnr_mean_db"] < 60
    again = _restore(tmp_path, "b", "--seed", "4")
    assert (first / "mean.png").read_bytes() == (again / "mean.png").read_bytes()
    assert (first / "sample_000.png").read_bytes() != (first / "sample_001.png").read_bytes()  # independent chains


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--levels", "0"], "--levels:"),
        (["--ode-steps", "0"], "--ode-steps:"),
        (["--ode-steps", "500"], "--ode-steps:"),
    ],
)
def test_restore_with_daps_rejects_bad_settings_naming_the_flag(tmp_path, capsys, flags, message):
    image = Path(__file__).resolve().parents[1] / "examples" / "images" / "shapesworld_circle.png"
    out = tmp_path / "out"
    assert (
        main(["restore", "--image", str(image), "--operator", "sr4", "--method", "daps", "--out", str(out), *flags])
        == 2
    )
    assert message in capsys.readouterr().err and not out.exists()


def test_restore_rejects_an_unknown_method(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["restore", "--image", "x.png", "--operator", "sr4", "--method", "dapss", "--out", str(tmp_path / "o")])
    assert "invalid choice: 'dapss'" in capsys.readouterr().err


def test_the_web_ui_restore_action_runs_daps_at_the_slider_budget(tmp_path):
    session = DemoSession(work_dir=tmp_path)
    out = session.restore(None, "red circle on blue", "sr4", method="daps", samples=1, seed=1, dps_steps=10)
    assert out["settings"]["method"] == "daps" and out["settings"]["levels"] == 5 and out["settings"]["ode_steps"] == 2
    assert out["results"]["model_evals"] == 10 and out["results"]["psnr_mean_db"] > 5
