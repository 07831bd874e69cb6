"""The ``plugdiff`` command line."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys

from .. import __version__

COMPONENTS = {
    "schedulers": ["plugdiff.samplers:AcceleratedDDIMScheduler", "plugdiff.samplers:AcceleratedDDPMScheduler"],
}
VERSIONED = ["torch", "diffusers", "transformers", "accelerate", "xformers", "gradio"]


def environment_report() -> dict:
    """Versions of plugdiff and its stack, the torch device, and the components available."""
    report = {"plugdiff": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            report[name] = importlib.import_module(name).__version__
        except ImportError:
            report[name] = None
    import torch

    report["cuda"] = torch.cuda.is_available()
    report["components"] = COMPONENTS
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="plugdiff", description="Training-free diffusion methods for diffusers.")
    parser.add_argument("--version", action="version", version=f"plugdiff {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print versions, device and available components")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    models = sub.add_parser("models", help="list the registry's models and whether each loads offline here")
    models.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def models_report() -> list[dict]:
    """One row per registry model: name, kind, source, pipeline, description, availability and,
    when missing, the command that gets it."""
    from ..weights.registry import REGISTRY, bundled_dir, is_available

    rows = []
    for spec in REGISTRY.values():
        available = is_available(spec.name)
        rows.append({
            "name": spec.name, "kind": spec.kind, "source": spec.source, "pipeline": spec.pipeline,
            "description": spec.description, "available": available,
            "get_it": None if available else spec.download_hint.replace("{dir}", str(bundled_dir(spec.name))),
        })
    return rows


def _print_models(rows: list[dict]) -> None:
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {'available' if r['available'] else 'missing':9}  {r['kind']:5}  {r['description']}")
        if r["get_it"]:
            first, *rest = (line.strip() for line in r["get_it"].splitlines())
            print(f"{'':<{width}}  get it: {first}")
            for line in rest:
                print(f"{'':<{width}}          {line}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "info":
        report = environment_report()
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for key, value in report.items():
                if key != "components":
                    print(f"{key:>12}: {value if value is not None else 'not installed'}")
            for kind, names in report["components"].items():
                print(f"{kind:>12}: {', '.join(n.split(':')[1] for n in names)}")
    elif args.command == "models":
        rows = models_report()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_models(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
