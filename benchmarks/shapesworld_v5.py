"""World v5's long-video and in-between bars for a ShapesWorld text-to-video model.

    python benchmarks/shapesworld_v5.py inbetween [--model shapesworld-t2v] [--publish]
    python benchmarks/shapesworld_v5.py long [--videos 8] [--frames 128] [--publish]

``inbetween``: captions that differ in one slot (colour, background, shape, direction), mixed
with weights 0.25 / 0.5 / 0.75 as the convex combination of the two captions' text encodings
(what v5 trains on; `plugdiff.shapesworld.world.Mix`). Per frame, the detected object's colour
(at its own shade) and the background are compared with the ground-truth RGB mix
(`plugdiff.shapesworld.long_video_scores.inbetween_errors`); a frame is right when the mixed
slot's distance is within 0.15 ([0, 1] units). Shape and direction mixes report whether every
frame shows one object, and the direction mix the track's speed against the mixed velocity's.

``long``: single-prompt videos of movers (the held-out movers first, then seen ones), window
denoising over ``--frames`` frames (``--long-video fifo`` / ``freelong``: that host, with the
model's stored settings for it; ``--noise-reuse random``: windows with fresh noise for every
frame instead of FreeNoise's shuffled re-use of the first window's). Per video: the speed over
the last 32 frames against the first 32, wraps and jumps (`plugdiff.shapesworld.tracks`); a
video passes when the ratio is >= 0.7, it wraps at least once and it makes no jump. Also the
VBench-style scores of `plugdiff.shapesworld.long_video_scores.video_scores`.

Both use the model's stored sampling defaults (`plugdiff.weights.sampling_defaults`) unless
``--steps`` / ``--guidance`` / ``--scheduler`` say otherwise.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import numpy as np
import published_results
import torch

from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.pipelines.animatediff.hosts import HOSTS, NOISE_REUSE
from plugdiff.samplers import make_scheduler
from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.long_video_scores import inbetween_errors, video_scores
from plugdiff.shapesworld.tracks import net_speed, unwrap_track
from plugdiff.shapesworld.world import (
    BACKGROUNDS,
    COLOURS,
    DIRECTIONS,
    HELD_OUT,
    PALETTE,
    SHAPES,
    ClipSpec,
    Mix,
    parse_caption,
)
from plugdiff.weights import load_pipeline, sampling_defaults

RESULTS = Path(__file__).resolve().parent / "results"
WEIGHTS = (0.25, 0.5, 0.75)
TOLERANCE = 0.15
_UNIT = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1), "still": (0, 0)}


def _pipeline(args, host: str = "windows") -> tuple[TiaraAnimateDiffPipeline, dict]:
    pipe = load_pipeline(args.model, pipeline_cls=TiaraAnimateDiffPipeline)
    settings = {**sampling_defaults(args.model, host=host)}
    for key in ("steps", "guidance", "scheduler"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    pipe.scheduler = make_scheduler(settings["scheduler"], pipe.scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe, settings


def mixed_pairs(per_slot: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(slot, caption_a, caption_b): ``per_slot`` caption pairs for each slot, both ends seen
    combinations, drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    vocab = {"colour": COLOURS, "shape": SHAPES, "direction": DIRECTIONS, "background": BACKGROUNDS}
    pairs = []
    for slot in vocab:
        found = 0
        while found < per_slot:
            u = torch.rand(5, generator=g).tolist()
            pick = lambda seq, x: seq[min(int(x * len(seq)), len(seq) - 1)]  # noqa: E731
            base = {
                "colour": pick(COLOURS, u[0]),
                "shape": pick(SHAPES, u[1]),
                "direction": pick(DIRECTIONS, u[2]),
                "background": pick(BACKGROUNDS, u[3]),
            }
            other = pick([v for v in vocab[slot] if v != base[slot]], u[4])
            try:
                spec = ClipSpec(
                    base["shape"],
                    base["colour"],
                    base["background"],
                    base["direction"],
                    1.0,
                    5.0,
                    (16.0, 16.0),
                    mix=Mix(slot, other, (0.5,)),
                )
                end = spec.mixed_spec()
            except ValueError:
                continue
            if spec.triple in HELD_OUT or end.triple in HELD_OUT:
                continue
            pairs.append((slot, spec.caption, end.caption))
            found += 1
    return pairs


def _rgb(name: str) -> np.ndarray:
    return np.asarray(PALETTE[name], dtype=np.float64)


def mixed_clips(
    pipe, a: str, b: str, w: float, *, clips: int, steps: int, guidance: float, seed: int, output_type: str = "pt"
) -> torch.Tensor:
    """``clips`` 16-frame clips of the in-between caption, conditioned on the convex mix
    ``(1 - w) tau(a) + w tau(b)`` of the two captions' text encodings against the empty prompt,
    seeded with ``seed``: (N, F, 3, H, W) in [-1, 1], or with ``output_type="latent"`` the
    (N, C, F, h, w) latents, undecoded."""
    pos, neg = pipe.encode_prompt([a, b], "cpu", 1, True, None)
    out = pipe(
        prompt_embeds=((1 - w) * pos[0] + w * pos[1])[None].expand(clips, -1, -1),
        negative_prompt_embeds=neg[:1].expand(clips, -1, -1),
        num_frames=16,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator().manual_seed(seed),
        output_type=output_type,
    )
    return out.frames if output_type == "latent" else out.frames.float() * 2 - 1


def inbetween_scores(clips: torch.Tensor, slot: str, a: str, b: str, w: float) -> tuple[list, list, list]:
    """Per-frame (right, one object) and per-clip speed errors (direction mixes) of 16-frame
    ``clips`` (N, F, 3, H, W) in [-1, 1] drawn for the mix of captions ``a`` and ``b`` in
    ``slot`` with weight ``w``."""
    pa, pb = parse_caption(a), parse_caption(b)
    colour = (1 - w) * _rgb(pa["colour"]) + w * _rgb(pb["colour"])
    background = (1 - w) * _rgb(pa["background"]) + w * _rgb(pb["background"])
    right, one, speed_errors = [], [], []
    for clip in clips:
        found = detect(clip)
        errors = inbetween_errors(found, np.tile(colour, (len(clip), 1)), np.tile(background, (len(clip), 1)))
        key = "background" if slot == "background" else "object"
        right += [bool(e <= TOLERANCE) for e in errors[key]]
        one += [d is not None and d.one_object for d in found]
        if slot == "direction":
            track = unwrap_track([d.centre if d is not None else None for d in found], 32)
            ua, ub = np.asarray(_UNIT[pa["direction"]]), np.asarray(_UNIT[pb["direction"]])
            speed_errors.append(net_speed(track) - float(np.hypot(*((1 - w) * ua + w * ub))))
    return right, one, speed_errors


def inbetween(args) -> dict:
    pipe, settings = _pipeline(args)
    rows = []
    print(f"{'slot':>10} {'w':>5} {'right':>6} {'one_obj':>7}  caption a -> caption b")
    for (slot, a, b), w in itertools.product(mixed_pairs(args.pairs), WEIGHTS):
        clips = mixed_clips(
            pipe, a, b, w, clips=args.clips, steps=settings["steps"], guidance=settings["guidance"], seed=args.seed
        )
        right, one, speed_errors = inbetween_scores(clips, slot, a, b, w)
        row = {
            "slot": slot,
            "caption_a": a,
            "caption_b": b,
            "w": w,
            "right_frames": float(np.mean(right)),
            "one_object_frames": float(np.mean(one)),
        }
        if speed_errors:
            row["speed_minus_mixed_unit_speed"] = speed_errors
        rows.append(row)
        print(f"{slot:>10} {w:5.2f} {row['right_frames']:6.3f} {row['one_object_frames']:7.3f}  {a} -> {b}")
    summary = {}
    for slot in ("colour", "background", "shape", "direction"):
        mine = [r for r in rows if r["slot"] == slot]
        summary[slot] = {
            "right_frames": float(np.mean([r["right_frames"] for r in mine])),
            "one_object_frames": float(np.mean([r["one_object_frames"] for r in mine])),
        }
    print("summary:", summary)
    return {
        "settings": settings,
        "tolerance": TOLERANCE,
        "clips_per_cell": args.clips,
        "rows": rows,
        "summary": summary,
    }


def long_movers(args) -> dict:
    pipe, settings = _pipeline(args, args.long_video)
    movers = sorted(t for t in HELD_OUT if t[2] != "still")
    seen = [t for t in itertools.product(COLOURS, SHAPES, DIRECTIONS[:4]) if t not in HELD_OUT]
    order = torch.randperm(len(seen), generator=torch.Generator().manual_seed(args.seed)).tolist()
    triples = (movers + [seen[i] for i in order])[: args.videos]
    backgrounds = ["white", "black", "gray", "blue", "yellow", "green", "red"]
    windows = {"noise_reuse": args.noise_reuse} if args.long_video == "windows" else None
    rows = []
    print(f"{'video':>5} {'ratio':>6} {'wraps':>5} {'jumps':>5} {'pass':>5} {'s':>6}  caption")
    for i, (colour, shape, direction) in enumerate(triples):
        background = next(b for b in backgrounds[i % len(backgrounds) :] + backgrounds if b != colour)
        caption = ClipSpec(shape, colour, background, direction, 1.0, 5.0, (16.0, 16.0)).caption
        start = time.perf_counter()
        out = pipe(
            caption,
            num_frames=args.frames,
            num_inference_steps=settings["steps"],
            guidance_scale=settings["guidance"],
            generator=torch.Generator().manual_seed(args.seed + i),
            output_type="pt",
            long_video=args.long_video,
            windows=windows,
        )
        seconds = time.perf_counter() - start
        frames = out.frames[0].float() * 2 - 1
        scores = video_scores(frames, detect(frames), caption=caption)
        passed = bool(scores["speed_ratio"] >= 0.7 and scores["wraps"] >= 1 and scores["jumps"] == 0)
        rows.append(
            {
                "caption": caption,
                "seed": args.seed + i,
                "seconds": round(seconds, 1),
                "passes": passed,
                **{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in scores.items()},
            }
        )
        print(
            f"{i:5d} {scores['speed_ratio']:6.2f} {scores['wraps']:5d} {scores['jumps']:5d} {passed!s:>5} "
            f"{seconds:6.1f}  {caption}"
        )
    share = {
        key: float(np.mean([test(r) for r in rows]))
        for key, test in {
            "speed_kept": lambda r: (r["speed_ratio"] or 0) >= 0.7,
            "wraps": lambda r: r["wraps"] >= 1,
            "no_jump": lambda r: r["jumps"] == 0,
            "passes": lambda r: r["passes"],
        }.items()
    }
    print("shares of videos:", share)
    return {
        "settings": settings,
        "long_video": args.long_video,
        **(windows or {}),
        "frames": args.frames,
        "rows": rows,
        "shares": share,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("section", choices=["inbetween", "long"])
    parser.add_argument("--model", default="shapesworld-t2v")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairs", type=int, default=3, help="inbetween: caption pairs per slot")
    parser.add_argument("--clips", type=int, default=4, help="inbetween: clips per pair and weight")
    parser.add_argument("--videos", type=int, default=8, help="long: videos")
    parser.add_argument("--frames", type=int, default=128, help="long: frames per video")
    parser.add_argument(
        "--long-video",
        choices=HOSTS,
        default="windows",
        help="long: the host (window denoising, FIFO-Diffusion, FreeLong; the pipeline's long_video)",
    )
    parser.add_argument(
        "--noise-reuse",
        choices=NOISE_REUSE,
        default="shuffle",
        help="long, windows: FreeNoise's shuffled re-use of the first window's noise, or fresh noise per frame",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "shapesworld_v5_SECTION.json",
        help="SECTION is replaced by the section's name",
    )
    args = published_results.parse_args(parser, argv)
    if args.noise_reuse != "shuffle" and (args.section, args.long_video) != ("long", "windows"):
        parser.error("--noise-reuse goes with the long section on the windows host")
    args.out = Path(str(args.out).replace("SECTION", args.section))
    result = inbetween(args) if args.section == "inbetween" else long_movers(args)
    published_results.write_json(args.out, {"model": args.model, **result}, models=[args.model])
    return result


if __name__ == "__main__":
    main()
