"""Auto-selection inside `edgec build`: real candidates of a tiny model built, scored, measured,
and the winner written as the target's bundle with the manifest's `selection` block."""

from __future__ import annotations

import importlib.util

import pytest

from edgec.artifacts import read_json
from tests.test_cli_smoke import run_cli

SHORT_BENCH = "benchmark: {min_runs: 20, min_seconds: 0.1, warmup_runs: 2, warmup_seconds: 0}\n"
HAVE_OPENVINO = importlib.util.find_spec("openvino") is not None


def _config(write_config, model, calib, evaluation, candidates, quantize="max_drop: 5.0", bench=SHORT_BENCH):
    eval_line = f", eval_data: {evaluation}" if evaluation else ""
    return write_config(
        f"name: tiny\nmodel: {model}\ncalibration: {{data: {calib}, samples: 64}}\n"
        f"quantize: {{{quantize}{eval_line}}}\n"
        f"targets:\n  - name: host\n    candidates: [{', '.join(candidates)}]\n" + bench
    )


@pytest.mark.slow
def test_build_chooses_the_fastest_within_budget_and_a_rebuild_measures_nothing(
    tiny_model, write_config, tmp_path, capsys
):
    candidates = ["host-cpu/int8", "host-cpu/fp32"] + (["host-openvino/int8"] if HAVE_OPENVINO else [])
    config = _config(write_config, tiny_model.onnx, tiny_model.calibration, tiny_model.eval, candidates)
    out = tmp_path / "out"
    code, log, err = run_cli(capsys, "build", str(config), "--out", str(out))
    assert code == 0, err
    bundle = out / "host"
    manifest = read_json(bundle / "manifest.json")
    selection = manifest["selection"]

    # Every candidate, in the config's order, with its numbers.
    records = selection["candidates"]
    float_score = selection["quality_data"]["float"]
    assert [f"{c['target']}/{c['precision']}" for c in records] == candidates
    for c in records:
        assert c["p50_ms"] > 0 and c["p90_ms"] >= c["p50_ms"]
        assert 0 <= c["quality"] <= 100 and c["drop"] == pytest.approx(float_score - c["quality"])
        assert c["within_budget"] == (c["drop"] <= 5.0) and c["note"]
        assert c["files"] and all(len(f["sha256"]) == 64 for f in c["files"])
        if c["precision"] == "fp32":
            assert abs(c["drop"]) < 1e-6  # the float engine reproduces the float graph
    assert selection["budget"] == {"metric": "top1", "max_drop": 5.0}
    assert selection["quality_data"]["source"] == "quantize.eval_data"
    assert selection["measured"]["rounds"] == 5  # benchmark.repeats (default)

    # The winner is the fastest within budget by the recorded numbers, and the reason says so.
    eligible = [c for c in records if c["within_budget"]]
    fastest = min(eligible, key=lambda c: (c["p50_ms"], c["drop"]))
    chosen = selection["chosen"]
    assert chosen == {"target": fastest["target"], "precision": fastest["precision"], "backend": fastest["backend"]}
    label = f"{chosen['target']}/{chosen['precision']}"
    assert selection["reason"].startswith(f"{label} is the fastest within budget")
    assert fastest["note"] == "chosen"
    assert all(c["note"].startswith("within budget, ") for c in eligible if c is not fastest)

    # The bundle is the winner's engine, measured: its files are the ones the winner was measured
    # with, and benchmark.json holds the raw samples behind the winner's p50.
    target = manifest["target"]
    assert (target["name"], target["profile"], target["precision"]) == ("host", chosen["target"], chosen["precision"])
    bundle_files = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert all(bundle_files[f["path"]] == f["sha256"] for f in fastest["files"])
    assert manifest["build"]["engine"] in {f["path"] for f in fastest["files"]}
    report = read_json(bundle / "benchmark.json")
    assert report["summary"]["p50_ms"] == fastest["p50_ms"]
    assert report["target"]["name"] == "host" and report["target"]["profile"] == chosen["target"]
    for c in records:
        assert f"host: {c['target']}/{c['precision']}: p50 {c['p50_ms']:.3f} ms" in log
    assert f"host: auto-select: {selection['reason']}" in " ".join(log.split())

    # The bundle is a bundle like any other: hashes and summary verify, apps can run it.
    from edgec import runtime
    from edgec.benchmarks.verify import verify_report

    assert verify_report(bundle / "benchmark.json", rerun_measurement=False).passed
    engine = runtime.load(bundle)
    assert engine.run({"input": tiny_model.test_x[:1]})[engine.output_names[0]].shape == (1, 10)

    # Nothing changed: nothing is measured again, and the bundle says the same.
    code, log, err = run_cli(capsys, "build", str(config), "--out", str(out))
    assert code == 0, err
    assert f"host: score and measure {len(candidates)} candidates: cached" in log
    again = read_json(bundle / "manifest.json")
    assert again["selection"] == selection
    assert read_json(bundle / "benchmark.json")["samples_ms"] == report["samples_ms"]


