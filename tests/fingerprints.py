"""Behaviour fingerprints: a fixed set of ``plugdiff video`` / ``plugdiff restore`` commands and web UI
actions (``plugdiff.apps.demo_actions``, gradio-free) run with fixed seeds on the bundled models, every
named preset of plugdiff's schedulers on a fixed analytic model, and the SHA-256 of every output they make.
A refactor that must not change behaviour leaves every hash as it was.

    # after a change: the working tree against the baseline (exit 1 and the differing outputs otherwise)
    OMP_NUM_THREADS=1 python tests/fingerprints.py --check tests/data/fingerprints_baseline.json
    # a new baseline, made from a commit's plugdiff/ and examples/ (git archive; the working tree is not used)
    OMP_NUM_THREADS=1 python tests/fingerprints.py --commit HEAD --write tests/data/fingerprints_baseline.json

The baseline records the commit it was made from (``made_on``). ``--only NAME`` runs the actions whose
name starts with NAME (``--only samplers/``: the schedulers alone, seconds). Every action is tiny (few
frames, few steps): the whole set takes under a minute of CPU time (about four minutes of wall time on a
busy two-core machine). Everything runs on the CPU; hashes from other machines or torch builds may
differ, so compare runs made on one machine (``--commit`` makes the "before" on yours).

What is hashed: pictures (PNG frames, restore outputs, GIF frames, the web UI's previews) as their
decoded pixels with mode and size, so an encoder's metadata cannot change a hash; ``.npy`` arrays as
dtype, shape and bytes. Sidecars and settings files are left out (they record times, versions and
paths); MP4 containers are left out (timestamps), the video is hashed through its PNG-frame twin.
Schedulers: the final sample's float32 bytes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT / "examples" / "images" / "shapesworld_square.png"
PROMPT = "a red circle moving right on a white background"
SCHEDULE = "0: a red circle moving right on a white background\n12: a blue square moving up on a black background\n"
VIDEO = ["--device", "cpu", "--quiet", "--frames", "20", "--steps", "3", "--seed", "7"]
"""A two-window clip (window 16, stride 4) of the default settings, three steps."""
RESTORE = ["--device", "cpu", "--quiet", "--image", str(IMAGE), "--simulate", "--samples", "2", "--seed", "3"]
COMMIT_VARIABLE = "PLUGDIFF_FINGERPRINTS_COMMIT"
"""Set by ``--commit`` for the run on that commit's tree (recorded in the JSON's ``made_on``)."""
DPNP_SHORT = ["--warm-steps", "3", "--dds-steps", "2", "--etas", "0.6,0.3,0.1"]
SAMPLER_STEPS = (1, 2, 3, 5, 8, 10, 25)
SAMPLER_SETTINGS = {
    "bundled": {},  # shapesworld-ddpm's scheduler config: linear betas, "leading", clip_sample
    "trailing": {"timestep_spacing": "trailing"},
    "trailing-unclipped-final-level-below-1": {
        "timestep_spacing": "trailing",
        "clip_sample": False,
        "set_alpha_to_one": False,
    },
    "linspace-v-prediction-thresholding": {
        "timestep_spacing": "linspace",
        "prediction_type": "v_prediction",
        "thresholding": True,
    },
    "logsnr-grid": None,  # custom timesteps: plugdiff.samplers.logsnr_timesteps, ending at timestep 50
}
"""Scheduler settings over the bundled prior's config, each run at every count of SAMPLER_STEPS."""
VIDEO_SCHEDULERS = (
    "accelerated-ddim",
    "accelerated-ddpm",
    "accelerated-logsnr-2m",
    "accelerated-logsnr-3m",
    "accelerated-logsnr-pc",
    "accelerated-logsnr-gauss",
    "accelerated-logsnr-sde",
    "dpm-solver",
    "unipc",
)
"""The model's own scheduler (the default) is DDIM's: ``--scheduler ddim`` would repeat it."""


