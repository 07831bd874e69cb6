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

No link is ever followed when staging or deleting: ``.plugdiff/`` is made by plugdiff and
checked with ``lstat`` (a real folder of this user), ``.plugdiff/<P>/`` too, and it may hold
only the names the protocol writes; anything else is refused with a message naming it. Every
change inside them goes through folder descriptors opened with ``O_NOFOLLOW``
(``shutil.rmtree(dir_fd=...)``, ``os.replace(src_dir_fd=..., dst_dir_fd=...)``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path

from ..media.fileio import json_depth_exceeds, write_json

STAGING = ".plugdiff"
"""The folder, inside an output folder, where jobs are staged (hidden; plugdiff's own)."""

WRITER = "plugdiff"
"""The ``writer`` marker of every sidecar plugdiff writes."""

MAX_SIDECAR_BYTES = 10_000_000
MAX_JSON_DEPTH = 32
STAGED_NAMES = ("sidecar.json", "COMMIT", "old")
"""What a staging folder ``.plugdiff/<P>/`` holds besides ``<P>`` (and the temporary files of
atomic writes of these names, ``.<name>.*``)."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = _DIR_FLAGS | os.O_NOFOLLOW


class NotOurs(FileExistsError):
    """A path plugdiff would stage in or delete is a link, not a folder, another user's, or holds
    files plugdiff did not put there; the message names it and what to do."""


def sidecar_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def staging_folder(output: Path) -> Path:
    return output.parent / STAGING / output.name


def staged_output(output: Path) -> Path:
    """Where a job writes its new output before the commit (same name, so the same format)."""
    return staging_folder(output) / output.name


def read_sidecar(output: Path) -> dict | None:
    """The sidecar of ``output`` when it is plugdiff's own for this output (the ``writer``
    marker and the output's name), else None: missing, a link, unreadable, too large, too
    deeply nested, or someone else's JSON file."""
    path = sidecar_path(output)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIDECAR_BYTES:
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
        return (
            isinstance(record.get("versions"), dict)
            and "plugdiff" in record["versions"]
            and isinstance(files, list)
            and all(isinstance(e, dict) and str(e.get("path", "")).split("/")[0] == name for e in files)
        )
    return record.get("writer") == WRITER and record.get("output") == name


def files_on_disk(output: Path) -> dict[str, int]:
    """The files of ``output`` as a sidecar lists them (``{path relative to the output's folder:
    bytes}``), found without following links.

    Raises:
        FileNotFoundError: no output.
        NotOurs: the output, or something inside it, is a link or not a regular file.
    """
    st = os.lstat(output)
    if stat.S_ISREG(st.st_mode):
        return {output.name: st.st_size}
    if not stat.S_ISDIR(st.st_mode):
        raise NotOurs(f"{output} is {'a symbolic link' if stat.S_ISLNK(st.st_mode) else 'not a file or folder'}")
    found = {}
    for folder, dirs, names in os.walk(output, followlinks=False):
        for name in dirs + names:
            path = Path(folder) / name
            entry = os.lstat(path)
            if stat.S_ISLNK(entry.st_mode) or not (stat.S_ISREG(entry.st_mode) or stat.S_ISDIR(entry.st_mode)):
                raise NotOurs(
                    f"{path} is {'a symbolic link' if stat.S_ISLNK(entry.st_mode) else 'not a regular file'}"
                )
            if stat.S_ISREG(entry.st_mode):
                found[str(path.relative_to(output.parent))] = entry.st_size
    return found


def mismatch(output: Path, record: dict) -> str | None:
    """Why ``record`` (``output``'s sidecar) does not describe the files on disk, or None when
    every file it lists is there with its size and nothing else is."""
    listed = record.get("files")
    if not isinstance(listed, list) or not all(
        isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("bytes"), int) for e in listed
    ):
        return "its file list is malformed"
    if not listed:
        return "it lists no files"
    sizes = {e["path"]: e["bytes"] for e in listed}
    if len(sizes) != len(listed):
        return "it lists a file twice"
    try:
        disk = files_on_disk(output)
    except FileNotFoundError:
        return f"{output.name} is missing"
    except OSError as err:
        return str(err)
    missing = sorted(set(sizes) - set(disk))
    wrong = sorted(p for p in sizes if p in disk and disk[p] != sizes[p])
    extra = sorted(set(disk) - set(sizes))
    if missing:
        return f"{missing[0]} is missing" + (
            f" (and {len(missing) - 1} more of its {len(sizes)} files)" if len(missing) > 1 else ""
        )
    if wrong:
        return f"{wrong[0]} has {disk[wrong[0]]} bytes, it says {sizes[wrong[0]]}"
    if extra:
        return f"{extra[0]} is not in its file list" + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else "")
    return None


