"""When is a ShapesWorld video's direction settled, and does the caption still have a say then?

``--clips`` wrapping world-v5 movers per direction are rendered, encoded, noised to each
``--t0`` and denoised from there (DDIM over the model's training schedule, ``--steps`` steps for
the whole range, guidance ``--guidance``) twice from the same noise: once with the clip's own
caption and once with the opposite direction word. Per t0 it counts the clips whose detected
direction is the caption's. Low t0: the noisy clip already shows its motion, so a model that
reads its input follows the data (own caption right, opposite word wrong). High t0: the input
says nothing, and only a model that reads the direction word follows it either way. In between
is where the caption has to decide.

Beside that, one model call per ``--drift-t`` timestep (guided the same way) on the clips
noised to t: the drift of the predicted clean clip along the clip's true direction, read around
the true track as the track loss reads it (:func:`plugdiff.shapesworld.track_loss.track_displacement`,
latent pixels), with the own caption and with the opposite word. A caption with a say in the
motion makes the two differ; the gap is the first thing a training change must open.

    python benchmarks/shapesworld_direction_settling.py --model training/shapesworld-t2v-v5 --publish \\
        --out benchmarks/results/shapesworld_direction_settling_v5b.json
    python benchmarks/shapesworld_direction_settling.py --quick      # smoke run

Writes ``results/shapesworld_direction_settling.json`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import published_results
import torch
from diffusers import DDIMScheduler

from plugdiff.shapesworld.caption_agreement import (
    clip_agreement,
    direction_word_drift,
    guided_text,
    opposite_captions,
    rendered_movers,
)
from plugdiff.weights import load_pipeline


def _denoise_from(pipe, z0: torch.Tensor, captions: list[str], t0: int, steps: int, guidance: float, seed: int):
    """Frames (N, F, 3, H, W) in [-1, 1]: latents ``z0`` (N, C, F, h, w) noised to the first of
    ``steps`` DDIM timesteps at or below ``t0`` and denoised from there with ``captions``."""
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)
    timesteps = [t for t in scheduler.timesteps if t <= t0]
    frames = z0.shape[2]
    text = guided_text(pipe, captions, frames)
    noise = torch.randn(z0.shape, generator=torch.Generator().manual_seed(seed))
    x = scheduler.add_noise(z0, noise, timesteps[0].reshape(1))
    for t in timesteps:
        eps_uncond, eps_cond = pipe.unet(torch.cat([x, x]), t, encoder_hidden_states=text).sample.chunk(2)
        x = scheduler.step(eps_uncond + guidance * (eps_cond - eps_uncond), t, x).prev_sample
    decoded = pipe.vae.decode(x.transpose(1, 2).flatten(0, 1) / pipe.vae.config.scaling_factor).sample
    return decoded.clamp(-1, 1).unflatten(0, (len(captions), frames))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapesworld-t2v", help="registry name or folder")
    parser.add_argument("--clips", type=int, default=4, help="clips per direction")
    parser.add_argument("--t0", type=int, nargs="+", default=[400, 600, 700, 800, 999])
    parser.add_argument(
        "--drift-t",
        type=int,
        nargs="*",
        default=[300, 600, 750, 850, 900, 950, 999],
        help="timesteps of the one-call predicted-drift measurement (none: skip it)",
    )
    parser.add_argument("--steps", type=int, default=20, help="DDIM steps over the whole range 999..0")
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 clip per direction, t0 800, 2 steps (smoke test)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "shapesworld_direction_settling.json"
    )
    args = published_results.parse_args(parser, argv)
    if args.quick:
        args.clips, args.t0, args.steps, args.drift_t = 1, [800], 2, [850]
    if args.clips < 1 or not all(0 <= t <= 999 for t in [*args.t0, *args.drift_t]):
        parser.error("--clips must be >= 1 and every --t0 and --drift-t in [0, 999]")
    pipe = load_pipeline(args.model)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        specs, z0 = rendered_movers(pipe, args.clips, args.seed)
    captions = {"own": [s.caption for s in specs], "opposite": opposite_captions(specs)}
    rows = []
    print(f"{'t0':>4} {'follows own caption':>20} {'follows opposite word':>22}")
    for t0 in args.t0:
        row = {"t0": t0}
        for which, words in captions.items():
            with torch.no_grad():
                frames = _denoise_from(pipe, z0, words, t0, args.steps, args.guidance, args.seed + t0)
            row[f"follows_{which}"] = sum(clip_agreement(f, c).direction_ok for f, c in zip(frames, words)) / len(
                specs
            )
        rows.append(row)
        print(f"{t0:4d} {row['follows_own']:20.3f} {row['follows_opposite']:22.3f}")
    with torch.no_grad():
        drift_rows = direction_word_drift(
            pipe, per_direction=args.clips, timesteps=args.drift_t, guidance=args.guidance, seed=args.seed
        )
    if drift_rows:
        print(f"{'t':>4} {'drift, own caption':>19} {'drift, opposite word':>21} {'own > opposite':>15}")
    for row in drift_rows:
        own, opposite, beats = row["drift_own"], row["drift_opposite"], row["own_beats_opposite"]
        print(f"{row['t']:4d} {own:+19.2f} {opposite:+21.2f} {beats:15.3f}")
    report = {
        "model": args.model,
        "clips": len(specs),
        "steps": args.steps,
        "guidance": args.guidance,
        "seed": args.seed,
        "rows": rows,
        "drift_rows": drift_rows,
    }
    published_results.write_json(args.out, report, models=[args.model])
    return report


if __name__ == "__main__":
    main()
