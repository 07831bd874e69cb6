"""Published results are replaced only on purpose.

``benchmarks/results/`` holds the results the documentation shows. A benchmark replaces them only
when run with ``--publish``; any other run whose ``--out`` points there (the default) writes the
same file names under ``outputs/benchmarks/`` instead and says so on stderr. A ``--quick`` run is a
smoke test and is never published.

Every benchmark script parses its arguments with :func:`parse_args`::

    args = published_results.parse_args(parser, argv)   # instead of parser.parse_args(argv)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SCRATCH = Path(__file__).resolve().parents[1] / "outputs" / "benchmarks"


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Add ``--publish`` to ``parser``, parse ``argv`` and move ``args.out`` (a folder or a file)
    from :data:`RESULTS` to the same place under :data:`SCRATCH` unless ``--publish`` is given."""
    parser.add_argument("--publish", action="store_true",
                        help=f"write into {RESULTS.parent.name}/{RESULTS.name}/, replacing the published results "
                             f"(otherwise: {SCRATCH.parent.name}/{SCRATCH.name}/)")
    args = parser.parse_args(argv)
    if args.publish and getattr(args, "quick", False):
        parser.error("--publish: a --quick run is a smoke test and is never published")
    out = Path(args.out).resolve()
    if not args.publish and (out == RESULTS or RESULTS in out.parents):
        args.out = SCRATCH / out.relative_to(RESULTS)
        print(f"note: the published results in {RESULTS} are kept; this run writes to {args.out} "
              "(--publish replaces them)", file=sys.stderr)
    return args
