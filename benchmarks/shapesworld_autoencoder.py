"""Fidelity of a ShapesWorld frame autoencoder (the VAE of ``shapesworld-t2v``): does the detector
read the same shape and colour from the reconstruction as from the original frame?

    python benchmarks/shapesworld_autoencoder.py [--model plugdiff/weights/shapesworld-t2v/vae] [--frames 1024]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import published_results
import torch
from diffusers import AutoencoderKL

from plugdiff.shapesworld.detector import detect
from plugdiff.shapesworld.world import sample_frames

ROOT = Path(__file__).resolve().parents[1]


@torch.no_grad()
def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "plugdiff" / "weights" / "shapesworld-t2v" / "vae")
    parser.add_argument("--frames", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "shapesworld_autoencoder.json")
    args = published_results.parse_args(parser, argv)

    vae = AutoencoderKL.from_pretrained(args.model, use_safetensors=True).to(args.device).eval()
    frames, _, specs = sample_frames(
        args.frames, torch.Generator().manual_seed(args.seed), size=vae.config.sample_size
    )
    recon = torch.cat(
        [vae.decode(vae.encode(x.to(args.device)).latent_dist.mean).sample.cpu() for x in frames.split(256)]
    )
    found = detect(recon.clamp(-1, 1))
    result = {
        "model": str(args.model),
        "frames": args.frames,
        "mean_abs_error": float((recon - frames).abs().mean()),
        "colour_agreement": sum(d is not None and d.colour == s.colour for d, s in zip(found, specs, strict=True))
        / args.frames,
        "shape_agreement": sum(d is not None and d.shape == s.shape for d, s in zip(found, specs, strict=True))
        / args.frames,
        "clean": sum(d is not None and d.clean for d in found) / args.frames,
    }
    for key, value in result.items():
        print(f"{key:>18}: {value}")
    published_results.write_json(args.out, result, models=[args.model])
    return result


if __name__ == "__main__":
    main()