def cli_actions(tmp: Path) -> dict[str, list[str]]:
    """Action name -> ``plugdiff`` arguments (``{out}`` stands for the action's output path)."""
    schedule = tmp / "schedule.txt"
    schedule.write_text(SCHEDULE)
    actions = {
        "video/default": ["video", "--prompt", PROMPT, *VIDEO],
        "video/no-tiara": ["video", "--prompt", PROMPT, *VIDEO, "--tiara", "0"],
        "video/schedule-promptblend": ["video", "--schedule", str(schedule), *VIDEO],
        "video/schedule-no-promptblend": ["video", "--schedule", str(schedule), *VIDEO, "--no-prompt-blend"],
    }
    for name in VIDEO_SCHEDULERS:
        actions[f"video/scheduler={name}"] = ["video", "--prompt", PROMPT, *VIDEO, "--scheduler", name]
    actions.update(
        {
            "restore/dpnp-authors-sr4": ["restore", *RESTORE, "--operator", "sr4", "--method", "dpnp", *DPNP_SHORT],
            "restore/dpnp-posterior-inpaint": [
                "restore",
                *RESTORE,
                "--operator",
                "inpaint-box",
                "--method",
                "dpnp",
                "--recipe",
                "posterior",
                *DPNP_SHORT,
            ],
            "restore/dps-sr4": ["restore", *RESTORE, "--operator", "sr4", "--method", "dps", "--steps", "4"],
            "restore/dps-phase-retrieval": [
                "restore",
                *RESTORE,
                "--operator",
                "phase-retrieval",
                "--method",
                "dps",
                "--steps",
                "4",
            ],
        }
    )
    return actions


def run_cli(name: str, argv: list[str], tmp: Path) -> dict[str, str]:
    """Run one ``plugdiff`` command in this process and hash what it wrote."""
    from plugdiff.apps.cli import main

    out = tmp / name.replace("/", "_").replace("=", "-")
    status = main([*argv, "--out", str(out)])
    if status != 0:
        raise RuntimeError(f"{name}: plugdiff {' '.join(argv)} exited with {status}")
    return hash_tree(out)


def demo_actions(tmp: Path) -> dict[str, dict[str, str]]:
    """The web UI's actions (gradio-free): the sampler comparison (every scheduler), a DPS
    restoration of a bundled example, and a short video (its GIF's frames)."""
    from plugdiff.apps.demo_actions import DemoSession
    from plugdiff.samplers import SCHEDULERS

    session = DemoSession(device="cpu", work_dir=tmp / "demo")
    samplers = session.samplers(list(SCHEDULERS), steps=4, seed=5)
    restore = session.restore(None, "red circle on blue", operator="sr4", method="dps", samples=2, seed=2, dps_steps=4)
    video = session.video([(0, PROMPT)], frames=16, steps=2, seed=4)
    return {
        "demo/samplers": {caption.split(":")[0]: hash_picture(picture) for picture, caption in samplers["pictures"]},
        "demo/restore": {caption: hash_picture(picture) for picture, caption in restore["pictures"]},
        "demo/video": {"video.gif": hash_gif(Path(video["gif"]))},
    }


def plugdiff_presets() -> dict:
    """Name -> a function that builds it: every plugdiff scheduler preset of ``plugdiff.samplers.presets``
    and the log-SNR class's own default, on the bundled prior's scheduler config."""
    from diffusers import DDPMScheduler

    from plugdiff.samplers import SCHEDULERS, AcceleratedLogSNRScheduler, make_scheduler
    from plugdiff.weights.registry import bundled_dir

    bundled = DDPMScheduler.from_pretrained(bundled_dir("shapesworld-ddpm"), subfolder="scheduler")
    presets = {
        name: (lambda name=name: make_scheduler(name, bundled))
        for name, entry in SCHEDULERS.items()
        if entry is not None and str(entry[0] if isinstance(entry, tuple) else entry).startswith("plugdiff.")
    }
    presets["AcceleratedLogSNRScheduler()"] = lambda: AcceleratedLogSNRScheduler.from_config(bundled.config)
    return presets


