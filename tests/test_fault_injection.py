"""A render killed (SIGKILL) before each file-system change it makes in the output folder, then
``--resume``: every previous good output is intact after the kill, and the resumed batch
finishes with exactly the outputs of an uninterrupted run and nothing left behind.

The render runs in a forked child of the test process (the libraries are imported once), which
kills itself before its N-th change (rename, unlink, mkdir, rmdir) under the output folder,
for every N up to the number an uninterrupted run makes."""

import hashlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from plugdiff.apps.cli import main

MUTATIONS = ("replace", "rename", "unlink", "remove", "mkdir", "rmdir")


def test_the_write_protocol_survives_a_kill_at_every_step(tmp_path):
    """The protocol alone (no model): replace a folder output and its sidecar, killed before
    each of its changes; after recovery the old pair or the new pair is there, whole."""
    from plugdiff.apps import outputs
    from plugdiff.media.fileio import atomic_folder

    out = tmp_path / "out"
    output = out / "result"

    def write(files: dict, seed: int) -> int:
        outputs.recover(output)
        outputs.check_replaceable(output)
        staged = outputs.prepare(output)
        atomic_folder(staged, lambda tmp: [(tmp / name).write_text(text) for name, text in files.items()])
        outputs.install(output, {"writer": outputs.WRITER, "output": output.name, "seed": seed})
        return 0

    def state():
        files = {p.name: p.read_text() for p in output.iterdir()} if output.exists() else None
        sidecar = outputs.read_sidecar(output)
        return files, sidecar and sidecar["seed"]

    old, new = ({"a.png": "old a", "b.png": "old b"}, 1), ({"a.png": "new a", "c.png": "new c"}, 2)
    count_file = tmp_path / "count"
    out.mkdir()
    write(*old)
    assert in_child(lambda: write(*new), out, None, count_file) == 0 and state() == new
    changes = int(count_file.read_text())
    assert changes >= 10
    for kill_at in range(1, changes + 1):
        shutil.rmtree(out)
        out.mkdir()
        write(*old)
        status = in_child(lambda: write(*new), out, kill_at, count_file)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (kill_at, status)
        outputs.recover(output)
        assert state() in (old, new), kill_at
        write(*new)  # what --resume does
        assert state() == new and sorted(p.name for p in out.iterdir()) == ["result", "result.json"], kill_at


def write_jobs(folder: Path, seed: int, image: str) -> Path:
    path = folder / f"jobs-{seed}.json"
    jobs = [
        {"name": "clip", "prompt": "a red circle moving right", "frames": 8, "window": 8, "stride": 4, "steps": 1},
        {
            "name": "frames",
            "prompt": "a blue square",
            "frames": 8,
            "window": 8,
            "stride": 4,
            "steps": 1,
            "format": "png",
        },
        {
            "name": "restored",
            "image": image,
            "operator": "blur",
            "simulate": True,
            "samples": 1,
            "etas": "0.5,0.2",
            "dds_steps": 1,
        },
    ]
    path.write_text(json.dumps({"defaults": {"seed": seed}, "jobs": jobs}))
    return path


OUTPUTS = ("clip.mp4", "frames", "restored")


def content(out: Path) -> dict:
    """Each output's bytes (hashed, file by file) and its sidecar's seed (None: no sidecar)."""
    state = {}
    for name in OUTPUTS:
        path = out / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        digest = (
            hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
            if path.exists()
            else None
        )
        sidecar = out / f"{name}.json"
        state[name] = (digest, json.loads(sidecar.read_text())["seed"] if sidecar.exists() else None)
    return state


def render_in_child(args: list[str], out: Path, kill_at: int | None, count_file: Path) -> int:
    """Run ``plugdiff`` in a forked child that SIGKILLs itself before its ``kill_at``-th change
    under ``out``; returns the child's wait status. The child records how many changes it made."""
    return in_child(lambda: main(args), out, kill_at, count_file)


