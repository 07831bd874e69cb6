"""Does the README's main job follow its schedule? Renders it for several seeds exactly as the
README's command does (``plugdiff video``, PNG frames at the model's size instead of an
enlarged MP4), scores every frame with the detector, times the command as written, and draws the
contact sheet the README shows.

    python benchmarks/main_job.py --publish      # seeds 0-4, ~4 minutes on 2 idle CPU cores
    python benchmarks/main_job.py --seeds 0      # one seed, written under outputs/benchmarks/

Per seed: ``follows``, the share of frames more than ``--margin`` frames away from every prompt
change whose detected object has the scheduled colour and shape on the scheduled background;
``present``, the share of all frames with a detected object. Writes
``benchmarks/results/main_job.json`` and ``docs/images/main-job.png`` (seed 0, every fourth frame).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from plugdiff.apps.cli import main as plugdiff
from plugdiff.media.fileio import atomic_write
from plugdiff.pipelines import PromptSchedule, read_schedule_file
from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.world import parse_caption

sys.path.insert(0, str(Path(__file__).resolve().parent))
import published_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = ROOT / "examples" / "schedules" / "shapesworld.txt"
FRAMES = 64
COMMAND = ["video", "--schedule", str(SCHEDULE), "--frames", str(FRAMES), "--transition", "4"]  # the README's, less --upscale / --out


def read_frames(folder: Path) -> torch.Tensor:
    """(F, 3, H, W) in [-1, 1] from a PNG frame folder."""
    arrays = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def scheduled(schedule: PromptSchedule, frame: int) -> dict[str, str]:
    """The caption fields (colour, shape, background, ...) in force at ``frame``."""
    return parse_caption([k.text for k in schedule.keyframes if k.frame <= frame][-1])


def score(frames: torch.Tensor, schedule: PromptSchedule, margin: int) -> dict:
    changes = [f for f in schedule.frames if f > 0]
    found = detect(frames)
    judged = [f for f in range(len(frames)) if all(abs(f - c) > margin for c in changes)]
    ok = []
    for f in judged:
        want, d = scheduled(schedule, f), found[f]
        ok.append(d is not None and (d.colour, d.shape, d.background) == (want["colour"], want["shape"], want["background"]))
    return {
        "follows": sum(ok) / len(ok), "present": sum(d is not None for d in found) / len(found),
        "judged_frames": len(judged), "wrong_frames": [f for f, good in zip(judged, ok, strict=True) if not good],
    }


def contact_sheet(frames: torch.Tensor, path: Path, every: int = 4, scale: int = 4, columns: int = 8) -> None:
    picked = ((frames[::every] + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    rows = [np.concatenate(list(picked[i: i + columns]), axis=1) for i in range(0, len(picked), columns)]
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: sheet.save(tmp, format="PNG"))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--margin", type=int, default=4, help="frames on each side of a prompt change left unjudged")
    parser.add_argument("--model", default=None, help="another model (registry name or folder) instead of the README's bundled one")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "main_job.json")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="contact sheet (default: docs/images/main-job.png with --publish, else beside --out)")
    args = published_results.parse_args(parser, argv)
    if args.sheet is None:
        args.sheet = ROOT / "docs" / "images" / "main-job.png" if args.publish else args.out.with_name("main-job.png")

    schedule = PromptSchedule.parse(read_schedule_file(SCHEDULE))
    command = COMMAND + (["--model", args.model] if args.model else [])
    result = {"command": "plugdiff " + " ".join(command[:1] + ["--schedule", "examples/schedules/shapesworld.txt"] + command[3:]),
              "margin": args.margin, "seeds": {}}
    print(f"{'seed':>4} {'follows':>8} {'present':>8} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            out = Path(tmp) / f"seed{seed}"
            start = time.perf_counter()
            if plugdiff([*command, "--seed", str(seed), "--out", str(out), "--quiet"]) != 0:
                raise SystemExit(f"plugdiff video failed for seed {seed}")
            seconds = time.perf_counter() - start
            frames = read_frames(out)
            row = {**score(frames, schedule, args.margin), "seconds": round(seconds, 1)}
            result["seeds"][seed] = row
            print(f"{seed:4d} {row['follows']:8.3f} {row['present']:8.3f} {seconds:8.1f}")
            if seed == args.seeds[0]:
                contact_sheet(frames, args.sheet)
    rows = result["seeds"].values()
    result["mean"] = {k: sum(r[k] for r in rows) / len(rows) for k in ("follows", "present", "seconds")}
    print(f"mean {result['mean']['follows']:8.3f} {result['mean']['present']:8.3f} {result['mean']['seconds']:8.1f}")
    published_results.write_json(args.out, result, models=[args.model or "shapesworld-t2v"])
    return result


if __name__ == "__main__":
    main()
