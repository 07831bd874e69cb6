"""One plugdiff run at a time per output folder: an advisory lock (``fcntl.flock``, Linux) on
``<out>/.plugdiff.lock`` that holds who took it (pid, host, start, command) for the message a
second run gets.

The kernel drops a ``flock`` when its holder exits, however it exits (``kill -9`` included), so
a lock file left behind by a crash is stale: the next run takes the lock at once and says so.
A run removes the lock file when it releases the lock; a waiter that then finds the file gone
(or replaced) starts again on the new one, so two runs never both believe they hold it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

LOCK_NAME = ".plugdiff.lock"
"""The lock file inside an output folder (hidden; plugdiff's own)."""

MAX_HOLDER_BYTES = 4096


class FolderBusy(RuntimeError):
    """Another plugdiff run holds the output folder's lock; the message names it."""

    def __init__(self, folder: Path, holder: dict | None):
        self.folder, self.holder = folder, holder
        super().__init__(
            f"--out: {folder} is in use by another plugdiff run ({describe(holder)}); "
            "wait for it to finish, or pass --wait to wait for it"
        )


class LockError(OSError):
    """The lock file cannot be used (a link, not a file, not writable)."""


def describe(holder: dict | None) -> str:
    """``pid 1234 on host h since 2024-01-01 12:00:00 UTC: plugdiff render jobs.yaml``."""
    if not holder:
        return "its holder is not recorded yet"
    text = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("started"):
        text += f" since {holder['started']}"
    if holder.get("command"):
        command = str(holder["command"])
        text += f": {command if len(command) <= 120 else command[:117] + '...'}"
    return text


@dataclass
class FolderLock:
    """A held lock; :meth:`release` (or leaving the ``with`` block) gives it up.

    Attributes:
        path: the lock file.
        stale: the holder recorded in a lock file left behind by a run that ended without
            releasing it (None: the file was new or empty).
    """

    path: Path
    fd: int
    stale: dict | None = None

    def release(self) -> None:
        """Remove the lock file (still holding the lock, so no one takes a file about to go),
        then drop the lock."""
        if self.fd < 0:
            return
        try:
            if _same_file(self.path, os.fstat(self.fd)):
                os.unlink(self.path)
        except OSError:
            pass  # a left-behind file is stale, and the next run takes it
        finally:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(
    folder, *, wait: bool = False, command: str | None = None, on_wait: Callable[[str], None] | None = None
) -> FolderLock:
    """Take ``folder``'s lock.

    Args:
        folder: an existing output folder.
        wait: wait for a run that holds it (else raise :class:`FolderBusy` at once).
        command: recorded for the message another run gets (default: this process's arguments).
        on_wait: called once with a line saying whom this run waits for.

    Raises:
        FolderBusy: another run holds the lock and ``wait`` is false.
        LockError: the lock file cannot be opened or locked (a link, a folder, read-only).
    """
    path = Path(folder) / LOCK_NAME
    announced = False
    while True:
        fd = _open(path)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                if not wait:
                    raise FolderBusy(Path(folder), holder) from None
                if on_wait is not None and not announced:
                    on_wait(f"waiting: {folder} is in use by another plugdiff run ({describe(holder)})")
                    announced = True
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:
                raise LockError(f"--out: cannot lock {path}: {err.strerror or err}") from None
            current = _same_file(path, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise
        if not current:
            os.close(fd)  # its holder removed it as it released: start again on the new file
            continue
        stale = _read_holder(fd)
        _write_holder(fd, command)
        return FolderLock(path, fd, stale)


def _open(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise LockError(
                f"--out: {path} is a symbolic link; plugdiff keeps its lock file there and never follows "
                "a link: remove the link"
            ) from None
        raise LockError(f"--out: cannot create the lock file {path}: {err.strerror or err}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LockError(f"--out: {path} is not a file; plugdiff keeps its lock file there: move it away")
    return fd


def _same_file(path: Path, st: os.stat_result) -> bool:
    try:
        now = os.lstat(path)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _read_holder(fd: int) -> dict | None:
    try:
        data = os.pread(fd, MAX_HOLDER_BYTES, 0)
        holder = json.loads(data.decode("utf-8")) if data else None
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _write_holder(fd: int, command: str | None) -> None:
    """Record who holds the lock; best effort (a full disk must not stop the run: the message
    then says the holder is not recorded)."""
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command if command is not None else " ".join(["plugdiff", *sys.argv[1:]]),
    }
    data = json.dumps(holder).encode("utf-8")[:MAX_HOLDER_BYTES]
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:
        pass
