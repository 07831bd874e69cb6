"""The benchmark scripts keep working (tiny settings; the real runs are the scripts themselves)."""

import importlib
import json
import statistics

import pytest
import torch


def _load(name: str):
    """The script benchmarks/<name>.py as a module (benchmarks/ is on pytest's pythonpath)."""
    return importlib.import_module(name)


def test_sampler_benchmark_quick_run(tmp_path, capsys):
    module = _load("samplers")
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


def test_sampler_benchmark_grid_section(tmp_path, capsys):
    module = _load("samplers")
    report = module.main(["--quick", "--grids", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "samplers_grids.json").read_text())
    assert "benchmarks/samplers.py" in written.pop("provenance")["command"]  # write_json adds the record
    assert written == json.loads(json.dumps(report))
    for entry in report["targets"].values():
        assert set(entry) == {"trailing", "logSNR to 50"}
        row = entry["logSNR to 50"]["5"]
        assert row["timesteps"][0] == 999 and row["timesteps"][-1] == 50
        assert set(row) == {"timesteps", *module.GRID_METHODS} and all(row[m] > 0 for m in module.GRID_METHODS)
    assert "| logSNR to 50 |" in capsys.readouterr().out


def test_sampler_benchmark_kl_section(tmp_path, capsys):
    module = _load("samplers")
    report = module.main(["--quick", "--kl", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "samplers_kl.json").read_text())
    assert "benchmarks/samplers.py" in written.pop("provenance")["command"]  # write_json adds the record
    assert written == json.loads(json.dumps(report))
    assert set(report["targets"]) == set(module.KL_TARGETS)
    for entry in report["targets"].values():
        assert set(entry["kl"]) == set(module.KL_METHODS)
        assert all(kl > 0 for rows in entry["kl"].values() for kl in rows.values())
        assert module.KL_OURS in entry["kl"] and all(b in entry["kl"] for b in module.KL_BASELINES)
    assert "| *ours / AcceleratedDDPM* |" in capsys.readouterr().out


def test_unipc_on_a_custom_grid_is_stock_unipc_on_the_trailing_grid():
    import torch
    from diffusers import UniPCMultistepScheduler

    from plugdiff.evaluation import ring_mixture_2d
    from plugdiff.samplers import denoise

    module = _load("samplers")
    target = ring_mixture_2d()
    stock = UniPCMultistepScheduler.from_config(module.BASE_CONFIG, final_sigmas_type="zero")
    model = target.eps_model(stock.alphas_cumprod)
    start = torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for nfe in (5, 10):
        ours = module.GRID_METHODS["UniPC"](module.BASE_CONFIG)
        grid = module.sampling_grids(stock.alphas_cumprod, nfe, ())["trailing"]
        a, _ = denoise(stock, model, start, nfe)
        b, _ = denoise(ours, model, start, timesteps=grid)
        assert torch.equal(a, b)


