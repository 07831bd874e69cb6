"""The web UI on the bundled models: the actions behind each button, every endpoint through
gradio_client against a launched app (bad input comes back as the message, not a crash), and a
real browser (Debian's chromium driven by Playwright) showing an input error beside its input until
the input changes, generating a playable video and running a restore. Screenshots go to
test-artifacts/ui/."""

import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from plugdiff.apps.demo_actions import DemoInputError, DemoSession

gradio = pytest.importorskip("gradio", reason="the web UI needs the ui extra")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FAST_VIDEO = dict(frames=16, steps=2, upscale=2)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return DemoSession(work_dir=tmp_path_factory.mktemp("demo"))


def test_video_action_renders_mp4_gif_settings_and_the_comparison(session):
    out = session.video([[0, "a red circle moving right"], [8, "a blue circle moving right"]], compare=True, seed=4, **FAST_VIDEO)
    for key in ("mp4", "gif", "settings_file", "mp4_without_tiara"):
        assert Path(out[key]).is_file() and Path(out[key]).stat().st_size > 0
    assert out["settings"]["schedule"] == {"0": "a red circle moving right", "8": "a blue circle moving right"}
    assert json.loads(Path(out["settings_file"]).read_text())["seed"] == 4
    assert json.loads(Path(out["mp4_without_tiara"] + ".json").read_text())["settings"]["tiara"]["alpha"] == 0.0
    assert "/" not in json.dumps(out["settings"])  # no server paths in what the page shows
    single = session.video([[0, "a red circle moving right"], [None, ""]], **FAST_VIDEO)  # blank rows are ignored
    assert single["settings"]["prompt"] == "a red circle moving right" and single["mp4_without_tiara"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(schedule_rows=[[0, ""]]), "row 1: the prompt is empty"),
        (dict(schedule_rows=[]), "write at least one prompt"),
        (dict(schedule_rows=[[0, "a"], [0, "b"]]), "each frame may appear once"),
        (dict(schedule_rows=[[0, "a"], [2.5, "b"]]), "frame: must be a whole number"),
        (dict(schedule_rows=[[0, "a"]], frames=0), "frames: must be a whole number from 1 to 256"),
        (dict(schedule_rows=[[0, "a"]], frames=1000), "from 1 to 256"),
        (dict(schedule_rows=[[0, "a"], [40, "b"]], frames=32), "outside [0, num_frames=32)"),
        (dict(schedule_rows=[[0, "a"]], stride=20), "stride: must not exceed window=16"),
        (dict(schedule_rows=[[0, "a"]], frames=4, window_length=7), "larger than the 4 frames"),
        (dict(schedule_rows=[[4, "a"]]), "the first key frame must be 0"),
    ],
)
def test_video_input_errors(session, kwargs, message):
    with pytest.raises(DemoInputError) as err:
        session.video(**{"steps": 1, **kwargs})
    assert message in str(err.value)


def test_restore_action_on_an_example_and_an_upload(session, examples_dir):
    out = session.restore(None, "yellow square on red", "inpaint-box", samples=2, seed=1)
    captions = [c for _, c in out["pictures"]]
    assert captions == ["clean", "measurement", "posterior mean", "sample 000", "sample 001", "per-pixel std (white: the largest)"]
    assert all(p.size == (128, 128) for p, _ in out["pictures"])
    assert out["settings"]["image"] == "example: yellow square on red" and out["results"]["psnr_mean_db"] > 10
    upload = np.asarray(Image.open(examples_dir / "images" / "shapesworld_circle.png"))
    out = session.restore(upload, None, "blur", noise=0.1, method="dps", samples=1, simulate=True, dps_steps=20)
    assert out["settings"]["image"] == "upload" and out["results"]["operator_config"]["noise_std"] == 0.1
    assert out["results"]["model_evals"] == 20


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, None), "upload an image or pick an example"),
        ((np.zeros((4, 4, 3), np.uint8), None), "sides must be 8 to 2048 pixels"),
        ((np.zeros((16, 16, 3), np.float32), None), "expected an 8-bit gray or RGB picture"),
        ((None, "red circle on blue", "phase-retrieval", 0.05, "dpnp", 1, False), "measures Fourier magnitudes"),
        ((None, "red circle on blue", "sr4", 0.05, "dpnp", 0), "samples: must be a whole number from 1 to 16"),
    ],
)
def test_restore_input_errors(session, args, message):
    with pytest.raises(DemoInputError) as err:
        session.restore(*args)
    assert message in str(err.value)


