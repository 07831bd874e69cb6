import json
import os

import pytest

from plugdiff.media.fileio import atomic_folder, atomic_write, write_json


def test_write_json_and_failed_write_leave_no_trace(tmp_path):
    path = write_json(tmp_path / "r.json", {"a": 1, "p": tmp_path})
    assert json.loads(path.read_text()) == {"a": 1, "p": str(tmp_path)}

    def broken(tmp):
        tmp.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, broken)
    assert json.loads(path.read_text())["a"] == 1  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left
    umask = os.umask(0o022)
    try:
        assert write_json(tmp_path / "m.json", {}).stat().st_mode & 0o777 == 0o644  # not mkstemp's owner-only 0600
        assert atomic_folder(tmp_path / "d", lambda tmp: None).stat().st_mode & 0o777 == 0o755
    finally:
        os.umask(umask)


def test_atomic_folder_replaces_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "out"
    atomic_folder(folder, lambda tmp: [(tmp / f"{i}.txt").write_text(str(i)) for i in range(3)])
    assert sorted(p.name for p in folder.iterdir()) == ["0.txt", "1.txt", "2.txt"]

    def interrupted(tmp):
        (tmp / "0.txt").write_text("new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_folder(folder, interrupted)
    assert (folder / "0.txt").read_text() == "0" and len(list(folder.iterdir())) == 3  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left
    atomic_folder(folder, lambda tmp: (tmp / "only.txt").write_text("x"))
    assert [p.name for p in folder.iterdir()] == ["only.txt"]
