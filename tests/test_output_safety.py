"""What a render may touch in its output folder: no link is followed when staging or deleting
(``.plugdiff/`` and its folders are checked with lstat and refused when a link, not a folder,
another user's or holding files plugdiff did not put there); ``--resume`` trusts a sidecar only
when its file list matches the files on disk; a full disk ends in a message, not a traceback."""

import errno
import json
import os
from pathlib import Path

import pytest

from plugdiff.apps import outputs
from plugdiff.apps.cli import main

FAST_VIDEO = {"prompt": "a red circle", "frames": 8, "window": 8, "stride": 4, "steps": 1}


def jobs_file(folder: Path, jobs: list, defaults: dict | None = None) -> Path:
    path = folder / "jobs.json"
    path.write_text(json.dumps({"defaults": defaults or {}, "jobs": jobs}))
    return path


def victim(tmp_path: Path) -> Path:
    """A folder outside --out holding someone's file where a link would lead a render."""
    folder = tmp_path / "victim"
    (folder / "clip.mp4").mkdir(parents=True)
    (folder / "clip.mp4" / "important.txt").write_text("keep")
    return folder


def untouched(folder: Path) -> bool:
    return (folder / "clip.mp4" / "important.txt").read_text() == "keep"


# ---------------------------------------------------------------- case 1: links are never followed
def test_a_link_at_the_staging_folder_is_refused_and_nothing_outside_out_is_touched(tmp_path, capsys, monkeypatch):
    """The issue's reproduction: out/.plugdiff -> ../victim made a render rmtree victim/clip.mp4."""
    import plugdiff.apps.batch as batch

    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".plugdiff").symlink_to("../victim")
    monkeypatch.setattr(batch.Renderers, "get", lambda *a: pytest.fail("rendered although .plugdiff is a link"))
    path = jobs_file(tmp_path, [{"name": "clip", **FAST_VIDEO}])
    for extra in ([], ["--resume"]):
        assert main(["render", str(path), "--out", str(out), "--quiet", *extra]) == 2
        err = capsys.readouterr().err
        assert f"{out / '.plugdiff'} is a symbolic link" in err and "never follows a link" in err, err
        assert untouched(target) and (out / ".plugdiff").is_symlink()
    assert (
        main(["video", "--out", str(out / "clip.mp4"), *sum(([f"--{k}", str(v)] for k, v in FAST_VIDEO.items()), [])])
        == 2
    )
    assert "is a symbolic link" in capsys.readouterr().err and untouched(target)


@pytest.mark.parametrize("what", ["link", "foreign file", "file"])
def test_a_staging_folder_plugdiff_did_not_make_is_refused(tmp_path, what):
    """The protocol alone: .plugdiff/<output> a link, a folder with someone's file, or a file."""
    target = victim(tmp_path)
    out = tmp_path / "out"
    (out / ".plugdiff").mkdir(parents=True)
    stage = out / ".plugdiff" / "clip.mp4"
    if what == "link":
        stage.symlink_to(target / "clip.mp4")
        message = "is a symbolic link"
    elif what == "foreign file":
        stage.mkdir()
        (stage / "notes.txt").write_text("mine")
        message = "holds 'notes.txt', which plugdiff did not put there"
    else:
        stage.write_text("mine")
        message = "is not a folder"
    output = out / "clip.mp4"
    for step in (outputs.recover, outputs.prepare, outputs.discard):
        with pytest.raises(outputs.NotOurs, match=message):
            step(output)
    assert untouched(target)
    assert (
        stage.is_symlink()
        if what == "link"
        else (stage / "notes.txt").read_text() == "mine"
        if what == "foreign file"
        else stage.read_text() == "mine"
    )


