"""Auto-selection: the decision on given measurements (real builds: tests/test_autoselect_stage.py)."""

from __future__ import annotations

import pytest

from edgec.autoselect import Budget, Measured, decide
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


def test_unmeasured_candidate_never_wins_and_its_detail_is_kept():
    unbuilt = Measured("host-cpu", "int8", "onnxruntime", None, None, 10.0, 80.0, detail="not built: no graph held")
    fp32 = _m("host-cpu", "fp32", 2.0, 0.0)
    decision = decide([unbuilt, fp32], Budget(max_drop=1.0))
    assert decision.winner is fp32
    assert unbuilt.note == "over budget: drops 80.00 > 1.00 points of top1; not built: no graph held"
    # Within budget but not measured (no speed to compare): still not eligible.
    unmeasured = Measured("host-openvino", "fp32", "openvino", None, None, 90.0, 0.0)
    assert decide([unmeasured, fp32], Budget()).winner is fp32 and unmeasured.note == "not measured"
    with pytest.raises(EdgecError, match="no candidate holds"):
        decide([unmeasured], Budget())


def test_record_carries_files_and_extra_keys():
    measured = _m("host-cpu", "int8", 1.0, 0.1)
    measured.files = [{"path": "model.onnx", "sha256": "0" * 64}]
    decision = decide([measured], Budget())
    decision.extra = {"quality_data": {"source": "quantize.eval_data"}}
    record = decision.record()
    assert record["candidates"][0]["files"] == measured.files
    assert record["quality_data"] == {"source": "quantize.eval_data"}
    assert record["reason"] == "host-cpu/int8 is the only candidate within budget (drop 0.10 points of top1)"
