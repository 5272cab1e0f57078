"""Digits end to end through the Python API: acceptance figures, the soft-label cache, resume, provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgec.config import load_config
from edgec.distill import load_student, run_distill
from tests.distill.conftest import digits_config
from tests.distill.zoo import CountingConvNet


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, digits_teacher):
    folder = tmp_path_factory.mktemp("distilled")
    config = folder / "edgec.yaml"
    config.write_text(digits_config(digits_teacher, teacher_module="tests.distill.zoo:CountingConvNet", epochs=8))
    CountingConvNet.calls = 0
    result = run_distill(load_config(config), folder / "out", log=lambda _m: None)
    return result, CountingConvNet.calls, config, folder


def test_student_is_a_quarter_and_keeps_97_percent_of_teacher_accuracy(distilled):
    result, _calls, _config, _folder = distilled
    p, f = result.provenance, result.fidelity
    assert p["student_params"] <= 0.25 * p["teacher_params"]
    assert f["student_accuracy"] >= 0.97 * f["teacher_accuracy"], f
    assert f["top1_agreement"] > 90
    assert set(f["per_class"]) == {str(c) for c in range(10)}
    assert 0 <= f["student_ece"] < 0.2 and f["mean_kl"] >= 0


def test_teacher_runs_once_per_run_not_per_epoch(distilled, digits_teacher):
    result, calls, config, folder = distilled
    n_train = len(np.load(digits_teacher.train)["input"])
    n_val = len(np.load(digits_teacher.val)["input"])
    n_test = len(np.load(digits_teacher.test)["input"])
    one_pass = sum(-(-n // 256) for n in (n_train, n_val, n_test))  # batches of 256, each split once
    assert result.training["train_loss"] and len(result.training["train_loss"]) > 1
    assert calls == one_pass + 1  # + the one-batch shape check before training
    # A second run with another student reuses the cached soft labels: only the shape check runs the teacher.
    CountingConvNet.calls = 0
    other = folder / "other.yaml"
    other.write_text(digits_config(digits_teacher, teacher_module="tests.distill.zoo:CountingConvNet",
                                   student_widths=[4, 8, 8, 16], epochs=2))  # fmt: skip
    run_distill(load_config(other), folder / "out", log=lambda _m: None)
    assert CountingConvNet.calls == 1


def test_unchanged_distill_is_cached(distilled):
    result, _calls, config, folder = distilled
    logs = []
    again = run_distill(load_config(config), folder / "out", log=logs.append)
    assert again.cached and any("distill: cached" in line for line in logs)
    assert again.provenance == result.provenance


def test_student_folder_and_provenance(distilled, digits_teacher):
    from safetensors import safe_open

    from edgec.artifacts import sha256_file

    result, _calls, _config, _folder = distilled
    files = {p.name for p in result.path.iterdir()}
    assert {"student.safetensors", "student.json", "provenance.json", "fidelity.json", "training.json"} <= files
    prov = json.loads((result.path / "provenance.json").read_text())
    assert prov["teacher"]["sha256"] == sha256_file(digits_teacher.weights)
    assert prov["teacher"]["license"] == "BSD-3-Clause"
    assert prov["temperature"] == 4.0 and prov["alpha"] == 0.7 and len(prov["data_sha256"]) == 64
    with safe_open(str(result.path / "student.safetensors"), "pt") as handle:
        assert json.loads(handle.metadata()["edgec.provenance"]) == prov
    student, loaded_prov = load_student(result.path)
    assert loaded_prov == prov
    import torch

    x = torch.from_numpy(np.load(digits_teacher.test)["input"])
    y = np.load(digits_teacher.test)["labels"]
    with torch.no_grad():
        accuracy = float((student(x).argmax(1).numpy() == y).mean() * 100)
    assert accuracy == pytest.approx(result.fidelity["student_accuracy"], abs=1e-6)


def test_provenance_reaches_onnx_and_the_manifest(distilled, tmp_path, digits_teacher):
    import torch

    from edgec.compile.export import export_onnx
    from edgec.compile.graph import load_model, read_provenance
    from edgec.config import BenchmarkConfig, Config, TargetSpec
    from edgec.pipeline import build

    result, *_ = distilled
    student, prov = load_student(result.path)
    x = np.load(digits_teacher.test)["input"]
    onnx_path = export_onnx(student, torch.from_numpy(x[:2]), tmp_path / "student.onnx", metadata=prov)
    assert read_provenance(load_model(onnx_path)) == prov
    config = Config(name="digits-student", model=onnx_path, targets=[TargetSpec(name="host-cpu", precision="fp32")],
                    benchmark=BenchmarkConfig(enabled=False))  # fmt: skip
    (bundle,) = build(config, tmp_path / "out", log=lambda _m: None)
    assert bundle.manifest["provenance"]["teacher"]["sha256"] == prov["teacher"]["sha256"]
    assert bundle.manifest["provenance"]["student_params"] == prov["student_params"]


def test_distilled_student_exported_by_config_carries_provenance(distilled, tmp_path, capsys):
    """distill -> `export:` pointing at OUT/student -> `edgec build`: the teacher is in the manifest."""
    import json

    from tests.test_cli_smoke import run_cli

    result, *_ = distilled
    spec = json.loads((result.path / "student.json").read_text())
    widths = spec["kwargs"]["widths"]
    config = tmp_path / "edgec.yaml"
    config.write_text(
        f"""
name: digits-student
export:
  module: "{spec["module"]}"
  kwargs: {{widths: {list(widths)}}}
  weights: {result.path / "student.safetensors"}
  inputs: [{{name: input, shape: [2, 1, 8, 8], dynamic: {{0: {{name: batch, min: 1, max: 64}}}}}}]
  outputs: [logits]
targets: [{{name: host-cpu, precision: fp32}}]
benchmark: {{enabled: false}}
"""
    )
    code, _, err = run_cli(capsys, "build", str(config), "--out", str(tmp_path / "out"))
    assert code == 0, err
    manifest = json.loads((tmp_path / "out" / "host-cpu" / "manifest.json").read_text())
    assert manifest["provenance"] == result.provenance
    assert manifest["provenance"]["teacher"]["sha256"]