def in_child(run, out: Path, kill_at: int | None, count_file: Path) -> int:
    """``run()`` in a forked child that SIGKILLs itself before its ``kill_at``-th change under
    ``out`` and writes the number of changes it made to ``count_file``; the child's wait status
    (its exit code: what ``run`` returned)."""
    pid = os.fork()
    if pid:
        return os.waitpid(pid, 0)[1]
    status = 3
    try:
        count = 0
        prefix = str(out)

        def hook(name, real):
            def wrapped(*a, **kw):
                nonlocal count
                if str(a[0]).startswith(prefix) or kw.get("dir_fd") is not None or kw.get("src_dir_fd") is not None:
                    count += 1
                    if count == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)
                return real(*a, **kw)

            return wrapped

        for name in MUTATIONS:
            setattr(os, name, hook(name, getattr(os, name)))
        status = run()
        count_file.write_text(str(count))
    finally:
        os._exit(status)


@pytest.mark.slow
@pytest.mark.parametrize("every", [1, 16])
def test_kill_at_every_write_step_then_resume(tmp_path, examples_dir, every):
    """``every``: 1 kills before each change (74 runs, 5 to 8 minutes on 2 busy cores); 16
    before every 16th and the last (6 runs, about 100 s)."""
    image = str(examples_dir / "images" / "shapesworld_circle.png")
    old_jobs, new_jobs = write_jobs(tmp_path, 1, image), write_jobs(tmp_path, 2, image)
    before, reference = tmp_path / "before", tmp_path / "reference"
    assert main(["render", str(old_jobs), "--out", str(before), "--quiet"]) == 0
    assert main(["render", str(new_jobs), "--out", str(reference), "--quiet"]) == 0
    old, new = content(before), content(reference)
    assert all(old[n][0] != new[n][0] for n in OUTPUTS)  # every output changes with the seed

    count_file = tmp_path / "count"
    out = tmp_path / "out"
    shutil.copytree(before, out)
    assert render_in_child(["render", str(new_jobs), "--out", str(out), "--quiet"], out, None, count_file) == 0
    changes = int(count_file.read_text())
    assert content(out) == new and changes > 20

    for kill_at in sorted({*range(1, changes + 1, every), changes}):
        shutil.rmtree(out)
        shutil.copytree(before, out)
        status = render_in_child(["render", str(new_jobs), "--out", str(out), "--quiet"], out, kill_at, count_file)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (kill_at, status)
        from plugdiff.apps.outputs import recover

        for name in OUTPUTS:
            recover(out / name)
            assert content(out)[name] in (old[name], new[name]), (
                kill_at,
                name,
            )  # the old output, or the whole new one
        assert main(["render", str(new_jobs), "--out", str(out), "--quiet", "--resume"]) == 0, kill_at
        assert content(out) == new, kill_at
        assert sorted(p.name for p in out.iterdir()) == sorted(
            [*OUTPUTS, *(f"{n}.json" for n in OUTPUTS), "summary.json"]
        ), kill_at
        assert [str(p) for p in out.rglob(".*")] == [], kill_at


# ------------------------------------------------------------------ two renders, one folder
# A second render on the same --out stops at once naming the first (exit 75), or with --wait
# waits for it; either way each job is rendered once and the summary matches the files.

FAST = {"frames": 8, "window": 8, "stride": 4, "steps": 1}
PAIR = ("clip.mp4", "frames")


def pair_jobs(folder: Path, seed: int) -> Path:
    path = folder / f"pair-{seed}.json"
    jobs = [
        {"name": "clip", "prompt": "a red circle moving right", **FAST},
        {"name": "frames", "prompt": "a blue square", "format": "png", **FAST},
    ]
    path.write_text(json.dumps({"defaults": {"seed": seed}, "jobs": jobs}))
    return path


def pair_content(out: Path) -> dict:
    """Each output's bytes (hashed) and its sidecar's seed (None: missing)."""
    state = {}
    for name in PAIR:
        path = out / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        digest = (
            hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest()
            if path.exists()
            else None
        )
        sidecar = out / f"{name}.json"
        state[name] = (digest, json.loads(sidecar.read_text())["seed"] if sidecar.exists() else None)
    return state


