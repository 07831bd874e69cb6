"""Every number in README.md and docs/*.md comes from a results file under benchmarks/results/,
and every results file says where it came from.

* The tables between ``<!-- table: NAME -->`` markers are what ``benchmarks/render_docs.py``
  renders from the results (``python benchmarks/render_docs.py`` rewrites them).
* A number followed by a source marker (``0.994<!-- file.json:path -->``) equals its source to
  the precision it is quoted with.
* Every JSON under benchmarks/results/ carries a provenance record: command, commit, and each
  model's version and weights hash (or why it has none).
"""

import argparse
import json
import re
from pathlib import Path

import published_results
import pytest
import render_docs

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results"
HEX40, HEX64 = re.compile(r"[0-9a-f]{40}"), re.compile(r"[0-9a-f]{64}")


@pytest.mark.parametrize("page", render_docs.PAGES, ids=lambda p: p.name)
def test_rendered_tables_match_the_page(page):
    differences = render_docs.table_differences(page)
    assert not differences, (
        "tables differ from benchmarks/results/ (python benchmarks/render_docs.py):\n" + "\n\n".join(differences)
    )


@pytest.mark.parametrize("page", render_docs.PAGES, ids=lambda p: p.name)
def test_quoted_numbers_match_their_sources(page):
    mismatches = render_docs.number_mismatches(page)
    assert not mismatches, "numbers that differ from their source:\n" + "\n".join(mismatches)


def test_every_table_is_on_a_page():
    used = {m["name"] for page in render_docs.PAGES for m in render_docs.TABLE.finditer(page.read_text())}
    assert set(render_docs.TABLES) <= used, f"tables no page shows: {sorted(set(render_docs.TABLES) - used)}"


def test_the_pages_hold_tables_and_sourced_numbers():
    """The checks above are not vacuous."""
    text = "".join(p.read_text() for p in render_docs.PAGES)
    assert len(list(render_docs.TABLE.finditer(text))) >= 20
    assert len(render_docs.quoted_numbers(text)) >= 40


# ------------------------------------------------------------------ the checks catch wrong numbers
def _page(tmp_path, text: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(text)
    return page


def test_a_wrong_number_in_a_rendered_table_fails(tmp_path):
    right = render_docs.TABLES["samplers.step_cost"]()
    page = _page(tmp_path, f"text\n<!-- table: samplers.step_cost -->\n{right}<!-- /table -->\nmore\n")
    assert render_docs.table_differences(page) == []
    ddim = right.splitlines()[2]
    assert ddim.startswith("| DDIM | ")
    wrong = right.replace(ddim, ddim.replace("| 1.00 |", "| 1.01 |"))
    page = _page(tmp_path, f"text\n<!-- table: samplers.step_cost -->\n{wrong}<!-- /table -->\nmore\n")
    (difference,) = render_docs.table_differences(page)
    assert "-| DDIM" in difference and "+| DDIM" in difference and "1.01" in difference
    assert (
        render_docs.render(page.read_text())
        == f"text\n<!-- table: samplers.step_cost -->\n{right}<!-- /table -->\nmore\n"
    )


def test_a_wrong_number_in_prose_fails(tmp_path):
    follows = render_docs.value("main_job.json", "mean.follows")  # 0.9652...
    shown = f"{100 * follows:.1f}"
    good = f"It follows the schedule in {shown}<!-- = 100 * {{main_job.json:mean.follows}} --> % of frames."
    assert render_docs.number_mismatches(_page(tmp_path, good)) == []
    wrong = good.replace(shown, f"{100 * follows + 0.1:.1f}")
    (mismatch,) = render_docs.number_mismatches(_page(tmp_path, wrong))
    assert "page.md:1" in mismatch and "main_job.json" in mismatch
    seeds = "judged on <!-- x -->5 seeds: 46<!-- main_job.json:seeds.0.judged_frames --> frames"
    assert render_docs.number_mismatches(_page(tmp_path, seeds)) == []
    missing = "45<!-- main_job.json:seeds.0.no_such_key -->"
    (mismatch,) = render_docs.number_mismatches(_page(tmp_path, missing))
    assert "KeyError" in mismatch


def test_numbers_match_to_the_precision_they_are_quoted_with():
    assert render_docs.matches("96.5", 0.9652173913 * 100)
    assert render_docs.matches("97", 96.52)
    assert not render_docs.matches("96.6", 96.52)
    assert render_docs.matches("-3.44", -3.4375) and not render_docs.matches("-3.5", -3.4375)
    assert render_docs.matches("+1.26", 1.2649) and not render_docs.matches("0.01", 0.019)


def test_source_paths_and_expressions():
    assert render_docs.value("shapesworld_t2v.json", "runs.[guidance=6.0,combos=held_out].clips") == 40
    assert render_docs.evaluate("= 2 * {main_job.json:margin} + max(1, 2)") == 10
    with pytest.raises(ValueError):
        render_docs.evaluate("= __import__('os')")


# ------------------------------------------------------------------ provenance
RESULT_FILES = sorted(RESULTS.rglob("*.json"))


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: p.relative_to(RESULTS).as_posix())
def test_every_result_says_where_it_came_from(path):
    record = json.loads(path.read_text())["provenance"]
    assert record["command"].startswith("python benchmarks/"), record["command"]
    assert HEX40.fullmatch(record["git_commit"]), record["git_commit"]
    assert record["recorded"] == "at run time" or record["recorded"].startswith("backfilled")
    assert record["machine"]
    assert record["models"]
    for model in record["models"]:
        if model.get("no_weights"):
            assert model["name"] and model["weights_sha256"] is None
        else:
            assert model["version"], model
            assert HEX64.fullmatch(model["weights_sha256"]), model
            assert model["weights_sha256"] == published_results.weights_digest(model["weights_files"])


