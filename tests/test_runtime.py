"""Acceptance: `edgec build` for x86-avx512-vnni, openvino-cpu, rpi5 and android-arm64 writes
bundles that load and run here through `edgec.runtime.load`, close to the float model; a second
build redoes nothing; new calibration data redoes calibration onward only; an altered engine is
refused with exit 2."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest

from edgec import runtime
from edgec.config import load_config
from edgec.errors import EdgecError
from edgec.pipeline import build
from tests.test_cli_smoke import run_cli

ACCEPTANCE = ["x86-avx512-vnni", "openvino-cpu", "rpi5", "android-arm64"]


def config_text(tiny, targets: list[str], calibration=None, extra: str = "") -> str:
    lines = "\n".join(f"  - name: {t}" for t in targets)
    return (
        f"name: tiny\nmodel: {tiny.onnx}\ncalibration:\n  data: {calibration or tiny.calibration}\n  samples: 128\n"
        f"quantize:\n  eval_data: {tiny.eval}\n  metric: top1\n  max_drop: 5.0\n"
        f"targets:\n{lines}\n  - name: x86-avx2\n    precision: fp32\nbenchmark:\n  enabled: false\n{extra}"
    )


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime-build")
    config_path = folder / "edgec.yaml"
    config_path.write_text(config_text(tiny_model, ACCEPTANCE))
    out = folder / "out"
    first: list[str] = []
    results = build(load_config(config_path), out, log=first.append)
    return {"folder": folder, "config": config_path, "out": out, "results": results, "first_log": first}


def float_logits(tiny, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(tiny.onnx), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


@pytest.mark.parametrize("target", ACCEPTANCE)
def test_bundle_loads_and_matches_float_model(built, tiny_model, target):
    engine = runtime.load(built["out"] / target)
    x = tiny_model.test_x[:64]
    got = engine.run({"input": x})["logits"]
    ref = float_logits(tiny_model, x)
    assert got.shape == ref.shape == (64, 10)
    agreement = float(np.mean(got.argmax(1) == ref.argmax(1)))
    cosine = float(np.sum(got * ref) / (np.linalg.norm(got) * np.linalg.norm(ref)))
    assert agreement >= 0.9, f"{target}: top-1 agreement with the float model {agreement:.2f}"
    assert cosine >= 0.97, f"{target}: cosine to the float model {cosine:.4f}"
    manifest = engine.manifest
    assert manifest["target"]["name"] == target and manifest["target"]["precision"] == "int8"
    assert {f["path"] for f in manifest["files"]} == {
        p.relative_to(built["out"] / target).as_posix() for p in (built["out"] / target).rglob("*") if p.is_file()
    } - {"manifest.json"}


def test_fp32_bundle_is_the_float_model(built, tiny_model):
    engine = runtime.load(built["out"] / "x86-avx2")
    x = tiny_model.test_x[:16]
    np.testing.assert_allclose(engine.run({"input": x})["logits"], float_logits(tiny_model, x), rtol=1e-4, atol=1e-5)


def test_android_bundle_is_ort_format_with_findings(built, tiny_model):
    bundle = built["out"] / "android-arm64"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["build"]["engine"] == "model.ort"
    ops = (bundle / "required_operators.config").read_text()
    assert "ai.onnx;" in ops and "/tmp" not in ops
    findings = json.loads((bundle / "mobile_usability.json").read_text())
    assert set(findings["execution_providers"]) == {"NNAPI", "CoreML NeuralNetwork", "CoreML MLProgram", "XNNPACK"}
    for ep in findings["execution_providers"].values():
        assert ep["nodes"] > 0 and 0 <= ep["supported_nodes"] <= ep["nodes"]
    assert findings["dynamic_inputs"] == ["input"]  # the batch dim is dynamic: NNAPI needs fixed shapes
    # The .ort file itself runs in ONNX Runtime here, replaying its saved runtime optimizations.
    options = ort.SessionOptions()
    options.add_session_config_entry("session.enable_saved_runtime_optimizations", "1")
    session = ort.InferenceSession(str(bundle / "model.ort"), options, providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": tiny_model.test_x[:4]})[0]
    assert out.shape == (4, 10)
    engine = runtime.load(bundle)
    assert engine.providers == ["CPUExecutionProvider"]
    assert engine.dropped_providers == ["NnapiExecutionProvider", "XnnpackExecutionProvider"]
    assert manifest["target"]["status"] == "untested" and "NNAPI" in manifest["target"]["status_note"]


def test_openvino_bundle_runs_the_exported_blob(built):
    bundle = built["out"] / "openvino-cpu"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["build"]["engine"] == "model.blob"
    assert manifest["build"]["runtime_options"]["inference_precision"] == "f32"
    assert {"model.xml", "model.bin", "model.blob"} <= {f["path"] for f in manifest["files"]}


def test_second_build_redoes_no_stage(built):
    log: list[str] = []
    build(load_config(built["config"]), built["out"], log=log.append)
    stage_lines = [line for line in log if ": done (" in line or ": cached (" in line]
    assert stage_lines and all(": cached (" in line for line in stage_lines), log
    assert any(line.startswith("quantize ") and ": cached (" in line for line in stage_lines)
    assert sum(": build " in line for line in stage_lines) == len(ACCEPTANCE) + 1
    # Only stages the first run made (a cached quantize stage also skips the calibration inside it).
    first = {line.rsplit("(", 1)[-1] for line in built["first_log"] if ": done (" in line or ": cached (" in line}
    assert {line.rsplit("(", 1)[-1] for line in stage_lines} <= first


def test_new_calibration_data_redoes_calibration_onward_only(built, tiny_model, tmp_path):
    data = np.load(tiny_model.calibration)
    other = tmp_path / "calibration-2.npz"
    np.savez(other, input=data["input"][::-1].copy(), labels=data["labels"][::-1].copy())
    config = built["folder"] / "edgec-2.yaml"
    config.write_text(config_text(tiny_model, ACCEPTANCE, calibration=other))
    log: list[str] = []
    build(load_config(config), built["out"], log=log.append, only=["rpi5", "x86-avx2"])
    assert any(line.startswith("quantize ") and ": done (" in line for line in log), log
    assert any(line.startswith("rpi5: build int8: done") for line in log), log
    assert any(line.startswith("x86-avx2: build fp32: cached") for line in log), log  # float: no calibration


def test_altered_engine_is_refused_with_exit_2(built, tiny_model, tmp_path, capsys):
    bundle = tmp_path / "bundle"
    shutil.copytree(built["out"] / "x86-avx512-vnni", bundle)
    inputs = tmp_path / "x.npz"
    np.savez(inputs, input=tiny_model.test_x[:3])
    code, out, _ = run_cli(capsys, "run", str(bundle), "--input", str(inputs))
    assert code == 0 and "logits" in out and "3x10" in out
    engine = bundle / "model.onnx"
    data = bytearray(engine.read_bytes())
    data[-1] ^= 0xFF
    engine.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "run", str(bundle), "--input", str(inputs))
    assert code == 2
    assert "model.onnx" in err and "does not match its manifest hash" in err and "Traceback" not in err


def test_run_names_bad_inputs(built, tiny_model, tmp_path, capsys):
    bundle = str(built["out"] / "rpi5")
    wrong_name = tmp_path / "wrong.npz"
    np.savez(wrong_name, image=tiny_model.test_x[:2])
    code, _, err = run_cli(capsys, "run", bundle, "--input", str(wrong_name))
    assert code == 2 and "input(s) input" in err and "image" in err
    wrong_dtype = tmp_path / "f64.npz"
    np.savez(wrong_dtype, input=tiny_model.test_x[:2].astype(np.float64))
    code, _, err = run_cli(capsys, "run", bundle, "--input", str(wrong_dtype))
    assert code == 2 and "dtype float64" in err
    code, _, err = run_cli(capsys, "run", str(tmp_path / "nowhere"), "--input", str(wrong_dtype))
    assert code == 2 and "bundle folder not found" in err


def test_missing_manifest_file_is_refused(built, tmp_path):
    bundle = tmp_path / "b"
    shutil.copytree(built["out"] / "rpi5", bundle)
    (bundle / "model.onnx").unlink()
    with pytest.raises(EdgecError, match="listed in the manifest is missing"):
        runtime.load(bundle)


def test_runtime_imports_no_build_dependencies():
    """docs/runtime.md: an app on a Pi needs numpy, onnx and the backend, not torch or pydantic."""
    import subprocess
    import sys

    code = "import json, sys, edgec.runtime; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert not loaded & {"torch", "pydantic", "yaml", "typer", "rich", "openvino", "sklearn"}
