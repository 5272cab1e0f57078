"""Presets: the TensorRT-ready QDQ graph's structure, checked node by node, and that it runs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgec.calibration.dataset import CalibrationSet
from edgec.compile import quality
from edgec.compile.quantize import PRESETS, quantize_static_int8


@pytest.fixture(scope="module")
def quantized(tiny_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("presets")
    calib = CalibrationSet.from_file(tiny_model.calibration).sample(100, 0)
    ranges = folder / "ranges.json"  # shared: both presets from one calibration run
    paths = {
        name: quantize_static_int8(tiny_model.onnx, calib, folder / f"{name}.onnx", preset=name, ranges_path=ranges)
        for name in ("tensorrt", "x86-vnni")
    }
    return paths


def _qdq(path):
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    return model, inits, nodes


def test_tensorrt_graph_has_only_symmetric_int8_qdq_with_per_channel_weights_on_axis_0(quantized, tiny_model):
    model, inits, nodes = _qdq(quantized["tensorrt"])
    assert len(nodes) > 10
    weights = {i.name for i in onnx.load(str(tiny_model.onnx)).graph.initializer}
    per_channel, per_tensor = 0, 0
    for node in nodes:
        scale, zero = inits[node.input[1]], inits[node.input[2]]
        assert zero.dtype == np.int8, f"{node.name}: zero point {zero.dtype}"  # int8, never uint8
        assert not zero.any(), f"{node.name}: non-zero zero point"
        assert (scale > 0).all()
        axis = {a.name: a.i for a in node.attribute}.get("axis", 1)
        if scale.ndim == 1 and scale.size > 1:
            per_channel += 1
            # Per-channel only where a constant weight is dequantized, along its output channels.
            assert node.op_type == "DequantizeLinear" and node.input[0] in inits
            assert node.input[0].removesuffix("_quantized") in weights
            assert axis == 0 and inits[node.input[0]].shape[0] == scale.size
        else:
            per_tensor += 1
            assert scale.size == 1
    assert per_channel == 5 and per_tensor > 0  # 4 convs + the classifier
    # No int32 bias: every DequantizeLinear input is int8.
    for node in nodes:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            assert inits[node.input[0]].dtype == np.int8
    # Dedicated Q/DQ pairs: no DequantizeLinear output feeds two compute nodes (a Shape reading
    # the dynamic batch size off the input is not a consumer of its values).
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input if node.op_type != "Shape" else ():
            uses[name] = uses.get(name, 0) + 1
    assert all(uses.get(n.output[0], 0) <= 1 for n in nodes if n.op_type == "DequantizeLinear")


def test_tensorrt_graph_runs_in_onnxruntime_within_tolerance_of_float(quantized, tiny_model):
    data = CalibrationSet({"input": tiny_model.test_x[:200]}, tiny_model.test_y[:200])
    ref = quality.run_onnx(tiny_model.onnx, data)
    got = quality.run_onnx(quantized["tensorrt"], data)
    fid = quality.fidelity(got, ref)
    assert fid["cosine_mean"] > 0.99 and fid["top1_agreement"] >= 0.97
    assert fid["max_abs_error"] < 0.1 * np.abs(ref).max()


def test_x86_preset_uses_uint8_activations_and_int8_weights(quantized):
    _, inits, nodes = _qdq(quantized["x86-vnni"])
    activation_zero = {inits[n.input[2]].dtype for n in nodes if n.op_type == "QuantizeLinear"}
    weight_zero = {inits[n.input[2]].dtype for n in nodes if n.input[0] in inits}
    assert activation_zero == {np.dtype(np.uint8)} and weight_zero <= {np.dtype(np.int8), np.dtype(np.int32)}


def test_preset_table_matches_the_documented_tensorrt_options():
    trt = PRESETS["tensorrt"]
    assert trt.activation_type == trt.weight_type == "QInt8"
    assert trt.extra_options == {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                                 "DedicatedQDQPair": True}  # fmt: skip


def test_preset_for_target_family():
    from edgec.compile.quantize import preset_for

    assert preset_for("tensorrt", "arm64") == "tensorrt"
    assert preset_for("onnxruntime", "arm64") == "arm"
    assert preset_for("onnxruntime", "native") == "x86-vnni"
    assert preset_for("onnxruntime", "arm64", "x86-vnni") == "x86-vnni"
