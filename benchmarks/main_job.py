"""Does the README's main job follow its schedule? Renders it for several seeds exactly as the
README's command does (``plugdiff video``, PNG frames at the model's size instead of an
enlarged MP4), scores every frame with the detector, times the command as written, and draws the
contact sheet the README shows.

    python benchmarks/main_job.py --publish      # seeds 0-4, ~4 minutes on 2 idle CPU cores
    python benchmarks/main_job.py --seeds 0      # one seed, written under outputs/benchmarks/
    python benchmarks/main_job.py --samplers default:25 accelerated-ddim:15 --publish
        # the same job under several samplers side by side: main_job_samplers.json, time ratios to the first

Per seed: ``follows``, the share of frames more than ``--margin`` frames away from every prompt
change whose detected object has the scheduled colour and shape on the scheduled background;
``present``, the share of all frames with a detected object; ``follows_all``, every frame judged:
frames outside a transition as ``follows`` does, frames inside one against the ground-truth
morph of world v5 (object colour, at its own shade, and background within 0.15 of the RGB mix
with the frame's transition weight; `plugdiff.shapesworld.long_video_scores.inbetween_errors`);
``one_object``, the share of frames that show exactly one object. The transition weights are
PromptBlend's for the transition the run used (the model's stored default unless the command
passes ``--transition``). Writes
``benchmarks/results/main_job.json`` and ``docs/images/main-job.png`` (seed 0, every fourth frame).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import published_results
import torch
from PIL import Image

from plugdiff.apps.cli import main as plugdiff
from plugdiff.media.fileio import atomic_write
from plugdiff.pipelines import PromptSchedule, read_schedule_file
from plugdiff.pipelines.animatediff.prompt_interpolation import frame_mixing
from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.long_video_scores import inbetween_errors
from plugdiff.shapesworld.world import PALETTE, parse_caption
from plugdiff.weights import sampling_defaults

ROOT = Path(__file__).resolve().parents[1]
SCHEDULE = ROOT / "examples" / "schedules" / "shapesworld.txt"
FRAMES = 64
COMMAND = [
    "video",
    "--schedule",
    str(SCHEDULE),
    "--frames",
    str(FRAMES),
    "--transition",
    "4",
]  # the README's, less --upscale / --out


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
        ok.append(
            d is not None and (d.colour, d.shape, d.background) == (want["colour"], want["shape"], want["background"])
        )
    return {
        "follows": sum(ok) / len(ok),
        "present": sum(d is not None for d in found) / len(found),
        "judged_frames": len(judged),
        "wrong_frames": [f for f, good in zip(judged, ok, strict=True) if not good],
    }


def _transition(command: list[str], model: str):
    """The transition the command renders with: its ``--transition`` or the model's stored one."""
    if "--transition" in command:
        value = float(command[command.index("--transition") + 1])
        return int(value) if value > 1 else value
    return sampling_defaults(model)["transition"]


def morph_truth(schedule: PromptSchedule, num_frames: int, transition) -> tuple[np.ndarray, ...]:
    """Per frame: the transition weights over the key-frame prompts (F, P), and the ground-truth
    object colour and background (F, 3), RGB in [0, 1], of world v5's mix."""
    _, blended = frame_mixing(schedule.frames, num_frames, transition)
    weights = blended.double().numpy()
    captions = [parse_caption(text) for text in schedule.texts]
    colours = np.array([PALETTE[c["colour"]] for c in captions])
    backgrounds = np.array([PALETTE[c["background"]] for c in captions])
    return weights, weights @ colours, weights @ backgrounds


def score_all(frames: torch.Tensor, schedule: PromptSchedule, transition, tolerance: float = 0.15) -> dict:
    """``follows_all`` and ``one_object`` of the module doc."""
    found = detect(frames)
    weights, colours, backgrounds = morph_truth(schedule, len(frames), transition)
    errors = inbetween_errors(found, colours, backgrounds)
    ok = []
    for f, d in enumerate(found):
        if weights[f].max() == 1.0:  # a key-frame prompt alone
            want = scheduled(schedule, f)
            ok.append(
                d is not None
                and d.one_object
                and (d.colour, d.shape, d.background) == (want["colour"], want["shape"], want["background"])
            )
        else:
            ok.append(
                bool(
                    d is not None
                    and d.one_object
                    and errors["object"][f] <= tolerance
                    and errors["background"][f] <= tolerance
                )
            )
    return {
        "follows_all": sum(ok) / len(ok),
        "one_object": sum(d is not None and d.one_object for d in found) / len(found),
        "wrong_frames_all": [f for f, good in enumerate(ok) if not good],
        "transition_frames": [f for f in range(len(found)) if weights[f].max() < 1.0],
    }


