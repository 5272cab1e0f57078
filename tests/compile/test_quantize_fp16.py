"""FP16 as casts in the graph; the ModelOpt path's missing-extra message."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgec.calibration.dataset import CalibrationSet
from edgec.compile import quality
from edgec.compile.fp16 import convert_fp16
from edgec.errors import EdgecError


def test_fp16_graph_keeps_float32_io_and_tracks_float(tiny_model, tmp_path):
    out = convert_fp16(tiny_model.onnx, tmp_path / "fp16.onnx", op_block_list=["Gemm"])
    model = onnx.load(str(out))
    f32 = onnx.TensorProto.FLOAT
    assert all(v.type.tensor_type.elem_type == f32 for v in list(model.graph.input) + list(model.graph.output))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    # The blocked op runs in float32: its inputs come through casts to float32.
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    casts = {n.output[0]: n for n in model.graph.node if n.op_type == "Cast"}
    for name in gemm.input[:2]:
        assert {a.name: a.i for a in casts[name].attribute}["to"] == f32
    data = CalibrationSet({"input": tiny_model.test_x[:100]})
    ref, got = quality.run_onnx(tiny_model.onnx, data), quality.run_onnx(out, data)
    fid = quality.fidelity(got, ref)
    assert fid["top1_agreement"] == 1.0 and fid["cosine_min"] > 0.9999
    assert np.isfinite(got).all()


def test_modelopt_path_names_the_extra_when_missing(tiny_model, tmp_path):
    from edgec.compile.quantize_modelopt import modelopt_available, quantize_modelopt

    if modelopt_available():
        pytest.skip("nvidia-modelopt is installed here; this test covers its absence")
    calib = CalibrationSet({"input": tiny_model.test_x[:8]})
    with pytest.raises(EdgecError, match=r"nvidia-modelopt\[onnx\]"):
        quantize_modelopt(tiny_model.onnx, calib, tmp_path / "q.onnx")
    assert not (tmp_path / "q.onnx").exists()