def check_replaceable(output: Path) -> None:
    """Refuse to write over anything that plugdiff did not write: an existing ``output`` or
    sidecar path replaced only when the sidecar is plugdiff's own for this output, and an output
    folder only when it holds no file that sidecar leaves out of its (non-empty) file list.

    Raises:
        FileExistsError: naming the path and what to do.
    """
    sidecar = sidecar_path(output)
    record = read_sidecar(output)
    if record is not None:
        listed = {e.get("path") for e in record.get("files") or [] if isinstance(e, dict)}
        try:
            foreign = sorted(set(files_on_disk(output)) - listed) if listed and os.path.isdir(output) else []
        except OSError:
            foreign = []  # a link inside: replacing the folder removes the link, never what it points to
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise FileExistsError(
                f"{output.parent / foreign[0]}{more} was not written by plugdiff (its sidecar {sidecar.name} does not "
                "list it); move it away, or choose another output folder or job name"
            )
        return
    for path in (output, sidecar):
        if os.path.lexists(path):
            raise FileExistsError(
                f"{path} exists and was not written by plugdiff (no plugdiff sidecar {sidecar.name} for it); "
                "move it away, or choose another output folder or job name"
            )


def check_staging_root(out_dir: Path) -> None:
    """Raise :class:`NotOurs` when ``out_dir/.plugdiff`` exists but is a link, not a folder,
    or another user's (checked before any work)."""
    root = Path(out_dir) / STAGING
    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return
    _check_ours(root, st)