def contact_sheet(frames: torch.Tensor, path: Path, every: int = 4, scale: int = 4, columns: int = 8) -> None:
    picked = ((frames[::every] + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    rows = [np.concatenate(list(picked[i : i + columns]), axis=1) for i in range(0, len(picked), columns)]
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    sheet = sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: sheet.save(tmp, format="PNG"))


def run_seeds(command: list[str], seeds, schedule: PromptSchedule, margin: int, transition, sheet: Path) -> dict:
    """Render ``command`` once per seed, score every render and time it; the first seed's frames
    go to the contact sheet ``sheet``. Returns {"seeds": {seed: row}, "mean": {...}}."""
    rows = {}
    print(f"{'seed':>4} {'follows':>8} {'present':>8} {'all':>8} {'one_obj':>8} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            out = Path(tmp) / f"seed{seed}"
            start = time.perf_counter()
            if plugdiff([*command, "--seed", str(seed), "--out", str(out), "--quiet"]) != 0:
                raise SystemExit(f"plugdiff video failed for seed {seed}")
            seconds = time.perf_counter() - start
            frames = read_frames(out)
            row = {**score(frames, schedule, margin), **score_all(frames, schedule, transition)}
            rows[seed] = row = {**row, "seconds": round(seconds, 1)}
            print(
                f"{seed:4d} {row['follows']:8.3f} {row['present']:8.3f} {row['follows_all']:8.3f} "
                f"{row['one_object']:8.3f} {seconds:8.1f}"
            )
            if seed == seeds[0]:
                contact_sheet(frames, sheet)
    keys = ("follows", "present", "follows_all", "one_object", "seconds")
    mean = {k: sum(r[k] for r in rows.values()) / len(rows) for k in keys}
    print("mean " + " ".join(f"{mean[k]:8.3f}" for k in keys))
    return {"seeds": rows, "mean": mean}


def compare_samplers(command: list[str], samplers: list[str], args, schedule, transition) -> dict:
    """The main job under each ``NAME:STEPS`` sampler (``--scheduler NAME --steps STEPS`` added to
    the command), side by side; ratios are to the first sampler's means."""
    result = {"command": _shown(command), "margin": args.margin, "transition": transition, "samplers": {}}
    for spec in samplers:
        name, _, steps = spec.partition(":")
        if not steps.isdigit():
            raise SystemExit(f"--samplers takes NAME:STEPS, got {spec!r}")
        print(f"== {name}, {steps} steps")
        sheet = args.out.with_name(f"main-job-{name}-{steps}.png")
        sampler = [*command, "--scheduler", name, "--steps", steps]
        result["samplers"][spec] = run_seeds(sampler, args.seeds, schedule, args.margin, transition, sheet)
    first = next(iter(result["samplers"].values()))["mean"]
    for run in result["samplers"].values():
        run["ratio_to_first"] = {k: run["mean"][k] / first[k] if first[k] else float("nan") for k in first}
    print(f"{'sampler':>24} {'follows':>8} {'all':>8} {'one_obj':>8} {'seconds':>8} {'time ratio':>10}")
    for spec, run in result["samplers"].items():
        m = run["mean"]
        print(
            f"{spec:>24} {m['follows']:8.3f} {m['follows_all']:8.3f} {m['one_object']:8.3f} {m['seconds']:8.1f} "
            f"{run['ratio_to_first']['seconds']:10.2f}"
        )
    return result


def _shown(command: list[str]) -> str:
    """The command as the README writes it (the schedule path relative to the repository)."""
    return "plugdiff " + " ".join(command[:1] + ["--schedule", "examples/schedules/shapesworld.txt"] + command[3:])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--margin", type=int, default=4, help="frames on each side of a prompt change left unjudged")
    parser.add_argument(
        "--model", default=None, help="another model (registry name or folder) instead of the README's bundled one"
    )
    parser.add_argument(
        "--samplers",
        nargs="+",
        default=None,
        metavar="NAME:STEPS",
        help="compare samplers (plugdiff video --scheduler NAME --steps STEPS) side by side instead of one run "
        "with the model's defaults; writes main_job_samplers.json unless --out says otherwise",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "main_job.json")
    parser.add_argument(
        "--sheet",
        type=Path,
        default=None,
        help="contact sheet (default: docs/images/main-job.png with --publish, else beside --out)",
    )
    args = published_results.parse_args(parser, argv)
    if args.samplers and args.out.name == "main_job.json":
        args.out = args.out.with_name("main_job_samplers.json")
    if args.sheet is None:
        args.sheet = ROOT / "docs" / "images" / "main-job.png" if args.publish else args.out.with_name("main-job.png")

    schedule = PromptSchedule.parse(read_schedule_file(SCHEDULE))
    command = COMMAND + (["--model", args.model] if args.model else [])
    transition = _transition(command, args.model or "shapesworld-t2v")
    if args.samplers:
        result = compare_samplers(command, args.samplers, args, schedule, transition)
    else:
        result = {"command": _shown(command), "margin": args.margin, "transition": transition}
        result.update(run_seeds(command, args.seeds, schedule, args.margin, transition, args.sheet))
    published_results.write_json(args.out, result, models=[args.model or "shapesworld-t2v"])
    return result


if __name__ == "__main__":
    main()
