"""Atomic file output: write to a temporary file beside the target, check it, then rename over
it, so a reader never sees a half-written or empty file and a failure leaves nothing behind.

(Batch outputs with sidecars use the crash-recoverable protocol of
:mod:`plugdiff.apps.outputs` on top of these.)"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

Verify = Callable[[Path], None]


def atomic_write(path, write: Callable[[Path], None], verify: Verify | None = None) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, check it (not empty,
    then ``verify(tmp_path)``, which raises when the file is unusable), then rename it to
    ``path``. The temporary file keeps ``path``'s suffix (writers that pick a format by it).
    On any failure ``path`` is left as it was and the temporary file is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes owner-only files; outputs get the usual mode
        write(Path(tmp))
        if os.path.getsize(tmp) == 0:
            raise OSError(f"writing {path} produced an empty file; the previous file (if any) is kept")
        if verify is not None:
            verify(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path, data, indent: int = 1) -> Path:
    """Write ``data`` as JSON atomically (values JSON cannot hold are written with ``str``)."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=indent, default=str)))


def atomic_folder(path, write: Callable[[Path], None], verify: Verify | None = None) -> Path:
    """Call ``write(tmp_folder)`` on a new temporary folder beside ``path``, ``verify`` it when
    given, then move it to ``path``, replacing a folder already there: the old folder is first
    renamed aside (``.<name>.old.*``), then the new one into place, then the old one removed.
    On failure the temporary folder is removed and ``path`` is left as it was."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    old = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        write(tmp)
        if verify is not None:
            verify(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        if old is not None and not path.exists():
            os.replace(old, path)  # put the previous folder back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None and old.exists():
            shutil.rmtree(old, ignore_errors=True)
    return path


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether JSON (or YAML flow) ``text`` nests brackets deeper than ``limit`` (quoted strings
    are skipped); checked before parsing, so that a hostile file cannot exhaust the parser."""
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
