"""Long videos on the bundled ShapesWorld text-to-video model: does TiARA keep the object's
identity, and does PromptBlend change prompts more coherently than linear interpolation?

All methods run on diffusers' FreeNoise windowing of the motion modules (``enable_free_noise``,
16-frame windows, stride 4, pyramid weights), DDIM with ``--steps`` steps, guidance 6, the same
seeds for every method. Scored from per-frame detections (``plugdiff.shapesworld.video_consistency``).

Sections:

* ``single``: 64- and 128-frame videos of the five held-out captions (objects the model never saw
  moving that way), ``--seeds`` seeds each, by plain windows (fresh noise per frame) without and
  with TiARA, FreeNoise (shuffled noise), FreeNoise + TiARA static (-alpha I) and FreeNoise +
  TiARA adaptive (the shipped defaults). Identity consistency (frames with the caption's colour
  and shape), self-consistency (frames with the video's own most common identity), clean frames,
  flicker (outside the object), motion jerk (centroid second difference) and seconds per frame;
  then VBench's dimensions read with the world's ground truth
  (``plugdiff.shapesworld.long_video_scores``: subject and background consistency, motion
  smoothness as jerk, temporal flickering, speed and the share that moves (dynamic degree), seam
  discontinuity at the windows' starts, size and shade drift). Every TiARA method gets
  ``vs_TiARA_off``: per dimension, the mean video-by-video difference against the same host
  without TiARA (same captions and seeds) and its 95 % t interval. ``--captions 5 --seeds 0 1 2 3
  4 5`` gives the 30 videos per cell that such an interval needs. ``peak_rss_mb_so_far`` is the
  process's peak resident memory after the method ran: run one method per process
  (``--methods NAME``) for a cell's own peak (e.g. at 512 frames against 64).
* ``multi``: three 2-prompt schedules over 64 frames (key frame 32; a colour or a shape
  change), by FreeNoise + linear interpolation (diffusers' baseline), FreeNoise + TiARA + linear,
  and FreeNoise + TiARA + PromptBlend. Per transition: completed (A then a settled B),
  length in frames, onset (where B settles, relative to the key frame: negative = early, the
  prompt bleeding ahead of its key frame), coherent (every in-between frame one clean object) and
  one object (the same with any colour: a colour change through blends counts);
  segment identity (A in the first half of the gap, B from the key frame on). With ``--hosts``
  every host also runs the schedules with linear interpolation and with PromptBlend, TiARA off
  (FreeNoise+PromptBlend joins for the windows), and every PromptBlend method gets ``vs_linear``:
  per score the mean video-by-video difference against the same host with linear interpolation
  and its 95 % t interval. ``--multi-seeds 0 1 ... 9`` gives 30 transitions per cell (3 schedules).
* ``sweep``: TiARA's parameters one at a time around the defaults (alpha, window length L,
  band (phi1, phi2), per-head against averaged rho, step range, the far-frame penalty at
  distances 4 and 8) on 64-frame videos of the
  held-out captions; the deltas against FreeNoise without TiARA justify the shipped defaults.

    python benchmarks/long_video.py                  # all sections, ~25 min on 2 free CPU cores (estimated)
    python benchmarks/long_video.py --sections sweep # one section
    python benchmarks/long_video.py --quick          # ~1 min (smoke test: 24 frames, 2 steps)

``--hosts fifo freelong`` adds FIFO-Diffusion and FreeLong, each without and with TiARA, to the
methods of the ``single`` section (FreeNoise's windowing is then off for them): FIFO runs
``--fifo-steps`` steps (default: ``--steps`` rounded up to a multiple of its 16-frame window) with
lookahead; FreeLong sees every frame at once with SpectralBlend attention and FreeNoise noise.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import time
from pathlib import Path

import published_results
import torch
from intervals import finite, paired_intervals
from shared import pyplot, save_figure, show_images

from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.shapesworld import long_video_scores
from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.video_consistency import (
    clean_fraction,
    flicker,
    identity_consistency,
    motion_jerk,
    prompt_transition,
    self_consistency,
)
from plugdiff.shapesworld.world import HELD_OUT, random_spec
from plugdiff.weights import load_pipeline

RESULTS = Path(__file__).resolve().parent / "results"

SINGLE_METHODS = {
    "windows": {"noise_type": "random"},
    "windows+TiARA": {"noise_type": "random", "tiara": {}},
    "FreeNoise": {"noise_type": "shuffle_context"},
    "FreeNoise+TiARA-static": {"noise_type": "shuffle_context", "tiara": {"adaptive": False}},
    "FreeNoise+TiARA": {"noise_type": "shuffle_context", "tiara": {}},
}
MULTI_METHODS = {
    "FreeNoise+linear": {"noise_type": "shuffle_context", "prompt_blend": False},
    "FreeNoise+TiARA+linear": {"noise_type": "shuffle_context", "tiara": {}, "prompt_blend": False},
    "FreeNoise+TiARA+PromptBlend": {"noise_type": "shuffle_context", "tiara": {}, "prompt_blend": True},
}
MULTI_HOST_METHODS = {  # --hosts adds the hosts' and "windows" (PromptBlend without TiARA) to the multi section
    "windows": {"FreeNoise+PromptBlend": {"noise_type": "shuffle_context", "prompt_blend": True}},
    "fifo": {"FIFO+linear": {"host": "fifo", "prompt_blend": False}, "FIFO+PromptBlend": {"host": "fifo"}},
    "freelong": {
        "FreeLong+linear": {"host": "freelong", "prompt_blend": False},
        "FreeLong+PromptBlend": {"host": "freelong"},
    },
}
LINEAR_OF = {  # each PromptBlend method and the same host with linear interpolation, for paired differences
    "FreeNoise+PromptBlend": "FreeNoise+linear",
    "FreeNoise+TiARA+PromptBlend": "FreeNoise+TiARA+linear",
    "FIFO+PromptBlend": "FIFO+linear",
    "FreeLong+PromptBlend": "FreeLong+linear",
}
TRANSITION_METRICS = ("completed", "coherent", "one_object", "segment_identity", "clean", "length")
SCHEDULES = [  # (A, B): the object changes colour or shape at the key frame
    ("a red square moving up on a white background", "a green square moving up on a white background"),
    ("a blue circle moving down on a gray background", "a blue square moving down on a gray background"),
    ("a yellow triangle moving left on a black background", "a blue triangle moving left on a black background"),
]
SWEEP = {  # one TiARA parameter at a time; {} is the shipped default
    "default": {},
    "alpha=2": {"alpha": 2.0},
    "alpha=8": {"alpha": 8.0},
    "L=5": {"window_length": 5},
    "L=9": {"window_length": 9},
    "band=(1,3)": {"band": (1, 3)},
    "band=(3,9)": {"band": (3, 9)},
    "rho averaged": {"per_head": False},
    "steps 0-0.5": {"step_range": (0.0, 0.5)},
    "static": {"adaptive": False},
    "far D=4": {"far_frames": 4},
    "far D=8": {"far_frames": 8},
}
HOST_METHODS = {  # --hosts: the other long-video methods, on the pipeline's own hosts (FreeNoise off)
    "fifo": {"FIFO": {"host": "fifo"}, "FIFO+TiARA": {"host": "fifo", "tiara": {}}},
    "freelong": {"FreeLong": {"host": "freelong"}, "FreeLong+TiARA": {"host": "freelong", "tiara": {}}},
}
VIDEO_METRICS = ("identity", "self_consistency", "clean", "flicker", "jerk")
VBENCH_METRICS = (  # plugdiff.shapesworld.long_video_scores.video_scores: VBench's dimensions, read exactly
    "subject_consistency",
    "background_consistency",
    "motion_smoothness_jerk",
    "temporal_flickering",
    "speed",
    "moves",
    "seam_discontinuity",
    "size_cv",
    "shade_spread",
)
TIARA_OFF = {  # each TiARA method and the same host without it, for the paired differences
    "windows+TiARA": "windows",
    "FreeNoise+TiARA": "FreeNoise",
    "FreeNoise+TiARA-static": "FreeNoise",
    "FIFO+TiARA": "FIFO",
    "FreeLong+TiARA": "FreeLong",
}
WINDOW_STRIDE = 4  # diffusers' FreeNoise windows: 16 frames, a new one every 4


class Renderer:
    """The bundled model on diffusers' FreeNoise, one call per batch of videos."""

    def __init__(self, model: str, steps: int, guidance: float, fifo: dict | None = None):
        self.pipe = load_pipeline(model, pipeline_cls=TiaraAnimateDiffPipeline)
        self.pipe.set_progress_bar_config(disable=True)
        self.steps, self.guidance = steps, guidance
        self.fifo = fifo or {"window": 16, "steps": -(-steps // 16) * 16}
        self._done: dict = {}  # sections share runs (e.g. the sweep's default is single's TiARA)

    def __call__(
        self,
        prompt,
        num_frames: int,
        seed: int,
        noise_type: str = "shuffle_context",
        tiara=None,
        prompt_blend=True,
        host: str | None = None,
    ):
        """(B, F, 3, H, W) in [-1, 1] and the seconds per frame (cached per arguments)."""
        key = repr((prompt, num_frames, seed, noise_type, tiara, prompt_blend, host))
        if key not in self._done:
            self._done[key] = self._render(prompt, num_frames, seed, noise_type, tiara, prompt_blend, host)
        return self._done[key]

    def _render(self, prompt, num_frames, seed, noise_type, tiara, prompt_blend, host):
        steps, long_video = self.steps, None
        if host is None:
            self.pipe.enable_free_noise(context_length=16, context_stride=WINDOW_STRIDE, noise_type=noise_type)
        else:
            self.pipe.disable_free_noise()
            long_video = {"host": "fifo", "window": self.fifo["window"]} if host == "fifo" else host
            steps = self.fifo["steps"] if host == "fifo" else steps
        t0 = time.perf_counter()
        out = self.pipe(
            prompt,
            num_frames=num_frames,
            num_inference_steps=steps,
            guidance_scale=self.guidance,
            generator=torch.Generator().manual_seed(seed),
            output_type="pt",
            tiara=tiara,
            prompt_blend=prompt_blend,
            long_video=long_video,
        )
        frames = out.frames.float() * 2 - 1
        return frames, (time.perf_counter() - t0) / (frames.shape[0] * frames.shape[1])


def held_out_captions(seed: int = 0) -> list[str]:
    gen = torch.Generator().manual_seed(seed)
    return [random_spec(gen, combos=[t]).caption for t in sorted(HELD_OUT)]


def video_scores(frames: torch.Tensor, caption: str, found=None, seams=(), schedule: bool = False) -> dict:
    """The single-video metrics, then VBench's dimensions (``VBENCH_METRICS``, with the track's
    wraps, jumps and speed ratio); ``found`` is ``detect(frames)`` when the caller has it,
    ``seams`` the frames where a new window starts. ``schedule``: the video follows a prompt
    schedule ending in ``caption``, so VBench's consistency is the video's own, not the caption's."""
    found = detect(frames) if found is None else found
    vbench = long_video_scores.video_scores(frames, found, caption=None if schedule else caption, seams=seams)
    return {
        "identity": identity_consistency(found, caption),
        "self_consistency": self_consistency(found),
        "clean": clean_fraction(found),
        "flicker": flicker(frames, found),
        "jerk": motion_jerk(found),
        **{k: float(v) if isinstance(v, bool) else v for k, v in vbench.items()},
    }


def mean_scores(rows: list[dict], keys=VIDEO_METRICS) -> dict:
    """Mean and standard error of each metric over the videos that have it (NaN: none)."""
    out = {}
    for key in keys:
        values = [r[key] for r in rows if key in r and finite(r[key])]
        out[key] = statistics.fmean(values) if values else None
        out[f"{key}_se"] = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return out


def render_videos(render, captions, frames, seeds, method: dict) -> tuple[list[dict], float, torch.Tensor]:
    """Score every caption x seed; returns per-video rows, seconds per frame, the first video.
    On diffusers' FreeNoise windows the seam score reads the frames where a window starts."""
    rows, seconds, first = [], [], None
    seams = range(WINDOW_STRIDE, frames, WINDOW_STRIDE) if method.get("host") is None else ()
    for seed in seeds:
        videos, per_frame = render(captions, frames, seed, **method)
        seconds.append(per_frame)
        first = videos[0] if first is None else first
        rows += [
            {"caption": c, "seed": seed, **video_scores(v, c, seams=seams)}
            for c, v in zip(captions, videos, strict=True)
        ]
    return rows, statistics.fmean(seconds), first


def single(render, args, strips: dict, save=lambda partial: None) -> dict:
    captions = held_out_captions()[: args.captions]
    report = {}
    for frames in args.frames:
        report[str(frames)] = {}
        for name in args.methods:
            rows, per_frame, first = render_videos(render, captions, frames, args.seeds, args.method_table[name])
            row = {**mean_scores(rows), **mean_scores(rows, VBENCH_METRICS), "seconds_per_frame": per_frame}
            row["peak_rss_mb_so_far"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            report[str(frames)][name] = {**row, "videos": rows}
            strips[f"{frames} frames: {name}"] = first
            print(f"single {frames:4d} {name:24} " + _row(row) + "\n" + " " * 36 + _vbench_row(row), flush=True)
            save(report)
        base = report[str(frames)].get("FreeNoise")
        if base is not None:
            for row in report[str(frames)].values():
                row["vs_FreeNoise"] = _deltas(row, base)
        for name, off in TIARA_OFF.items():
            on_row, off_row = report[str(frames)].get(name), report[str(frames)].get(off)
            if on_row is not None and off_row is not None:
                on_row["vs_TiARA_off"] = paired_intervals(on_row["videos"], off_row["videos"], VBENCH_METRICS)
                print(f"single {frames:4d} {name:24} - {off}: " + _interval_row(on_row["vs_TiARA_off"]), flush=True)
    return report


def multi(render, args, strips: dict, save=lambda partial: None) -> dict:
    frames, key = args.multi_frames, args.multi_frames // 2
    report = {}
    for name in args.multi_methods:
        method = args.multi_table[name]
        rows, seconds = [], []
        for a, b in SCHEDULES:
            for seed in args.multi_seeds:
                video, per_frame = render({0: a, key: b}, frames, seed, **method)
                seconds.append(per_frame)
                found = detect(video[0])
                t = prompt_transition(found, a, b)
                segment = (
                    identity_consistency(found[: key // 2], a) * (key // 2)
                    + identity_consistency(found[key:], b) * (frames - key)
                ) / (key // 2 + frames - key)
                rows.append(
                    {
                        "schedule": [a, b],
                        "seed": seed,
                        **t.as_dict(),
                        "segment_identity": segment,
                        **video_scores(video[0], b, found, schedule=True),
                    }
                )
                if len(rows) == 1:
                    strips[f"{frames} frames, A -> B: {name}"] = video[0]
        done = [r for r in rows if r["completed"]]
        report[name] = {
            "transitions": len(rows),
            "completed": len(done),
            "coherent": sum(r["coherent"] for r in rows),
            "one_object": sum(r["one_object"] for r in rows),
            "length_mean": statistics.fmean(r["length"] for r in done) if done else None,
            "onset_mean": statistics.fmean(r["first_b"] - key for r in done) if done else None,
            "segment_identity": statistics.fmean(r["segment_identity"] for r in rows),
            **mean_scores(rows, ("clean", "flicker", "jerk")),
            "seconds_per_frame": statistics.fmean(seconds),
            "videos": rows,
        }
        r = report[name]
        length = f"{r['length_mean']:.1f}" if r["length_mean"] is not None else "-"
        onset = f"{r['onset_mean']:+.1f}" if r["onset_mean"] is not None else "-"
        print(
            f"multi {name:28} completed {r['completed']}/{r['transitions']} coherent "
            f"{r['coherent']}/{r['transitions']} one object {r['one_object']}/{r['transitions']} length {length} "
            f"onset {onset} segment {r['segment_identity']:.3f} clean {r['clean']:.3f} flicker {r['flicker']:.4f} "
            f"s/frame {r['seconds_per_frame']:.3f}",
            flush=True,
        )
        save(report)
    for name, linear in LINEAR_OF.items():
        if name in report and linear in report:
            report[name]["vs_linear"] = paired_intervals(
                report[name]["videos"], report[linear]["videos"], TRANSITION_METRICS + VBENCH_METRICS
            )
            print(f"multi {name:28} - {linear}: " + _interval_row(report[name]["vs_linear"]), flush=True)
    return report


def sweep(render, args, save=lambda partial: None) -> dict:
    captions = held_out_captions()
    frames = args.sweep_frames
    base_rows, per_frame, _ = render_videos(render, captions, frames, args.seeds, SINGLE_METHODS["FreeNoise"])
    report = {"FreeNoise (no TiARA)": {**mean_scores(base_rows), "seconds_per_frame": per_frame, "videos": base_rows}}
    print(f"sweep {'FreeNoise (no TiARA)':24} " + _row(report["FreeNoise (no TiARA)"]), flush=True)
    for name in args.sweep:
        tiara = SWEEP[name]
        rows, per_frame, _ = render_videos(
            render, captions, frames, args.seeds, {"noise_type": "shuffle_context", "tiara": tiara}
        )
        row = {
            "tiara": {k: list(v) if isinstance(v, tuple) else v for k, v in tiara.items()},
            **mean_scores(rows),
            "seconds_per_frame": per_frame,
            "videos": rows,
        }
        row["vs_FreeNoise"] = _deltas(row, report["FreeNoise (no TiARA)"])
        report[name] = row
        print(f"sweep {name:24} " + _row(row), flush=True)
        save(report)
    return report


def _deltas(row: dict, base: dict) -> dict:
    """Differences against the baseline (identity in points of 100), with the standard error of
    the identity difference paired video by video."""
    out = {}
    for key in VIDEO_METRICS:
        if row.get(key) is None or base.get(key) is None:
            continue
        scale = 100 if key in ("identity", "self_consistency", "clean") else 1
        out[key] = (row[key] - base[key]) * scale
    rows, base_rows = row["videos"], base["videos"]
    if len(rows) == len(base_rows) > 1:
        diffs = [100 * (r["identity"] - b["identity"]) for r, b in zip(rows, base_rows, strict=True)]
        out["identity_se"] = statistics.stdev(diffs) / len(diffs) ** 0.5
    return out


def _row(r: dict) -> str:
    jerk = f"{r['jerk']:.2f}" if r["jerk"] is not None else "-"
    return (
        f"identity {r['identity']:.3f}+-{r['identity_se']:.3f} self {r['self_consistency']:.3f} clean "
        f"{r['clean']:.3f} flicker {r['flicker']:.4f} jerk {jerk} s/frame {r['seconds_per_frame']:.3f}"
    )


def _vbench_row(r: dict) -> str:
    f = lambda v, d=3: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    return (
        f"subject {f(r['subject_consistency'])} background {f(r['background_consistency'])} smoothness(jerk) "
        f"{f(r['motion_smoothness_jerk'], 2)} flickering {f(r['temporal_flickering'], 4)} speed {f(r['speed'], 2)} "
        f"moving {f(r['moves'], 2)} seam {f(r['seam_discontinuity'], 2)}"
    )


def _interval_row(intervals: dict) -> str:
    parts = []
    for key, d in intervals.items():
        if d["ci95"] is not None:
            parts.append(f"{key} {d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]")
    return "; ".join(parts)


def plot_strips(strips: dict, path: Path, every: int = 8) -> None:
    """Every ``every``-th frame of the first video of each method, one row per method."""
    fig, axes = pyplot().subplots(len(strips), 1, figsize=(12, 0.75 * len(strips) + 0.3), squeeze=False)
    for ax, (name, video) in zip(axes[:, 0], strips.items(), strict=True):
        show_images(ax, video[::every])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=80)


def _merged(groups: dict) -> dict:
    """The methods of every host in ``groups`` (host -> {name: method}) in one table."""
    return {name: method for methods in groups.values() for name, method in methods.items()}


def _with_hosts(chosen: list[str], groups: dict, hosts) -> list[str]:
    """``chosen`` followed by the methods of ``hosts`` in ``groups`` that it does not name yet."""
    return [*chosen, *(name for host in hosts for name in groups[host] if name not in chosen)]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapesworld-t2v", help="registry name or folder")
    parser.add_argument(
        "--sections", nargs="+", choices=["single", "multi", "sweep"], default=["single", "multi", "sweep"]
    )
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 128], help="lengths of the single-prompt videos")
    parser.add_argument("--multi-frames", type=int, default=64)
    parser.add_argument("--sweep-frames", type=int, default=64)
    host_methods = _merged(HOST_METHODS)
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=[*SINGLE_METHODS, *host_methods],
        default=list(SINGLE_METHODS),
        help="methods of the single section",
    )
    parser.add_argument(
        "--sweep", nargs="+", choices=list(SWEEP), default=list(SWEEP), help="settings of the sweep section"
    )
    multi_host_methods = _merged(MULTI_HOST_METHODS)
    parser.add_argument(
        "--multi-methods",
        nargs="+",
        choices=[*MULTI_METHODS, *multi_host_methods],
        default=list(MULTI_METHODS),
        help="methods of the multi section",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--multi-seeds", type=int, nargs="+", help="seeds of the multi section (default: --seeds); x 3 schedules"
    )
    parser.add_argument("--tag", default="", help="suffix of the output files (long_video_<tag>.json)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument(
        "--hosts",
        nargs="+",
        choices=list(HOST_METHODS),
        default=[],
        help="add these long-video methods (and each + TiARA) to the single section",
    )
    parser.add_argument(
        "--fifo-steps", type=int, help="FIFO's steps (a multiple of --fifo-window; default: --steps rounded up to one)"
    )
    parser.add_argument("--fifo-window", type=int, default=16, help="FIFO's frames per model call")
    parser.add_argument("--captions", type=int, default=5, help="the first N held-out captions of the single section")
    parser.add_argument(
        "--quick", action="store_true", help="24 frames, 2 steps (FIFO: window 4, 4 steps; smoke test)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = published_results.parse_args(parser, argv)
    if args.quick:
        args.frames, args.multi_frames, args.sweep_frames, args.steps = [24], 24, 24, 2
        args.fifo_window, args.fifo_steps = 4, 4
    if args.fifo_steps is None:
        args.fifo_steps = -(-args.steps // args.fifo_window) * args.fifo_window
    args.method_table = {**SINGLE_METHODS, **host_methods}
    args.methods = _with_hosts(args.methods, HOST_METHODS, args.hosts)
    args.multi_table = {**MULTI_METHODS, **multi_host_methods}
    multi_hosts = ["windows", *args.hosts] if args.hosts else []
    args.multi_methods = _with_hosts(args.multi_methods, MULTI_HOST_METHODS, multi_hosts)
    args.multi_seeds = args.multi_seeds or args.seeds
    if min(*args.frames, args.multi_frames, args.sweep_frames) < 17:
        parser.error("--frames, --multi-frames and --sweep-frames must exceed the 16-frame window (>= 17)")
    torch.manual_seed(0)
    render = Renderer(args.model, args.steps, args.guidance, {"window": args.fifo_window, "steps": args.fifo_steps})
    suffix = f"_{args.tag}" if args.tag else "_quick" if args.quick else ""
    report = {
        "model": str(args.model),
        "methods": args.methods,
        "steps": args.steps,
        "guidance": args.guidance,
        "seeds": args.seeds,
        "multi_seeds": args.multi_seeds,
        "windows": {"context_length": 16, "context_stride": WINDOW_STRIDE, "weighting": "pyramid"},
        "hosts": {
            "fifo": {"window": args.fifo_window, "steps": args.fifo_steps, "lookahead": True, "keep_warmup": False},
            "freelong": {"local_frames": 16, "local_stride": 4, "cutoffs": [0.25, 0.25]},
        }
        if args.hosts or set(args.methods) & set(host_methods) or set(args.multi_methods) & set(multi_host_methods)
        else {},
        "torch": torch.__version__,
        "machine": platform.machine(),
        "threads": torch.get_num_threads(),
    }
    strips: dict = {}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"long_video{suffix}.json"

    def saver(section: str):  # after every method of a section: an interrupted run keeps what it made
        return lambda partial: published_results.write_json(path, {**report, section: partial}, models=[args.model])

    sections = {
        "single": lambda: single(render, args, strips, saver("single")),
        "multi": lambda: multi(render, args, strips, saver("multi")),
        "sweep": lambda: sweep(render, args, saver("sweep")),
    }
    for name in args.sections:
        t0 = time.perf_counter()
        report[name] = sections[name]()
        report[name + "_seconds"] = time.perf_counter() - t0
        published_results.write_json(path, report, models=[args.model])
    if strips:
        plot_strips(strips, args.out / f"long_video{suffix}.png")
    return report


if __name__ == "__main__":
    main()
