"""Does the word or the start position decide the direction a ShapesWorld video moves in?

ShapesWorld's motion is bounded: a clip's start is placed so that its whole path stays in the
frame, so in the training data an object near one edge moves away from it. This script
generates ``--clips`` clips for each of the four moving directions (one caption, the same noise
seeds for every word), detects each clip's start centre and direction, and counts how often
the detected direction is the one with the most room ahead of the start (the free distance to
the frame's edge in that direction) against how often it is the captioned one.

    python benchmarks/shapesworld_direction_room.py --publish     # 12 clips per word, ~2 min on 2 cores
    python benchmarks/shapesworld_direction_room.py --quick       # smoke run

Writes ``results/shapesworld_direction_room.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import published_results

from plugdiff.shapesworld.caption_agreement import MOVING, generate_clips
from plugdiff.shapesworld.detector import detect, detect_direction
from plugdiff.weights import load_pipeline


def room_ahead(centre: tuple[float, float], direction: str, size: int) -> float:
    """Free distance from ``centre`` (x right, y down) to the frame's edge in ``direction``."""
    x, y = centre
    return {"left": x, "right": size - x, "up": y, "down": size - y}[direction]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapesworld-t2v", help="registry name or folder")
    parser.add_argument("--caption", default="a red circle moving {} on a white background")
    parser.add_argument("--clips", type=int, default=12, help="clips per direction word")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 clips per word, 2 steps (smoke test)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "shapesworld_direction_room.json"
    )
    args = published_results.parse_args(parser, argv)
    if args.quick:
        args.clips, args.steps = 2, 2
    pipe = load_pipeline(args.model)
    rows = []
    for word in MOVING:
        caption = args.caption.format(word)
        clips = generate_clips(
            pipe, [caption] * args.clips, steps=args.steps, guidance=args.guidance, seed=args.seed, batch=args.clips
        )
        for clip in clips:
            size = clip.shape[-1]
            centres = [d.centre if d is not None else None for d in detect(clip)]
            start = next((c for c in centres if c is not None), None)
            row = {"word": word, "detected": detect_direction(centres, size=size), "start": start}
            if start is not None:
                rooms = {d: room_ahead(start, d, size) for d in MOVING}
                row["most_room"] = max(rooms, key=rooms.get)
            rows.append(row)
    located = [r for r in rows if r["start"] is not None]
    summary = {
        "clips": len(rows),
        "correct": sum(r["detected"] == r["word"] for r in rows),
        "detected_is_most_room": sum(r["detected"] == r["most_room"] for r in located),
        "word_is_most_room": sum(r["word"] == r["most_room"] for r in located),
    }
    print(
        f"{summary['clips']} clips: detected direction = the word in {summary['correct']}, = the direction "
        f"with the most room ahead in {summary['detected_is_most_room']}; the word had the most room in "
        f"{summary['word_is_most_room']}"
    )
    report = {
        "model": args.model,
        "caption": args.caption,
        "steps": args.steps,
        "guidance": args.guidance,
        "seed": args.seed,
        "summary": summary,
        "clips": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    published_results.write_json(args.out, report, models=[args.model])
    return report


if __name__ == "__main__":
    main()