def test_the_archive_index_names_every_archived_file():
    index = (RESULTS / "archive" / "README.md").read_text()
    named = set()
    for span in re.findall(r"`([^`]+)`", index):
        named.update(render_docs_expand(span))
    archived = {p.name for p in (RESULTS / "archive").iterdir() if p.name != "README.md"}
    assert archived <= named, f"archived but not in archive/README.md: {sorted(archived - named)}"


def render_docs_expand(span: str) -> list[str]:
    match = re.search(r"\{([^}]*)\}", span)
    if not match:
        return [span]
    return [span[: match.start()] + alt + span[match.end() :] for alt in match.group(1).split(",")]


def test_benchmarks_write_results_through_published_results():
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        if script.name in published_results.TOOLS:
            continue
        text = script.read_text()
        bare = re.findall(r"(?<!published_results\.)\bwrite_json\(", text)
        assert not bare, f"{script.name} writes JSON without provenance: use published_results.write_json"


def test_a_published_run_records_its_provenance(tmp_path, monkeypatch):
    monkeypatch.setattr(published_results, "RESULTS", tmp_path)
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=tmp_path)
    args = published_results.parse_args(parser, ["--publish", "--out", str(tmp_path)])
    published_results.write_json(
        args.out / "r.json", {"x": 1}, models=["shapesworld-ddpm", published_results.no_weights("exact")]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    record = report["provenance"]
    assert report["x"] == 1 and record["recorded"] == "at run time"
    assert record["command"].startswith("python tests/test_docs_numbers.py --publish --out ")
    assert HEX40.fullmatch(record["git_commit"]) and isinstance(record["git_dirty"], bool)
    assert record["machine"]["cpu_count"] >= 1
    ddpm, exact = record["models"]
    assert ddpm["name"] == "shapesworld-ddpm" and ddpm["version"] == "v1" and HEX64.fullmatch(ddpm["weights_sha256"])
    assert list(ddpm["weights_files"]) == ["unet/diffusion_pytorch_model.safetensors"]
    assert exact == {"name": "exact", "version": None, "weights_sha256": None, "no_weights": True}
    # a run merged into an earlier report keeps the earlier record
    published_results.write_json(args.out / "r.json", report, models=["shapesworld-ddpm"])
    merged = json.loads((tmp_path / "r.json").read_text())
    assert merged["earlier_provenance"] == [record]