def summary_matches_disk(out: Path, new: dict) -> list[dict]:
    """The rows of out/summary.json, after checking each against the disk: a done or skipped
    job's output is the new one with its sidecar, whose file list matches the files."""
    from plugdiff.apps import outputs

    rows = json.loads((out / "summary.json").read_text())["rows"]
    for row in rows:
        output = Path(row["output"])
        if row["status"] in ("done", "skipped"):
            assert pair_content(out)[output.name] == new[output.name], row
            assert outputs.mismatch(output, outputs.read_sidecar(output)) is None, row
    return rows


def fake_renderers(monkeypatch, log: Path | None = None, delay: float = 0.0):
    """Replace the models with a renderer that makes seeded random frames at once (the write
    path is the real one); ``log`` gets one line per finished job."""
    import torch

    import plugdiff.apps.batch as batch
    from plugdiff.apps.rendered import Rendered
    from plugdiff.media import save_video

    class Fake:
        pipelines = []

        def memory_estimate(self, settings):
            return 0

        def __call__(self, settings, generator):
            time.sleep(delay)
            frames = torch.rand((settings["frames"], 3, 16, 16), generator=generator)
            return Rendered(
                lambda path: save_video(frames, path, fps=settings["fps"]), {"frames": settings["frames"]}, frames
            )

    monkeypatch.setattr(batch.Renderers, "get", lambda self, job: Fake())
    if log is not None:
        real = batch.render_and_write

        def logged(job, output, renderers, **kwargs):
            rendered = real(job, output, renderers, **kwargs)
            with open(log, "a") as file:
                file.write(f"{os.getpid()} {job.name}\n")
            return rendered

        monkeypatch.setattr(batch, "render_and_write", logged)


def forked(run, stderr: Path, go: Path | None = None) -> int:
    """``run()`` in a forked child (its stderr to a file), started when ``go`` exists; the pid."""
    pid = os.fork()
    if pid:
        return pid
    status = 3
    try:
        import sys

        sys.stderr = open(stderr, "w", buffering=1)
        while go is not None and not go.exists():
            time.sleep(0.001)
        status = run()
    finally:
        os._exit(status)


def exit_code(pid: int) -> int:
    status = os.waitpid(pid, 0)[1]
    return os.waitstatus_to_exitcode(status)


@pytest.mark.parametrize("flags", ["", "--wait --resume"])
def test_two_renders_started_together_render_each_job_once(tmp_path, flags, monkeypatch):
    """The real models, two processes started at the same instant on one --out. Before the
    lock both rendered every job, one deleted the other's staging folder (FileNotFoundError),
    and the last summary called a complete output failed."""
    log, go, out = tmp_path / "rendered.log", tmp_path / "go", tmp_path / "out"
    path = pair_jobs(tmp_path, 1)
    import plugdiff.apps.batch as batch

    real = batch.render_and_write

    def logged(job, output, renderers, **kwargs):
        rendered = real(job, output, renderers, **kwargs)
        with open(log, "a") as file:
            file.write(f"{os.getpid()} {job.name}\n")
        return rendered

    monkeypatch.setattr(batch, "render_and_write", logged)
    args = ["render", str(path), "--out", str(out), "--quiet", *flags.split()]
    pids = [
        forked(lambda: main(args), tmp_path / "first.err", go),
        forked(lambda: main(args), tmp_path / "second.err", go),
    ]
    go.write_text("")
    codes = [exit_code(pid) for pid in pids]
    rendered = log.read_text().split()
    names = rendered[1::2]
    assert sorted(names) == ["clip", "frames"], rendered  # each job rendered once, by one process
    holder = int(rendered[0])
    errors = {pid: (tmp_path / f"{which}.err").read_text() for pid, which in zip(pids, ("first", "second"))}
    if not flags:
        other = next(pid for pid in pids if pid != holder)
        assert sorted(codes) == [0, 75], (codes, errors)
        # the holder is named once it has written its record; a refusal in the instant between
        # taking the lock and writing it says so instead
        named = f"is in use by another plugdiff run (pid {holder} on host" in errors[other]
        unrecorded = "is in use by another plugdiff run (its holder is not recorded yet)" in errors[other]
        assert (named or unrecorded) and "--wait" in errors[other], errors[other]
        assert [r["status"] for r in summary_matches_disk(out, pair_content(out))] == ["done", "done"]
    else:
        assert codes == [0, 0], errors
        assert any("waiting: " in text for text in errors.values()), errors
        statuses = [r["status"] for r in summary_matches_disk(out, pair_content(out))]
        assert statuses == ["skipped", "skipped"], statuses  # the last summary: the waiter's
    assert all(pair_content(out)[n][1] == 1 for n in PAIR)
    assert [str(p) for p in out.rglob(".*")] == []


