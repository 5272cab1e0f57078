"""Graph passes and the graph summary on small hand-built graphs: what each pass changes."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgec.compile.config import PassesConfig
from edgec.compile.passes import (
    _topological_sort,
    check_operators,
    dead_node_pass,
    run_passes,
    save_model,
    shape_pass,
    simplify_pass,
)
from edgec.compile.summary import summarize
from edgec.errors import EdgecError


def _model(nodes, inputs, outputs, inits=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def _value(name, shape, dtype=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, dtype, shape)


def _run(model: onnx.ModelProto, feeds: dict) -> list:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_dead_nodes_and_unused_initializers_are_removed_but_subgraph_uses_kept():
    then_branch = helper.make_graph([helper.make_node("Add", ["x", "used_in_branch"], ["t"])], "then", [],
                                    [_value("t", ["n"])])  # fmt: skip
    else_branch = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [_value("e", ["n"])])
    nodes = [
        helper.make_node("Neg", ["x"], ["used_in_branch"], name="feeds_the_branch"),
        helper.make_node("Exp", ["x"], ["orphan"], name="orphan"),
        helper.make_node("Sigmoid", ["orphan"], ["orphan2"], name="orphan2"),
        helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_branch, else_branch=else_branch),
    ]
    inits = [numpy_helper.from_array(np.ones(3, np.float32), "unused_weight")]
    model = _model(nodes, [_value("x", ["n"]), _value("cond", [], TensorProto.BOOL)], [_value("y", ["n"])], inits)
    cleaned, report = dead_node_pass(model)
    assert report["ops_removed"] == {"Exp": 1, "Sigmoid": 1} and report["initializers_removed"] == 1
    assert report["nodes_before"] == 6 and report["nodes_after"] == 4  # subgraph nodes are counted too
    assert [n.name for n in cleaned.graph.node] == ["feeds_the_branch", "branch"]
    x = np.array([1.0, 2.0], np.float32)
    np.testing.assert_allclose(_run(cleaned, {"x": x, "cond": np.array(True)})[0], [0.0, 0.0])


def test_simplify_folds_constants_and_keeps_results():
    nodes = [
        helper.make_node("Add", ["a", "b"], ["ab"], name="const_add"),
        helper.make_node("Mul", ["ab", "c"], ["abc"], name="const_mul"),
        helper.make_node("Mul", ["x", "abc"], ["y"], name="scale"),
    ]
    inits = [numpy_helper.from_array(np.full(4, v, np.float32), n) for n, v in (("a", 1.0), ("b", 2.0), ("c", 0.5))]
    model = _model(nodes, [_value("x", ["batch", 4])], [_value("y", ["batch", 4])], inits)
    slim, report = simplify_pass(model)
    assert report["nodes_before"] == 3 and report["nodes_after"] == 1 and report["ops_removed"] == {"Add": 1, "Mul": 1}
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(_run(slim, {"x": x})[0], x * 1.5)


def test_shape_inference_fills_intermediate_shapes_with_named_dims():
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0])]
    model = _model(nodes, [_value("x", ["batch", 4])], [_value("y", None)])
    inferred, report = shape_pass(model)
    assert report["values_with_shape_before"] == 0 and report["values_with_shape_after"] >= 1
    assert report["method"] in ("onnx", "symbolic")
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in out] == [4, "batch"]


def test_topological_sort_restores_producer_order():
    nodes = [helper.make_node("Relu", ["h"], ["y"], name="second"), helper.make_node("Neg", ["x"], ["h"], name="first")]
    model = _model(nodes, [_value("x", [2])], [_value("y", [2])])
    _topological_sort(model.graph)
    assert [n.name for n in model.graph.node] == ["first", "second"]
    onnx.checker.check_model(model)


def test_run_passes_reports_every_pass_in_order():
    nodes = [helper.make_node("Identity", ["x"], ["i"]), helper.make_node("Relu", ["i"], ["y"])]
    model = _model(nodes, [_value("x", ["batch", 3])], [_value("y", ["batch", 3])])
    result, reports = run_passes(model, PassesConfig(fp16=True), "test.onnx")
    assert [r["pass"] for r in reports] == ["check", "shape_inference", "simplify", "dead_node_removal", "fp16"]
    assert reports[2]["ops_removed"] == {"Identity": 1}
    assert result.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT  # keep_io_types
    np.testing.assert_allclose(_run(result, {"x": np.array([[-1, 0, 2]], np.float32)})[0], [[0, 0, 2]])


def test_operator_checks_name_the_node_domain_and_opset():
    node = helper.make_node("Warp", ["x"], ["y"], name="warp0", domain="org.example")
    model = _model([node], [_value("x", [1])], [_value("y", [1])])
    model.opset_import.append(helper.make_opsetid("org.example", 1))
    with pytest.raises(EdgecError, match=r"node 'warp0' is operator 'Warp' from the custom domain 'org.example'"):
        check_operators(model, "m.onnx")
    old = _model([helper.make_node("Relu", ["x"], ["y"])], [_value("x", [1])], [_value("y", [1])], opset=12)
    with pytest.raises(EdgecError, match="opset 12"):
        check_operators(old, "old.onnx")
    contrib = _model([helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")], [_value("x", [1])],
                     [_value("y", [1])])  # fmt: skip
    check_operators(contrib, "contrib.onnx")  # ONNX Runtime's own domain is known


def test_save_model_forces_external_data_above_the_threshold(tmp_path):
    init = numpy_helper.from_array(np.ones((64, 64), np.float32), "w")
    model = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], [_value("x", [1, 64])], [_value("y", [1, 64])], [init]
    )
    assert save_model(model, tmp_path / "small.onnx") == [tmp_path / "small.onnx"]
    files = save_model(model, tmp_path / "big.onnx", threshold=1024)  # stands in for the 2 GB protobuf limit
    assert files == [tmp_path / "big.onnx", tmp_path / "big.onnx.data"]
    assert (tmp_path / "big.onnx").stat().st_size < 1024 < (tmp_path / "big.onnx.data").stat().st_size
    x = np.ones((1, 64), np.float32)
    session = ort.InferenceSession(str(tmp_path / "big.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x @ np.ones((64, 64)))


def test_summary_counts_parameters_and_flops():
    conv_w = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "conv_w")
    gemm_w = numpy_helper.from_array(np.ones((10, 8), np.float32), "gemm_w")
    nodes = [
        helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("GlobalAveragePool", ["c"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "gemm_w"], ["y"], transB=1),
    ]
    model = _model(nodes, [_value("x", ["batch", 3, 16, 16])], [_value("y", ["batch", 10])], [conv_w, gemm_w])
    info = summarize(model)
    assert info["parameters"] == 8 * 3 * 3 * 3 + 10 * 8
    assert info["flops"] == 2 * (16 * 16 * 8 * 27 + 8 * 10)  # per unit of the dynamic batch
    assert info["operators"] == {"Conv": 1, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1}
    assert info["inputs"][0]["shape"] == ["batch", 3, 16, 16] and info["flops_unknown_nodes"] == []
