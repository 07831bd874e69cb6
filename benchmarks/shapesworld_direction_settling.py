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

from plugdiff.shapesworld.caption_agreement import MOVING, clip_agreement
from plugdiff.shapesworld.track_loss import CLAMP, circular_track, track_displacement
from plugdiff.shapesworld.word_contrast import OPPOSITE_DIRECTIONS
from plugdiff.shapesworld.world import random_spec, render_clip
from plugdiff.weights import load_pipeline


def _guided_text(pipe, captions: list[str], frames: int) -> torch.Tensor:
    """(2 N F, L, D) empty-prompt then caption embeddings, one per frame."""
    cond, uncond = pipe.encode_prompt(captions, pipe.unet.device, 1, True, None)
    return torch.cat([uncond, cond]).repeat_interleave(frames, 0)


def _denoise_from(pipe, z0: torch.Tensor, captions: list[str], t0: int, steps: int, guidance: float, seed: int):
    """Frames (N, F, 3, H, W) in [-1, 1]: latents ``z0`` (N, C, F, h, w) noised to the first of
    ``steps`` DDIM timesteps at or below ``t0`` and denoised from there with ``captions``."""
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(steps)
    timesteps = [t for t in scheduler.timesteps if t <= t0]
    frames = z0.shape[2]
    text = _guided_text(pipe, captions, frames)
    noise = torch.randn(z0.shape, generator=torch.Generator().manual_seed(seed))
    x = scheduler.add_noise(z0, noise, timesteps[0].reshape(1))
    for t in timesteps:
        eps_uncond, eps_cond = pipe.unet(torch.cat([x, x]), t, encoder_hidden_states=text).sample.chunk(2)
        x = scheduler.step(eps_uncond + guidance * (eps_cond - eps_uncond), t, x).prev_sample
    decoded = pipe.vae.decode(x.transpose(1, 2).flatten(0, 1) / pipe.vae.config.scaling_factor).sample
    return decoded.clamp(-1, 1).unflatten(0, (len(captions), frames))


def _predicted_drift(pipe, z0: torch.Tensor, captions: list[str], t: int, guidance: float, seed: int):
    """(N,) drift along each clip's true direction of the clean clip predicted by one guided model
    call on ``z0`` noised to ``t``, read around the true track (latent pixels), and (N,) the true
    clips' own drift the same way."""
    around = circular_track(z0)
    truth = track_displacement(z0, periodic=True, around=around)
    unit = truth / truth.norm(dim=-1, keepdim=True)
    noise = torch.randn(z0.shape, generator=torch.Generator().manual_seed(seed))
    timestep = torch.tensor([t])
    x = DDIMScheduler.from_config(pipe.scheduler.config).add_noise(z0, noise, timestep)
    eps_uncond, eps_cond = pipe.unet(
        torch.cat([x, x]), t, encoder_hidden_states=_guided_text(pipe, captions, z0.shape[2])
    ).sample.chunk(2)
    abar = pipe.scheduler.alphas_cumprod[t]
    eps = eps_uncond + guidance * (eps_cond - eps_uncond)
    z0_hat = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-CLAMP, CLAMP)
    drift = track_displacement(z0_hat, periodic=True, around=around)
    return (drift * unit).sum(-1), truth.norm(dim=-1)


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
    gen = torch.Generator().manual_seed(args.seed)
    specs = [
        random_spec(gen, directions=[d], include_held_out=True, wrap=True) for d in MOVING for _ in range(args.clips)
    ]
    clips = torch.stack([render_clip(s, 16) for s in specs])  # (N, F, 3, H, W)
    with torch.no_grad():
        z0 = pipe.vae.encode(clips.flatten(0, 1)).latent_dist.mean * pipe.vae.config.scaling_factor
        z0 = z0.unflatten(0, clips.shape[:2]).transpose(1, 2)  # (N, C, F, h, w)
    captions = {
        "own": [s.caption for s in specs],
        "opposite": [s.caption.replace(f" {s.direction} ", f" {OPPOSITE_DIRECTIONS[s.direction]} ") for s in specs],
    }
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
    drift_rows = []
    if args.drift_t:
        print(f"{'t':>4} {'drift, own caption':>19} {'drift, opposite word':>21} {'own > opposite':>15}")
    for t in args.drift_t:
        row = {"t": t}
        with torch.no_grad():
            for which, words in captions.items():
                row[which], truth = _predicted_drift(pipe, z0, words, t, args.guidance, args.seed + 7 * t)
        row = {
            "t": t,
            "drift_own": float(row["own"].mean()),
            "drift_opposite": float(row["opposite"].mean()),
            "own_beats_opposite": float((row["own"] > row["opposite"]).float().mean()),
            "true_drift": float(truth.mean()),
        }
        drift_rows.append(row)
        print(f"{t:4d} {row['drift_own']:+19.2f} {row['drift_opposite']:+21.2f} {row['own_beats_opposite']:15.3f}")
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
