import json

import pytest

from plugdiff.fileio import atomic_write, write_json


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
