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
    out = session.video(
        [[0, "a red circle moving right"], [8, "a blue circle moving right"]], compare=True, seed=4, **FAST_VIDEO
    )
    for key in ("mp4", "gif", "settings_file", "mp4_without_tiara"):
        assert Path(out[key]).is_file() and Path(out[key]).stat().st_size > 0
    assert out["settings"]["schedule"] == {"0": "a red circle moving right", "8": "a blue circle moving right"}
    assert json.loads(Path(out["settings_file"]).read_text())["seed"] == 4
    assert json.loads(Path(out["mp4_without_tiara"] + ".json").read_text())["settings"]["tiara"]["alpha"] == 0.0
    assert "/" not in json.dumps(out["settings"])  # no server paths in what the page shows
    single = session.video([[0, "a red circle moving right"], [None, ""]], **FAST_VIDEO)  # blank rows are ignored
    assert single["settings"]["prompt"] == "a red circle moving right" and single["mp4_without_tiara"] is None


@pytest.mark.parametrize(
    ("kwargs", "message", "field"),
    [
        (dict(schedule_rows=[[0, ""]]), "row 1: the prompt is empty", "schedule"),
        (dict(schedule_rows=[]), "write at least one prompt", "schedule"),
        (dict(schedule_rows=[[0, "a"], [0, "b"]]), "each frame may appear once", "schedule"),
        (dict(schedule_rows=[[0, "a"], [2.5, "b"]]), "frame: must be a whole number", "schedule"),
        (dict(schedule_rows=[[0, "a"]], frames=0), "frames: must be a whole number from 1 to 256", "frames"),
        (dict(schedule_rows=[[0, "a"]], frames=1000), "from 1 to 256", "frames"),
        (dict(schedule_rows=[[0, "a"], [40, "b"]], frames=32), "outside [0, num_frames=32)", "schedule"),
        (dict(schedule_rows=[[0, "a"]], stride=20), "stride: must not exceed window=16", "stride"),
        (dict(schedule_rows=[[0, "a"]], frames=4, window_length=7), "larger than the 4 frames", "tiara"),
        (dict(schedule_rows=[[0, "a"]], window_length=0), "TiARA window length: must be a whole number", "tiara"),
        (dict(schedule_rows=[[4, "a"]]), "the first key frame must be 0", "schedule"),
        (dict(schedule_rows=[[0, "a"]], frames=256, steps=100, compare=True), "frame-steps; on a CPU", None),
    ],
)
def test_video_input_errors(session, kwargs, message, field):
    with pytest.raises(DemoInputError) as err:
        session.video(**{"steps": 1, **kwargs})
    assert message in str(err.value) and err.value.field == field  # the field: the input the page shows it under


def test_restore_action_on_an_example_and_an_upload(session, examples_dir):
    out = session.restore(None, "yellow square on red", "inpaint-box", samples=2, seed=1)
    captions = [c for _, c in out["pictures"]]
    assert captions == [
        "clean",
        "measurement",
        "posterior mean",
        "sample 000",
        "sample 001",
        "per-pixel std (white: the largest)",
    ]
    assert all(p.size == (128, 128) for p, _ in out["pictures"])
    assert out["settings"]["image"] == "example: yellow square on red" and out["results"]["psnr_mean_db"] > 10
    upload = np.asarray(Image.open(examples_dir / "images" / "shapesworld_circle.png"))
    out = session.restore(upload, None, "blur", noise=0.1, method="dps", samples=1, simulate=True, dps_steps=20)
    assert out["settings"]["image"] == "upload" and out["results"]["operator_config"]["noise_std"] == 0.1
    assert out["results"]["model_evals"] == 20