@pytest.mark.slow
def test_candidate_over_budget_is_never_chosen(outlier_model, write_config, tmp_path, capsys):
    """INT8 of the outlier MLP loses ~80 points of top-1 and, without the fallback, no graph holds
    a 1-point budget: that candidate is recorded as over budget and the float engine wins. Without
    eval data the candidates are judged on the calibration samples, as the quantize stage judges."""
    config = _config(write_config, outlier_model / "model.onnx", outlier_model / "calibration.npz", None,
                     ["host-cpu/int8", "host-cpu/fp32"], quantize="max_drop: 1.0, fallback: false")  # fmt: skip
    out = tmp_path / "out"
    code, log, err = run_cli(capsys, "build", str(config), "--out", str(out))
    assert code == 0, err
    manifest = read_json(out / "host" / "manifest.json")
    selection = manifest["selection"]
    int8, fp32 = selection["candidates"]
    assert int8["within_budget"] is False and int8["drop"] > 20
    assert int8["p50_ms"] is None and "over budget" in int8["note"] and "not built" in int8["note"]
    assert fp32["within_budget"] is True and fp32["p50_ms"] > 0 and fp32["note"] == "chosen"
    assert selection["chosen"]["precision"] == "fp32"
    reason = selection["reason"]
    assert "only candidate within budget" in reason and "not eligible: host-cpu/int8" in reason
    assert manifest["target"]["precision"] == "fp32" and manifest["calibration"] is None
    assert selection["quality_data"]["source"] == "calibration samples"
    assert "judged on the calibration samples" in " ".join(log.split())


def test_no_candidate_within_budget_is_exit_2_and_writes_no_bundle(outlier_model, write_config, tmp_path, capsys):
    config = _config(write_config, outlier_model / "model.onnx", outlier_model / "calibration.npz",
                     outlier_model / "eval.npz", ["host-cpu/int8"], quantize="max_drop: 1.0, fallback: false")  # fmt: skip
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "build", str(config), "--out", str(out))
    err = " ".join(err.split())
    assert code == 2 and "Traceback" not in err
    assert "targets[0] (host): no candidate holds the accuracy budget" in err and "host-cpu/int8 drops" in err
    assert not (out / "host").exists()


def test_selection_needs_the_benchmark_stage(tiny_model, write_config, tmp_path, capsys):
    config = _config(write_config, tiny_model.onnx, tiny_model.calibration, tiny_model.eval,
                     ["host-cpu/int8", "host-cpu/fp32"])  # fmt: skip
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "build", str(config), "--out", str(out), "--no-bench")
    assert code == 2 and "auto-selection measures every candidate" in " ".join(err.split())
    assert not out.exists()


def test_auto_is_every_host_profile_whose_backend_is_installed(monkeypatch, tiny_model):
    from edgec.config import Config
    from edgec.errors import EdgecError
    from edgec.targets import plan

    found = [(profile.name, precision) for profile, precision in plan.host_candidates()]
    assert ("host-cpu", "fp32") in found and ("host-cpu", "int8") in found
    assert all(name in ("host-cpu", "host-openvino") for name, _ in found)  # shipped: only these are `native`
    ov = [precision for name, precision in found if name == "host-openvino"]
    assert ov == (["fp32", "fp16", "int8"] if HAVE_OPENVINO else [])
    monkeypatch.setattr(plan, "backend_installed", lambda backend: backend != "openvino")
    assert {profile.name for profile, _ in plan.host_candidates()} == {"host-cpu"}
    config = Config(model=tiny_model.onnx, targets=[{"name": "host", "candidates": "auto"}])
    assert plan.plan_targets(config)[0].describe() == "host (auto-selects among host-cpu/fp32, host-cpu/int8)"
    monkeypatch.setattr(plan, "backend_installed", lambda backend: False)
    with pytest.raises(EdgecError, match=r"targets\[0\].candidates: 'auto' found no profile this machine can run"):
        plan.plan_targets(config)


def test_manifest_of_a_plain_target_has_no_selection_key(tmp_path):
    from edgec.manifest import manifest

    common = {"bundle": tmp_path, "model": {}, "target": {}, "inputs": [], "outputs": [], "calibration": None,
              "quality": None, "provenance": None, "build": {}}  # fmt: skip
    assert "selection" not in manifest(**common)
    assert manifest(**common, selection={"chosen": {}})["selection"] == {"chosen": {}}