def test_a_staging_folder_of_another_user_is_refused(tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("only root can give a folder to another user")
    out = tmp_path / "out"
    (out / ".plugdiff" / "clip.mp4").mkdir(parents=True)
    (out / ".plugdiff" / "clip.mp4" / "clip.mp4").write_text("theirs")
    os.chown(out / ".plugdiff", 12345, 12345)
    with pytest.raises(outputs.NotOurs, match=r"belongs to another user \(uid 12345\)"):
        outputs.recover(out / "clip.mp4")
    assert (
        main(["render", str(jobs_file(tmp_path, [{"name": "clip", **FAST_VIDEO}])), "--out", str(out), "--quiet"]) == 2
    )
    assert "belongs to another user" in capsys.readouterr().err
    assert (out / ".plugdiff" / "clip.mp4" / "clip.mp4").read_text() == "theirs"


def test_a_staged_link_inside_the_staging_folder_is_removed_not_followed(tmp_path):
    """A link among the names the protocol writes (a staged output that is a link) is deleted
    as a link: what it points to stays."""
    target = victim(tmp_path)
    out = tmp_path / "out"
    stage = out / ".plugdiff" / "clip.mp4"
    stage.mkdir(parents=True)
    (stage / "clip.mp4").symlink_to(target / "clip.mp4")
    (stage / "old").symlink_to(target)
    outputs.recover(out / "clip.mp4")
    assert untouched(target) and list(out.iterdir()) == []


# ---------------------------------------------------------------- case 5: resume checks the disk
@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A finished render of one MP4 and one PNG-frame video, copied by each test."""
    folder = tmp_path_factory.mktemp("rendered")
    path = jobs_file(folder, [{"name": "clip", **FAST_VIDEO}, {"name": "frames", **FAST_VIDEO, "format": "png"}])
    assert main(["render", str(path), "--out", str(folder / "out"), "--quiet"]) == 0
    return path, folder / "out"


def copy_of(rendered, tmp_path) -> Path:
    import shutil

    out = tmp_path / "out"
    shutil.copytree(rendered[1], out)
    return out


def edit_sidecar(output: Path, change) -> None:
    path = output.with_name(output.name + ".json")
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    "damage", ["empty list, output gone", "empty list", "a frame gone and unlisted", "someone's file"]
)
def test_resume_trusts_a_sidecar_only_when_its_files_are_on_disk(rendered, tmp_path, capsys, damage):
    out = copy_of(rendered, tmp_path)
    if damage == "empty list, output gone":  # the case: it counted as skipped, exit 0
        edit_sidecar(out / "clip.mp4", lambda r: r.update(files=[]))
        (out / "clip.mp4").unlink()
        job, why = "clip", "it lists no files"
    elif damage == "empty list":
        edit_sidecar(out / "clip.mp4", lambda r: r.update(files=[]))
        job, why = "clip", "it lists no files"
    elif damage == "a frame gone and unlisted":
        (out / "frames" / "frame_00007.png").unlink()
        edit_sidecar(out / "frames", lambda r: r.update(files=r["files"][:-1]))
        job, why = "frames", None  # consistent again: the file list matches the disk
    else:  # a file its sidecar does not list: not plugdiff's, so the folder is not replaced either
        (out / "frames" / "notes.txt").write_text("mine")
        capsys.readouterr()
        assert main(["render", str(rendered[0]), "--out", str(out), "--quiet", "--resume"]) == 1
        captured = capsys.readouterr()
        assert (
            "note: frames: rendered again: its sidecar does not match the files on disk: frames/notes.txt is not in "
            "its file list" in captured.err
        )
        assert (
            f"{out / 'frames' / 'notes.txt'} was not written by plugdiff (its sidecar frames.json does not list it)"
            in captured.err
        )
        assert (out / "frames" / "notes.txt").read_text() == "mine" and len(list((out / "frames").iterdir())) == 9
        return
    capsys.readouterr()
    assert main(["render", str(rendered[0]), "--out", str(out), "--quiet", "--resume"]) == 0
    captured = capsys.readouterr()
    rows = {r["job"]: r for r in json.loads((out / "summary.json").read_text())["rows"]}
    other = "frames" if job == "clip" else "clip"
    assert rows[other]["status"] == "skipped"
    if why is None:
        assert rows[job]["status"] == "skipped"
        return
    assert rows[job]["status"] == "done" and why in rows[job]["note"], rows[job]
    assert f"note: {job}: rendered again: its sidecar does not match the files on disk: {why}" in captured.err
    output = out / ("clip.mp4" if job == "clip" else "frames")
    assert outputs.mismatch(output, outputs.read_sidecar(output)) is None  # now the sidecar and the disk agree
    assert main(["render", str(rendered[0]), "--out", str(out), "--quiet", "--resume"]) == 0
    assert "2 skipped" in capsys.readouterr().out


def test_a_sidecar_that_does_not_match_is_described_in_a_few_words(tmp_path):
    output = tmp_path / "frames"
    output.mkdir()
    for i in range(3):
        (output / f"frame_{i}.png").write_bytes(b"x" * (i + 1))
    files = [{"path": f"frames/frame_{i}.png", "bytes": i + 1} for i in range(3)]
    assert outputs.mismatch(output, {"files": files}) is None
    assert outputs.mismatch(output, {"files": files[:2]}) == "frames/frame_2.png is not in its file list"
    assert (
        outputs.mismatch(output, {"files": [*files, {"path": "frames/x.png", "bytes": 1}]})
        == "frames/x.png is missing"
    )
    assert (
        outputs.mismatch(output, {"files": [{**files[0], "bytes": 9}, *files[1:]]})
        == "frames/frame_0.png has 1 bytes, it says 9"
    )
    assert outputs.mismatch(output, {"files": "all"}) == "its file list is malformed"
    (output / "link.png").symlink_to(output / "frame_0.png")
    assert "is a symbolic link" in outputs.mismatch(output, {"files": files})


# ---------------------------------------------------------------- case 3: a full disk
def test_a_full_disk_at_the_summary_is_a_message_not_a_traceback(rendered, tmp_path, capsys, monkeypatch):
    import plugdiff.apps.batch as batch

    out = copy_of(rendered, tmp_path)
    before = (out / "summary.json").read_text()

    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(batch, "write_json", full)
    assert main(["render", str(rendered[0]), "--out", str(out), "--quiet", "--resume"]) == 1
    captured = capsys.readouterr()
    assert f"error: could not write {out / 'summary.json'}: No space left on device" in captured.err
    assert "2 skipped; summary.json NOT written" in captured.out
    assert (out / "summary.json").read_text() == before and [str(p) for p in out.rglob(".*")] == []
