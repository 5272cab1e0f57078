"""The runners (one per backend), the measurement loop and the statistics, on real engines."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.benchmarks import agent, harness, stats


def _feeds(tiny_model, n=8):
    return [{"input": tiny_model.test_x[i : i + 1]} for i in range(n)]


def test_torch_eager_reference_matches_onnxruntime(tiny_model, tmp_path):
    from safetensors.torch import save_file

    weights = tmp_path / "student.safetensors"
    save_file(tiny_model.module.state_dict(), str(weights))
    options = {"factory": "edgec.distill.models:ConvNet", "kwargs": {"widths": [8, 16, 16, 32]}, "threads": 1}
    eager = agent.make_runner("torch", str(weights), options)
    onnx = agent.make_runner("onnxruntime", str(tiny_model.onnx))
    for feed in _feeds(tiny_model):
        np.testing.assert_allclose(eager.infer(feed)["output"], next(iter(onnx.infer(feed).values())), atol=1e-4)
    assert eager.thread_settings()["torch_num_threads"] == 1


def test_torch_reference_measured_by_the_agent(tiny_model, tmp_path):
    from safetensors.torch import save_file

    weights = tmp_path / "student.safetensors"
    save_file(tiny_model.module.state_dict(), str(weights))
    settings = {"warmup_runs": 3, "warmup_seconds": 0.0, "min_runs": 20, "min_seconds": 0.0,
                "runner_options": {"factory": "edgec.distill.models:ConvNet", "kwargs": {"widths": [8, 16, 16, 32]}}}  # fmt: skip
    raw = harness.run_local(weights, "torch", tiny_model.eval, settings)
    assert len(raw["samples_ms"]) == 20 and raw["environment"]["backends"]["torch"].startswith("2.")
    assert raw["measured_files"] == {str(weights): agent.sha256_file(str(weights))}


def test_torch_runner_refuses_a_missing_factory(tmp_path):
    runner = agent.make_runner("torch", str(tmp_path / "w.safetensors"), {})
    with pytest.raises(ValueError, match="factory='module:attr'"):
        runner.load()


def test_tensorrt_runner_against_the_real_api(tiny_model, tmp_path):
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installable here (no NVIDIA GPU/wheel)")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(tiny_model.onnx.read_bytes())
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("input", (1, 1, 8, 8), (1, 1, 8, 8), (4, 1, 8, 8))
    config.add_optimization_profile(profile)
    plan = tmp_path / "model.plan"
    plan.write_bytes(bytes(builder.build_serialized_network(network, config)))
    runner = agent.make_runner("tensorrt", str(plan))
    onnx = agent.make_runner("onnxruntime", str(tiny_model.onnx))
    for feed in _feeds(tiny_model, 4):
        got = next(iter(runner.infer(feed).values()))
        np.testing.assert_allclose(got, next(iter(onnx.infer(feed).values())), atol=1e-3)


def test_loop_honours_counts_and_durations(tiny_model):
    runner = agent.make_runner("onnxruntime", str(tiny_model.onnx))
    settings = {"warmup_runs": 5, "warmup_seconds": 0.2, "min_runs": 10, "min_seconds": 0.3}
    raw = agent.measure(runner, _feeds(tiny_model), settings)
    assert raw["warmup"]["count"] >= 5 and raw["warmup"]["seconds"] >= 0.2
    assert len(raw["samples_ms"]) >= 10 and sum(raw["samples_ms"]) > 0
    assert raw["load_ms"] > 0 and raw["first_inference_ms"] > 0 and raw["peak_rss_bytes"] > 0
    capped = agent.measure(agent.make_runner("onnxruntime", str(tiny_model.onnx)), _feeds(tiny_model),
                           {"warmup_runs": 0, "warmup_seconds": 0, "min_runs": 10_000, "min_seconds": 0,
                            "max_runs": 25})  # fmt: skip
    assert len(capped["samples_ms"]) == 25


def test_summary_is_derived_from_the_samples():
    samples = np.random.default_rng(0).lognormal(0.0, 0.2, 2000)
    summary = stats.summarize(samples)
    assert summary["p50_ms"] == pytest.approx(np.percentile(samples, 50))
    assert summary["p99_ms"] == pytest.approx(np.percentile(samples, 99))
    assert summary["cv"] == pytest.approx(samples.std(ddof=1) / samples.mean())
    assert summary["throughput_per_s"] == pytest.approx(1000 / samples.mean())
    lo, hi = summary["ci95_p50_ms"]
    assert lo < summary["p50_ms"] < hi and hi - lo < 0.05  # lognormal(0, 0.2): median 1.0, n = 2000
    assert stats.summarize(samples) == summary  # seeded bootstrap: the same samples give the same report
    assert any("high variation" in w for w in stats.warnings_for(summary))  # cv ~ 0.2 > 0.10
    quiet = stats.summarize(1.0 + 0.001 * np.random.default_rng(1).standard_normal(500), [250, 250])
    assert not stats.warnings_for(quiet)


def test_bootstrap_interval_covers_the_true_median():
    rng = np.random.default_rng(3)
    hits = sum(lo <= 1.0 <= hi for lo, hi in (stats.bootstrap_ci(rng.lognormal(0, 0.3, 300), 50, seed=s)
                                               for s in range(60)))  # fmt: skip
    assert hits >= 51  # nominal 95 %: at least 85 % of 60 intervals hold the true median


def test_pooled_runs_give_an_interval_that_spans_them():
    rng = np.random.default_rng(0)
    runs = [rng.normal(center, 0.01, 500) for center in (1.0, 1.05, 0.97)]  # three processes, three modes
    pooled = np.concatenate(runs)
    narrow = stats.bootstrap_ci(pooled, 50)
    wide = stats.bootstrap_ci(pooled, 50, run_lengths=[500, 500, 500])
    assert wide[1] - wide[0] > 3 * (narrow[1] - narrow[0])
    reported = stats.summarize(pooled, [500, 500, 500])
    assert reported["ci_method"] == "runs"
    lo, hi = reported["ci95_p50_ms"]
    assert lo <= wide[0] and wide[1] <= hi  # never narrower than the two-stage bootstrap


def test_interval_covers_the_next_run_when_runs_differ_more_than_their_samples():
    # Each process has its own offset (sd 3 %) and little noise inside (sd 1 %): the situation
    # measured on this machine. A run of 3 processes, then another: is each p50 in the other's
    # interval? The two-stage bootstrap alone mostly says no; the reported interval mostly yes.
    rng = np.random.default_rng(7)

    def one_run():
        x = np.concatenate([rng.normal(1.0 + rng.normal(0, 0.03), 0.01, 200) for _ in range(3)])
        return float(np.percentile(x, 50)), stats.percentile_ci(x, 50, [200] * 3)[0], stats.bootstrap_ci(x, 50)

    def both_inside(a, b, which):
        return b[which][0] <= a[0] <= b[which][1] and a[which][0] <= b[0] <= a[which][1]

    pairs = [(one_run(), one_run()) for _ in range(60)]
    reported = sum(both_inside(a, b, 1) for a, b in pairs)
    bootstrap_only = sum(both_inside(a, b, 2) for a, b in pairs)
    assert reported >= 45 and bootstrap_only <= 20  # about 90 % expected, and about 10 %


def test_one_process_is_cut_into_blocks_and_says_so():
    drifting = np.linspace(1.0, 1.1, 800) + np.random.default_rng(2).normal(0, 0.005, 800)  # slows down during the run
    summary = stats.summarize(drifting)
    assert summary["ci_method"] == "blocks"
    iid_lo, iid_hi = stats.bootstrap_ci(drifting, 50)
    lo, hi = summary["ci95_p50_ms"]
    assert hi - lo > 3 * (iid_hi - iid_lo)  # drift within the run widens the interval
    assert any("one process measured" in w for w in stats.warnings_for(summary))
    assert stats.summarize(drifting[:50])["ci_method"] == "bootstrap"  # too few samples for blocks


def test_drift_allowance_widens_the_interval_and_is_recorded():
    x = np.random.default_rng(4).normal(1.0, 0.002, 1000)  # a very steady run: +/-0.1 % alone
    plain, drifted = stats.summarize(x, [200] * 5), stats.summarize(x, [200] * 5, drift_pct=2.0)
    p50 = plain["p50_ms"]
    assert drifted["drift_pct"] == 2.0 and plain["drift_pct"] == 0.0
    lo, hi = drifted["ci95_p50_ms"]
    assert lo < p50 * 0.981 and hi > p50 * 1.019  # at least the allowance on each side
    half = max(p50 - plain["ci95_p50_ms"][0], plain["ci95_p50_ms"][1] - p50)
    assert hi - p50 <= np.hypot(half, 0.02 * p50) + 1e-12  # root-sum-square, not a sum
    assert stats.widen_for_drift([0.9, 1.1], 1.0, 0.0) == [0.9, 1.1]