def test_a_second_render_waits_while_the_first_holds_the_folder(tmp_path, monkeypatch):
    """Deterministic order: the first render holds the folder (its renderer is slow), then the
    second starts; without --wait it stops at once naming the first, with --wait --resume it
    takes over when the first is done and skips its jobs."""
    log, out = tmp_path / "rendered.log", tmp_path / "out"
    fake_renderers(monkeypatch, log, delay=1.0)
    path = pair_jobs(tmp_path, 1)
    args = ["render", str(path), "--out", str(out), "--quiet"]
    first = forked(lambda: main(args), tmp_path / "first.err")
    deadline = time.monotonic() + 120
    while not (out / ".plugdiff.lock").exists():
        assert time.monotonic() < deadline, "the first render did not take the folder"
        time.sleep(0.01)
    assert main(args) == 75  # in this process: stops at once
    waiter = forked(lambda: main(args + ["--wait", "--resume"]), tmp_path / "second.err")
    assert exit_code(first) == 0 and exit_code(waiter) == 0
    assert (
        f"waiting: {out} is in use by another plugdiff run (pid {first} on host"
        in (tmp_path / "second.err").read_text()
    )
    assert log.read_text().split() == [str(first), "clip", str(first), "frames"]
    assert [r["status"] for r in summary_matches_disk(out, pair_content(out))] == ["skipped", "skipped"]
    assert [str(p) for p in out.rglob(".*")] == []


@pytest.mark.parametrize("every", [pytest.param(1, marks=pytest.mark.slow), 5])
def test_the_holder_killed_at_every_write_step_while_a_second_render_waits(tmp_path, monkeypatch, every):
    """The first render is killed (SIGKILL) before each change it makes in the folder while a
    second one (--wait --resume) waits for the folder: the kernel drops the dead run's lock, the
    second takes it over, finishes every job, and no job is finished twice."""
    fake_renderers(monkeypatch, tmp_path / "rendered.log")
    old_jobs, new_jobs = pair_jobs(tmp_path, 1), pair_jobs(tmp_path, 2)
    before, reference = tmp_path / "before", tmp_path / "reference"
    assert main(["render", str(old_jobs), "--out", str(before), "--quiet"]) == 0
    assert main(["render", str(new_jobs), "--out", str(reference), "--quiet"]) == 0
    old, new = pair_content(before), pair_content(reference)
    assert all(old[n] != new[n] for n in PAIR)
    count_file, out = tmp_path / "count", tmp_path / "out"
    shutil.copytree(before, out)
    args = ["render", str(new_jobs), "--out", str(out), "--quiet"]
    assert render_in_child(args, out, None, count_file) == 0
    changes = int(count_file.read_text())
    assert changes > 10
    for kill_at in sorted({*range(1, changes + 1, every), changes}):
        shutil.rmtree(out)
        shutil.copytree(before, out)
        (tmp_path / "rendered.log").write_text("")
        first = os.fork()
        if not first:
            os._exit(render_in_child(args, out, kill_at, count_file) and 0)  # a parent for the killed child
        while not (out / ".plugdiff.lock").exists() and not os.waitpid(first, os.WNOHANG)[0]:
            time.sleep(0.002)
        waiter = forked(lambda: main(args + ["--wait", "--resume"]), tmp_path / "second.err")
        assert exit_code(waiter) == 0, (kill_at, (tmp_path / "second.err").read_text())
        try:
            os.waitpid(first, 0)
        except ChildProcessError:
            pass  # already reaped above
        finished = (tmp_path / "rendered.log").read_text().split()[1::2]
        assert sorted(finished) == sorted(set(finished)), (kill_at, finished)  # no job finished twice
        assert pair_content(out) == new, kill_at
        assert {r["status"] for r in summary_matches_disk(out, new)} <= {"done", "skipped"}, kill_at
        assert [str(p) for p in out.rglob(".*")] == [], kill_at


