"""The accuracy budget: naive INT8 breaks a tight budget on a model with a genuinely sensitive
layer; the layer-wise fallback keeps the sensitive layers in float and restores it."""

from __future__ import annotations

import json

import pytest

from tests.test_cli_smoke import run_cli


def _config(folder, *, fallback=True, max_drop=0.5, preset="auto"):
    text = f"""
name: outlier
model: {folder / "model.onnx"}
calibration: {{data: {folder / "calibration.npz"}, samples: 200}}
quantize: {{eval_data: {folder / "eval.npz"}, metric: top1, max_drop: {max_drop}, fallback: {str(fallback).lower()},
           preset: {preset}}}
targets: [{{name: host-cpu, precision: int8}}]
benchmark: {{enabled: false}}
"""
    path = folder / f"edgec-{fallback}-{preset}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("preset", ["x86-vnni", "tensorrt"])
def test_fallback_keeps_sensitive_layers_in_float_until_budget_holds(outlier_model, tmp_path, capsys, preset):
    code, out, err = run_cli(capsys, "quantize", str(_config(outlier_model, preset=preset)), "--out", str(tmp_path))
    assert code == 0, err
    recipe = f"onnxruntime-{preset}-static"
    report = json.loads((tmp_path / "quantized" / recipe / "report.json").read_text())
    q = report["quality"]
    steps = q["steps"]
    # Naive INT8 breaks the 0.5-point budget badly ...
    assert steps[0]["kept_in_float"] == [] and steps[0]["drop"] > 20
    # ... the fallback ends within budget, keeping only what it had to, one node per step.
    assert q["drop"] <= 0.5
    assert steps[-1]["drop"] <= 0.5 and all(s["drop"] > 0.5 for s in steps[:-1])
    assert q["kept_in_float"] == steps[-1]["kept_in_float"] and 1 <= len(q["kept_in_float"]) < 3
    assert all("why" in s and "added" in s for s in steps[1:])
    # The first layer is far from the outlier: it stays INT8.
    from edgec.compile.quantize import quantized_nodes

    assert "node_linear" in quantized_nodes(tmp_path / "quantized" / recipe / "model.int8.onnx")
    assert "node_linear" not in q["kept_in_float"]
    # Sensitivity ranks every quantized compute node; the table names what stayed float.
    assert {r["node"] for r in q["sensitivity"]} >= set(q["kept_in_float"])
    assert q["kept_in_float"][0][:15] in out


def test_without_fallback_the_broken_budget_is_exit_2_and_names_the_drop(outlier_model, tmp_path, capsys):
    code, _, err = run_cli(capsys, "quantize", str(_config(outlier_model, fallback=False)), "--out", str(tmp_path))
    assert code == 2
    assert "cannot hold quantize.max_drop = 0.5" in err and "(naive INT8)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "quantized").exists()
