"""The numbers in README.md and docs/*.md come from benchmarks/results/: this script renders the
results tables into the pages, and checks the numbers quoted in prose.

**Tables.** A page holds a table between two markers, each on a line of its own; the text between
them is the output of the table's function in :data:`TABLES` (registered with ``@table("name")``)::

    <!-- table: samplers.ring_rmse -->
    | method | NFE 5 | ... |
    <!-- /table -->

**Numbers in prose.** A number followed at once by a marker names its source::

    0.994<!-- shapesworld_t2v.json:runs.[guidance=6.0,combos=held_out].colour_frames -->
    96.5<!-- = 100 * {main_job.json:mean.follows} --> %

The first form is one value: a file under ``benchmarks/results/`` and a path into it, its steps
separated by dots (a step in double quotes may hold dots; a number indexes a list; ``[k=v,...]``
picks the one element of a list whose fields match; ``[]`` maps the rest of the path over a list).
The second form (``=``) is arithmetic over such references in braces (``+ - * /``, parentheses,
``abs min max sum len round``, ``count count_equal count_less count_greater`` over lists and
``sub`` for the element-wise difference of two lists). A page may
name a file and path once, ``<!-- source @t2v = shapesworld_t2v.json:runs -->``, and then write
``<!-- @t2v.[guidance=6.0,combos=held_out].colour_frames -->`` (or ``{@t2v....}`` in a sum). The number
must equal the value to the precision it is quoted with (``96.5`` matches 96.45-96.55). A sign
belongs to the number after a space or an opening bracket (``-3.44``), not after another number
(``0.91-1.59``, a range).

    python benchmarks/render_docs.py            # rewrite the tables in the pages
    python benchmarks/render_docs.py --check    # list tables that differ and numbers that do not match (exit 1)

``tests/test_docs_numbers.py`` runs the check.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import math
import operator
import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from intervals import mean_interval, paired_intervals

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

TABLE = re.compile(r"^(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(^<!-- /table -->)", re.S | re.M)
QUOTED = re.compile(
    r"(?<![\w.])(?P<number>(?:(?<![^\s(\[|/])[+-])?\d+(?:\.\d+)?)"
    r"<!--\s*(?P<source>(?:=|[\w./-]+\.json:|@\w).*?)\s*-->",
    re.S,
)
REFERENCE = re.compile(r"\{(?P<ref>(?:[\w./-]+\.json:|@\w)[^{}]*)\}")
ALIAS = re.compile(r"<!-- source @(?P<name>\w+) = (?P<target>[\w./-]+\.json(?::[^>]*?)?)\s*-->")


# ------------------------------------------------------------------ reading results
@cache
def load(name: str) -> dict:
    """A results file, by its path under benchmarks/results/."""
    return json.loads((RESULTS / name).read_text())


def _steps(path: str) -> list[str]:
    steps, current, quoted, depth = [], "", False, 0
    for char in path.strip():
        if char == '"' and depth == 0:
            quoted = not quoted
        elif char == "[" and not quoted:
            depth += 1
            current += char
        elif char == "]" and not quoted:
            depth -= 1
            current += char
        elif char == "." and not quoted and depth == 0:
            steps.append(current)
            current = ""
        else:
            current += char
    return [*steps, current]


def value(file: str, path: str):
    """The value at ``path`` in results file ``file`` (see the module docstring for the syntax)."""
    return _walk(load(file), _steps(path), f"{file}:{path}")


def _walk(node, steps: list[str], where: str):
    for i, step in enumerate(steps):
        if not step:
            continue
        if step == "[]":  # every element of a list: the rest of the path on each
            return [_walk(e, steps[i + 1 :], where) for e in node]
        if step.startswith("[") and step.endswith("]"):
            wanted = dict(part.split("=", 1) for part in step[1:-1].split(","))
            hits = [e for e in node if all(str(e.get(k)) == v for k, v in wanted.items())]
            if len(hits) != 1:
                raise KeyError(f"{where}: {step} matches {len(hits)} elements")
            node = hits[0]
        elif isinstance(node, list):
            node = node[int(step)]
        else:
            if step not in node:
                raise KeyError(f"{where}: no {step!r} (there: {', '.join(map(str, node))})")
            node = node[step]
    return node


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_FUNCS = {
    "abs": abs,
    "min": min,
    "max": max,
    "sum": sum,
    "len": len,
    "round": round,
    "count_equal": lambda a, b: sum(x == y for x, y in zip(a, b, strict=True)),
    "count_less": lambda a, b: sum(x < y for x, y in zip(a, b, strict=True)),
    "count_greater": lambda a, b: sum(x > y for x, y in zip(a, b, strict=True)),
    "count": lambda a: sum(bool(x) for x in a),
    "sub": lambda a, b: [x - y for x, y in zip(a, b, strict=True)],
}


def aliases(text: str) -> dict[str, str]:
    """The ``<!-- source @name = file.json:path -->`` declarations of a page."""
    return {m["name"]: m["target"] if ":" in m["target"] else m["target"] + ":" for m in ALIAS.finditer(text)}


def reference(ref: str, names: dict[str, str] | None = None):
    """The value of ``file.json:path`` or ``@name.path``."""
    ref = ref.strip()
    if ref.startswith("@"):
        name, _, rest = ref[1:].partition(".")
        if name not in (names or {}):
            raise KeyError(f"no <!-- source @{name} = ... --> on the page")
        ref = names[name] + ("." if rest and not names[name].endswith(":") else "") + rest
    file, _, path = ref.partition(":")
    return value(file, path)


def evaluate(source: str, names: dict[str, str] | None = None):
    """The value a marker's source names: ``file.json:path``, ``@name.path`` or ``= expression``."""
    source = source.strip()
    if not source.startswith("="):
        return reference(source, names)
    refs = []

    def keep(match):
        refs.append(reference(match["ref"], names))
        return f"_r{len(refs) - 1}"

    tree = ast.parse(REFERENCE.sub(keep, source[1:]).strip(), mode="eval")

    def run(node):
        if isinstance(node, ast.Expression):
            return run(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.Name) and node.id.startswith("_r"):
            return refs[int(node.id[2:])]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](run(node.left), run(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](run(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            return _FUNCS[node.func.id](*[run(a) for a in node.args])
        if isinstance(node, ast.List | ast.Tuple):
            return [run(e) for e in node.elts]
        raise ValueError(f"not allowed in a number's source: {ast.dump(node)}")

    return run(tree)


def matches(number: str, actual) -> bool:
    """``number`` as quoted equals ``actual`` to the quoted precision."""
    decimals = len(number.partition(".")[2])
    return (
        isinstance(actual, int | float)
        and math.isfinite(actual)
        and abs(float(number) - actual) <= 0.5 * 10**-decimals * (1 + 1e-9) + 1e-12
    )


# ------------------------------------------------------------------ tables
TABLES: dict[str, Callable[[], str]] = {}


def table(name: str):
    def register(function):
        TABLES[name] = function
        return function

    return register


def rows(header: list[str], body: list[list], align: list[str] | None = None) -> str:
    """A Markdown table."""
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def f(x, digits: int = 4, sign: bool = False) -> str:
    """``x`` with ``digits`` decimals (``sign``: a leading + on positives)."""
    if x is None:
        return ""
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def pct(x, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


def bold(text: str, on: bool = True) -> str:
    return f"**{text}**" if on and text else text


# ------------------------------------------------------------------ pages
def render(text: str) -> str:
    """``text`` with every table between markers rendered anew."""

    def fill(match):
        name = match["name"]
        if name not in TABLES:
            raise KeyError(f"no table {name!r} in benchmarks/render_docs.py")
        return match.group(1) + TABLES[name]() + match.group(4)

    return TABLE.sub(fill, text)


def table_differences(page: Path) -> list[str]:
    """One unified diff per table of ``page`` that differs from its rendering."""
    text = page.read_text(encoding="utf-8")
    out = []
    for match in TABLE.finditer(text):
        want = TABLES[match["name"]]() if match["name"] in TABLES else f"(no table {match['name']!r})\n"
        if match["body"] != want:
            diff = difflib.unified_diff(match["body"].splitlines(), want.splitlines(), "page", "rendered", lineterm="")
            out.append(f"{page.name}: table {match['name']}:\n" + "\n".join(diff))
    return out


def quoted_numbers(text: str) -> list[tuple[int, str, str]]:
    """(line, number, source) for every number in ``text`` followed by a source marker."""
    return [(text.count("\n", 0, m.start()) + 1, m["number"], m["source"]) for m in QUOTED.finditer(text)]


def number_mismatches(page: Path) -> list[str]:
    out = []
    text = page.read_text(encoding="utf-8")
    names = aliases(text)
    for line, number, source in quoted_numbers(text):
        try:
            actual = evaluate(source, names)
        except Exception as error:
            out.append(f"{page.name}:{line}: {number}<!-- {source} -->: {type(error).__name__}: {error}")
            continue
        if not matches(number, actual):
            out.append(f"{page.name}:{line}: {number} is quoted, the source gives {actual!r} <!-- {source} -->")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; list differences, exit 1 if any")
    parser.add_argument("pages", nargs="*", type=lambda p: Path(p).resolve(), default=PAGES)
    args = parser.parse_args(argv)
    problems = []
    for page in args.pages:
        if args.check:
            problems += table_differences(page)
        else:
            text = page.read_text(encoding="utf-8")
            new = render(text)
            if new != text:
                page.write_text(new, encoding="utf-8")
                print(f"rendered {page.relative_to(ROOT)}")
        problems += number_mismatches(page)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


# ================================================================== the tables
# ------------------------------------------------------------------ samplers (docs/samplers.md)
RING, IMAGE = "2-D ring of 8", "3x16x16 image mixture"
NFES = ["5", "8", "10", "15", "20", "50"]
DETERMINISTIC = [
    "DDIM",
    "AcceleratedDDIM",
    "AcceleratedLogSNR(2M)",
    "AcceleratedLogSNR(3M)",
    "AcceleratedLogSNR(2M+corrector)",
    "AcceleratedLogSNR(3M+corrector+Gaussian final)",
    "DPM-Solver++(2M)",
    "UniPC",
    "Heun",
]
STOCHASTIC = ["DDPM", "DDPM (fixed_large)", "AcceleratedDDPM"]
GAUSS = "AcceleratedLogSNR(3M+corrector+Gaussian final)"
SDE = "AcceleratedLogSNR SDE(2M+corrector+Gaussian final)"


def _exact(target: str, method: str, nfe: str, key: str) -> str:
    cell = load("samplers.json")["targets"][target]["results"][method][nfe]
    text = f(cell[key])
    return text + (f" ({cell['nfe']})" if cell["nfe"] != int(nfe) else "")


def _exact_table(target: str, key: str, methods: list[str], nfes=NFES, best: bool = False) -> str:
    results = load("samplers.json")["targets"][target]["results"]
    lowest = {n: min(results[m][n][key] for m in methods) for n in nfes}
    body = [
        [m, *(bold(_exact(target, m, n, key), best and results[m][n][key] == lowest[n]) for n in nfes)]
        for m in methods
    ]
    if key == "sliced_w2":
        floor = load("samplers.json")["targets"][target]["floor_sliced_w2"]
        body.append(
            [
                f"*exact vs exact (mean ± std of {floor['draws']} draws)*",
                *[f"{f(floor['mean'])} ± {f(floor['std'])}"] * len(nfes),
            ]
        )
    return rows(["method", *(f"NFE {n}" for n in nfes)], body)


table("samplers.ring_rmse")(lambda: _exact_table(RING, "endpoint_rmse", DETERMINISTIC))
table("samplers.ring_w2")(lambda: _exact_table(RING, "sliced_w2", DETERMINISTIC + STOCHASTIC))
table("samplers.image_rmse")(lambda: _exact_table(IMAGE, "endpoint_rmse", DETERMINISTIC))
table("samplers.image_w2")(lambda: _exact_table(IMAGE, "sliced_w2", DETERMINISTIC + STOCHASTIC))


@table("samplers.step_cost")
def _step_cost() -> str:
    cost = load("samplers.json")["step_overhead_4x64x64"]
    return rows(
        ["scheduler", "ms / step", "ratio to DDIM"],
        [[m, f(1000 * c["seconds_per_step"], 3), f(c["ratio_to_ddim"], 2)] for m, c in cost.items()],
    )


@table("samplers.gpu")
def _gpu() -> str:
    results = load("gpu_schedulers.json")["results"]
    body = []
    for dtype, by_method in results.items():
        for method, r in by_method.items():
            rel = r.get("rel_diff_to_fp32")
            body.append(
                [
                    method,
                    dtype,
                    f(r["ms_per_call"], 1),
                    f(r["step_ms"], 3),
                    pct(r["step_share"], 2).replace(" %", "%"),
                    f(r["step_ms"] / by_method["DDIM"]["step_ms"], 2),
                    f"{rel:.1e}".replace("e-0", "e-0") if rel else "-",
                ]
            )
    return rows(
        [
            "scheduler",
            "dtype",
            "UNet + step, ms per call",
            "step(), ms",
            "step() share",
            "step() vs DDIM",
            "fp16 vs fp32 (rel.)",
        ],
        body,
    )


def _learned(name: str) -> str:
    report = load(name)
    nfes = ["5", "10", "20", "50"]
    body = [
        [m, *(f"{f(r[n]['sliced_w2'] / report['floor'], 2)} / {f(r[n]['clean'], 2)}" for n in nfes)]
        for m, r in report["methods"].items()
    ]
    return rows(["scheduler", *(f"NFE {n}" for n in nfes)], body)


table("samplers.learned")(lambda: _learned("samplers_learned.json"))
table("samplers.learned_clipped")(lambda: _learned("samplers_learned_clipped.json"))

OURS_LEARNED = ["AcceleratedLogSNR(2M)", "AcceleratedLogSNR(3M)", "AcceleratedLogSNR(2M+corrector)", GAUSS]


@table("samplers.learned_vs_best")
def _learned_vs_best() -> str:
    columns = [(name, n) for name in ("samplers_learned.json", "samplers_learned_clipped.json") for n in ("10", "20")]
    best = []
    for name, n in columns:
        methods = load(name)["methods"]
        winner = min(methods, key=lambda m: methods[m][n]["sliced_w2"])
        best.append((winner, methods[winner][n]["sliced_w2"]))
    body = [["best of the table", *(f"{w} {f(v)}" for w, v in best)]]
    for method in [*OURS_LEARNED, "DPM-Solver++(2M)", "UniPC"]:
        cells = []
        for (name, n), (_, low) in zip(columns, best, strict=True):
            ratio = load(name)["methods"][method][n]["sliced_w2"] / low
            cells.append(f(ratio, 2) + (" ✗" if method in OURS_LEARNED and ratio > 1.05 else ""))
        body.append([method, *cells])
    return rows(["scheduler", "unclipped, NFE 10", "unclipped, NFE 20", "clipped, NFE 10", "clipped, NFE 20"], body)


GRID_NAMES = {"trailing": "trailing", **{f"logSNR to {e}": f"log-SNR to {e}" for e in (20, 35, 50, 75, 100)}}


@table("samplers.grids_gauss")
def _grids_gauss() -> str:
    body = []
    for target, short in ((RING, "ring"), (IMAGE, "image")):
        for grid, label in GRID_NAMES.items():
            cells = []
            for n in NFES:
                cell = load("samplers_grids.json")["targets"][target][grid][n]
                ratios = [cell[GAUSS] / cell[b] for b in ("DPM-Solver++(2M)", "UniPC")]
                shown = " / ".join(bold(f(r, 2), r > 1) for r in ratios)
                cells.append(f"{f(cell[GAUSS])} ({shown})")
            body.append([f"{short}, {label}", *cells])
    return rows(["target, grid", *(f"NFE {n}" for n in NFES)], body)


BEYOND = [
    "DDIM",
    "AcceleratedDDIM",
    "DPM-Solver++(2M)",
    "UniPC",
    "Heun",
    "AcceleratedLogSNR(2M)",
    "AcceleratedLogSNR(3M)",
    "AcceleratedLogSNR(2M+corrector)",
    GAUSS,
]
BEYOND_RATIOS = [
    "AcceleratedLogSNR(2M)",
    "AcceleratedLogSNR(3M)",
    "AcceleratedLogSNR(2M+corrector)",
    "AcceleratedDDIM",
    GAUSS,
]


table("samplers.ring_rmse_to_20")(lambda: _exact_table(RING, "endpoint_rmse", BEYOND, NFES[:5], best=True))
table("samplers.image_rmse_to_20")(lambda: _exact_table(IMAGE, "endpoint_rmse", BEYOND, NFES[:5], best=True))


def _ratios(target: str) -> str:
    results = load("samplers.json")["targets"][target]["results"]
    body = []
    for method in BEYOND_RATIOS:
        cells = []
        for n in NFES[:5]:
            r = [
                results[method][n]["endpoint_rmse"] / results[b][n]["endpoint_rmse"]
                for b in ("DPM-Solver++(2M)", "UniPC")
            ]
            text = f"{f(r[0], 2)} / {f(r[1], 2)}"
            cells.append(bold(text, method == GAUSS) + (" ✗" if max(r) > 1 else ""))
        body.append([method, *cells])
    return rows(["method", *(f"NFE {n}" for n in NFES[:5])], body)


table("samplers.ring_ratios")(lambda: _ratios(RING))
table("samplers.image_ratios")(lambda: _ratios(IMAGE))


@table("samplers.kl")
def _kl() -> str:
    body = []
    for target, t in load("samplers_kl.json")["targets"].items():
        kl = t["kl"]
        a = " / ".join(f(kl[SDE][n] / kl["AcceleratedDDPM"][n], 2) for n in NFES)
        b = " / ".join(f(kl[SDE][n] / kl["DPM-Solver++(2M) SDE"][n], 2) for n in NFES)
        body.append([target, a, b])
    return rows(
        ["target", "ours / AcceleratedDDPM, NFE 5 / 8 / 10 / 15 / 20 / 50", "ours / DPM-Solver++(2M) SDE"], body
    )


@table("samplers.sde_w2")
def _sde_w2() -> str:
    body = []
    for target, short in ((RING, "ring"), (IMAGE, "image")):
        results = load("samplers.json")["targets"][target]["results"]
        for method, label in (
            (SDE, "ours (SDE)"),
            ("AcceleratedDDPM", "AcceleratedDDPM"),
            ("DPM-Solver++(2M) SDE", "DPM-Solver++(2M) SDE"),
        ):
            body.append([f"{short}: {label}", *(f(results[method][n]["sliced_w2"]) for n in NFES)])
    return rows(["", *(f"NFE {n}" for n in NFES)], body)


# ------------------------------------------------------------------ long video (docs/long-video.md)
@table("long_video.tiara_cost")
def _tiara_cost() -> str:
    body = []
    for name, size in (
        ("tiara_overhead_small-64px-cpu-float32-sdpa.json", 64),
        ("tiara_overhead_small-128px-cpu-float32-sdpa.json", 128),
    ):
        first = {}
        for r in load(name)["rows"]:
            base = first.setdefault(r["mode"], r["peak_above_model_mb"])
            body.append(
                [
                    r["frames"],
                    r["mode"],
                    f"{size} px",
                    f(r["seconds_off"], 2),
                    f(r["seconds_on"], 2),
                    f(r["time_ratio"], 3),
                    f"{r['peak_mb']:.0f}",
                    f"{r['peak_above_model_mb']:.0f}",
                    f(r["peak_above_model_mb"] / base, 2),
                ]
            )
    return rows(
        [
            "frames",
            "mode",
            "frame size",
            "TiARA off (s)",
            "TiARA on (s)",
            "on / off",
            "peak RSS (MB)",
            "rise above model (MB)",
            "rise vs 32 frames",
        ],
        body,
    )


@table("long_video.tiara_attention")
def _tiara_attention() -> str:
    micro = load("tiara_overhead_small-64px-cpu-float32-sdpa.json")["attention_microbenchmark"]
    return rows(
        ["attention shape (rows x channels)", "SDPA (ms)", "TiARA (ms)", "TiARA / SDPA"],
        [[f"{r['rows']} x {r['channels']}", f(r["sdpa_ms"], 1), f(r["tiara_ms"], 1), f(r["ratio"], 2)] for r in micro],
    )


@table("long_video.v4_single")
def _v4_single() -> str:
    runs = load("long_video_v4_single.json")["single"]["128"]
    labels = {"FreeNoise": "FreeNoise", "FreeNoise+TiARA": "FreeNoise + TiARA (alpha 5, adaptive)"}
    top, smooth = max(r["identity"] for r in runs.values()), min(r["jerk"] for r in runs.values())
    body = []
    for method, r in runs.items():
        delta = (
            ""
            if method == "FreeNoise"
            else f"{r['vs_FreeNoise']['identity']:+.1f} ± {r['vs_FreeNoise']['identity_se']:.1f}"
        )
        body.append(
            [
                labels[method],
                f"{bold(f(r['identity'], 3), r['identity'] == top)} ± {f(r['identity_se'], 3)}",
                f(r["self_consistency"], 3),
                f(r["clean"], 3),
                f(r["flicker"]),
                bold(f(r["jerk"], 2), r["jerk"] == smooth),
                delta,
            ]
        )
    return rows(
        [
            "method",
            "identity (caption)",
            "self-consistency",
            "clean",
            "flicker",
            "jerk (px/frame²)",
            "Δ identity (points)",
        ],
        body,
    )


SWEEP_LABELS = {
    "FreeNoise (no TiARA)": "off (FreeNoise)",
    "default": "default (alpha 5)",
    "alpha=2": "alpha 2",
    "far D=8": "far-frame penalty, D = 8",
    "far D=4": "far-frame penalty, D = 4",
}


@table("long_video.v4_sweep")
def _v4_sweep() -> str:
    sweep = load("long_video_v4_sweep.json")["sweep"]
    body = []
    for key, label in SWEEP_LABELS.items():
        r = sweep[key]
        delta = (
            f"{r['vs_FreeNoise']['identity']:+.1f} ± {r['vs_FreeNoise']['identity_se']:.1f}"
            if "vs_FreeNoise" in r
            else ""
        )
        body.append(
            [
                label,
                f(r["identity"], 3),
                f(r["clean"], 3),
                f(r["flicker"]),
                f(r["jerk"], 2),
                delta.replace("+0.0", "0.0"),
            ]
        )
    return rows(
        [
            "TiARA setting",
            "identity (caption)",
            "clean",
            "flicker",
            "jerk (px/frame²)",
            "Δ identity vs FreeNoise (points, ± paired SE)",
        ],
        body,
    )


TRANSITION_HEADER = ["method", "completed", "coherent", "one object", "length (frames)", "onset vs key frame"]
TRANSITION_HEADER += ["segment identity", "clean", "flicker"]


def _transition_table(labelled: list[tuple[str, dict]], mark_best: bool = False) -> str:
    """One row per (label, multi-section row): the prompt-transition scores; ``mark_best`` bolds
    the best value of each judged column (the onset nearest the key frame)."""
    runs = [r for _, r in labelled]
    best = {
        "coherent": max(r["coherent"] for r in runs),
        "one_object": max(r["one_object"] for r in runs),
        "length_mean": min(r["length_mean"] for r in runs),
        "onset_mean": min(abs(r["onset_mean"]) for r in runs),
        "segment_identity": max(r["segment_identity"] for r in runs),
    }

    def judged(text: str, hit: bool) -> str:
        return bold(text, mark_best and hit)

    body = []
    for label, r in labelled:
        n = r["transitions"]
        body.append(
            [
                label,
                f"{r['completed']} / {n}",
                judged(f"{r['coherent']} / {n}", r["coherent"] == best["coherent"]),
                judged(f"{r['one_object']} / {n}", r["one_object"] == best["one_object"]),
                judged(f(r["length_mean"], 1), r["length_mean"] == best["length_mean"]),
                judged(f(r["onset_mean"], 1), abs(r["onset_mean"]) == best["onset_mean"]),
                judged(f(r["segment_identity"], 3), r["segment_identity"] == best["segment_identity"]),
                f(r["clean"], 3),
                f(r["flicker"]),
            ]
        )
    return rows(TRANSITION_HEADER, body)


@table("long_video.v4_multi")
def _v4_multi() -> str:
    multi = load("long_video_v4_multi.json")["multi"]
    labels = {
        "FreeNoise+linear": "FreeNoise + linear interpolation (diffusers)",
        "FreeNoise+TiARA+linear": "FreeNoise + TiARA + linear",
        "FreeNoise+TiARA+PromptBlend": "FreeNoise + TiARA + PromptBlend",
    }
    return _transition_table([(label, multi[key]) for key, label in labels.items()], mark_best=True)


HOST_NAMES = {
    "windows": "windows (fresh noise)",
    "FreeNoise": "FreeNoise",
    "FIFO": "FIFO-Diffusion",
    "FreeLong": "FreeLong",
}
HOST_FILES = tuple(  # the 128-frame evidence, a pair of methods per file; FIFO at 16 and at 32 steps
    f"long_video_v4_hosts_{host}.json" for host in ("windows", "freenoise", "fifo", "fifo32", "freelong")
)
DRIFT_FILES = tuple(f"long_video_v4_drift512{part}.json" for part in ("", "_freelong", "_fifo", "_fifo_tiara"))
MULTI_FILES = ("long_video_v4_multi_hosts.json", "long_video_v4_multi_fifo.json")
VBENCH_COLUMNS = {  # long_video.py's VBENCH_METRICS shown in the docs: (header, decimals)
    "subject_consistency": ("subject consistency", 3),
    "background_consistency": ("background consistency", 3),
    "motion_smoothness_jerk": ("jerk (px/frame²)", 2),
    "temporal_flickering": ("flickering", 4),
    "speed": ("speed (px/frame)", 2),
    "moves": ("dynamic degree", 2),
    "seam_discontinuity": ("seam", 2),
    "size_cv": ("size CV", 3),
}
DRIFT_COLUMNS = {key: VBENCH_COLUMNS[key] for key in ("subject_consistency", "background_consistency", "size_cv")}
TRANSITION_COLUMNS = {  # long_video.py's TRANSITION_METRICS and VBench's, paired against linear
    "coherent": ("coherent", 2),
    "one_object": ("one object", 2),
    "segment_identity": ("segment identity", 3),
    "clean": ("clean", 3),
    "length": ("length (frames)", 1),
    "subject_consistency": ("subject consistency", 3),
    "temporal_flickering": ("flickering", 4),
    "motion_smoothness_jerk": ("jerk (px/frame²)", 2),
}


def _host_label(name: str, fifo_steps: int | None = None) -> str:
    """``FIFO+TiARA`` -> ``FIFO-Diffusion (32 steps) + TiARA``: the host, then what it runs with."""
    host, *extras = name.split("+")
    label = HOST_NAMES[host] + (f" ({fifo_steps} steps)" if host == "FIFO" and fifo_steps else "")
    return " + ".join([label, *extras])


def _runs(files, section: str, frames: str | None = None) -> list[tuple[str, str, dict]]:
    """(label, method, row) of every method in ``files``' ``section`` (at ``frames`` frames), in
    file order; a missing file is skipped, so a table shows what has been run."""
    out = []
    for file in files:
        if not (RESULTS / file).exists():
            continue
        report = load(file)
        rows = report[section] if frames is None else report[section][frames]
        steps = report["hosts"].get("fifo", {}).get("steps")
        out += [(_host_label(name, steps), name, row) for name, row in rows.items()]
    return out


def _interval(d: dict, digits: int, sign: bool = False) -> str:
    """``mean [low, high]``, bold where the interval leaves out 0 (a paired difference)."""

    def g(x):  # a value that rounds to zero has no sign
        return f(0.0 if round(x, digits) == 0 else x, digits, sign).replace("+0." + "0" * digits, "0." + "0" * digits)

    if d["mean"] is None:
        return ""
    if d["ci95"] is None:
        return g(d["mean"])
    low, high = d["ci95"]
    return bold(f"{g(d['mean'])} [{g(low)}, {g(high)}]", sign and (low > 0 or high < 0))


def _means_table(runs, columns: dict, first: str = "method") -> str:
    """One row per method: each column's mean over the videos with its 95 % interval."""
    body = []
    for label, _, r in runs:
        body.append(
            [label, *(_interval(mean_interval(v[key] for v in r["videos"]), d) for key, (_, d) in columns.items())]
        )
    return rows([first, *(h for h, _ in columns.values())], body)


def _paired_table(runs, base_of, columns: dict, first: str = "method") -> str:
    """One row per method that has a base in ``runs`` (``base_of(method)``): the video-by-video
    differences, mean with its 95 % interval, bold where it leaves out 0."""
    by_name = {(label.split(" + ")[0], name): r for label, name, r in runs}
    body = []
    for label, name, r in runs:
        base = by_name.get((label.split(" + ")[0], base_of(name)))
        if base is not None and base is not r:
            d = paired_intervals(r["videos"], base["videos"], columns)
            n = max(c["n"] for c in d.values())
            body.append([label, n, *(_interval(d[key], digits, sign=True) for key, (_, digits) in columns.items())])
    return rows([first, "pairs", *(h for h, _ in columns.values())], body)


def _tiara_off(name: str) -> str:
    return name.removesuffix("+TiARA")


def _linear(name: str) -> str:
    return name.replace("+PromptBlend", "+linear")


@table("long_video.v4_hosts")
def _v4_hosts() -> str:
    return _means_table(_runs(HOST_FILES, "single", "128"), VBENCH_COLUMNS)


@table("long_video.v4_hosts_tiara")
def _v4_hosts_tiara() -> str:
    return _paired_table(_runs(HOST_FILES, "single", "128"), _tiara_off, VBENCH_COLUMNS)


@table("long_video.v4_drift512")
def _v4_drift512() -> str:
    return _means_table(_runs(DRIFT_FILES, "single", "512"), VBENCH_COLUMNS)


@table("long_video.v4_drift512_tiara")
def _v4_drift512_tiara() -> str:
    return _paired_table(_runs(DRIFT_FILES, "single", "512"), _tiara_off, VBENCH_COLUMNS)


@table("long_video.v4_drift")
def _v4_drift() -> str:
    """Each 512-frame video against the 128-frame video of the same method, caption and seed."""
    short = {label: r for label, _, r in _runs(HOST_FILES, "single", "128")}
    body = []
    for label, _, r in _runs(DRIFT_FILES, "single", "512"):
        if label not in short:
            continue
        base = {(v["caption"], v["seed"]): v for v in short[label]["videos"]}
        pairs = [(v, base[v["caption"], v["seed"]]) for v in r["videos"] if (v["caption"], v["seed"]) in base]
        d = paired_intervals([v for v, _ in pairs], [b for _, b in pairs], DRIFT_COLUMNS)
        cells = []
        for key, (_, digits) in DRIFT_COLUMNS.items():
            cells += [_interval(mean_interval(b[key] for _, b in pairs), digits), _interval(d[key], digits, sign=True)]
        body.append([label, len(pairs), *cells])
    header = [x for h, _ in DRIFT_COLUMNS.values() for x in (f"{h}, 128 frames", "512 minus 128")]
    return rows(["method", "videos", *header], body)


@table("long_video.v4_multi_hosts")
def _v4_multi_hosts() -> str:
    return _transition_table([(label, r) for label, _, r in _runs(MULTI_FILES, "multi")])


@table("long_video.v4_multi_hosts_vs_linear")
def _v4_multi_hosts_vs_linear() -> str:
    return _paired_table(_runs(MULTI_FILES, "multi"), _linear, TRANSITION_COLUMNS)


@table("long_video.v4_memory")
def _v4_memory() -> str:
    report = load("long_video_memory_v4.json")
    short, long = map(str, report["lengths"])
    fifo_steps = report.get("host_settings", {}).get("fifo", {}).get("steps")
    body = []
    for host, r in report["hosts"].items():
        a, b = r[short], r[long]
        body.append(
            [
                _host_label(host, fifo_steps),
                f(a["seconds_per_frame"], 3),
                f(b["seconds_per_frame"], 3),
                f"{a['peak_rss_mb_so_far']:.0f}",
                f"{b['peak_rss_mb_so_far']:.0f}",
                f(r["peak_ratio"], 2),
            ]
        )
    return rows(
        [
            "host",
            f"s / frame, {short} frames",
            f"s / frame, {long} frames",
            f"peak RSS (MB), {short}",
            f"peak RSS (MB), {long}",
            f"peak {long} / {short}",
        ],
        body,
    )


@table("long_video.promptblend_cost")
def _promptblend_cost() -> str:
    results = load("promptblend_cost_small-cpu-float32.json")["results"]
    return rows(
        ["frames", "variant", "seconds", "ratio to one prompt"],
        [
            [frames, variant, f(r["seconds"], 2), f(r["ratio_to_one_prompt"], 3)]
            for frames, variants in results.items()
            for variant, r in variants.items()
        ],
    )


# ------------------------------------------------------------------ ShapesWorld (docs/shapesworld.md)
@table("shapesworld.prior")
def _prior() -> str:
    labels = {"AcceleratedDDPMScheduler-50": "AcceleratedDDPM, 50 steps", "DDPMScheduler-1000": "DDPM, all 1000 steps"}
    runs = load("shapesworld_prior.json")["runs"]
    return rows(
        ["sampler", "clean shapes", "samples"],
        [[labels[k], pct(r["clean_fraction"]), r["n"]] for k, r in runs.items()],
    )


T2V_VERSIONS = [
    ("v4", "shapesworld_t2v.json"),
    ("v3", "archive/shapesworld_t2v_v3.json"),
    ("v2", "archive/shapesworld_t2v_v2.json"),
    ("v1", "archive/shapesworld_t2v_v1.json"),
]


@table("shapesworld.t2v_versions")
def _t2v_versions() -> str:
    body = []
    for version, name in T2V_VERSIONS:
        for combos, label in (("held_out", "held out"), ("seen", "seen")):
            (r,) = [r for r in load(name)["runs"] if r["guidance"] == 6.0 and r["combos"] == combos]
            cells = [
                f(r.get(k), 3)
                for k in ("colour_frames", "shape_frames", "clean_frames", "background_frames", "direction_clips")
            ]
            current = version == T2V_VERSIONS[0][0]
            body.append([bold(version, current), label, *(bold(c, current) for c in cells)])
    return rows(["model", "combinations", "colour", "shape", "clean", "background", "direction"], body)


# ------------------------------------------------------------------ inverse problems (docs/inverse-problems.md)
POSTERIOR_PROBLEMS = {
    "ring-2d": "ring-2d: 2 modes, 2-D",
    "gmm-4d": "gmm-4d: 2 modes, 4-D",
    "image-sr2": "image-sr2: 1 mode, 192-D, x2 SR",
    "image-halves": "image-halves: 3 modes, 192-D, right half missing",
}
POSTERIOR_METHODS = {
    "DPnP-DDPM": "DPnP-DDPM, 1.0 -> 0.02, K = 100",
    "DPnP-official": "DPnP, official schedule",
    "DPS (best step)": "DPS, best step",
}


@table("inverse.exact_posterior")
def _exact_posterior() -> str:
    report = load("dpnp_posterior.json")
    keys = ("mass_tv", "mode_sw", "mean_error")
    body = []
    for problem, label in POSTERIOR_PROBLEMS.items():
        cells = report["matched_nfe"][problem]["1000"]
        best = {k: min(cells[m][k] for m in POSTERIOR_METHODS) for k in keys}
        for i, (method, name) in enumerate(POSTERIOR_METHODS.items()):
            r = cells[method]
            name = f"DPS, best step ({r['step_size']})" if method.startswith("DPS") else name
            values = ["0" if r[k] < 5e-4 else bold(f(r[k], 3), r[k] == best[k]) for k in keys]
            body.append([label if i == 0 else "", name, r["nfe"], *values])
        floor = report["noise_floor"][problem]
        body.append(
            ["", "exact samples (noise floor)", "", *("0" if floor[k] < 5e-4 else f(floor[k], 3) for k in keys)]
        )
    return rows(["problem", "method", "NFE", "mass TV", "mode SW", "mean err"], body)


IP_PROBLEMS = {
    "sr4": "SR x4 (noise 0.2)",
    "phase-retrieval": "phase retrieval (noise 0.2)*",
    "1bit": "1-bit (dither 0.4)",
    "inpaint-box": "inpaint-box (noise 0.05)",
    "deblur": "deblur (noise 0.05)",
}


@table("inverse.shapesworld")
def _inverse_shapesworld() -> str:
    body = []
    for problem, label in IP_PROBLEMS.items():
        methods = load("inverse_problems.json")["problems"][problem]["methods"]
        top = max(r["psnr"] for r in methods.values())
        for method, r in methods.items():
            gain = f"{r['gain_over_dps_db']:+.2f} ± {r['gain_se_db']:.2f}" if "gain_over_dps_db" in r else ""
            body.append(
                [
                    label,
                    method,
                    r["nfe"],
                    f"{bold(f(r['psnr'], 2), r['psnr'] == top)} ± {f(r['psnr_se'], 2)}",
                    f(r["ssim"], 3),
                    f(r["sample_psnr"], 2),
                    f(r["coverage_2std"], 3),
                    gain,
                    f(r["seconds_per_sample"], 1),
                ]
            )
    return rows(
        [
            "problem",
            "method",
            "UNet evals",
            "PSNR of mean (dB)",
            "SSIM",
            "PSNR, one sample",
            "within 2 std",
            "gain over DPS (dB)",
            "s / sample",
        ],
        body,
    )


def _robustness(name: str) -> list[list]:
    report = load(name)
    out = []
    for problem, methods in report["robustness"]["problems"].items():
        for method, r in methods.items():
            exact = report["problems"][problem]["methods"][method]["psnr"]
            out.append(
                [IP_PROBLEMS[problem], method, f(exact, 2), f(r["psnr"], 2), f(-r["psnr_loss_db"], 2, sign=True)]
            )
    return out


@table("inverse.robustness")
def _inverse_robustness() -> str:
    delta = load("inverse_problems.json")["robustness"]["delta"]
    return rows(
        ["problem", "method", "PSNR, exact prior", f"PSNR, perturbed prior (delta {delta})", "change (dB)"],
        _robustness("inverse_problems.json"),
    )


@table("inverse.nfe1000")
def _inverse_nfe1000() -> str:
    body = []
    for problem, label in IP_PROBLEMS.items():
        m = load("inverse_problems_nfe1000.json")["problems"][problem]["methods"]
        top = max(m[k]["psnr"] for k in ("DPS", "DPnP"))

        def cell(k, m=m, top=top):
            return f"{bold(f(m[k]['psnr'], 2), m[k]['psnr'] == top)} ± {f(m[k]['psnr_se'], 2)}"

        body.append(
            [
                label,
                cell("DPS"),
                cell("DPnP"),
                f"{m['DPnP']['gain_over_dps_db']:+.2f} ± {m['DPnP']['gain_se_db']:.2f}",
                f(m["DPnP-posterior"]["psnr"], 2),
                f"{f(m['DPS']['coverage_2std'], 3)} / {f(m['DPnP']['coverage_2std'], 3)}",
            ]
        )
    return rows(["problem", "DPS", "DPnP", "DPnP gain (dB)", "DPnP-posterior", "within 2 std, DPS / DPnP"], body)


@table("inverse.nfe1000_robustness")
def _inverse_nfe1000_robustness() -> str:
    report = load("inverse_problems_nfe1000.json")["robustness"]["problems"]
    return rows(
        ["problem", "DPS", "DPnP", "DPnP-posterior"],
        [
            [IP_PROBLEMS[p], *(f(-m[k]["psnr_loss_db"], 2, sign=True) for k in ("DPS", "DPnP", "DPnP-posterior"))]
            for p, m in report.items()
        ],
    )


# DAPS beside DPnP and DPS (docs/inverse-problems.md, "DAPS")
DAPS_EXACT_PROBLEMS = {
    "ring-2d": "ring-2d: 2 modes",
    "gmm-4d": "gmm-4d: 2 modes",
    "image-sr2": "image-sr2: 1 mode, 192-D",
    "image-halves": "image-halves: 3 modes, 192-D",
    "one-bit-ring": "1-bit ring: 5 modes (grid)",
    "phase-retrieval-2px": "phase retrieval, 2 px: 2 sign modes (grid)",
}


@table("inverse.daps_exact")
def _daps_exact() -> str:
    report = load("daps_posterior.json")["problems"]
    body = []
    for problem, label in DAPS_EXACT_PROBLEMS.items():
        cells = report[problem]
        grid = "max_mass_error" in cells["exact samples"]
        mass, shape = ("max_mass_error", "sliced_w2") if grid else ("mass_tv", "mode_sw")
        for i, (method, r) in enumerate(cells.items()):
            values = ["0" if r[k] < 5e-4 else f(r[k], 3) for k in (mass, shape, "mean_error")]
            body.append([label if i == 0 else "", method, r.get("nfe", ""), *values])
    return rows(
        [
            "problem",
            "method",
            "NFE",
            "mode masses: TV (mixtures) / largest error (grids)",
            "mode SW (mixtures) / sliced W2 (grids)",
            "mean err",
        ],
        body,
    )


@table("inverse.daps_limit")
def _daps_limit() -> str:
    limit = load("daps_posterior.json")["annealing_limit"]
    body = [
        [steps, r["nfe"], f(r["unobserved_variance"], 3), f(r["observed_variance"], 4)]
        for steps, r in limit["by_ode_steps"].items()
    ]
    body.append(
        [
            "exact posterior",
            "",
            f(limit["posterior_unobserved_variance"], 3),
            f(limit["posterior_observed_variance"], 4),
        ]
    )
    body.append(
        [
            "flattened prior: p(x)^(1/2) times the likelihood",
            "",
            f(limit["flattened_prior_unobserved_variance"], 3),
            f(limit["flattened_prior_observed_variance"], 4),
        ]
    )
    return rows(["ODE steps per level", "NFE", "variance, unobserved pixel", "variance, observed pixel"], body)


def _daps_rows(name: str, methods: dict, label: str) -> list[list]:
    top = max(r["psnr"] for r in methods.values())
    out = []
    for method, r in methods.items():
        gain = f"{r['gain_over_dps_db']:+.2f} ± {r['gain_se_db']:.2f}" if "gain_over_dps_db" in r else ""
        over_dpnp = (
            f"{r['gain_over_dpnp_db']:+.2f} ± {r['gain_over_dpnp_se_db']:.2f}" if "gain_over_dpnp_db" in r else ""
        )
        out.append(
            [
                label,
                method,
                r["nfe"],
                f"{bold(f(r['psnr'], 2), r['psnr'] == top)} ± {f(r['psnr_se'], 2)}",
                f(r["sample_psnr"], 2),
                f(r["coverage_2std"], 3),
                gain,
                over_dpnp,
            ]
        )
    return out


DAPS_HEADER = [
    "problem",
    "method",
    "UNet evals",
    "PSNR of mean (dB)",
    "PSNR, one sample",
    "within 2 std",
    "gain over DPS (dB)",
    "gain over DPnP (dB)",
]


@table("inverse.daps_shapesworld")
def _daps_shapesworld() -> str:
    problems = load("inverse_problems_daps.json")["problems"]
    body = []
    for problem, label in IP_PROBLEMS.items():
        if problem in problems:
            body += _daps_rows(problem, problems[problem]["methods"], label)
    return rows(DAPS_HEADER, body)


@table("inverse.daps_robustness")
def _daps_robustness() -> str:
    delta = load("inverse_problems_daps.json")["robustness"]["delta"]
    return rows(
        ["problem", "method", "PSNR, exact prior", f"PSNR, perturbed prior (delta {delta})", "change (dB)"],
        _robustness("inverse_problems_daps.json"),
    )


@table("inverse.daps_own_defaults")
def _daps_own_defaults() -> str:
    problems = load("inverse_problems_daps_own.json")["problems"]
    body = []
    for problem, label in IP_PROBLEMS.items():
        if problem not in problems:
            continue
        own = problems[problem]["own_defaults"]
        top = max(r["psnr"] for r in own.values())
        for method, r in own.items():
            vs = (
                (
                    f"{r['gain_over_dps_1000_db']:+.2f} ± {r['gain_over_dps_1000_se_db']:.2f} / "
                    f"{r['gain_over_dpnp_db']:+.2f} ± {r['gain_over_dpnp_se_db']:.2f}"
                )
                if method == "DAPS-1K"
                else ""
            )
            body.append(
                [
                    label,
                    method,
                    r["nfe"],
                    f"{bold(f(r['psnr'], 2), r['psnr'] == top)} ± {f(r['psnr_se'], 2)}",
                    f(r["coverage_2std"], 3),
                    vs,
                ]
            )
    return rows(
        [
            "problem",
            "method",
            "UNet evals",
            "PSNR of mean (dB)",
            "within 2 std",
            "DAPS-1K's gain over DPS-1000 / DPnP (dB)",
        ],
        body,
    )


if __name__ == "__main__":
    sys.exit(main())