# ------------------------------------------------------------------ a full disk at each write step
def full_disk_at(monkeypatch, out: Path, fail_at: int | None) -> list:
    """Make the ``fail_at``-th creation of a file or folder under ``out`` (os.open for writing,
    open() for writing, os.mkdir, tempfile's files and folders) fail with ENOSPC, as a full disk
    does; returns a one-item list counting the creations."""
    import builtins
    import errno
    import io

    count = [0]
    prefix = str(out)

    def hit(path, dir_fd=None):
        if str(path).startswith(prefix) or dir_fd is not None:
            count[0] += 1
            if count[0] == fail_at:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open

    def exists(path, dir_fd) -> bool:
        try:
            os.lstat(path, dir_fd=dir_fd)
            return True
        except OSError:
            return False

    def os_open(path, flags, *args, dir_fd=None, **kwargs):
        if (flags & os.O_CREAT and not exists(path, dir_fd)) or flags & os.O_TRUNC:  # a new file, or data to write
            hit(path, dir_fd)
        return real_open(path, flags, *args, dir_fd=dir_fd, **kwargs)

    def mkdir(path, *args, dir_fd=None, **kwargs):
        if not exists(path, dir_fd):  # an existing folder answers EEXIST, full disk or not
            hit(path, dir_fd)
        return real_mkdir(path, *args, dir_fd=dir_fd, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
            hit(file)
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(os, "mkdir", mkdir)
    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    return count


def test_a_full_disk_at_each_write_step(tmp_path, monkeypatch, capsys):
    """Replace a batch's outputs while the disk is full at the N-th file or folder the run
    creates, for every N: the run ends with a status and a message (never a traceback), every
    output is the old one or the whole new one, the summary (when it could be written) matches
    the disk, nothing hidden is left, and a --resume with space again finishes the batch."""
    fake_renderers(monkeypatch)
    old_jobs, new_jobs = pair_jobs(tmp_path, 1), pair_jobs(tmp_path, 2)
    before, reference, out = tmp_path / "before", tmp_path / "reference", tmp_path / "out"
    assert main(["render", str(old_jobs), "--out", str(before), "--quiet"]) == 0
    assert main(["render", str(new_jobs), "--out", str(reference), "--quiet"]) == 0
    old, new = pair_content(before), pair_content(reference)
    shutil.copytree(before, out)
    with monkeypatch.context() as patch:
        count = full_disk_at(patch, out, None)
        assert main(["render", str(new_jobs), "--out", str(out), "--quiet"]) == 0
    steps = count[0]
    assert steps > 20
    capsys.readouterr()
    for fail_at in range(1, steps + 1):
        shutil.rmtree(out)
        shutil.copytree(before, out)
        with monkeypatch.context() as patch:
            full_disk_at(patch, out, fail_at)
            status = main(["render", str(new_jobs), "--out", str(out), "--quiet"])
        captured = capsys.readouterr()
        assert status in (1, 2), (fail_at, status)
        assert "No space left on device" in captured.err and "Traceback" not in captured.err, (fail_at, captured.err)
        state = pair_content(out)
        assert all(state[n] in (old[n], new[n]) for n in PAIR), fail_at
        summary = json.loads((out / "summary.json").read_text())
        if summary["jobs_file"] == str(new_jobs):  # written by this run: it tells the truth
            for row in summary["rows"]:
                assert (
                    state[Path(row["output"]).name]
                    == (new if row["status"] == "done" else old)[Path(row["output"]).name]
                )
        else:
            assert status == 2 or "summary.json NOT written" in captured.out, fail_at
        assert [str(p) for p in out.rglob(".*")] == [], fail_at
        assert main(["render", str(new_jobs), "--out", str(out), "--quiet", "--resume"]) == 0, fail_at
        assert pair_content(out) == new, fail_at
        capsys.readouterr()
