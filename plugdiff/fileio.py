"""Atomic file output: write to a temporary file beside the target, then rename over it, so a
reader never sees a half-written file and a failure leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def atomic_write(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, then rename it to
    ``path``. The temporary file keeps ``path``'s suffix (writers that pick a format by it)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; outputs get the usual mode
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path, data, indent: int = 1) -> Path:
    """Write ``data`` as JSON atomically (values JSON cannot hold are written with ``str``)."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=indent, default=str)))


def atomic_folder(path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` on a new temporary folder beside ``path``, then move it to
    ``path``, replacing a folder already there; on failure the temporary folder is removed and
    ``path`` is left as it was."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