def sampler_runs(build):
    """(label, scheduler, steps, ``set_timesteps`` arguments) of one preset under each of
    SAMPLER_SETTINGS at each of SAMPLER_STEPS."""
    from plugdiff.samplers import logsnr_timesteps

    for setting, overrides in SAMPLER_SETTINGS.items():
        scheduler = build()
        if overrides:
            scheduler = type(scheduler).from_config(scheduler.config, **overrides)
        for steps in SAMPLER_STEPS[1:] if overrides is None else SAMPLER_STEPS:  # a log-SNR grid has >= 2
            grid = {"timesteps": logsnr_timesteps(scheduler.alphas_cumprod, steps)} if overrides is None else {}
            yield f"{setting}, {steps} steps", scheduler, steps, grid


def analytic_model(alphas_cumprod):
    """A fixed eps model on (2, 3, 8, 8) samples: the exact eps of independent Gaussians with
    variances 1e-3..1, plus a nonlinearity."""
    import torch

    variances = torch.logspace(-3, 0, 3 * 8 * 8).reshape(1, 3, 8, 8)

    def eps(x, t):
        a = float(alphas_cumprod[int(t)])
        return (1 - a) ** 0.5 * x / (a * variances + 1 - a) + 0.05 * torch.sin(3 * x)

    return eps


def sampler_noise():
    import torch

    return torch.randn((2, 3, 8, 8), generator=torch.Generator().manual_seed(0))


def sampler_actions() -> dict[str, dict[str, str]]:
    """Each of :func:`plugdiff_presets` in each of :func:`sampler_runs` on :func:`analytic_model` from
    fixed noise, with a seeded generator: the final sample's hash."""
    import torch

    from plugdiff.samplers import denoise

    results = {}
    for preset, build in plugdiff_presets().items():
        hashes = results[f"samplers/{preset}"] = {}
        for label, scheduler, steps, grid in sampler_runs(build):
            sample, _ = denoise(
                scheduler,
                analytic_model(scheduler.alphas_cumprod),
                sampler_noise(),
                None if grid else steps,
                generator=torch.Generator().manual_seed(1),
                **grid,
            )
            hashes[label] = hashlib.sha256(sample.numpy().tobytes()).hexdigest()
    return results


def hash_picture(image: Image.Image) -> str:
    return hashlib.sha256(f"{image.mode} {image.size}".encode() + image.tobytes()).hexdigest()


def hash_gif(path: Path) -> str:
    digest = hashlib.sha256()
    with Image.open(path) as gif:
        for index in range(gif.n_frames):
            gif.seek(index)
            digest.update(hash_picture(gif.convert("RGB")).encode())
    return digest.hexdigest()


def hash_file(path: Path) -> str | None:
    """The hash of one output (None: not hashed, see the module docstring)."""
    suffix = path.suffix.lower()
    if suffix in (".png", ".webp"):
        with Image.open(path) as image:
            return hash_picture(image)
    if suffix == ".gif":
        return hash_gif(path)
    if suffix == ".npy":
        array = np.load(path, allow_pickle=False)
        header = f"{array.dtype} {array.shape}".encode()
        return hashlib.sha256(header + np.ascontiguousarray(array).tobytes()).hexdigest()
    if suffix in (".json", ".mp4"):
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hash_tree(path: Path) -> dict[str, str]:
    """Hashes of the output ``path`` (a file or a folder) keyed by their path below it."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    hashes = {str(p.relative_to(path.parent if p == path else path)): hash_file(p) for p in files}
    return {k: v for k, v in hashes.items() if v is not None}


def fingerprints(only: str = "") -> dict[str, dict[str, str]]:
    """Run every action (or those whose name starts with ``only``); name -> {output: sha256}."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="plugdiff-fingerprints-") as folder:
        tmp = Path(folder)
        if "samplers/".startswith(only) or only.startswith("samplers/"):
            start = time.perf_counter()
            samplers = {k: v for k, v in sampler_actions().items() if k.startswith(only)}
            results.update(samplers)
            print(
                f"samplers: {sum(map(len, samplers.values()))} outputs, {time.perf_counter() - start:.1f} s",
                file=sys.stderr,
            )
        for name, argv in cli_actions(tmp).items():
            if name.startswith(only):
                start = time.perf_counter()
                with contextlib.redirect_stdout(io.StringIO()):
                    results[name] = run_cli(name, argv, tmp)
                print(f"{name}: {len(results[name])} outputs, {time.perf_counter() - start:.1f} s", file=sys.stderr)
        if "demo/".startswith(only) or only.startswith("demo/"):
            start = time.perf_counter()
            with contextlib.redirect_stderr(io.StringIO()):  # the actions' progress bars
                demo = {k: v for k, v in demo_actions(tmp).items() if k.startswith(only)}
            results.update(demo)
            print(
                f"demo: {sum(map(len, demo.values()))} outputs, {time.perf_counter() - start:.1f} s", file=sys.stderr
            )
    return results