def test_tiara_overhead_benchmark_quick_run(tmp_path):
    module = _load("tiara_overhead")
    report = module.main(
        [
            "--frames",
            "20",
            "--modes",
            "windows",
            "--repeats",
            "1",
            "--size",
            "32",
            "--micro-repeats",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    (row,) = report["rows"]
    assert "error" not in row, row
    assert row["frames"] == 20 and row["time_ratio"] > 0 and row["peak_above_model_mb"] > 0
    assert len(report["attention_microbenchmark"]) == 4
    assert (tmp_path / f"tiara_overhead_{report['tag']}.json").exists()


def test_promptblend_cost_benchmark_quick_run(tmp_path):
    module = _load("promptblend_cost")
    report = module.main(["--frames", "20", "--size", "32", "--repeats", "1", "--out", str(tmp_path)])
    results = report["results"]["20"]
    assert set(results) == set(module.VARIANTS) and results["one prompt"]["ratio_to_one_prompt"] == 1.0
    assert all(r["seconds"] > 0 for r in results.values())
    assert (tmp_path / "promptblend_cost_small-cpu-float32.json").exists()


def test_dpnp_posterior_benchmark_quick_run(tmp_path, capsys):
    module = _load("dpnp_posterior")
    report = module.main(["--quick", "--out", str(tmp_path)])
    rows = report["matched_nfe"]["ring-2d"]["40"]
    assert {"DPnP-DDPM", "DPnP-DDIM", "DPnP-official", "DPS (best step)"} <= set(rows)
    assert all(r["nfe"] <= 40 and r["sliced_w2"] >= 0 for r in rows.values())
    step = report["proximal_step"]
    assert step["exact"]["likelihood_grads"] == 1 and step["langevin"]["likelihood_grads"] == 1001
    assert json.loads((tmp_path / "dpnp_posterior.json").read_text())["samples"] == report["samples"]
    assert (tmp_path / "dpnp_posterior.png").stat().st_size > 10_000
    assert "ratio DPnP-DDPM / DPS" in capsys.readouterr().out


def test_samplers_on_the_learned_prior_quick_run(tmp_path):
    module = _load("samplers_learned")
    report = module.main(["--num-samples", "8", "--nfe", "2", "--out", str(tmp_path / "sl.json")])
    assert set(report["methods"]) == set(module.METHODS) and report["floor"] > 0
    rows = [r["2"] for r in report["methods"].values()]
    assert all(r["nfe"] <= 2 and r["sliced_w2"] > 0 and 0 <= r["clean"] <= 1 for r in rows)
    assert report["truth_clean"] == 1.0  # true frames all read back clean
    assert (tmp_path / "sl.png").stat().st_size > 10_000


def test_samplers_on_the_learned_prior_on_a_log_snr_grid(tmp_path):
    module = _load("samplers_learned")
    report = module.main(
        [
            "--num-samples",
            "4",
            "--nfe",
            "3",
            "--grid-end",
            "50",
            "--methods",
            "UniPC",
            "Heun",
            "DPM-Solver++(2M)",
            "--out",
            str(tmp_path / "sl.json"),
        ]
    )
    assert report["grid"] == "logSNR to 50"
    assert list(report["methods"]) == ["UniPC", "DPM-Solver++(2M)"]  # Heun takes no custom grid here
    assert all(r["3"]["nfe"] == 3 and r["3"]["sliced_w2"] > 0 for r in report["methods"].values())


def test_samplers_on_the_learned_prior_merge_adds_schedulers_to_an_earlier_run(tmp_path, capsys):
    module = _load("samplers_learned")
    out = str(tmp_path / "sl.json")
    first = module.main(["--num-samples", "4", "--nfe", "2", "--methods", "DDIM", "UniPC", "--out", out])
    merged = module.main(
        ["--num-samples", "4", "--nfe", "2", "--methods", "UniPC", "AcceleratedDDIM", "--out", out, "--merge"]
    )
    assert list(merged["methods"]) == ["DDIM", "UniPC", "AcceleratedDDIM"]
    assert merged["methods"]["DDIM"] == first["methods"]["DDIM"]  # kept as it was
    assert (
        merged["methods"]["UniPC"]["2"]["sliced_w2"] == first["methods"]["UniPC"]["2"]["sliced_w2"]
    )  # rerun: same start
    assert json.loads((tmp_path / "sl.json").read_text())["methods"].keys() == merged["methods"].keys()
    with pytest.raises(SystemExit):  # another sample count: the rows would not share their start
        module.main(["--num-samples", "6", "--nfe", "2", "--methods", "Heun", "--out", out, "--merge"])
    assert "num_samples=4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        module.main(
            ["--num-samples", "4", "--nfe", "2", "--methods", "Heun", "--out", str(tmp_path / "none.json"), "--merge"]
        )
    assert "no earlier report" in capsys.readouterr().err
    again = module.main(["--num-samples", "4", "--nfe", "2", "--methods", "Heun", f"--out={out}", "--merge"])
    assert list(again["methods"]) == ["DDIM", "UniPC", "AcceleratedDDIM", "Heun"]  # --out=PATH is honoured


def test_shapesworld_t2v_and_autoencoder_benchmarks_quick_run(tmp_path):
    report = _load("shapesworld_t2v").main(
        [
            "--clips-per-combo",
            "1",
            "--seen-combos",
            "1",
            "--steps",
            "2",
            "--steering-noises",
            "1",
            "--out",
            str(tmp_path / "t2v.json"),
        ]
    )
    held_out, seen, steering = report["runs"]
    assert held_out["combos"] == "held_out" and held_out["clips"] == 5 and seen["clips"] == 1
    assert all(
        0 <= run[key] <= 1 for run in (held_out, seen) for key in ("colour_frames", "shape_frames", "direction_clips")
    )
    assert steering["combos"] == "steering" and steering["noises"] == 1 and 0 <= steering["follows"] <= 1
    assert (tmp_path / "t2v_g6.png").exists()
    ae = _load("shapesworld_autoencoder").main(["--frames", "16", "--out", str(tmp_path / "ae.json")])
    assert ae["colour_agreement"] == ae["shape_agreement"] == 1.0 and ae["mean_abs_error"] < 0.05
    ae5 = _load("shapesworld_autoencoder").main(
        ["--frames", "32", "--world", "v5", "--out", str(tmp_path / "ae5.json")]
    )
    assert ae5["world"] == "v5" and 0 < ae5["edge"]["frames"] < 32
    assert all(
        0 <= part[k] <= 1 for part in (ae5, ae5["edge"]) for k in ("colour_agreement", "shape_agreement", "clean")
    )


def test_direction_settling_benchmark_quick_run(tmp_path):
    report = _load("shapesworld_direction_settling").main(["--quick", "--out", str(tmp_path / "settling.json")])
    ((row),) = report["rows"]
    assert report["clips"] == 4 and row["t0"] == 800
    assert 0 <= row["follows_own"] <= 1 and 0 <= row["follows_opposite"] <= 1
    ((drift),) = report["drift_rows"]
    assert drift["t"] == 850 and drift["true_drift"] > 1 and 0 <= drift["own_beats_opposite"] <= 1
    assert (tmp_path / "settling.json").exists()


def test_direction_room_benchmark_quick_run(tmp_path):
    room = _load("shapesworld_direction_room")
    assert room.room_ahead((4.0, 30.0), "left", 32) == 4.0 and room.room_ahead((4.0, 30.0), "down", 32) == 2.0
    report = room.main(["--quick", "--out", str(tmp_path / "room.json")])
    summary = report["summary"]
    assert summary["clips"] == 8 and len(report["clips"]) == 8
    assert 0 <= summary["detected_is_most_room"] <= 8 and 0 <= summary["correct"] <= 8
    assert (tmp_path / "room.json").exists()


def test_inverse_problems_benchmark_quick_run(tmp_path, capsys):
    module = _load("inverse_problems")
    report = module.main(
        ["--quick", "--problems", "sr4", "1bit", "--warm-start-share", "0.5", "--truth-start", "--out", str(tmp_path)]
    )
    assert set(report["problems"]) == {"sr4", "1bit"} and report["warm_start_share"] == 0.5
    for problem in report["problems"].values():
        methods = problem["methods"]
        assert set(methods) == {*module.METHODS, module.TRUTH_START}
        assert methods[module.TRUTH_START]["nfe"] == 16  # the refinement alone: no warm start
        assert methods["DPS"]["setting"] in module.DPS_STEP_SIZES
        assert methods["DPnP"]["setting"] in [(methods["DPS"]["setting"], c) for c in module.DPNP_CLIPPING]
        # DPS and the DPnP recipe at the same budget; the cold start's smallest etas have fewer steps below them
        assert methods["DPS"]["nfe"] == methods["DPnP"]["nfe"] <= 36 and methods["DPnP-posterior"]["nfe"] <= 36
        assert methods["DPnP"]["nfe"] == 18 + 16  # half of 36 for the warm start, then 16 iterations x 1
        assert all(0 <= r["coverage_2std"] <= 1 and -1 <= r["ssim"] <= 1 for r in methods.values())
        gain = methods["DPnP"]["psnr"] - methods["DPS"]["psnr"]
        assert abs(methods["DPnP"]["gain_over_dps_db"] - gain) < 1e-9
    robust = report["robustness"]["problems"]
    assert set(robust) == {"sr4", "1bit"} and all(set(rows) == set(module.METHODS) for rows in robust.values())
    assert (tmp_path / "inverse_problems_quick.png").stat().st_size > 5_000
    out = capsys.readouterr().out
    assert "gain vs DPS" in out and "Perturbed prior" in out
    frames = module.benchmark_frames(3, 0)
    assert frames.shape == (3, 3, 32, 32)


def test_inverse_problems_frames_of_seen_or_held_out_combinations(monkeypatch):
    module = _load("inverse_problems")
    from plugdiff.shapesworld.world import HELD_OUT

    drawn, sample_frames = [], module.sample_frames  # the caption combinations of every candidate frame

    def recording(n, generator, size, **vocab):
        images, captions, specs = sample_frames(n, generator, size, **vocab)
        drawn.append({(s.colour, s.shape, s.direction) for s in specs})
        return images, captions, specs

    monkeypatch.setattr(module, "sample_frames", recording)
    assert module.benchmark_frames(4, 0).shape == (4, 3, 32, 32)
    assert set.union(*drawn) <= HELD_OUT
    drawn.clear()
    assert module.benchmark_frames(4, 0, combinations="seen").shape == (4, 3, 32, 32)
    assert not set.union(*drawn) & HELD_OUT
    with pytest.raises(ValueError, match="combinations"):
        module.benchmark_frames(4, 0, combinations="all")


@pytest.mark.parametrize(
    "flags", [["--warm-start-share", "1.5"], ["--likelihood-weight", "0"], ["--likelihood-weight", "inf"]]
)
def test_inverse_problems_benchmark_rejects_bad_dpnp_settings(flags):
    module = _load("inverse_problems")
    with pytest.raises(SystemExit):
        module.main(["--quick", *flags])


def test_inverse_problems_likelihood_weight_reaches_dpnp_only():
    module = _load("inverse_problems")
    from plugdiff.pipelines.posterior.dpnp_recipes import likelihood_weight_for

    operator = module.PROBLEMS["sr4"]()
    assert module.Recipes(250).dpnp("DPnP", operator, 1.0, 0.25).likelihood_weight == likelihood_weight_for(operator)
    sharper = module.Recipes(250, likelihood_weight=4.0)
    assert sharper.dpnp("DPnP", operator, 1.0, 0.25).likelihood_weight == 4.0
    assert sharper.dpnp("DPnP-posterior", operator, 1.0, 0.25).likelihood_weight == 1.0


def test_inverse_problems_frames_have_the_object_partly_in_the_box():
    module = _load("inverse_problems")
    import torch

    from plugdiff.shapesworld.world import HELD_OUT, random_spec

    low, high = module.HIDDEN_RANGE
    specs = [random_spec(torch.Generator().manual_seed(s), combos=HELD_OUT) for s in range(200)]
    fractions = [module.hidden_fraction(s, 32) for s in specs]
    assert min(fractions) < low and any(low <= f <= high for f in fractions) and max(fractions) > high


def test_inverse_problems_benchmark_runs_daps_and_each_methods_own_default_budget(tmp_path, capsys):
    module = _load("inverse_problems")
    report = module.main(
        [
            "--quick",
            "--problems",
            "phase-retrieval",
            "--methods",
            "DAPS",
            "DAPS-posterior",
            "--own-defaults",
            "--no-tune",
            "--no-robustness",
            "--out",
            str(tmp_path),
        ]
    )
    problem = report["problems"]["phase-retrieval"]
    methods, own = problem["methods"], problem["own_defaults"]
    assert list(methods) == ["DPS", "DAPS", "DAPS-posterior"] and report["methods"] == list(methods)
    assert methods["DAPS"]["nfe"] == 18 * 2 + 24  # 18 levels x 2 ODE steps, and the channel signs' 24
    assert methods["DAPS-posterior"]["nfe"] <= 36 + 24 and "gain_over_dpnp_db" not in methods["DAPS"]
    assert set(own) == {"DPS-1000", "DAPS-1K"} and report["own_defaults_nfe"] == 72
    assert own["DPS-1000"]["nfe"] == 72 + 24 and own["DAPS-1K"]["nfe"] == 14 * 5 + 24  # --quick: 72 for 1000
    gain = own["DAPS-1K"]["psnr"] - own["DPS-1000"]["psnr"]
    assert abs(own["DAPS-1K"]["gain_over_dps_1000_db"] - gain) < 1e-9
    assert all(0 <= r["coverage_2std"] <= 1 for r in [*methods.values(), *own.values()])
    assert "own default budget" in capsys.readouterr().out


def test_daps_posterior_benchmark_quick_run(tmp_path):
    module = _load("daps_posterior")
    report = module.main(["--quick", "--out", str(tmp_path)])
    ring = report["problems"]["ring-2d"]
    assert set(ring) == {*module.METHODS, "exact samples"}
    assert ring["DAPS-posterior"]["nfe"] == 250 and ring["DPnP-posterior"]["nfe"] == 226
    assert ring["DAPS-1K (authors' schedule)"]["nfe"] == 1000 and ring["DAPS-posterior"]["mass_tv"] < 0.2
    limit = report["annealing_limit"]
    assert set(limit["by_ode_steps"]) == {"1", "2", "5", "20"} and limit["posterior_unobserved_variance"] == 0.25
    assert json.loads((tmp_path / "daps_posterior_quick.json").read_text())["provenance"]["models"][0]["no_weights"]


def test_long_video_benchmark_quick_run(tmp_path):
    module = _load("long_video")
    report = module.main(["--quick", "--sections", "single", "multi", "--out", str(tmp_path)])
    single = report["single"]["24"]
    assert set(single) == set(module.SINGLE_METHODS)
    assert single["FreeNoise"]["vs_FreeNoise"]["identity"] == 0.0
    for row in single.values():
        assert len(row["videos"]) == 5 and 0 <= row["identity"] <= row["self_consistency"] + 1e-9 <= 1 + 1e-9
        assert 0 <= row["subject_consistency"] <= 1 and 0 <= row["background_consistency"] <= 1
        assert row["peak_rss_mb_so_far"] > 100  # the model alone takes more
    for name in ("windows+TiARA", "FreeNoise+TiARA", "FreeNoise+TiARA-static"):
        intervals = single[name]["vs_TiARA_off"]
        assert set(intervals) == set(module.VBENCH_METRICS) and intervals["subject_consistency"]["n"] == 5
        d = intervals["temporal_flickering"]
        assert d["ci95"][0] <= d["mean"] <= d["ci95"][1]
    assert "vs_TiARA_off" not in single["windows"]
    multi = report["multi"]
    assert set(multi) == set(module.MULTI_METHODS)
    assert all(
        r["transitions"] == len(module.SCHEDULES) and r["completed"] <= r["transitions"] and "onset_mean" in r
        for r in multi.values()
    )
    assert (tmp_path / "long_video_quick.png").stat().st_size > 5_000


def test_long_video_benchmark_keeps_each_finished_method_when_a_later_one_fails(tmp_path, monkeypatch):
    from plugdiff.pipelines import TiaraAnimateDiffPipeline
    from plugdiff.testing import animatediff_components

    model = tmp_path / "t2v"
    TiaraAnimateDiffPipeline(**animatediff_components()).save_pretrained(model, safe_serialization=True)
    module = _load("long_video")
    render_videos = module.render_videos

    def fails_second(*args, **kwargs):
        if fails_second.calls:
            raise KeyboardInterrupt  # the run is stopped while the second method renders
        fails_second.calls += 1
        return render_videos(*args, **kwargs)

    fails_second.calls = 0
    monkeypatch.setattr(module, "render_videos", fails_second)
    argv = ["--quick", "--model", str(model), "--sections", "single", "--methods", "windows", "FreeNoise"]
    with pytest.raises(KeyboardInterrupt):
        module.main([*argv, "--captions", "1", "--tag", "stopped", "--out", str(tmp_path)])
    kept = json.loads((tmp_path / "long_video_stopped.json").read_text())
    assert set(kept["single"]["24"]) == {"windows"} and len(kept["single"]["24"]["windows"]["videos"]) == 1
    assert kept["provenance"]["command"].startswith("python benchmarks/long_video.py")


def test_long_video_memory_runs_each_host_and_length_in_its_own_process(tmp_path):
    from plugdiff.pipelines import TiaraAnimateDiffPipeline
    from plugdiff.testing import animatediff_components

    model = tmp_path / "t2v"
    TiaraAnimateDiffPipeline(**animatediff_components()).save_pretrained(model, safe_serialization=True)
    module = _load("long_video_memory")
    argv = ["--model", str(model), "--hosts", "FIFO", "FreeNoise", "--lengths", "17", "40", "--steps", "1"]
    report = module.main([*argv, "--fifo-window", "4", "--fifo-steps", "4", "--out", str(tmp_path)])
    assert set(report["hosts"]) == {"FIFO", "FreeNoise"}
    for host in report["hosts"].values():
        assert set(host) == {"17", "40", "peak_ratio"} and host["17"]["seconds_per_frame"] > 0
        assert host["peak_ratio"] == host["40"]["peak_rss_mb_so_far"] / host["17"]["peak_rss_mb_so_far"]
    assert 0.9 < report["hosts"]["FIFO"]["peak_ratio"] < 1.1  # flat in the length
    assert report["host_settings"]["fifo"]["window"] == 4 and report["host_settings"]["fifo"]["steps"] == 4
    saved = json.loads((tmp_path / "long_video_memory.json").read_text())
    assert saved["hosts"] == report["hosts"] and saved["provenance"]["models"][0]["version"]


def test_long_video_paired_intervals_against_a_hand_computed_t_interval():
    module = _load("intervals")
    table = [
        (1, 12.706205),
        (2, 4.302653),
        (3, 3.182446),
        (4, 2.776445),
        (5, 2.570582),
        (29, 2.045230),
        (200, 1.971896),
    ]
    for dof, exact in table:  # Student's t, 0.975 point (printed tables, 6 decimals)
        assert module.t_quantile(0.975, dof) == pytest.approx(exact, abs=2e-6)
        assert module.t_quantile(0.025, dof) == pytest.approx(-exact, abs=2e-6)
        assert module.t_cdf(exact, dof) == pytest.approx(0.975, abs=1e-7)
    assert module.t_cdf(1.0, 1) == pytest.approx(0.75)  # Cauchy: 1/2 + atan(1)/pi
    assert module.t_cdf(0.0, 4) == 0.5
    on = [{"a": v, "b": 1.0} for v in (1.0, 2.0, 4.0, float("nan"))]
    off = [{"a": v, "b": 1.0} for v in (0.0, 0.0, 1.0, 0.0)]
    got = module.paired_intervals(on, off, ["a", "b"])
    diffs = [1.0, 2.0, 3.0]  # the NaN pair is left out
    half = module.t_quantile(0.975, 2) * statistics.stdev(diffs) / 3**0.5
    assert got["a"]["n"] == 3 and got["a"]["mean"] == 2.0
    assert got["a"]["ci95"] == pytest.approx([2.0 - half, 2.0 + half])
    assert got["b"] == {"mean": 0.0, "ci95": [0.0, 0.0], "n": 4}


def test_long_video_benchmark_runs_fifo_and_freelong(tmp_path):
    module = _load("long_video")
    report = module.main(
        [
            "--quick",
            "--sections",
            "single",
            "--methods",
            "FIFO",
            "FreeLong",
            "--captions",
            "1",
            "--tag",
            "hosts",
            "--out",
            str(tmp_path),
        ]
    )
    single = report["single"]["24"]
    assert set(single) == {"FIFO", "FreeLong"}
    assert report["hosts"]["fifo"] == {"window": 4, "steps": 4, "lookahead": True, "keep_warmup": False}
    assert all(len(row["videos"]) == 1 and row["seconds_per_frame"] > 0 for row in single.values())
    parser_hosts = module.HOST_METHODS
    assert set(parser_hosts) == {"fifo", "freelong"} and "FIFO+TiARA" in parser_hosts["fifo"]


def test_long_video_benchmark_compares_promptblend_with_linear_on_each_host(tmp_path, monkeypatch):
    from plugdiff.pipelines import TiaraAnimateDiffPipeline
    from plugdiff.testing import animatediff_components

    model = tmp_path / "t2v"  # a tiny random model, one schedule: each video still takes seconds
    TiaraAnimateDiffPipeline(**animatediff_components()).save_pretrained(model, safe_serialization=True)
    module = _load("long_video")
    monkeypatch.setattr(module, "SCHEDULES", module.SCHEDULES[:1])
    argv = ["--quick", "--model", str(model), "--sections", "multi", "--hosts", "freelong"]
    argv += ["--multi-methods", "FreeNoise+linear", "--multi-seeds", "0", "1", "--tag", "hosts"]
    report = module.main([*argv, "--out", str(tmp_path)])
    multi = report["multi"]
    hosts = module.MULTI_HOST_METHODS
    assert set(multi) == {"FreeNoise+linear", *hosts["windows"], *hosts["freelong"]}
    assert report["multi_seeds"] == [0, 1] and report["hosts"]["freelong"]["local_frames"] == 16
    assert set(module.LINEAR_OF) == {k for m in hosts.values() for k in m if k.endswith("PromptBlend")} | {
        "FreeNoise+TiARA+PromptBlend"
    }
    for name, linear in module.LINEAR_OF.items():
        if name not in multi:
            continue
        rows, base = multi[name]["videos"], multi[linear]["videos"]
        assert len(rows) == 2 and [r["schedule"] for r in rows] == [r["schedule"] for r in base]
        got = multi[name]["vs_linear"]
        assert set(got) == {*module.TRANSITION_METRICS, *module.VBENCH_METRICS}
        diffs = [float(r["clean"] - b["clean"]) for r, b in zip(rows, base, strict=True)]
        assert got["clean"]["n"] == len(diffs) and got["clean"]["mean"] == pytest.approx(statistics.fmean(diffs))
    assert "vs_linear" not in multi["FreeLong+linear"] and "vs_linear" in multi["FreeLong+PromptBlend"]


def test_shapesworld_v5_benchmark_quick_run(tmp_path, monkeypatch):
    from plugdiff.pipelines import TiaraAnimateDiffPipeline
    from plugdiff.testing import animatediff_components

    model = tmp_path / "t2v"
    TiaraAnimateDiffPipeline(**animatediff_components()).save_pretrained(model, safe_serialization=True)
    module = _load("shapesworld_v5")
    calls = []
    call = TiaraAnimateDiffPipeline.__call__

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("windows"))
        return call(self, *args, **kwargs)

    monkeypatch.setattr(TiaraAnimateDiffPipeline, "__call__", spy)
    common = ["--model", str(model), "--steps", "2"]
    for host in ("windows", "freelong"):
        report = module.main(
            [
                "long",
                *common,
                "--videos",
                "1",
                "--frames",
                "24",
                "--long-video",
                host,
                *(["--noise-reuse", "random"] if host == "windows" else []),
                "--out",
                str(tmp_path / "l.json"),
            ]
        )
        assert report["long_video"] == host and report["frames"] == 24 and len(report["rows"]) == 1
        assert set(report["shares"]) == {"speed_kept", "wraps", "no_jump", "passes"}
        assert calls.pop() == ({"noise_reuse": "random"} if host == "windows" else None)
        assert report.get("noise_reuse") == ("random" if host == "windows" else None)
    report = module.main(["inbetween", *common, "--pairs", "1", "--clips", "1", "--out", str(tmp_path / "i.json")])
    assert len(report["rows"]) == 4 * len(module.WEIGHTS)
    assert set(report["summary"]) == {"colour", "background", "shape", "direction"}


