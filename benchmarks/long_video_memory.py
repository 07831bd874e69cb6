"""Seconds and peak memory per frame of each long-video host at two lengths, on the bundled model.

Each (host, length) runs ``long_video.py --sections single`` in a process of its own, so its peak
resident memory (``peak_rss_mb_so_far``, model included) is that run's alone; the report puts the
lengths side by side with the ratio of the longer to the shorter. FIFO-Diffusion's memory should
not grow with the length (the issue's bar: the peak at 512 frames at most 1.1x the peak at 64);
window denoising's grows with the latents it holds, FreeLong's with every frame's activations.

    python benchmarks/long_video_memory.py --lengths 64 512 --steps 12 --fifo-steps 16
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import published_results

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
HOSTS = ("windows", "FreeNoise", "FIFO", "FreeLong")  # long_video.py's method names, TiARA off
KEPT = ("seconds_per_frame", "peak_rss_mb_so_far", "subject_consistency", "background_consistency", "size_cv")


def run_one(method: str, frames: int, args, folder: Path) -> tuple[dict, dict]:
    """One method at one length in a fresh process: its single-section row without the videos, and
    the hosts' settings it ran with (long_video.py's ``hosts``: FIFO's window and steps, ...)."""
    tag = f"{method}_{frames}"
    command = [sys.executable, str(HERE / "long_video.py"), "--sections", "single", "--model", str(args.model)]
    command += ["--frames", str(frames), "--methods", method, "--captions", str(args.captions)]
    command += ["--seeds", *map(str, args.seeds), "--steps", str(args.steps), "--guidance", str(args.guidance)]
    command += ["--fifo-window", str(args.fifo_window), "--out", str(folder), "--tag", tag]
    if args.fifo_steps:
        command += ["--fifo-steps", str(args.fifo_steps)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    run = json.loads((folder / f"long_video_{tag}.json").read_text())
    row = run["single"][str(frames)][method]
    return {key: row[key] for key in KEPT}, run["hosts"]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapesworld-t2v", help="registry name or folder")
    parser.add_argument("--hosts", nargs="+", choices=HOSTS, default=list(HOSTS))
    parser.add_argument("--lengths", type=int, nargs=2, default=[64, 512], help="the shorter and the longer")
    parser.add_argument("--captions", type=int, default=1, help="held-out captions, rendered as one batch")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument("--fifo-steps", type=int, help="FIFO's steps (default: long_video.py's)")
    parser.add_argument("--fifo-window", type=int, default=16)
    parser.add_argument("--tag", default="", help="suffix of the output file (long_video_memory_<tag>.json)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = published_results.parse_args(parser, argv)
    short, long = args.lengths
    if not 17 <= short < long:
        parser.error("--lengths: two lengths, the first >= 17 and below the second")
    report = {"model": str(args.model), "lengths": args.lengths, "steps": args.steps, "hosts": {}, "host_settings": {}}
    with tempfile.TemporaryDirectory() as folder:
        for host in args.hosts:
            runs = {str(n): run_one(host, n, args, Path(folder)) for n in args.lengths}
            rows = {n: row for n, (row, _) in runs.items()}
            report["host_settings"].update(runs[str(short)][1])
            ratio = rows[str(long)]["peak_rss_mb_so_far"] / rows[str(short)]["peak_rss_mb_so_far"]
            report["hosts"][host] = {**rows, "peak_ratio": ratio}
            a, b = rows[str(short)], rows[str(long)]
            print(
                f"{host:10} s/frame {a['seconds_per_frame']:.3f} -> {b['seconds_per_frame']:.3f}  peak MB "
                f"{a['peak_rss_mb_so_far']:.0f} -> {b['peak_rss_mb_so_far']:.0f} (x{ratio:.2f})",
                flush=True,
            )
    suffix = f"_{args.tag}" if args.tag else ""
    published_results.write_json(args.out / f"long_video_memory{suffix}.json", report, models=[args.model])
    return report


if __name__ == "__main__":
    main()
