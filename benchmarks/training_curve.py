"""Plot a training run's curve: the loss and the held-out / seen caption agreement of every export
against steps and wall time, from the ``training_curve.json`` that
``python -m plugdiff.shapesworld.train t2v --eval-clips N`` writes beside its exports.

    python benchmarks/training_curve.py runs/t2v-v2 --name shapesworld_t2v_training --publish

Writes ``benchmarks/results/<name>.json`` (the curve, copied) and ``<name>.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import published_results
from shared import pyplot, save_figure

RESULTS = Path(__file__).resolve().parent / "results"
SCORES = ("colour_frames", "shape_frames", "clean_frames", "direction_clips")


def plot(curve: list[dict], path: Path, title: str) -> None:
    steps = [row["step"] for row in curve]
    fig, (loss_ax, *score_axes) = pyplot().subplots(1, 3, figsize=(13, 3.6))
    loss_ax.plot(steps, [row["loss"] for row in curve], "k.-")
    loss_ax.set_xlabel("step"), loss_ax.set_ylabel("mean loss since the last export"), loss_ax.set_yscale("log")
    minutes = loss_ax.secondary_xaxis(
        "top",
        functions=(
            lambda s: _interp(s, steps, [row["seconds"] / 60 for row in curve]),
            lambda m: _interp(m, [row["seconds"] / 60 for row in curve], steps),
        ),
    )
    minutes.set_xlabel("training minutes")
    scored = [row for row in curve if row.get("scores")]
    for ax, group in zip(score_axes, ("held_out", "seen"), strict=True):
        for key in SCORES:
            ax.plot([r["step"] for r in scored], [r["scores"][group][key] for r in scored], ".-", label=key)
        (
            ax.set_ylim(0, 1.02),
            ax.set_xlabel("step"),
            ax.set_title(f"{group.replace('_', ' ')} combinations", fontsize=9),
        )
    score_axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def _interp(x, xs, ys):
    import numpy as np

    return np.interp(x, xs, ys)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the training output folder (holds training_curve.json)")
    parser.add_argument("--name", default="shapesworld_t2v_training", help="file name of the results")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = published_results.parse_args(parser, argv)
    data = json.loads((args.run / "training_curve.json").read_text())
    published_results.write_json(args.out / f"{args.name}.json", data, models=[args.run])
    plot(data["curve"], args.out / f"{args.name}.png", f"{args.run.name}: loss and caption agreement per export")
    for row in data["curve"]:
        held = (row.get("scores") or {}).get("held_out", {})
        print(
            f"step {row['step']:6d} {row['seconds'] / 60:7.1f} min loss {row['loss']:.4f} "
            + " ".join(f"{k} {held[k]:.3f}" for k in SCORES if k in held)
        )
    return data


if __name__ == "__main__":
    main()
