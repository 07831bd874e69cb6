"""Fidelity of a ShapesWorld frame autoencoder (the VAE of ``shapesworld-t2v``): does the detector
read the same shape and colour from the reconstruction as from the original frame?

    python benchmarks/shapesworld_autoencoder.py [--model plugdiff/weights/shapesworld-t2v/vae] [--frames 1024]
    python benchmarks/shapesworld_autoencoder.py --world v5 --out benchmarks/results/shapesworld_autoencoder_v5.json

``--world v5`` draws the frames of world v5 (objects that wrap across the frame's edges, shades,
in-between captions): the agreement is then with what the detector reads from the original frame
(the caption's words do not name an in-between colour), reported for all frames and for the
frames whose object touches or crosses an edge (``edge``), where a model of world v4 never saw one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import published_results
import torch
from diffusers import AutoencoderKL

from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.world import WORLDS, sample_frames, truth

ROOT = Path(__file__).resolve().parents[1]


def _touches_edge(bbox: tuple[float, float, float, float], size: int) -> bool:
    x0, y0, x1, y1 = bbox
    return x0 <= 0 or y0 <= 0 or x1 >= size or y1 >= size


def _agreement(recon, frames, found, original) -> dict:
    """The detector's reading of each reconstruction against its reading of the original frame
    (``clean``: the reconstruction is clean exactly when the original is)."""

    def same(key: str) -> float:
        pairs = zip(found, original, strict=True)
        return sum(d is not None and o is not None and getattr(d, key) == getattr(o, key) for d, o in pairs) / len(
            found
        )

    return {
        "mean_abs_error": float((recon - frames).abs().mean()),
        "colour_agreement": same("colour"),
        "shape_agreement": same("shape"),
        "clean": same("clean"),
    }


@torch.no_grad()
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "plugdiff" / "weights" / "shapesworld-t2v" / "vae")
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--world", choices=WORLDS, default="v4", help="the world the frames come from")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "shapesworld_autoencoder.json")
    args = published_results.parse_args(parser, argv)

    vae = AutoencoderKL.from_pretrained(args.model, use_safetensors=True).to(args.device).eval()
    size = vae.config.sample_size
    frames, _, specs = sample_frames(
        args.frames, torch.Generator().manual_seed(args.seed), size=size, world=args.world
    )
    recon = torch.cat(
        [vae.decode(vae.encode(x.to(args.device)).latent_dist.mean).sample.cpu() for x in frames.split(256)]
    )
    found = detect(recon.clamp(-1, 1))
    original = detect(frames)
    result = {
        "model": str(args.model),
        "world": args.world,
        "frames": args.frames,
        **_agreement(recon, frames, found, original),
    }
    if args.world == "v5":
        edge = [_touches_edge(truth(s, 1, size)[0].bbox, size) for s in specs]
        keep = torch.tensor(edge)
        found, original = ([x for x, e in zip(items, edge, strict=True) if e] for items in (found, original))
        result["edge"] = {"frames": int(keep.sum()), **_agreement(recon[keep], frames[keep], found, original)}
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    published_results.write_json(args.out, result, models=[args.model])
    return result


if __name__ == "__main__":
    main()
