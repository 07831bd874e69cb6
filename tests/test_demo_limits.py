"""The web UI's limits: an upload's size is read from its header before it is decoded, a video
request too big for a CPU is refused up front, results on disk are bounded and removed with
the session, and the three endpoints share one request slot."""

import gc
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
    out = session.restore(str(examples_dir / "images" / "shapesworld_circle.png"), None, "blur", samples=1, method="dps",
                          dps_steps=10)
    assert out["settings"]["image"] == "upload" and out["results"]["model_evals"] == 10


def test_a_video_request_too_big_for_a_cpu_is_refused_up_front(session):
    start = time.perf_counter()
    with pytest.raises(DemoInputError, match=r"256 frames x 100 steps x 2 \(the comparison\) = 51200 frame-steps; on a CPU at most 8192"):
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
