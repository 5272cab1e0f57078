"""Auto-selection: the decision logic on given measurements, then real builds of the tiny model."""

from __future__ import annotations

import pytest

from edgec.autoselect import Budget, Measured, decide, select
from edgec.errors import EdgecError


def _m(target, precision, p50, drop):
    return Measured(target, precision, "onnxruntime", p50, p50 * 1.2, 90.0 - drop, drop)


def test_fastest_within_budget_wins_and_reason_names_runner_up():
    cands = [_m("host-cpu", "fp32", 2.0, 0.0), _m("host-cpu", "int8", 1.0, 0.5), _m("host-openvino", "int8", 1.5, 0.2)]
    decision = decide(cands, Budget(max_drop=1.0))
    assert decision.winner.label == "host-cpu/int8"
    assert "host-openvino/int8" in decision.reason and "1.50x" in decision.reason
    record = decision.record()
    assert record["chosen"] == {"target": "host-cpu", "precision": "int8", "backend": "onnxruntime"}
    assert [c["p50_ms"] for c in record["candidates"]] == [2.0, 1.0, 1.5]
    assert all(c["within_budget"] for c in record["candidates"])
    assert record["budget"] == {"metric": "top1", "max_drop": 1.0}


def test_candidate_over_budget_never_wins_even_when_fastest():
    cands = [_m("host-cpu", "int8", 0.5, 3.0), _m("host-openvino", "int8", 0.9, 0.4), _m("host-cpu", "fp32", 2.0, 0.0)]
    decision = decide(cands, Budget(max_drop=1.0))
    assert decision.winner.label == "host-openvino/int8"
    over = next(c for c in decision.record()["candidates"] if c["target"] == "host-cpu" and c["precision"] == "int8")
    assert over["within_budget"] is False and "over budget" in over["note"]
    assert "not eligible: host-cpu/int8" in decision.reason


def test_tie_on_speed_goes_to_smaller_drop_and_budget_edge_is_inclusive():
    cands = [_m("a", "int8", 1.0, 1.0), _m("b", "int8", 1.0, 0.2)]
    assert decide(cands, Budget(max_drop=1.0)).winner.target == "b"
    assert decide([_m("a", "int8", 1.0, 1.0)], Budget(max_drop=1.0)).winner.target == "a"


def test_no_candidate_within_budget_is_a_user_error():
    with pytest.raises(EdgecError, match="no candidate holds the accuracy budget.*host-cpu/int8 drops 2.00"):
        decide([_m("host-cpu", "int8", 1.0, 2.0)], Budget(max_drop=0.5))
    with pytest.raises(EdgecError, match="at least one candidate"):
        decide([], Budget())
    with pytest.raises(EdgecError, match="max_drop must be >= 0"):
        Budget(max_drop=-1)


@pytest.mark.slow
def test_select_builds_measures_and_picks_on_tiny_model(tiny_model, tmp_path):
    from edgec.calibration.dataset import CalibrationSet
    from edgec.config import BenchmarkConfig

    calib = CalibrationSet.from_file(tiny_model.calibration)
    evalset = CalibrationSet.from_file(tiny_model.eval)
    candidates = [("host-cpu", "fp32"), ("host-cpu", "int8"), ("host-openvino", "fp32"), ("host-openvino", "int8")]
    short = BenchmarkConfig(warmup_runs=2, warmup_seconds=0.0, min_runs=20, min_seconds=0.0, threads=1)
    lines = []
    decision = select(candidates, Budget(max_drop=5.0), model=tiny_model.onnx, calib=calib, evalset=evalset,
                      out=tmp_path / "sel", bench=short, log=lines.append)  # fmt: skip
    record = decision.record()
    assert [(c["target"], c["precision"]) for c in record["candidates"]] == candidates
    eligible = [c for c in record["candidates"] if c["within_budget"]]
    fastest = min(eligible, key=lambda c: c["p50_ms"])
    assert (record["chosen"]["target"], record["chosen"]["precision"]) == (fastest["target"], fastest["precision"])
    for c in record["candidates"]:
        assert c["p50_ms"] > 0 and c["within_budget"] == (c["drop"] <= 5.0)
        fp32 = c["precision"] == "fp32"
        assert not fp32 or abs(c["drop"]) < 1e-6  # the float engines reproduce the float graph
    assert decision.winner.engine.is_file()
    assert lines[-1] == f"auto-select: {decision.reason}"
    assert "fastest within budget" in decision.reason or "only candidate" in decision.reason
    # The same measurements under a budget the INT8 engines cannot meet: a float engine wins.
    int8_drops = [c.drop for c in decision.candidates if c.precision == "int8"]
    if max(int8_drops) > 0:
        strict = decide(decision.candidates, Budget(max_drop=min(int8_drops) / 2))
        assert strict.winner.precision == "fp32" or strict.winner.drop <= min(int8_drops) / 2


def test_select_refuses_unknown_target_and_precision(tiny_model, tmp_path):
    from edgec.calibration.dataset import CalibrationSet

    calib = CalibrationSet.from_file(tiny_model.calibration)
    kwargs = {"model": tiny_model.onnx, "calib": calib, "evalset": calib, "out": tmp_path, "log": lambda _m: None}
    with pytest.raises(EdgecError, match="unknown target 'nope'"):
        select([("nope", "int8")], Budget(), **kwargs)
    with pytest.raises(EdgecError, match="precision 'fp16' is not supported"):
        select([("host-cpu", "fp16")], Budget(), **kwargs)
    with pytest.raises(EdgecError, match="at least one"):
        select([], Budget(), **kwargs)
