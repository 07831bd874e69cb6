"""Which frame decoder should a ShapesWorld text-to-video model ship with? The same latents, drawn
once by the model, decoded by each candidate and scored side by side.

    python benchmarks/shapesworld_decoders.py --model training/shapesworld-t2v-v5 \
        --vae plugdiff/weights/shapesworld-t2v/vae training/shapesworld-vae-v5 [--publish]

Every ``--vae`` must share the model's encoder (a decoder-only fine-tune: ``train vae --init
FOLDER --decoder-only``), so that the latents mean the same to all of them. Two tests:

* ``held_out``: ``--clips-per-combo`` clips of each held-out caption combination, drawn as
  ``shapesworld_t2v.py`` draws them (same captions, seeds and batches, so the model's own decoder
  reproduces that benchmark's held-out row), scored by
  ``plugdiff.shapesworld.caption_agreement``.
* ``inbetween``: colour and background in-between captions as ``shapesworld_v5.py inbetween``
  draws them (``--pairs`` pairs per slot, weights 0.25 / 0.5 / 0.75, ``--clips`` clips each): the
  share of frames whose mixed slot is within 0.15 of the ground-truth RGB mix.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import published_results
import torch
from diffusers import AutoencoderKL
from shapesworld_v5 import WEIGHTS, inbetween_scores, mixed_clips, mixed_pairs

from plugdiff.pipelines import TiaraAnimateDiffPipeline
from plugdiff.shapesworld.caption_agreement import clip_agreement, generate_clips, summarize, triple_captions
from plugdiff.shapesworld.world import HELD_OUT
from plugdiff.weights import load_pipeline

RESULTS = Path(__file__).resolve().parent / "results"
SLOTS = ("colour", "background")


def decode(pipe, latents: torch.Tensor, vae: AutoencoderKL) -> torch.Tensor:
    """(N, F, 3, H, W) in [-1, 1]: ``latents`` (N, C, F, h, w) through ``vae``'s decoder, as the
    pipeline decodes its own (the pipeline keeps its own autoencoder)."""
    own, pipe.vae = pipe.vae, vae
    try:
        with torch.no_grad():
            video = pipe.decode_latents(latents, latents.shape[2])
    finally:
        pipe.vae = own
    return pipe.video_processor.postprocess_video(video=video, output_type="pt").float() * 2 - 1


def _same_encoder(reference: AutoencoderKL, vae: AutoencoderKL, name: str) -> None:
    theirs = vae.state_dict()
    for key, value in reference.state_dict().items():
        if key.startswith(("encoder.", "quant_conv.")) and not torch.equal(value, theirs[key]):
            raise SystemExit(
                f"--vae {name}: its encoder is not the model's ({key} differs), so the latents mean "
                "something else to it; compare decoders of one encoder (train vae --decoder-only)"
            )
    if vae.config.scaling_factor != reference.config.scaling_factor:
        raise SystemExit(
            f"--vae {name}: scaling_factor {vae.config.scaling_factor} is not the model's "
            f"{reference.config.scaling_factor}"
        )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapesworld-t2v", help="registry name or folder")
    parser.add_argument("--vae", nargs="+", required=True, help="autoencoder folders whose decoders are compared")
    parser.add_argument("--clips-per-combo", type=int, default=8)
    parser.add_argument("--pairs", type=int, default=3, help="in-between caption pairs per slot")
    parser.add_argument("--clips", type=int, default=4, help="clips per in-between pair and weight")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=6.0)
    parser.add_argument("--batch", type=int, default=8, help="clips per pipeline call (held_out)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "shapesworld_decoders.json")
    args = published_results.parse_args(parser, argv)
    for name in ("clips_per_combo", "pairs", "clips", "steps", "batch"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    for name in args.vae:
        if not (Path(name) / "config.json").is_file():
            parser.error(f"--vae {name}: not an autoencoder folder (no config.json)")

    pipe = load_pipeline(args.model, pipeline_cls=TiaraAnimateDiffPipeline)
    pipe.set_progress_bar_config(disable=True)
    decoders = {}
    for name in args.vae:
        decoders[name] = AutoencoderKL.from_pretrained(name, use_safetensors=True)
        _same_encoder(pipe.vae, decoders[name], name)
    settings = {"steps": args.steps, "guidance": args.guidance, "seed": args.seed}

    prompts = triple_captions(sorted(HELD_OUT), args.clips_per_combo, args.seed)
    latents = generate_clips(pipe, prompts, **settings, batch=args.batch, output_type="latent")
    rows = {name: {"vae": name} for name in decoders}
    for name, vae in decoders.items():
        clips = decode(pipe, latents, vae)
        rows[name]["held_out"] = summarize([clip_agreement(c, p) for c, p in zip(clips, prompts, strict=True)])

    right = {name: {slot: [] for slot in SLOTS} for name in decoders}
    pairs = [p for p in mixed_pairs(args.pairs, args.seed) if p[0] in SLOTS]
    for (slot, a, b), w in itertools.product(pairs, WEIGHTS):
        mixed = mixed_clips(pipe, a, b, w, clips=args.clips, **settings, output_type="latent")
        for name, vae in decoders.items():
            right[name][slot] += inbetween_scores(decode(pipe, mixed, vae), slot, a, b, w)[0]
    print(f"{'colour':>7} {'shape':>7} {'clean':>7} {'bground':>7} {'shade':>7} {'mix col':>7} {'mix bg':>7}  vae")
    for name in decoders:
        rows[name]["inbetween_right_frames"] = {slot: float(np.mean(right[name][slot])) for slot in SLOTS}
        h, m = rows[name]["held_out"], rows[name]["inbetween_right_frames"]
        print(
            f"{h['colour_frames']:7.3f} {h['shape_frames']:7.3f} {h['clean_frames']:7.3f} "
            f"{h['background_frames']:7.3f} {h['shade_clips']:7.3f} {m['colour']:7.3f} {m['background']:7.3f}  {name}"
        )
    result = {
        "model": str(args.model),
        **settings,
        "clips_per_combo": args.clips_per_combo,
        "inbetween": {"pairs_per_slot": args.pairs, "clips": args.clips, "weights": list(WEIGHTS)},
        "decoders": list(rows.values()),
    }
    published_results.write_json(args.out, result, models=[args.model, *args.vae])
    return result


if __name__ == "__main__":
    main()
