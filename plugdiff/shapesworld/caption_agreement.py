"""Does a generated ShapesWorld clip show what its caption says? Scored with the detector.

Per clip (frames (F, 3, H, W) in [-1, 1]) against its caption:
- ``colour_frames`` / ``shape_frames`` / ``background_frames``: fraction of frames whose detected
  object has the caption's colour / shape, and whose detected background is the caption's (a
  frame with no detection counts as wrong);
- ``clean_frames``: fraction of frames that read back as one clean shape (``Detection.clean``);
- ``direction``: :func:`~plugdiff.shapesworld.detector.detect_direction` of the detected
  centres (unwrapped on the torus, :mod:`~plugdiff.shapesworld.tracks`), and ``direction_ok``
  whether it is the caption's;
- the identity the caption does not name (world v5), from
  :func:`~plugdiff.shapesworld.long_video_scores.identity_drift`: ``size_cv``, the coefficient of
  variation of the object's linear size over the clip, and ``shade_ok``, whether every frame's
  shade is within ``SHADE_TOLERANCE`` of the clip's median shade.

:func:`direction_steering` asks whether the caption, not the noise, decides where the object
goes: every direction word from the same starting noise. :func:`direction_word_drift` asks it of
one model call: on rendered movers noised to t, does the predicted clean clip drift with the
direction word, or the same way with the opposite word?
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from .detector import detect, detect_direction
from .long_video_scores import SHADE_TOLERANCE, identity_drift
from .track_loss import CLAMP, circular_track, track_displacement
from .tracks import unwrap_track
from .video_consistency import clean_fraction
from .word_contrast import OPPOSITE_DIRECTIONS
from .world import COLOURS, DIRECTIONS, HELD_OUT, SHAPES, ClipSpec, parse_caption, random_spec, render_clip

MOVING: tuple[str, ...] = tuple(d for d in DIRECTIONS if d != "still")


def direction_steering(
    pipe, *, noises: int, steps: int, guidance: float, seed: int = 0, colour="red", shape="circle", background="black"
) -> dict[str, float]:
    """Does the caption steer the motion? ``noises`` starting noises, drawn from ``seed``, each
    denoised once per moving direction word (``MOVING``) with the otherwise same caption; every
    clip's direction read as in :func:`clip_agreement`. Returns ``follows``: the fraction of clips
    that move the captioned way (1/4 for a model that moves at random), and ``noise_decides``: the
    fraction of noises whose four clips all move the same way (the caption has no say: 1/64 for
    independent random directions, 1 for a model that reads its direction from the noise)."""
    if noises < 1:
        raise ValueError(f"noises must be at least 1, got {noises}")
    prompts = [f"a {colour} {shape} moving {d} on a {background} background" for d in MOVING]
    unet = pipe.unet
    channels = unet.config.in_channels
    size = unet.config.sample_size
    follows, same = 0, 0
    for i in range(noises):
        gen = torch.Generator().manual_seed(seed + i)
        noise = torch.randn(1, channels, 16, size, size, generator=gen).expand(len(prompts), -1, -1, -1, -1)
        out = pipe(
            prompts,
            num_frames=16,
            num_inference_steps=steps,
            guidance_scale=guidance,
            latents=noise.to(unet.device, unet.dtype),
            output_type="pt",
        )
        found = [clip_agreement(c.float().cpu() * 2 - 1, p) for c, p in zip(out.frames, prompts, strict=True)]
        follows += sum(a.direction_ok for a in found)
        same += len({a.direction for a in found}) == 1
    return {"noises": noises, "follows": follows / (noises * len(prompts)), "noise_decides": same / noises}


def rendered_movers(pipe, per_direction: int, seed: int = 0) -> tuple[list[ClipSpec], torch.Tensor]:
    """``per_direction`` wrapping world-v5 movers for each of ``MOVING`` (held-out triples
    included) and their (N, C, 16, h, w) scaled latent means under ``pipe.vae``."""
    gen = torch.Generator().manual_seed(seed)
    directions = [d for d in MOVING for _ in range(per_direction)]
    specs = [random_spec(gen, directions=[d], include_held_out=True, wrap=True) for d in directions]
    clips = torch.stack([render_clip(s, 16) for s in specs]).to(pipe.vae.device, pipe.vae.dtype)
    z0 = pipe.vae.encode(clips.flatten(0, 1)).latent_dist.mean * pipe.vae.config.scaling_factor
    return specs, z0.unflatten(0, clips.shape[:2]).transpose(1, 2).float()


def opposite_captions(specs: Sequence[ClipSpec]) -> list[str]:
    """The movers' captions with the direction word replaced by its opposite."""
    return [s.caption.replace(f" {s.direction} ", f" {OPPOSITE_DIRECTIONS[s.direction]} ") for s in specs]


def guided_text(pipe, captions: list[str], frames: int) -> torch.Tensor:
    """(2 N F, L, D) empty-prompt then caption embeddings, one per frame (the layout of a guided
    ``UNetMotionModel`` call on ``torch.cat([x, x])``)."""
    cond, uncond = pipe.encode_prompt(captions, pipe.unet.device, 1, True, None)
    return torch.cat([uncond, cond]).repeat_interleave(frames, 0)


def predicted_drift(
    pipe, z0: torch.Tensor, captions: list[str], t: int, guidance: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N,) drift along each clip's true direction of the clean clip predicted by one guided model
    call on latents ``z0`` (N, C, F, h, w) noised to ``t``, read around the true track as the
    track loss reads it (latent pixels), and (N,) the clips' own drift read the same way."""
    around = circular_track(z0)
    truth = track_displacement(z0, periodic=True, around=around)
    unit = truth / truth.norm(dim=-1, keepdim=True)
    noise = torch.randn(z0.shape, generator=torch.Generator().manual_seed(seed))
    abar = pipe.scheduler.alphas_cumprod[t]
    x = abar.sqrt() * z0 + (1 - abar).sqrt() * noise
    text = guided_text(pipe, captions, z0.shape[2])
    eps_uncond, eps_cond = pipe.unet(torch.cat([x, x]), t, encoder_hidden_states=text).sample.float().chunk(2)
    eps = eps_uncond + guidance * (eps_cond - eps_uncond)
    z0_hat = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-CLAMP, CLAMP)
    drift = track_displacement(z0_hat, periodic=True, around=around)
    return (drift * unit).sum(-1), truth.norm(dim=-1)


def direction_word_drift(
    pipe, *, per_direction: int, timesteps: Sequence[int], guidance: float, seed: int = 0
) -> list[dict[str, float]]:
    """Per timestep t, on :func:`rendered_movers` noised to t: the mean :func:`predicted_drift`
    with the own caption (``drift_own``) and with the opposite direction word
    (``drift_opposite``), the fraction of clips where the own word's drift is the larger
    (``own_beats_opposite``, 1/2 for a word with no say) and the clips' own drift
    (``true_drift``)."""
    specs, z0 = rendered_movers(pipe, per_direction, seed)
    captions = {"own": [s.caption for s in specs], "opposite": opposite_captions(specs)}
    rows = []
    for t in timesteps:
        drift = {}
        for which, words in captions.items():
            drift[which], truth = predicted_drift(pipe, z0, words, t, guidance, seed + 7 * t)
        rows.append(
            {
                "t": t,
                "drift_own": float(drift["own"].mean()),
                "drift_opposite": float(drift["opposite"].mean()),
                "own_beats_opposite": float((drift["own"] > drift["opposite"]).float().mean()),
                "true_drift": float(truth.mean()),
            }
        )
    return rows


@dataclass(frozen=True)
class ClipAgreement:
    caption: str
    colour_frames: float
    shape_frames: float
    clean_frames: float
    background_frames: float
    direction: str
    direction_ok: bool
    size_cv: float = float("nan")
    shade_ok: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def clip_agreement(frames: torch.Tensor, caption: str) -> ClipAgreement:
    """Score one clip, (F, 3, H, W) in [-1, 1], against its ShapesWorld ``caption``."""
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (F, 3, H, W), got {tuple(frames.shape)}")
    want = parse_caption(caption)
    found = detect(frames)
    n = len(found)
    colour = sum(d is not None and d.colour == want["colour"] for d in found) / n
    shape = sum(d is not None and d.shape == want["shape"] for d in found) / n
    clean = clean_fraction(found)
    background = sum(d is not None and d.background == want["background"] for d in found) / n
    size = frames.shape[-1]
    track = unwrap_track([d.centre if d is not None else None for d in found], size)
    direction = detect_direction([tuple(c) for c in track.tolist()], size=size)
    drift = identity_drift(found)
    return ClipAgreement(
        caption,
        colour,
        shape,
        clean,
        background,
        direction,
        direction == want["direction"],
        drift["size_cv"],
        bool(drift["shade_spread"] <= SHADE_TOLERANCE),
    )


def summarize(scores: Sequence[ClipAgreement]) -> dict[str, float]:
    """Means over clips: colour / shape / clean as fractions of all frames (clips have equal
    length), direction and shade as fractions of clips, the size's coefficient of variation as
    the mean over clips that have one."""
    if not scores:
        raise ValueError("no clips to summarize")
    n = len(scores)
    return {
        "clips": n,
        "colour_frames": sum(s.colour_frames for s in scores) / n,
        "shape_frames": sum(s.shape_frames for s in scores) / n,
        "clean_frames": sum(s.clean_frames for s in scores) / n,
        "background_frames": sum(s.background_frames for s in scores) / n,
        "direction_clips": sum(s.direction_ok for s in scores) / n,
        "size_cv": _mean([s.size_cv for s in scores if s.size_cv == s.size_cv]),
        "shade_clips": sum(s.shade_ok for s in scores) / n,
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def seen_triples(count: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """``count`` (colour, shape, direction) triples that training does show, drawn with ``seed``."""
    seen = [t for t in itertools.product(COLOURS, SHAPES, DIRECTIONS) if t not in HELD_OUT]
    order = torch.randperm(len(seen), generator=torch.Generator().manual_seed(seed))
    return [seen[i] for i in order[:count]]


def triple_captions(triples, per_triple: int, seed: int) -> list[str]:
    """``per_triple`` captions for each (colour, shape, direction) triple, backgrounds drawn from
    ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return [random_spec(gen, combos=[t]).caption for t in triples for _ in range(per_triple)]


def generate_clips(
    pipe,
    prompts: list[str],
    *,
    steps: int,
    guidance: float,
    seed: int,
    batch: int,
    num_frames: int = 16,
    output_type: str = "pt",
) -> torch.Tensor:
    """(N, F, 3, H, W) in [-1, 1]: one ``num_frames`` clip per prompt from a text-to-video
    pipeline, ``batch`` prompts per call, call i seeded with ``seed + i``. ``output_type="latent"``
    returns the (N, C, F, h, w) latents instead, undecoded."""
    clips = []
    for i in range(0, len(prompts), batch):
        out = pipe(
            prompts[i : i + batch],
            num_frames=num_frames,
            num_inference_steps=steps,
            guidance_scale=guidance,
            generator=torch.Generator().manual_seed(seed + i),
            output_type=output_type,
        )
        clips.append(out.frames.cpu() if output_type == "latent" else out.frames.float().cpu() * 2 - 1)
    return torch.cat(clips)


def score_triples(
    pipe, triples, *, per_triple: int, steps: int, guidance: float, seed: int = 0, batch: int = 8
) -> tuple[dict[str, float], list[ClipAgreement], torch.Tensor]:
    """Generate ``per_triple`` clips for each triple and score them: (summary, per-clip scores,
    clips)."""
    prompts = triple_captions(triples, per_triple, seed)
    clips = generate_clips(pipe, prompts, steps=steps, guidance=guidance, seed=seed, batch=batch)
    scores = [clip_agreement(c, p) for c, p in zip(clips, prompts, strict=True)]
    return summarize(scores), scores, clips
