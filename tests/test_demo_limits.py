"""The web UI's limits: an upload's size is read from its header before it is decoded, a video
request too big for a CPU is refused up front, results on disk are bounded and removed with
the session, and the three endpoints share one request slot."""

import gc
import os
import signal
import time

import pytest
from PIL import Image, ImageFile

import plugdiff.apps.demo_actions as demo_actions
from plugdiff.apps.demo_actions import DemoInputError, DemoSession


@pytest.fixture
def session(tmp_path):
    return DemoSession(device="cpu", work_dir=tmp_path / "work")


def test_a_huge_upload_is_refused_from_its_header(session, tmp_path, monkeypatch):
    path = tmp_path / "huge.png"
    Image.new("1", (13300, 13300)).save(path)  # 176 megapixels in a few hundred kB
    assert path.stat().st_size < 2**20

    def decode(self):
        raise AssertionError("the picture was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", decode)
    with pytest.raises(DemoInputError, match="sides must be 8 to 2048 pixels, got 13300x13300"):
        session.restore(str(path), None, "sr4")


def test_an_uploaded_file_is_restored(session, examples_dir):
    out = session.restore(
        str(examples_dir / "images" / "shapesworld_circle.png"), None, "blur", samples=1, method="dps", dps_steps=10
    )
    assert out["settings"]["image"] == "upload" and out["results"]["model_evals"] == 10


def test_a_video_request_too_big_for_a_cpu_is_refused_up_front(session):
    start = time.perf_counter()
    with pytest.raises(
        DemoInputError,
        match=r"256 frames x 100 steps x 2 \(the comparison\) = 51200 frame-steps; on a CPU at most 8192",
    ):
        session.video([[0, "a red circle"]], frames=256, steps=100, compare=True)
    assert time.perf_counter() - start < 5 and not any(session.work_dir.iterdir())


def test_results_on_disk_are_bounded_and_removed_with_the_session(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_actions, "KEPT_RESULTS", 3)
    session = DemoSession(device="cpu", work_dir=tmp_path / "work")
    folders = []
    for _ in range(6):
        folders.append(session._result_folder("video-"))
        time.sleep(0.01)
    assert sorted(session.work_dir.iterdir()) == sorted(folders[-3:])
    temporary = DemoSession(device="cpu")
    work_dir = temporary.work_dir
    assert work_dir.is_dir()
    del temporary
    gc.collect()
    assert not work_dir.exists()


def test_the_endpoints_share_one_request_slot(session):
    pytest.importorskip("gradio")
    from plugdiff.apps.gradio_app import CACHE_LIFETIME, build_demo

    demo = build_demo(session)
    ids = {f.api_name: f.concurrency_id for f in demo.fns.values() if f.api_name in ("video", "restore", "samplers")}
    assert len(ids) == 3 and set(ids.values()) == {"model"}  # gradio limits concurrency per id
    assert demo.delete_cache == CACHE_LIFETIME


def test_a_400_megapixel_upload_is_refused_by_the_apps_own_check_before_pil(session, tmp_path):
    """The issue: gr.Image opened the upload with PIL, whose decompression-bomb check raised
    inside gradio (a generic error naming the server's temporary path, a traceback in the log)."""
    pytest.importorskip("gradio")
    import gradio as gr
    from gradio.data_classes import ImageData

    from plugdiff.apps.gradio_app import build_demo

    path = tmp_path / "huge.png"
    Image.new("1", (20000, 20000)).save(path)  # 400 megapixels, over PIL's own limit (2 x 89.5 M)
    demo = build_demo(session)
    (image,) = [b for b in demo.blocks.values() if isinstance(b, gr.Image)]
    refused = image.preprocess(ImageData(path=str(path), orig_name="huge.png"))  # gradio's own: PIL raised here
    from plugdiff.apps.demo_actions import RefusedUpload

    assert isinstance(refused, RefusedUpload)
    with pytest.raises(DemoInputError) as err:
        session.restore(refused, None, "sr4")
    message = str(err.value)
    assert message.startswith("image: the picture has more than 178956970 pixels; sides must be 8 to 2048 pixels")
    assert str(tmp_path) not in message and len(message) < 200
    small = tmp_path / "small.png"
    Image.new("RGB", (16, 16)).save(small)
    assert image.preprocess(ImageData(path=str(small), orig_name="small.png")) == str(small)  # others pass through


def test_closing_the_app_leaves_no_folder_in_gradios_cache(tmp_path, monkeypatch):
    """gradio removes the files it cached when the app closes, but not the folder of each one
    (74 empty folders after one session): the app keeps its cache in a folder of its own."""
    pytest.importorskip("gradio")
    import argparse
    import socket
    import tempfile

    from gradio_client import Client

    from plugdiff.apps.gradio_app import add_arguments, launch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # gradio's default cache: <tmp>/gradio
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = launch(parser.parse_args(["--port", str(port), "--device", "cpu"]), block=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
        pictures, _ = client.predict(["ddim", "euler"], 1, 0, api_name="/samplers")
        assert len(pictures) == 2
        assert list(tmp_path.rglob("*.png"))  # the pictures the page shows are in gradio's cache
    finally:
        demo.close()
    assert "GRADIO_TEMP_DIR" not in os.environ
    left = sorted(
        str(p.relative_to(tmp_path))
        for p in tmp_path.rglob("*")
        if p.name != "vibe_edit_history" and not p.name.startswith("torchinductor")
    )
    assert left in ([], ["gradio"]), left  # at most gradio's own folder, holding nothing of this app


def test_the_demo_cleans_up_on_sigterm_as_on_sigint(tmp_path):
    """`plugdiff demo` stopped by a service manager (SIGTERM) removes its temporary working
    folder and gradio's cache folder, as Ctrl-C (SIGINT) does (the same path: SIGTERM is
    handled as an interrupt)."""
    pytest.importorskip("gradio")
    import socket
    import subprocess
    import sys
    import urllib.request

    from gradio_client import Client

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env.update(TMPDIR=str(tmp), OMP_NUM_THREADS="1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "plugdiff", "demo", "--port", str(port), "--device", "cpu"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo did not start"
                time.sleep(0.2)
        assert len(list(tmp.glob("plugdiff-demo-*"))) == 1  # the session's working folder
        Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False).predict(
            ["ddim"], 1, 0, api_name="/samplers"
        )
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output[-2000:]  # closed, not killed by the signal
    left = sorted(
        str(p.relative_to(tmp))
        for p in tmp.rglob("*")
        if p.name != "vibe_edit_history" and not str(p.relative_to(tmp)).startswith("torchinductor")
    )
    assert left in ([], ["gradio"]), left
