"""Which files in an output folder are plugdiff's, and the write protocol that installs a job's
output and its sidecar so that a kill at any instruction loses nothing.

For an output ``P`` (a file, or a folder) and its sidecar ``P.json`` the job is staged in its
own folder ``.plugdiff/<P>/`` beside them:

1. the new output is written to ``.plugdiff/<P>/<P>`` and verified (by the writer);
2. its sidecar to ``.plugdiff/<P>/sidecar.json``;
3. ``.plugdiff/<P>/COMMIT`` is written (atomically): the commit point;
4. roll forward: remove the old sidecar, move the old output to ``.plugdiff/<P>/old``, move
   the new output to ``P``, the new sidecar to ``P.json``, then remove ``.plugdiff/<P>/``.

Before a job runs, :func:`recover` finishes step 4 when ``COMMIT`` is there and otherwise
throws the staging folder away. Every step of 4 checks what is already done, so a kill during
recovery is recovered in turn. Until the commit point ``P`` and ``P.json`` are untouched (the
previous good output stays); after it, the new output is complete and verified. A sidecar is
written only for a verified output, so ``P.json`` marks a complete output.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..media.fileio import json_depth_exceeds, write_json

STAGING = ".plugdiff"
"""The folder, inside an output folder, where jobs are staged (hidden; plugdiff's own)."""

WRITER = "plugdiff"
"""The ``writer`` marker of every sidecar plugdiff writes."""

MAX_SIDECAR_BYTES = 10_000_000
MAX_JSON_DEPTH = 32


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def staging_folder(output: Path) -> Path:
    return output.parent / STAGING / output.name


def staged_output(output: Path) -> Path:
    """Where a job writes its new output before the commit (same name, so the same format)."""
    return staging_folder(output) / output.name


def read_sidecar(output: Path) -> dict | None:
    """The sidecar of ``output`` when it is plugdiff's own for this output (the ``writer``
    marker and the output's name), else None: missing, unreadable, too large, too deeply nested,
    or someone else's JSON file."""
    path = sidecar_path(output)
    try:
        if path.stat().st_size > MAX_SIDECAR_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
        if json_depth_exceeds(text, MAX_JSON_DEPTH):
            return None
        record = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) and _is_ours(record, output.name) else None


def _is_ours(record: dict, name: str) -> bool:
    """The marker of this output's sidecar; format 1 sidecars (before the marker) are
    recognised by their plugdiff version and a file list inside the output."""
    if record.get("format") == 1:
        files = record.get("files")
        return (isinstance(record.get("versions"), dict) and "plugdiff" in record["versions"] and isinstance(files, list)
                and all(isinstance(e, dict) and str(e.get("path", "")).split("/")[0] == name for e in files))
    return record.get("writer") == WRITER and record.get("output") == name


def check_replaceable(output: Path) -> None:
    """Refuse to write over anything that plugdiff did not write: an existing ``output`` or
    sidecar path replaced only when the sidecar is plugdiff's own for this output.

    Raises:
        FileExistsError: naming the path and what to do.
    """
    sidecar = sidecar_path(output)
    if read_sidecar(output) is not None:
        return
    for path in (output, sidecar):
        if path.exists() or path.is_symlink():
            raise FileExistsError(
                f"{path} exists and was not written by plugdiff (no plugdiff sidecar {sidecar.name} for it); "
                "move it away, or choose another output folder or job name"
            )


def recover(output: Path) -> None:
    """Finish or undo an interrupted write of ``output`` (see the module docstring); a no-op
    when nothing is staged."""
    folder = staging_folder(output)
    if (folder / "COMMIT").is_file():
        _roll_forward(output)
    discard(output)


def discard(output: Path) -> None:
    """Remove ``output``'s staging folder (an uncommitted write is thrown away)."""
    folder = staging_folder(output)
    shutil.rmtree(folder, ignore_errors=True)
    _remove_if_empty(folder.parent)


def install(output: Path, sidecar: dict) -> None:
    """Commit a staged output (already written to :func:`staged_output`) with its sidecar
    record, and move both into place."""
    folder = staging_folder(output)
    write_json(folder / "sidecar.json", sidecar, indent=2)
    write_json(folder / "COMMIT", {"output": output.name})
    _roll_forward(output)
    discard(output)


def prepare(output: Path) -> Path:
    """A fresh, empty staging folder for ``output``; returns where to write the new output."""
    folder = staging_folder(output)
    if folder.exists():
        shutil.rmtree(folder)
    for _ in range(3):  # another process may remove an empty .plugdiff/ in between
        try:
            folder.mkdir(parents=True)
            break
        except FileNotFoundError:
            continue
    return staged_output(output)


def _roll_forward(output: Path) -> None:
    folder = staging_folder(output)
    new_output, new_sidecar = folder / output.name, folder / "sidecar.json"
    if new_sidecar.exists():
        if new_output.exists():
            sidecar_path(output).unlink(missing_ok=True)
            if output.exists() or output.is_symlink():
                os.replace(output, folder / "old")
            os.replace(new_output, output)
        os.replace(new_sidecar, sidecar_path(output))


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass
