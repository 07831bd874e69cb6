"""One-off: give the results published before ``published_results.write_json`` recorded provenance
a ``"provenance"`` record rebuilt from git history, marked ``"recorded": "backfilled ..."``.

For each file: the commit that published its content (the last one that changed it; older ones in
``git_history``), the command (from the benchmark's docstring, the docs or the commit message, as
``command_source`` says), the machine fields the file itself holds, and for each model its
version at that commit and the sha256 of its weights, recomputed from that commit's blobs
(``git show <commit>:<path>``). :func:`published_results.weights_digest` combines them exactly as a
live run does, so a backfilled hash equals the one a run on the same weights records.

    python benchmarks/backfill_provenance.py            # files without a provenance record
    python benchmarks/backfill_provenance.py --check    # list what it would do

Files whose weights never reached git (exports of unbundled training steps) cannot be backfilled;
they left ``benchmarks/results/`` (``results/archive/README.md`` lists them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import published_results

ROOT = published_results.ROOT
RESULTS = published_results.RESULTS
T2V, DDPM, VAE = (
    "plugdiff/weights/shapesworld-t2v",
    "plugdiff/weights/shapesworld-ddpm",
    "plugdiff/weights/shapesworld-t2v/vae",
)
EXACT = published_results.no_weights("exact Gaussian-mixture scores (plugdiff.evaluation)")
DOC, DOCS, MSG = "the benchmark's docstring", "the docs page that shows it", "the commit message"

# results file (path under benchmarks/results/ now) -> command, where the command is written, models
# (registry name, folder in the repository at the publishing commit, version), and the commit to read
# the content's provenance from (default: the last commit that changed the file, following renames).
FILES: dict[str, dict] = {
    "samplers.json": dict(command="python benchmarks/samplers.py --publish", source=DOC, models=[EXACT]),
    "samplers_grids.json": dict(command="python benchmarks/samplers.py --grids --publish", source=DOC, models=[EXACT]),
    "samplers_kl.json": dict(command="python benchmarks/samplers.py --kl --publish", source=DOC, models=[EXACT]),
    "samplers_learned.json": dict(
        command="python benchmarks/samplers_learned.py --publish",
        source=DOC + "; rows added later with --merge --methods NAME ... (git_history)",
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "samplers_learned_clipped.json": dict(
        command="python benchmarks/samplers_learned.py --clip-sample --publish",
        source=DOC + "; rows added later with --merge --methods NAME ... (git_history)",
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "samplers_learned_logsnr.json": dict(
        command="python benchmarks/samplers_learned.py --grid-end 50 --nfe 5 10 20 --publish",
        source=DOCS,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "samplers_learned_logsnr_clipped.json": dict(
        command="python benchmarks/samplers_learned.py --grid-end 50 --nfe 5 10 20 --clip-sample --publish",
        source=DOCS,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "gpu_schedulers.json": dict(
        command="python benchmarks/gpu_schedulers.py --out benchmarks/results",
        source=DOC,
        models=[
            published_results.no_weights(
                "randomly initialised UNet2DConditionModel with Stable Diffusion 1.5's config"
            )
        ],
    ),
    "dpnp_posterior.json": dict(
        command="python benchmarks/dpnp_posterior.py",
        source=DOC,
        models=[published_results.no_weights("exact Gaussian-mixture priors (plugdiff.evaluation)")],
    ),
    "inverse_problems.json": dict(
        command="python benchmarks/inverse_problems.py --no-tune --frames 12 --samples 3 --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_nfe1000.json": dict(
        command="python benchmarks/inverse_problems.py --nfe 1000 --no-tune --frames 4 --samples 3 --tag _nfe1000 "
        "--publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_nfe1000_1bit_tuned.json": dict(
        command="python benchmarks/inverse_problems.py --problems 1bit --nfe 1000 --no-robustness --frames 4 "
        "--samples 3 --tag _nfe1000_1bit_tuned --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_sr4_8samples.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 8 "
        "--no-robustness --tag _sr4_8samples --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_sr4_w4.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 3 "
        "--no-robustness --likelihood-weight 4 --tag _sr4_w4 --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_sr4_seen.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 3 "
        "--no-robustness --combinations seen --tag _sr4_seen --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_sr4_seen_w4.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 3 "
        "--no-robustness --combinations seen --likelihood-weight 4 --tag _sr4_seen_w4 --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_truth_start.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 phase-retrieval 1bit --no-tune --frames 12 "
        "--samples 3 --no-robustness --truth-start --tag _truth_start --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "inverse_problems_truth_start_sr4_w4.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 --no-tune --frames 12 --samples 3 "
        "--no-robustness --truth-start --likelihood-weight 4 --tag _truth_start_sr4_w4 --publish",
        source=DOC,
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "archive/inverse_problems_nfe1000_warm36.json": dict(
        command="python benchmarks/inverse_problems.py --problems sr4 phase-retrieval --nfe 1000 --no-tune --frames 4 "
        "--samples 3 --no-robustness --warm-start-share 0.36 --tag _warm36 --publish",
        source="the file's own fields (nfe 1000, 4 frames x 3 samples, share 0.36, sr4 and phase retrieval, no "
        "robustness); the docstring's line for _warm36 gives another budget",
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "shapesworld_prior.json": dict(
        command="python benchmarks/shapesworld_prior.py --num-samples 128 --steps 50; then python "
        "benchmarks/shapesworld_prior.py --num-samples 32 --steps 1000 (merged, see the file's note)",
        source="the file's num_samples and note",
        models=[("shapesworld-ddpm", DDPM, "v1")],
    ),
    "shapesworld_autoencoder.json": dict(
        command="python benchmarks/shapesworld_autoencoder.py",
        source=DOC,
        models=[("shapesworld-t2v/vae", VAE, "v1 (the same weights in v1-v4)")],
    ),
    "shapesworld_t2v.json": dict(
        command="python benchmarks/shapesworld_t2v.py --guidance 6 9 --publish",
        source="plugdiff/weights/shapesworld-t2v/README.md",
        models=[("shapesworld-t2v", T2V, "v4")],
    ),
    "shapesworld_direction_room.json": dict(
        command="python benchmarks/shapesworld_direction_room.py --publish",
        source=DOC,
        models=[("shapesworld-t2v", T2V, "v4")],
    ),
    "shapesworld_t2v_v4_training.json": dict(
        command="python benchmarks/training_curve.py runs/t2v-v4 --name shapesworld_t2v_v4_training --publish",
        source=DOC + " (the run folder from the file's args.out)",
        models=[("shapesworld-t2v", T2V, "v4")],
    ),
    "main_job.json": dict(
        command="python benchmarks/main_job.py --publish", source=DOC, models=[("shapesworld-t2v", T2V, "v4")]
    ),
    "main_job_default_transition.json": dict(
        command="python benchmarks/main_job.py --model runs/t2v-v4-9000 --out "
        "benchmarks/results/main_job_v4_step9000.json",
        source="the file's command field (the step-9000 export, bundled as v4 with the same weights, before "
        "main_job.py passed --transition 4); published as main_job_v4_step9000.json",
        models=[
            (
                "runs/t2v-v4-9000 (the step-9000 export = shapesworld-t2v v4)",
                "training/shapesworld-t2v-v4-step9000",
                "v4",
            )
        ],
    ),
    "long_video_v4_single.json": dict(
        command="python benchmarks/long_video.py --sections single --frames 128 --methods FreeNoise FreeNoise+TiARA "
        "--seeds 0 1 2 --tag v4_single --publish",
        source=DOCS + " (v3's commands with the v4 tags)",
        models=[("shapesworld-t2v", T2V, "v4")],
    ),
    "long_video_v4_multi.json": dict(
        command="python benchmarks/long_video.py --sections multi --seeds 0 1 2 3 --tag v4_multi --publish",
        source=DOCS + " (v3's commands with the v4 tags)",
        models=[("shapesworld-t2v", T2V, "v4")],
    ),
    "long_video_v4_sweep.json": dict(
        command="python benchmarks/long_video.py --sections sweep --sweep default \"far D=4\" \"far D=8\" alpha=2 "
        "--seeds 0 --tag v4_sweep --publish",
        source=DOCS + " (v3's commands with the v4 tags)",
        models=[("shapesworld-t2v", T2V, "v4")],
    ),
    "tiara_overhead_small-64px-cpu-float32-sdpa.json": dict(
        command="python benchmarks/tiara_overhead.py",
        source=DOC + " (defaults; the file's args)",
        models=[published_results.no_weights("randomly initialised AnimateDiff layout 'small' (tiara_overhead.py)")],
    ),
    "tiara_overhead_small-128px-cpu-float32-sdpa.json": dict(
        command="python benchmarks/tiara_overhead.py --size 128 --frames 32 64 --modes windows",
        source="the file's args",
        models=[published_results.no_weights("randomly initialised AnimateDiff layout 'small' (tiara_overhead.py)")],
    ),
    "promptblend_cost_small-cpu-float32.json": dict(
        command="python benchmarks/promptblend_cost.py",
        source=DOC + " (defaults; the file's args)",
        models=[published_results.no_weights("randomly initialised AnimateDiff layout 'small' (tiara_overhead.py)")],
    ),
    # archived: earlier model versions
    "archive/long_video_v1_seed0.json": dict(
        command="python benchmarks/long_video.py",
        source=DOC + " (all sections then ran seed 0; the sweep was tagged)",
        models=[("shapesworld-t2v", T2V, "v1")],
    ),
    "archive/long_video_v1_single_seeds12.json": dict(
        command="python benchmarks/long_video.py --sections single --frames 128 --methods FreeNoise "
        "FreeNoise+TiARA-static FreeNoise+TiARA --seeds 1 2 --tag seeds12",
        source="the file's methods and seeds",
        models=[("shapesworld-t2v", T2V, "v1")],
    ),
    "archive/long_video_v1_sweep.json": dict(
        command="python benchmarks/long_video.py --sections sweep --tag sweep",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v1")],
    ),
    "archive/long_video_v1_multi_seeds123.json": dict(
        command="python benchmarks/long_video.py --sections multi --seeds 1 2 3 --tag multi123",
        source="the file's seeds and section",
        models=[("shapesworld-t2v", T2V, "v1")],
    ),
    "archive/long_video_v2_single.json": dict(
        command="python benchmarks/long_video.py --sections single --frames 128 --methods FreeNoise FreeNoise+TiARA "
        "--seeds 0 1 2 --tag v2_single",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v2")],
    ),
    "archive/long_video_v2_multi_sweep.json": dict(
        command="python benchmarks/long_video.py --sections multi --seeds 0 1 2 3 --tag v2_multi_sweep",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v2")],
    ),
    "archive/long_video_v2_sweep.json": dict(
        command="python benchmarks/long_video.py --sections sweep --sweep default \"far D=4\" \"far D=8\" alpha=2 "
        "--seeds 0 --tag v2_sweep",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v2")],
    ),
    "archive/long_video_v2_alpha2_128.json": dict(
        command="python benchmarks/long_video.py --sections sweep --sweep alpha=2 --sweep-frames 128 --seeds 0 1 2 "
        "--tag v2_alpha2_128",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v2")],
    ),
    "archive/long_video_v3_single.json": dict(
        command="python benchmarks/long_video.py --sections single --frames 128 --methods FreeNoise FreeNoise+TiARA "
        "--seeds 0 1 2 --tag v3_single",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v3")],
    ),
    "archive/long_video_v3_multi.json": dict(
        command="python benchmarks/long_video.py --sections multi --seeds 0 1 2 3 --tag v3_multi",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v3")],
    ),
    "archive/long_video_v3_sweep.json": dict(
        command="python benchmarks/long_video.py --sections sweep --sweep default \"far D=4\" \"far D=8\" alpha=2 "
        "--seeds 0 --tag v3_sweep",
        source=DOCS,
        models=[("shapesworld-t2v", T2V, "v3")],
    ),
    "archive/shapesworld_t2v_v2_training.json": dict(
        command="python benchmarks/training_curve.py runs/t2v-v2 --name shapesworld_t2v_training",
        source=DOC,
        models=[("shapesworld-t2v", T2V, "v2")],
    ),
    "archive/shapesworld_t2v_v3_training.json": dict(
        command="python benchmarks/training_curve.py runs/t2v-v3 --name shapesworld_t2v_probe_training",
        source=DOC,
        models=[("shapesworld-t2v", T2V, "v3")],
    ),
    # archived: restored from the history of a file that a later version replaced (see RESTORED)
    "archive/shapesworld_t2v_v1.json": dict(
        command="python benchmarks/shapesworld_t2v.py", source=DOC, models=[("shapesworld-t2v", T2V, "v1")]
    ),
    "archive/shapesworld_t2v_v2.json": dict(
        command="python benchmarks/shapesworld_t2v.py", source=DOC, models=[("shapesworld-t2v", T2V, "v2")]
    ),
    "archive/shapesworld_t2v_v3.json": dict(
        command="python benchmarks/shapesworld_t2v.py --guidance 6 9",
        source=DOC,
        models=[("shapesworld-t2v", T2V, "v3")],
    ),
    "archive/shapesworld_direction_room_v3.json": dict(
        command="python benchmarks/shapesworld_direction_room.py --publish",
        source=DOC,
        models=[("shapesworld-t2v", T2V, "v3")],
    ),
    "archive/main_job_v2.json": dict(
        command="python benchmarks/main_job.py", source=DOC, models=[("shapesworld-t2v", T2V, "v2")]
    ),
    "archive/main_job_v3.json": dict(
        command="python benchmarks/main_job.py", source=DOC, models=[("shapesworld-t2v", T2V, "v3")]
    ),
}

# archive file -> (commit, path at that commit): content taken from git history
RESTORED = {
    "archive/shapesworld_t2v_v1.json": ("9e77f83", "benchmarks/results/shapesworld_t2v.json"),
    "archive/shapesworld_t2v_v2.json": ("93ce0ca", "benchmarks/results/shapesworld_t2v.json"),
    "archive/shapesworld_t2v_v3.json": ("a322f1d", "benchmarks/results/shapesworld_t2v.json"),
    "archive/shapesworld_direction_room_v3.json": ("afbff8e", "benchmarks/results/shapesworld_direction_room.json"),
    "archive/main_job_v2.json": ("93ce0ca", "benchmarks/results/main_job.json"),
    "archive/main_job_v3.json": ("a322f1d", "benchmarks/results/main_job.json"),
}


def git(*words: str, binary: bool = False):
    out = subprocess.run(["git", *words], cwd=ROOT, capture_output=True, check=True).stdout
    return out if binary else out.decode().strip()


def commits_of(relative: str) -> list[str]:
    """Full hashes of the commits that changed the file's content, newest first (renames followed,
    a pure rename skipped)."""
    out, commit = [], None
    for line in git(
        "log",
        "--follow",
        "--diff-merges=first-parent",
        "--format=commit %H",
        "--raw",
        "--",
        f"benchmarks/results/{relative}",
    ).splitlines():
        if line.startswith("commit "):
            commit = line.split()[1]
        elif line.startswith(":") and commit and line.split("\t")[0].split()[-1] != "R100":
            out.append(commit)
            commit = None
    return out


def weights_at(commit: str, folder: str) -> dict[str, str]:
    listing = git("ls-tree", "-r", "--name-only", commit, "--", folder).splitlines()
    return {
        Path(p).relative_to(folder).as_posix(): hashlib.sha256(git("show", f"{commit}:{p}", binary=True)).hexdigest()
        for p in listing
        if p.endswith(".safetensors")
    }


MACHINE_KEYS = ("machine", "torch", "threads", "device", "platform")


def record(relative: str, data: dict) -> dict:
    spec = FILES[relative]
    if relative in RESTORED:
        short, _ = RESTORED[relative]
        history = [git("rev-parse", short)]
    else:
        history = commits_of(relative)
    commit = history[0]
    models = []
    for model in spec["models"]:
        if isinstance(model, dict):
            models.append(model)
            continue
        name, folder, version = model
        files = weights_at(commit, folder)
        if not files:
            raise SystemExit(f"{relative}: no weights under {folder} at {commit[:7]}")
        models.append(
            {
                "name": name,
                "version": version,
                "path": folder,
                "weights_sha256": published_results.weights_digest(files),
                "weights_files": files,
                "weights_source": f"git show {commit[:7]}:{folder}/<file>",
            }
        )
    machine = {k: data[k] for k in MACHINE_KEYS if k in data}
    if isinstance(data.get("args"), dict) and "device" in data["args"]:
        machine.setdefault("device", data["args"]["device"])
    return {
        "recorded": "backfilled from git history (benchmarks/backfill_provenance.py), not at run time",
        "command": spec["command"],
        "command_source": spec["source"],
        "git_commit": commit,
        "git_commit_role": "the commit that published this content"
        + (f" (restored from {RESTORED[relative][1]} at that commit)" if relative in RESTORED else ""),
        "git_history": history[1:],
        "date": git("show", "-s", "--format=%cI", commit),
        "machine": machine or "not recorded in the file",
        "models": models,
    }


def restore(check: bool) -> None:
    for relative, (commit, path) in RESTORED.items():
        target = RESULTS / relative
        if not target.exists():
            print(f"restore {relative} from {commit}:{path}")
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(git("show", f"{commit}:{path}", binary=True))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only list what would be done")
    args = parser.parse_args(argv)
    restore(args.check)
    for path in sorted(RESULTS.rglob("*.json")):
        relative = path.relative_to(RESULTS).as_posix()
        data = json.loads(path.read_text())
        if "provenance" in data:
            continue
        if relative not in FILES:
            print(f"no backfill entry for {relative}", file=sys.stderr)
            continue
        data["provenance"] = record(relative, data)
        print(
            f"{relative}: {data['provenance']['git_commit'][:7]} "
            f"{[m['version'] for m in data['provenance']['models']]}"
        )
        if not args.check:
            path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
