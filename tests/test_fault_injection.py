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
        {"name": "frames", "prompt": "a blue square", "frames": 8, "window": 8, "stride": 4, "steps": 1, "format": "png"},
        {"name": "restored", "image": image, "operator": "blur", "simulate": True, "samples": 1, "etas": "0.5,0.2", "dds_steps": 1},
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
        digest = hashlib.sha256(b"".join(p.name.encode() + p.read_bytes() for p in files)).hexdigest() if path.exists() else None
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
            assert content(out)[name] in (old[name], new[name]), (kill_at, name)  # the old output, or the whole new one
        assert main(["render", str(new_jobs), "--out", str(out), "--quiet", "--resume"]) == 0, kill_at
        assert content(out) == new, kill_at
        assert sorted(p.name for p in out.iterdir()) == sorted([*OUTPUTS, *(f"{n}.json" for n in OUTPUTS), "summary.json"]), kill_at
        assert [str(p) for p in out.rglob(".*")] == [], kill_at