@pytest.mark.parametrize(
    ("args", "message", "field"),
    [
        ((None, None), "upload an image or pick an example", "image"),
        ((np.zeros((4, 4, 3), np.uint8), None), "sides must be 8 to 2048 pixels", "image"),
        ((np.zeros((16, 16, 3), np.float32), None), "expected an 8-bit gray or RGB picture", "image"),
        (
            (None, "red circle on blue", "phase-retrieval", 0.05, "dpnp", 1, False),
            "measures Fourier magnitudes",
            "image",
        ),
        (
            (None, "red circle on blue", "sr4", 0.05, "dpnp", 0),
            "samples: must be a whole number from 1 to 16",
            "samples",
        ),
        (
            (None, "red circle on blue", "sr4", 0.05, "dps", 1, True, 0, 0),
            "DPS steps: must be a whole number",
            "steps",
        ),
    ],
)
def test_restore_input_errors(session, args, message, field):
    with pytest.raises(DemoInputError) as err:
        session.restore(*args)
    assert message in str(err.value) and err.value.field == field


def test_samplers_action(session):
    out = session.samplers(["ddim", "accelerated-ddim", "unipc"], steps=4, seed=2)
    assert [row[:2] for row in out["rows"]] == [["ddim", 4], ["accelerated-ddim", 4], ["unipc", 4]]
    assert out["pictures"][0][1].startswith("ddim: 4 NFE,")
    again = session.samplers(["ddim"], steps=4, seed=2)  # the same seed gives the same picture
    assert np.array_equal(np.asarray(again["pictures"][0][0]), np.asarray(out["pictures"][0][0]))
    with pytest.raises(DemoInputError, match="choose one or more samplers") as err:
        session.samplers([], steps=4)
    assert err.value.field == "samplers"
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
    assert (
        Path(mp4).stat().st_size > 0
        and without is None
        and gif.endswith(".gif")
        and settings["scheduler"] == "accelerated-ddim"
    )
    pictures, report = client.predict(
        None, "green triangle on white", "motion-blur", 0.05, "dpnp", 1, True, 0, 200, api_name="/restore"
    )
    assert [p["caption"] for p in pictures][:3] == ["clean", "measurement", "posterior mean"] and report["results"][
        "model_evals"
    ] > 0
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
    Image.new("1", (20000, 20000)).save(
        huge
    )  # 400 megapixels in a small file: refused by the app's own check, not by PIL
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
            frames, steps = (
                page.get_by_label(f"number input for {name}", exact=True).first for name in ("Frames", "Steps")
            )
            for field, value in ((steps, "2"), (frames, "8")):  # the default schedule has a key frame at 16
                field.fill(value)
                field.press("Enter")
            page.get_by_role("button", name="Generate").click()
            # the error stays under the input it concerns (gradio's toasts are gone after 10 s) ...
            message = (
                page.locator(".input-error").filter(has_text="key frame(s) [16] lie outside [0, num_frames=8)").first
            )
            message.wait_for(state="visible", timeout=60_000)
            page.wait_for_timeout(11_000)
            assert message.is_visible()
            top = {
                name: page.get_by_text(text).first.bounding_box()["y"]
                for name, text in (
                    ("schedule", "Prompt schedule: the prompt holds"),
                    ("message", "key frame(s) [16] lie outside"),
                    ("next input", "Negative prompt"),
                )
            }
            assert top["schedule"] < top["message"] < top["next input"], top
            page.screenshot(path=str(ARTIFACTS / "input_error.png"), full_page=True)
            # ... until that input changes
            frames.fill("24")
            frames.press("Enter")
            message.wait_for(state="hidden", timeout=30_000)
            page.get_by_role("button", name="Generate").click()
            page.wait_for_function(
                "() => { const v = document.querySelector('video'); "
                "return v && v.readyState >= 2 && v.videoWidth > 0; }",
                timeout=120_000,
            )
            page.screenshot(path=str(ARTIFACTS / "long_video.png"), full_page=True)
            page.get_by_role("tab", name="Restore").click()
            page.get_by_role("button", name="Restore").click()
            page.get_by_text("posterior mean", exact=True).first.wait_for(timeout=120_000)  # a gallery caption
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('img'))"
                ".filter(i => i.complete && i.naturalWidth > 0).length >= 5",
                timeout=60_000,
            )
            page.screenshot(path=str(ARTIFACTS / "restore.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "long_video.png").stat().st_size > 0 and (ARTIFACTS / "restore.png").stat().st_size > 0


class _FailingSession:
    """Stands in for DemoSession in the layout: every action raises ``error``."""

    video_model, image_model = "video-model", "image-model"
    video_defaults = {"scheduler": "ddim", "steps": 25, "guidance": 7.5, "transition": 0.5}
    error = DemoInputError("no error set")

    def video(self, *args, **kwargs):
        raise self.error

    restore = samplers = video

    def host_sampling(self, host):
        return ("ddpm", 32) if host == "fifo" else ("ddim", 25)


@pytest.fixture(scope="module")
def failing_demo():
    """The web UI over a :class:`_FailingSession`: (the session, the app)."""
    from plugdiff.apps.gradio_app import build_demo

    session = _FailingSession()
    return session, build_demo(session)


def test_choosing_a_long_video_host_sets_its_sampler_and_steps(failing_demo):
    """The host dropdown's change event writes the model's settings for that host into the
    Sampler and Steps controls (FIFO cannot step every sampler, and its steps go by the window)."""
    _, demo = failing_demo
    (change,) = [f for f in demo.fns.values() if f.name == "host_sampling"]
    assert [getattr(c, "label", None) for c in change.inputs] == ["Long-video method"]
    assert [c.label for c in change.outputs] == ["Sampler", "Steps"]
    assert change.fn("fifo") == ("ddpm", 32)


def test_the_session_gives_fifo_the_models_fifo_settings():
    from plugdiff.apps.demo_actions import DemoSession
    from plugdiff.weights import sampling_defaults

    session = DemoSession("shapesworld-t2v", "shapesworld-ddpm", device="cpu")
    try:
        fifo = sampling_defaults("shapesworld-t2v", host="fifo")
        assert session.host_sampling("fifo") == (fifo["scheduler"], fifo["steps"])
        stored = session.video_defaults
        assert session.host_sampling("windows") == (stored["scheduler"], stored["steps"])
    finally:
        session.close()


def _shown_under(demo, api_name: str, error: DemoInputError):
    """Click ``api_name``'s button with ``error`` raised, run its failure handler; the component
    just above the one message it makes visible, and whether it opens an accordion."""
    from types import SimpleNamespace

    request = SimpleNamespace(session_hash="one browser")
    click = next(f for f in demo.fns.values() if f.api_name == api_name)
    with pytest.raises(gradio.Error) as raised:
        click.fn(request, **dict.fromkeys(click.input_keyword_names))
    assert raised.value.message == str(error)  # what an API caller gets
    failure = next(f for f in demo.fns.values() if f.trigger_after == click._id and f.trigger_only_on_failure)
    updates = failure.fn(request)
    (box,) = [out for out, update in zip(failure.outputs, updates, strict=True) if update.get("visible")]
    assert [u["value"] for u in updates if u.get("visible")] == [f"⚠ {error}"]
    siblings = box.parent.children
    above = siblings[siblings.index(box) - 1]
    above = (
        above.children[-1] if isinstance(above, gradio.layouts.Form) else above
    )  # gradio wraps some inputs in a form
    return getattr(above, "label", None) or above.value, any(u.get("open") for u in updates)


@pytest.mark.parametrize(
    ("api_name", "field", "under", "opens"),
    [
        ("samplers", "samplers", "Samplers", False),
        ("samplers", "steps", "Steps", False),
        ("video", "schedule", "Prompt schedule: the prompt holds from its frame on ('|' separates slots)", False),
        ("video", "frames", "Frames", False),
        ("video", "tiara", "TiARA adaptive penalty", True),  # the last of the TiARA inputs, in the closed accordion
        ("video", "steps", "Steps", False),
        ("restore", "steps", "DPS steps; DAPS: as many UNet evaluations (DPnP: 186 + 16 x 4 = 250)", False),
        ("restore", "image", "... or a bundled example", False),
        ("restore", None, "Restore", False),  # no field: under the tab's button
        ("video", "fps", "Generate", False),  # a field no input shows: under the button too
    ],
)
@pytest.mark.parametrize("wording", ["frames: a message that names another field first", "reworded, naming no field"])
def test_an_error_is_shown_under_its_fields_input_whatever_its_wording(
    failing_demo, api_name, field, under, opens, wording
):
    session, demo = failing_demo
    session.error = DemoInputError(wording, field)
    assert _shown_under(demo, api_name, session.error) == (under, opens)