def test_shapesworld_v5_benchmark_refuses_noise_reuse_off_the_windows_host(capsys):
    module = _load("shapesworld_v5")
    fifo = ["long", "--long-video", "fifo"]
    for argv in (["inbetween", "--noise-reuse", "random"], [*fifo, "--noise-reuse", "random"]):
        with pytest.raises(SystemExit):
            module.main(argv)
        assert "--noise-reuse goes with the long section on the windows host" in capsys.readouterr().err


def test_shapesworld_decoders_compares_decoders_of_one_encoder(tmp_path):
    from diffusers import AutoencoderKL

    from plugdiff.pipelines import TiaraAnimateDiffPipeline
    from plugdiff.shapesworld.caption_agreement import generate_clips
    from plugdiff.testing import animatediff_components

    model = tmp_path / "t2v"
    pipe = TiaraAnimateDiffPipeline(**animatediff_components())
    pipe.save_pretrained(model, safe_serialization=True)
    vae = AutoencoderKL.from_pretrained(model / "vae")
    with torch.no_grad():
        vae.decoder.conv_out.bias += 0.5
    vae.save_pretrained(tmp_path / "decoder", safe_serialization=True)
    with torch.no_grad():
        vae.encoder.conv_in.bias += 0.5
    vae.save_pretrained(tmp_path / "encoder", safe_serialization=True)
    module = _load("shapesworld_decoders")

    # the model's own decoder gives exactly the frames the pipeline returns
    pipe.set_progress_bar_config(disable=True)
    settings = {"steps": 2, "guidance": 6.0, "seed": 0, "batch": 2}
    frames = generate_clips(pipe, ["a red circle moving left on a white background"] * 2, **settings)
    latents = generate_clips(
        pipe, ["a red circle moving left on a white background"] * 2, **settings, output_type="latent"
    )
    torch.testing.assert_close(module.decode(pipe, latents, pipe.vae), frames, rtol=0, atol=0)

    common = ["--model", str(model), "--steps", "2", "--clips-per-combo", "1", "--pairs", "1", "--clips", "1"]
    vaes = [str(model / "vae"), str(tmp_path / "decoder")]
    report = module.main([*common, "--vae", *vaes, "--out", str(tmp_path / "d.json")])
    assert [row["vae"] for row in report["decoders"]] == vaes
    for row in report["decoders"]:
        assert row["held_out"]["clips"] == len(module.HELD_OUT)
        assert set(row["inbetween_right_frames"]) == {"colour", "background"}
    with pytest.raises(SystemExit, match="its encoder is not the model's"):
        module.main([*common, "--vae", str(tmp_path / "encoder"), "--out", str(tmp_path / "e.json")])


def test_shapesworld_decoders_refuses_bad_counts_and_folders_by_name(tmp_path, capsys):
    module = _load("shapesworld_decoders")
    for argv, message in (
        (["--vae", "x", "--clips-per-combo", "0"], "--clips-per-combo must be >= 1, got 0"),
        (["--vae", "x", "--pairs", "-1"], "--pairs must be >= 1, got -1"),
        (["--vae", str(tmp_path)], f"--vae {tmp_path}: not an autoencoder folder (no config.json)"),
    ):
        with pytest.raises(SystemExit):
            module.main(argv)
        assert message in capsys.readouterr().err
