"""The ONNX Runtime and OpenVINO builders called directly: what each writes for a profile, and
that what it writes runs here."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest

from edgec.benchmarks.agent import make_runner
from edgec.errors import EdgecError
from edgec.targets.onnxruntime_backend import OnnxRuntimeBuilder
from edgec.targets.openvino_backend import OpenVinoBuilder
from edgec.targets.profiles import TargetProfile, get_profile


def float_logits(tiny, x):
    runner = make_runner("onnxruntime", str(tiny.onnx), {})
    return runner.infer({"input": x})["logits"]


def run(result, folder, x):
    runner = make_runner(result.runner, str(folder / result.engine), result.runtime_options)
    return runner.infer({"input": x})["logits"]


def test_openvino_takes_an_ir_input_and_compresses_weights(tiny_model, tmp_path):
    """An IR (what NNCF hands over) is read as it is; an fp16 profile compresses its weights."""
    ir = tmp_path / "src" / "model.xml"
    ir.parent.mkdir()
    ov.save_model(ov.convert_model(str(tiny_model.onnx)), str(ir), compress_to_fp16=False)
    profile = TargetProfile.model_validate({
        "name": "ov-f16", "backend": "openvino", "precisions": ["fp32", "fp16"], "default_precision": "fp16",
        "openvino": {"compress_weights_fp16": True, "inference_precision": "f32", "export_compiled_blob": False},
    })  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    result = OpenVinoBuilder().build(ir, "fp16", profile, out)
    assert result.engine == "model.xml" and result.details["source_format"] == "xml"
    assert (out / "model.bin").stat().st_size < ir.with_suffix(".bin").stat().st_size * 0.6  # fp16 weights
    x = tiny_model.test_x[:8]
    np.testing.assert_allclose(run(result, out, x), float_logits(tiny_model, x), atol=2e-2)


def test_openvino_blob_opens_with_import_model(tiny_model, tmp_path):
    result = OpenVinoBuilder().build(tiny_model.onnx, "fp32", get_profile("openvino-cpu"), tmp_path)
    assert result.engine == "model.blob" and (tmp_path / "model.xml").is_file()
    assert result.runtime_options["inference_precision"] == "f32"
    x = tiny_model.test_x[:8]
    np.testing.assert_allclose(run(result, tmp_path, x), float_logits(tiny_model, x), rtol=1e-4, atol=1e-5)


def test_openvino_ir_without_weights_is_refused(tiny_model, tmp_path):
    ir = tmp_path / "model.xml"
    ov.save_model(ov.convert_model(str(tiny_model.onnx)), str(ir))
    ir.with_suffix(".bin").unlink()
    with pytest.raises(EdgecError, match="without its weights file model.bin"):
        OpenVinoBuilder().build(ir, "fp32", get_profile("openvino-cpu"), tmp_path)


def test_ort_offline_level_follows_the_profile(tiny_model, tmp_path):
    for name in ("rpi4", "x86-avx2"):
        out = tmp_path / name
        out.mkdir()
        result = OnnxRuntimeBuilder().build(tiny_model.onnx, "fp32", get_profile(name), out)
        profile = get_profile(name)
        assert result.details["offline_optimization"] == profile.ort.offline_optimization
        assert result.runtime_options["threads"] == profile.threads
        x = tiny_model.test_x[:4]
        np.testing.assert_allclose(run(result, out, x), float_logits(tiny_model, x), rtol=1e-4, atol=1e-5)


def test_ios_coreml_gets_an_ort_model_and_coreml_findings(tiny_model, tmp_path):
    result = OnnxRuntimeBuilder().build(tiny_model.onnx, "fp32", get_profile("ios-coreml"), tmp_path)
    assert result.engine == "model.ort" and (tmp_path / "required_operators.config").is_file()
    assert set(result.details["mobile_usability"]["coverage"]) >= {"CoreML MLProgram", "CoreML NeuralNetwork"}
    options = dict(result.runtime_options, providers=["CPUExecutionProvider"])
    runner = make_runner("onnxruntime", str(tmp_path / "model.ort"), options)
    x = tiny_model.test_x[:4]
    np.testing.assert_allclose(runner.infer({"input": x})["logits"], float_logits(tiny_model, x), rtol=1e-4, atol=1e-5)


def test_fixed_style_ort_model_for_a_user_profile(tiny_model, tmp_path):
    profile = TargetProfile.model_validate({
        "name": "kiosk", "backend": "onnxruntime", "precisions": ["fp32"], "default_precision": "fp32",
        "onnxruntime": {"format": "ort", "ort_optimization_style": "Fixed"},
    })  # fmt: skip
    result = OnnxRuntimeBuilder().build(tiny_model.onnx, "fp32", profile, tmp_path)
    assert result.engine == "model.ort" and "session_config" not in result.runtime_options
    assert "mobile_usability" not in result.details
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.ort",
        "ort_conversion.log",
        "required_operators.config",
    ]
    x = tiny_model.test_x[:4]
    np.testing.assert_allclose(run(result, tmp_path, x), float_logits(tiny_model, x), rtol=1e-4, atol=1e-5)