def differences(baseline: dict, current: dict) -> list[str]:
    """What differs between two fingerprint sets (actions present in both)."""
    lines = []
    for action in sorted(set(baseline) & set(current)):
        old, new = baseline[action], current[action]
        for output in sorted(set(old) | set(new)):
            if old.get(output) != new.get(output):
                lines.append(f"{action}: {output}: {old.get(output)} -> {new.get(output)}")
    return lines


def made_on() -> dict:
    """What the fingerprints were made from: the commit (and whether plugdiff/ or examples/ had
    uncommitted changes), torch's version and the machine."""
    import platform

    import torch

    commit = os.environ.get(COMMIT_VARIABLE)
    if commit is None:
        git = ["git", "-C", str(ROOT)]
        commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", "plugdiff", "examples"], capture_output=True, text=True
        ).stdout.strip()
        commit += " + uncommitted changes" if changed else ""
    return {"commit": commit, "torch": torch.__version__, "machine": platform.machine()}


def run_at_commit(revision: str, argv: list[str]) -> int:
    """Run this script with ``argv`` on plugdiff/ and examples/ as they are at ``revision`` (``git
    archive`` into a temporary folder that goes first on PYTHONPATH)."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", revision], capture_output=True, text=True, check=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", sha, "plugdiff", "examples"], capture_output=True, check=True
    ).stdout
    with tempfile.TemporaryDirectory(prefix="plugdiff-at-commit-") as tree:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        env = {
            **os.environ,
            COMMIT_VARIABLE: sha,
            "PYTHONPATH": os.pathsep.join(p for p in (tree, os.environ.get("PYTHONPATH")) if p),
        }
        return subprocess.run([sys.executable, __file__, *argv], env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="write the fingerprints to this JSON file")
    parser.add_argument("--check", type=Path, help="compare with this baseline JSON; exit 1 on a difference")
    parser.add_argument("--only", default="", help="run only the actions whose name starts with this")
    parser.add_argument(
        "--commit", help="fingerprint plugdiff as it is at this git revision (e.g. HEAD), not the working tree"
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.commit:
        rest = [
            a
            for i, a in enumerate(argv)
            if a != "--commit" and (i == 0 or argv[i - 1] != "--commit") and not a.startswith("--commit=")
        ]
        return run_at_commit(args.commit, rest)
    import plugdiff

    print(f"plugdiff from {Path(plugdiff.__file__).parent}", file=sys.stderr)
    start, cpu = time.perf_counter(), time.process_time()
    results = fingerprints(args.only)
    count = sum(map(len, results.values()))
    print(
        f"{len(results)} actions, {count} hashes, {time.perf_counter() - start:.0f} s "
        f"({time.process_time() - cpu:.0f} s of CPU)",
        file=sys.stderr,
    )
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        report = {"made_on": made_on(), "actions": results}
        args.write.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    if args.check:
        baseline = json.loads(args.check.read_text())["actions"]
        missing = sorted(set(baseline) - set(results)) if not args.only else []
        diff = differences(baseline, results) + [f"{name}: not run" for name in missing]
        print("\n".join(diff) if diff else f"identical to {args.check} ({count} hashes)")
        return 1 if diff else 0
    if not args.write:
        print(json.dumps(results, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