def test_samplers_action(session):
    out = session.samplers(["ddim", "accelerated-ddim", "unipc"], steps=4, seed=2)
    assert [row[:2] for row in out["rows"]] == [["ddim", 4], ["accelerated-ddim", 4], ["unipc", 4]]
    assert out["pictures"][0][1].startswith("ddim: 4 NFE,")
    again = session.samplers(["ddim"], steps=4, seed=2)  # the same seed gives the same picture
    assert np.array_equal(np.asarray(again["pictures"][0][0]), np.asarray(out["pictures"][0][0]))
    with pytest.raises(DemoInputError, match="choose one or more samplers"):
        session.samplers([], steps=4)
    with pytest.raises(DemoInputError, match="not 'heun'"):
        session.samplers(["heun"], steps=4)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    """The app as `plugdiff demo --port N` starts it (queue, upload limit), without blocking."""
    import argparse

    from plugdiff.apps.gradio_app import add_arguments, launch

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    port = _free_port()
    demo = launch(parser.parse_args(["--port", str(port), "--device", "cpu"]), block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_every_endpoint_through_gradio_client(server, examples_dir, tmp_path):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    rows = {"headers": ["frame", "prompt"], "data": [[0, "a red circle moving right"]]}
    video_args = [rows, "", 16, 16, 4, True, 5, 7, True, True, 0.5, "accelerated-ddim", 2, 7.5, 0, False]
    mp4, without, gif, settings_file, settings = client.predict(*video_args, api_name="/video")
    assert Path(mp4).stat().st_size > 0 and without is None and gif.endswith(".gif") and settings["scheduler"] == "accelerated-ddim"
    pictures, report = client.predict(None, "green triangle on white", "motion-blur", 0.05, "dpnp", 1, True, 0, 200, api_name="/restore")
    assert [p["caption"] for p in pictures][:3] == ["clean", "measurement", "posterior mean"] and report["results"]["model_evals"] > 0
    sampled, timing = client.predict(["ddim", "euler"], 3, 0, api_name="/samplers")
    assert [row[:2] for row in timing["data"]] == [["ddim", 3], ["euler", 3]] and len(sampled) == 2
    with pytest.raises(AppError, match="less than minimum value 1"):  # gradio's own bounds check
        client.predict(*video_args[:2], 0, *video_args[3:], api_name="/video")
    late = {"headers": ["frame", "prompt"], "data": [[0, "a red circle"], [40, "a blue circle"]]}
    with pytest.raises(AppError, match=r"key frame\(s\) \[40\] lie outside \[0, num_frames=16\)"):
        client.predict(late, *video_args[1:], api_name="/video")
    with pytest.raises(AppError, match="upload an image or pick an example"):
        client.predict(None, None, "sr4", 0.05, "dpnp", 1, True, 0, 200, api_name="/restore")
    # uploads: a picture goes through; one over the 10 MB limit is refused before it is sent
    from gradio_client import handle_file

    picture = str(examples_dir / "images" / "shapesworld_square.png")
    _, report = client.predict(handle_file(picture), None, "blur", 0.05, "dpnp", 1, True, 0, 200, api_name="/restore")
    assert report["settings"]["image"] == "upload"
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (2048, 2048, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 10 * 2**20
    with pytest.raises(ValueError, match="exceeds the maximum file size of 10485760 bytes"):
        client.predict(handle_file(str(big)), None, "blur", 0.05, "dpnp", 1, True, 0, 200, api_name="/restore")
    huge = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(huge)  # 400 megapixels in a small file: refused by the app's own check, not by PIL
    with pytest.raises(AppError, match=r"^image: the picture has more than 178956970 pixels; sides must be 8 to 2048"):
        client.predict(handle_file(str(huge)), None, "blur", 0.05, "dpnp", 1, True, 0, 200, api_name="/restore")
    # the app still serves after errors
    assert client.predict(["ddim"], 1, 0, api_name="/samplers")[1]["data"][0][1] == 1


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="no chromium (.ci/run installs Debian's with apt-get)")
def test_real_browser_keeps_errors_by_their_input_generates_a_playable_video_and_restores(server):
    playwright = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(server)
            frames, steps = (page.get_by_label(f"number input for {name}", exact=True).first for name in ("Frames", "Steps"))
            for field, value in ((steps, "2"), (frames, "8")):  # the default schedule has a key frame at 16
                field.fill(value)
                field.press("Enter")
            page.get_by_role("button", name="Generate").click()
            # the error stays under the input it concerns (gradio's toasts are gone after 10 s) ...
            message = page.locator(".input-error").filter(has_text="key frame(s) [16] lie outside [0, num_frames=8)").first
            message.wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(11_000)
            assert message.is_visible()
            top = {name: page.get_by_text(text).first.bounding_box()["y"] for name, text in
                   (("schedule", "Prompt schedule: the prompt holds"), ("message", "key frame(s) [16] lie outside"),
                    ("next input", "Negative prompt"))}
            assert top["schedule"] < top["message"] < top["next input"], top
            page.screenshot(path=str(ARTIFACTS / "input_error.png"), full_page=True)
            # ... until that input changes
            frames.fill("24")
            frames.press("Enter")
            message.wait_for(state="hidden", timeout=30_000)
            page.get_by_role("button", name="Generate").click()
            page.wait_for_function(
                "() => { const v = document.querySelector('video'); return v && v.readyState >= 2 && v.videoWidth > 0; }",
                timeout=120_000,
            )
            page.screenshot(path=str(ARTIFACTS / "long_video.png"), full_page=True)
            page.get_by_role("tab", name="Restore").click()
            page.get_by_role("button", name="Restore").click()
            page.get_by_text("posterior mean", exact=True).first.wait_for(timeout=120_000)  # a gallery caption
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('img')).filter(i => i.complete && i.naturalWidth > 0).length >= 5",
                timeout=60_000,
            )
            page.screenshot(path=str(ARTIFACTS / "restore.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "long_video.png").stat().st_size > 0 and (ARTIFACTS / "restore.png").stat().st_size > 0


@pytest.mark.parametrize("message, field", [
    ("schedule: key frame(s) [40] lie outside [0, num_frames=16).", "schedule"),
    ("prompt schedule row 2: the prompt is empty.", "prompt schedule"),
    ("TiARA window length: must be a whole number >= 1, got 0.", "TiARA window length"),
    ("tiara: `window_length`=9 is larger than the 8 frames", "tiara"),
    ("stride: must not exceed window=16, got 20", "stride"),
    ("image: upload an image or pick an example (red circle on blue).", "image"),
    ("choose one or more samplers from: ddim", None),  # no field: shown under the tab's button
])
def test_an_error_message_names_the_input_it_is_shown_under(message, field):
    from plugdiff.apps.ui_messages import input_of

    fields = ["prompt schedule", "schedule", "prompt", "frames", "window", "stride", "tiara", "TiARA window length", "image"]
    assert input_of(message, fields) == field
