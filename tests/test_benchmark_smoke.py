"""The sampler benchmark script keeps working (tiny settings; the real run is benchmarks/samplers.py)."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "samplers.py"


def test_sampler_benchmark_quick_run(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_samplers", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--quick", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "samplers.json").read_text())
    assert (tmp_path / "samplers.png").stat().st_size > 10_000
    for entry in report["targets"].values():
        assert set(entry["results"]) == set(module.METHODS)
        heun = entry["results"]["Heun"]["10"]
        assert heun["nfe"] == 9  # counted model calls, not steps
        assert "endpoint_rmse" not in entry["results"]["AcceleratedDDPM"]["10"]
    assert report["step_overhead_4x64x64"]["DDIM"]["ratio_to_ddim"] == 1.0
    assert "| AcceleratedDDIM |" in capsys.readouterr().out


def test_tiara_overhead_benchmark_quick_run(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_tiara", BENCH.parent / "tiara_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--frames", "20", "--modes", "windows", "--repeats", "1", "--size", "32", "--micro-repeats", "1", "--out", str(tmp_path)])
    (row,) = report["rows"]
    assert "error" not in row, row
    assert row["frames"] == 20 and row["time_ratio"] > 0 and row["peak_above_model_mb"] > 0
    assert len(report["attention_microbenchmark"]) == 4
    assert (tmp_path / f"tiara_overhead_{report['tag']}.json").exists()


def test_promptblend_cost_benchmark_quick_run(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_promptblend", BENCH.parent / "promptblend_cost.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--frames", "20", "--size", "32", "--repeats", "1", "--out", str(tmp_path)])
    results = report["results"]["20"]
    assert set(results) == set(module.VARIANTS) and results["one prompt"]["ratio_to_one_prompt"] == 1.0
    assert all(r["seconds"] > 0 for r in results.values())
    assert (tmp_path / "promptblend_cost_small-cpu-float32.json").exists()


def test_dpnp_posterior_benchmark_quick_run(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_dpnp", BENCH.parent / "dpnp_posterior.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    report = module.main(["--quick", "--out", str(tmp_path)])
    rows = report["matched_nfe"]["ring-2d"]["40"]
    assert {"DPnP-DDPM", "DPnP-DDIM", "DPnP-official", "DPS (best step)"} <= set(rows)
    assert all(r["nfe"] <= 40 and r["sliced_w2"] >= 0 for r in rows.values())
    step = report["proximal_step"]
    assert step["exact"]["likelihood_grads"] == 1 and step["langevin"]["likelihood_grads"] == 1001
    assert json.loads((tmp_path / "dpnp_posterior.json").read_text())["samples"] == report["samples"]
    assert (tmp_path / "dpnp_posterior.png").stat().st_size > 10_000
    assert "ratio DPnP-DDPM / DPS" in capsys.readouterr().out
