"""The output folder's lock between processes: a second run is told who holds the folder, or
waits for it; a lock left by a killed run is taken over at once; the lock file is never
followed through a link and is gone after a run."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from plugdiff.apps import folder_lock
from plugdiff.apps.folder_lock import LOCK_NAME, FolderBusy, LockError, acquire

HOLD = """
import sys, time
from pathlib import Path
from plugdiff.apps.folder_lock import acquire
lock = acquire(sys.argv[1], command="plugdiff render held.yaml")
Path(sys.argv[2]).write_text("held")
while not Path(sys.argv[3]).exists():
    time.sleep(0.01)
if sys.argv[4] == "kill":
    import os, signal
    os.kill(os.getpid(), signal.SIGKILL)
lock.release()
"""


def holder(folder, tmp_path, end: str = "release"):
    """A process holding ``folder``'s lock until ``tmp_path/go`` exists, then releasing it (or
    killing itself); returns (process, go file)."""
    held, go = tmp_path / "held", tmp_path / "go"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(held), str(go), end])
    deadline = time.monotonic() + 60
    while not held.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the holder did not take the lock"
        time.sleep(0.01)
    return process, go


def test_a_second_run_is_told_who_holds_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    process, go = holder(out, tmp_path)
    try:
        with pytest.raises(FolderBusy) as busy:
            acquire(out)
        message = str(busy.value)
        assert (
            f"pid {process.pid} on host {socket.gethostname()}" in message and "plugdiff render held.yaml" in message
        )
        assert "--wait" in message and len(message) < 400
    finally:
        go.write_text("")
        assert process.wait(60) == 0
    assert not (out / LOCK_NAME).exists()  # released: the lock file is removed
    with acquire(out) as lock:  # free again
        assert lock.stale is None
    assert list(out.iterdir()) == []


def test_wait_takes_the_folder_when_the_holder_is_done(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    process, go = holder(out, tmp_path)
    lines, taken = [], []

    def second():
        taken.append(acquire(out, wait=True, on_wait=lines.append))

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    assert not taken and len(lines) == 1 and f"pid {process.pid}" in lines[0]  # waiting, said once
    go.write_text("")
    thread.join(60)
    assert process.wait(60) == 0 and len(taken) == 1
    lock = taken[0]
    try:  # the waiter holds the current lock file (the holder removed its own as it released)
        assert os.path.samestat(os.fstat(lock.fd), os.lstat(out / LOCK_NAME))
        with pytest.raises(FolderBusy):
            acquire(out)
    finally:
        lock.release()
    assert not (out / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_run_is_taken_over_at_once(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    process, go = holder(out, tmp_path, end="kill")
    go.write_text("")
    assert process.wait(60) == -signal.SIGKILL
    assert (out / LOCK_NAME).exists()  # left behind, but nobody holds it
    start = time.perf_counter()
    with acquire(out) as lock:
        assert lock.stale["pid"] == process.pid and time.perf_counter() - start < 1
        assert "since" in folder_lock.describe(lock.stale)
    assert not (out / LOCK_NAME).exists()


def test_a_link_at_the_lock_files_path_is_refused(tmp_path):
    out, target = tmp_path / "out", tmp_path / "target.txt"
    out.mkdir()
    target.write_text("someone's")
    (out / LOCK_NAME).symlink_to(target)
    with pytest.raises(LockError, match="is a symbolic link"):
        acquire(out)
    assert target.read_text() == "someone's" and (out / LOCK_NAME).is_symlink()
