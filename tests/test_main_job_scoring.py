"""benchmarks/main_job.py's every-frame judgement on the README schedule rendered as ground truth
(world v5's morph through each transition) and on a version that cuts instead of morphing."""

import importlib.util
from pathlib import Path

import torch

from plugdiff.pipelines import PromptSchedule, read_schedule_file
from plugdiff.shapesworld.world import ClipSpec, Mix, parse_caption, render_frames

ROOT = Path(__file__).resolve().parents[1]


def _main_job():
    spec = importlib.util.spec_from_file_location("bench_main_job", ROOT / "benchmarks" / "main_job.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _render(schedule: PromptSchedule, weights: torch.Tensor) -> torch.Tensor:
    """Frame f: the prompt pair with weight at f, mixed in world v5 (one slot differs per change)."""
    captions = [parse_caption(t) for t in schedule.texts]
    frames = []
    for f in range(len(weights)):
        i = int(torch.nonzero(weights[f])[0])
        a = captions[i]
        spec = ClipSpec("circle", a["colour"], a["background"], "right", 0.5, 5.0, (8.0, 16.0), wrap=True)
        if weights[f, i] < 1:
            b = captions[i + 1]
            slot = next(k for k in ("colour", "background") if a[k] != b[k])
            spec = ClipSpec(
                "circle",
                a["colour"],
                a["background"],
                "right",
                0.5,
                5.0,
                (8.0, 16.0),
                wrap=True,
                mix=Mix(slot, b[slot], (float(weights[f, i + 1]),)),
            )
        frames.append(render_frames([spec], [f])[0])
    return torch.stack(frames)


def test_a_true_morph_follows_the_schedule_in_every_frame_and_a_cut_does_not():
    main_job = _main_job()
    schedule = PromptSchedule.parse(read_schedule_file(main_job.SCHEDULE))
    weights, _, _ = main_job.morph_truth(schedule, 64, 8)
    weights = torch.from_numpy(weights)
    truth = main_job.score_all(_render(schedule, weights), schedule, 8)
    assert truth["follows_all"] == 1.0 and truth["one_object"] == 1.0
    assert len(truth["transition_frames"]) == 14  # 7 blended frames before each of the two key frames
    cut = torch.zeros_like(weights)
    cut[torch.arange(64), weights.argmax(1)] = 1.0  # each frame shows its stronger prompt alone
    scored = main_job.score_all(_render(schedule, cut), schedule, 8)
    assert scored["one_object"] == 1.0 and 0.75 < scored["follows_all"] < 1.0
    assert set(scored["wrong_frames_all"]) <= set(truth["transition_frames"])