def _check_ours(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise NotOurs(
            f"{path} is a symbolic link; plugdiff stages its writes in a folder it makes there and never "
            "follows a link: remove the link"
        )
    if not stat.S_ISDIR(st.st_mode):
        raise NotOurs(f"{path} is not a folder; plugdiff stages its writes in a folder it makes there: move it away")
    if st.st_uid != os.geteuid():
        raise NotOurs(
            f"{path} belongs to another user (uid {st.st_uid}); plugdiff stages its writes only in a folder "
            "of its own: move it away"
        )


def _is_staged_name(entry: str, name: str) -> bool:
    return entry in (name, *STAGED_NAMES) or any(entry.startswith(f".{n}.") for n in (name, "sidecar.json", "COMMIT"))


@contextmanager
def _folders(output: Path, *, create: bool):
    """Descriptors of the output's folder and of its ``.plugdiff/`` (None when there is none and
    ``create`` is false), the latter opened without following a link and checked as ours."""
    out_fd = os.open(output.parent, _DIR_FLAGS)
    root_fd = None
    try:
        for _ in range(10):  # another process of the launch may remove an empty .plugdiff/ in between
            if create:
                try:
                    os.mkdir(STAGING, dir_fd=out_fd)
                except FileExistsError:
                    pass
            try:
                root_fd = os.open(STAGING, _NOFOLLOW, dir_fd=out_fd)
                break
            except FileNotFoundError:
                if not create:
                    break
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    _check_ours(output.parent / STAGING, os.lstat(STAGING, dir_fd=out_fd))
                raise
        if root_fd is None and create:
            raise FileNotFoundError(f"could not make {output.parent / STAGING}: it keeps disappearing")
        if root_fd is not None:
            _check_ours(output.parent / STAGING, os.fstat(root_fd))
        yield out_fd, root_fd
    finally:
        if root_fd is not None:
            os.close(root_fd)
        os.close(out_fd)


def _stage_exists(root_fd: int, output: Path) -> bool:
    """Whether ``.plugdiff/<P>/`` exists; raises :class:`NotOurs` when it is a link, not a
    folder, another user's, or holds a name the protocol does not write."""
    folder = staging_folder(output)
    try:
        st = os.lstat(output.name, dir_fd=root_fd)
    except FileNotFoundError:
        return False
    _check_ours(folder, st)
    fd = os.open(output.name, _NOFOLLOW, dir_fd=root_fd)
    try:
        foreign = sorted(e for e in os.listdir(fd) if not _is_staged_name(e, output.name))
    finally:
        os.close(fd)
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise NotOurs(
            f"{folder} holds {foreign[0]!r}{more}, which plugdiff did not put there; it stages {output.name} "
            "in that folder: move it away"
        )
    return True


def recover(output: Path) -> None:
    """Finish or undo an interrupted write of ``output`` (see the module docstring); a no-op
    when nothing is staged."""
    with _folders(output, create=False) as (out_fd, root_fd):
        if root_fd is None:
            return
        if _stage_exists(root_fd, output):
            stage_fd = os.open(output.name, _NOFOLLOW, dir_fd=root_fd)
            try:
                if _is_file("COMMIT", stage_fd):
                    _roll_forward(output.name, out_fd, stage_fd)
            finally:
                os.close(stage_fd)
        _discard(output, out_fd, root_fd)


def discard(output: Path) -> None:
    """Remove ``output``'s staging folder (an uncommitted write is thrown away)."""
    with _folders(output, create=False) as (out_fd, root_fd):
        if root_fd is not None:
            _discard(output, out_fd, root_fd)


def _discard(output: Path, out_fd: int, root_fd: int) -> None:
    if _stage_exists(root_fd, output):
        shutil.rmtree(output.name, dir_fd=root_fd)  # never follows a link (fd-based, lstat-checked)
    try:
        os.rmdir(STAGING, dir_fd=out_fd)  # only when empty
    except OSError:
        pass


def install(output: Path, sidecar: dict) -> None:
    """Commit a staged output (already written to :func:`staged_output`) with its sidecar
    record, and move both into place."""
    with _folders(output, create=False) as (out_fd, root_fd):
        if root_fd is None or not _stage_exists(root_fd, output):
            raise FileNotFoundError(f"the staging folder {staging_folder(output)} is gone; nothing was installed")
        folder = staging_folder(output)
        write_json(folder / "sidecar.json", sidecar, indent=2)
        write_json(folder / "COMMIT", {"output": output.name})
        stage_fd = os.open(output.name, _NOFOLLOW, dir_fd=root_fd)
        try:
            _roll_forward(output.name, out_fd, stage_fd)
        finally:
            os.close(stage_fd)
        _discard(output, out_fd, root_fd)


def prepare(output: Path) -> Path:
    """A fresh, empty staging folder for ``output``, made by plugdiff; returns where to write
    the new output."""
    for _ in range(10):  # another process of the launch may remove an empty .plugdiff/ in between
        with _folders(output, create=True) as (_, root_fd):
            if _stage_exists(root_fd, output):
                shutil.rmtree(output.name, dir_fd=root_fd)
            try:
                os.mkdir(output.name, dir_fd=root_fd)
                break
            except FileNotFoundError:
                continue
    return staged_output(output)


def _is_file(name: str, fd: int) -> bool:
    try:
        return stat.S_ISREG(os.lstat(name, dir_fd=fd).st_mode)
    except FileNotFoundError:
        return False


def _exists(name: str, fd: int) -> bool:
    try:
        os.lstat(name, dir_fd=fd)
        return True
    except FileNotFoundError:
        return False


def _roll_forward(name: str, out_fd: int, stage_fd: int) -> None:
    """Step 4 of the protocol for output ``name``, each move relative to the two folders'
    descriptors; every step checks whether it is already done."""
    if not _exists("sidecar.json", stage_fd):
        return
    if _exists(name, stage_fd):
        try:
            os.unlink(name + ".json", dir_fd=out_fd)
        except FileNotFoundError:
            pass
        if _exists(name, out_fd):
            os.replace(name, "old", src_dir_fd=out_fd, dst_dir_fd=stage_fd)
        os.replace(name, name, src_dir_fd=stage_fd, dst_dir_fd=out_fd)
    os.replace("sidecar.json", name + ".json", src_dir_fd=stage_fd, dst_dir_fd=out_fd)
