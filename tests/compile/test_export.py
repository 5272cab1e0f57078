"""The export stage through the CLI: a CNN, an MLP, a small transformer with dynamic batch and
sequence length, a two-input/two-output model; the TorchScript fallback; export errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tests.test_cli_smoke import run_cli

NETS = Path(__file__).with_name("export_nets.py")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A folder holding export_nets.py (imported by the configs), weights and data."""
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("export-project")
    shutil.copy(NETS, folder / "export_nets.py")
    import importlib.util

    spec = importlib.util.spec_from_file_location("_weights_source", NETS)
    nets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nets)
    torch.manual_seed(0)
    cnn = nets.CNN(channels=3, classes=10)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding them is really checked
        cnn.features[1].running_mean.uniform_(-0.5, 0.5)
        cnn.features[1].running_var.uniform_(0.5, 2.0)
    save_file(cnn.state_dict(), str(folder / "cnn.safetensors"))
    rng = np.random.default_rng(0)
    np.savez(folder / "images.npz", image=rng.standard_normal((6, 3, 16, 16)).astype(np.float32))
    return folder


def write(project: Path, name: str, text: str) -> Path:
    path = project / f"{name}.yaml"
    path.write_text(text)
    return path


def export(capsys, project: Path, name: str, text: str) -> tuple[dict, Path]:
    config = write(project, name, text)
    out = project / f"out-{name}"
    code, stdout, err = run_cli(capsys, "export", config, "--out", out)
    assert code == 0, err
    assert "parity vs pytorch" in stdout
    report = json.loads((out / "export" / "export_report.json").read_text())
    return report, out / "export" / "model.onnx"


def test_cnn_with_safetensors_weights_and_real_samples(capsys, project):
    report, model = export(
        capsys,
        project,
        "cnn",
        """
name: cnn
export:
  module: "export_nets:CNN"
  kwargs: {channels: 3, classes: 10}
  weights: cnn.safetensors
  inputs:
    - name: image
      shape: [2, 3, 16, 16]
      dynamic: {0: {name: batch, min: 1, max: 32}}
  outputs: [logits]
  parity: {data: images.npz, samples: 6, random: 3}
targets: [{name: host-cpu, precision: fp32}]
""",
    )
    assert report["exporter"] == {"requested": "dynamo", "used": "dynamo", "fallback_reason": None, "opset": 20}
    assert [p["pass"] for p in report["passes"]] == ["check", "shape_inference", "simplify", "dead_node_removal"]
    assert report["parity"]["batches"] == 4  # one batch of 6 real samples + 3 random ones
    logits = report["parity"]["outputs"]["logits"]
    assert logits["max_abs_error"] < 1e-4 and logits["min_cosine"] > 0.9999
    summary = report["summary"]
    assert summary["inputs"] == [{"name": "image", "dtype": "float32", "shape": ["batch", 3, 16, 16]}]
    assert summary["operators"]["Conv"] == 2 and "BatchNormalization" not in summary["operators"]
    # conv1: 16x16x8 outputs x 27 MACs, conv2: 8x8x16 x 72, linear 16x10 -> x2 FLOPs
    assert summary["flops"] == 2 * (16 * 16 * 8 * 27 + 8 * 8 * 16 * 72 + 16 * 10)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": np.zeros((5, 3, 16, 16), np.float32)})[0].shape == (5, 10)


def test_mlp_with_the_torchscript_exporter_at_opset_17(capsys, project):
    report, model = export(
        capsys,
        project,
        "mlp",
        """
export:
  module: "export_nets:MLP"
  inputs: [{name: x, shape: [4, 16], dynamic: {0: {name: batch, max: 64}}}]
  outputs: [scores]
  opset: 17
  exporter: torchscript
targets: [{name: host-cpu}]
""",
    )
    assert report["exporter"]["used"] == "torchscript" and report["opset"] == 17
    proto = onnx.load(str(model))
    assert {o.version for o in proto.opset_import if o.domain == ""} == {17}
    assert [o.name for o in proto.graph.output] == ["scores"]


def test_dynamo_refuses_opset_below_18_and_auto_uses_torchscript(capsys, project):
    body = """
export:
  module: "export_nets:MLP"
  inputs: [{name: x, shape: [4, 16]}]
  opset: 16
  exporter: EXPORTER
targets: [{name: host-cpu}]
"""
    code, _, err = run_cli(capsys, "export", write(project, "mlp16", body.replace("EXPORTER", "dynamo")),
                           "--out", project / "out-mlp16")  # fmt: skip
    assert code == 2 and "lowest opset is 18" in err and "torchscript" in err
    report, _ = export(capsys, project, "mlp16auto", body.replace("EXPORTER", "auto"))
    assert report["exporter"]["requested"] == "auto" and report["exporter"]["used"] == "torchscript"
    assert "lowest opset is 18" in report["exporter"]["fallback_reason"]


def test_transformer_with_dynamic_batch_and_sequence(capsys, project):
    report, model = export(
        capsys,
        project,
        "transformer",
        """
export:
  module: "export_nets:TinyTransformer"
  inputs:
    - name: tokens
      dtype: int64
      shape: [2, 8]
      range: [0, 50]
      dynamic: {0: {name: batch, min: 1, max: 16}, 1: {name: seq, min: 2, max: 64}}
  outputs: [logits]
  parity: {random: 3}
targets: [{name: host-cpu}]
""",
    )
    summary = report["summary"]
    assert summary["inputs"][0]["shape"] == ["batch", "seq"] and summary["inputs"][0]["dtype"] == "int64"
    assert summary["outputs"][0]["shape"][0] == "batch"
    assert summary["operators"].get("MatMul", 0) + summary["operators"].get("Gemm", 0) >= 4
    # the random batches cover the dims' min, the example size and a larger one
    assert report["parity"]["batches"] == 3 and report["parity"]["outputs"]["logits"]["max_abs_error"] < 1e-4
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for batch, seq in ((1, 2), (3, 17), (16, 64)):
        tokens = np.random.default_rng(batch).integers(0, 50, (batch, seq)).astype(np.int64)
        assert session.run(None, {"tokens": tokens})[0].shape == (batch, 3)


def test_two_inputs_two_outputs(capsys, project):
    report, model = export(
        capsys,
        project,
        "twoheads",
        """
export:
  module: "export_nets:TwoHeads"
  inputs:
    - {name: image, shape: [2, 1, 8, 8], dynamic: {0: {name: batch, max: 8}}}
    - {name: meta, shape: [2, 6], dynamic: {0: {name: batch, max: 8}}}
  outputs: [logits, embedding]
targets: [{name: host-cpu}]
""",
    )
    assert set(report["parity"]["outputs"]) == {"logits", "embedding"}
    assert [i["name"] for i in report["summary"]["inputs"]] == ["image", "meta"]
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    logits, embedding = session.run(
        None, {"image": np.ones((3, 1, 8, 8), np.float32), "meta": np.ones((3, 6), np.float32)}
    )
    assert logits.shape == (3, 4) and embedding.shape == (3, 12)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, rtol=1e-5)


def test_fp16_keeps_float32_io_and_external_data(capsys, project):
    report, model = export(
        capsys,
        project,
        "mlp-fp16",
        """
export:
  module: "export_nets:MLP"
  inputs: [{name: x, shape: [4, 16], dynamic: {0: {name: batch, max: 64}}}]
  external_data: true
  passes: {fp16: true, fp16_op_block_list: [Gelu]}
targets: [{name: host-cpu}]
""",
    )
    step = report["passes"][-1]
    assert step["pass"] == "fp16" and step["initializers_fp16"] >= 4 and step["ops_added"].get("Cast", 0) >= 2
    assert report["parity"]["precision"] == "fp16" and report["external_data"] is True
    assert (model.parent / "model.onnx.data").is_file()
    proto = onnx.load(str(model))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # Gelu is on the block list: it is fed by a cast to float32 and stays in float32
    producer = {out: node for node in proto.graph.node for out in node.output}
    gelu = [n for n in proto.graph.node if n.op_type == "Gelu"]
    assert len(gelu) == 1
    cast = producer[gelu[0].input[0]]
    assert cast.op_type == "Cast" and onnx.helper.get_attribute_value(cast.attribute[0]) == onnx.TensorProto.FLOAT


def test_parity_failure_names_output_and_worst_element(capsys, project):
    config = write(
        project,
        "strict",
        """
export:
  module: "export_nets:MLP"
  inputs: [{name: x, shape: [4, 16]}]
  outputs: [scores]
  passes: {fp16: true}
  parity: {tolerances: {fp16: {atol: 0.0, rtol: 0.0, min_cosine: 1.0}}}
targets: [{name: host-cpu}]
""",
    )
    code, _, err = run_cli(capsys, "export", config, "--out", project / "out-strict")
    assert code == 2
    assert "output 'scores'" in err and "worst element at index [" in err and "Traceback" not in err
    assert not (project / "out-strict" / "export").exists()


def test_unsupported_operator_names_op_module_path_and_what_to_try(capsys, project):
    config = write(
        project,
        "customop",
        """
export:
  module: "export_nets:WithCustomOp"
  inputs: [{name: x, shape: [2, 4]}]
  exporter: auto
targets: [{name: host-cpu}]
""",
    )
    code, _, err = run_cli(capsys, "export", config, "--out", project / "out-customop")
    assert code == 2, err
    assert "edgectest::twice" in err and "module 'block.0'" in err
    assert "dynamo (" in err and "torchscript (" in err  # both exporters were tried
    assert "opset" in err and "hint:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "export:\n  module: 'no_such_module:Net'\n  inputs: [{name: x, shape: [1]}]\n",
            "cannot find 'no_such_module'",
        ),
        ("export:\n  module: 'export_nets:Nope'\n  inputs: [{name: x, shape: [1]}]\n", "has no attribute 'Nope'"),
        (
            "export:\n  module: 'export_nets:CNN'\n  weights: missing.safetensors\n  inputs: [{name: x, shape: [1]}]\n",
            "export.weights: file 'missing.safetensors' not found",
        ),
        (
            "export:\n  module: 'export_nets:MLP'\n  weights: cnn.safetensors\n  inputs: [{name: x, shape: [2, 16]}]\n",
            "does not match the module's parameters",
        ),
        (
            "export:\n  module: 'export_nets:MLP'\n  inputs: [{name: x, shape: [2, 16], dynamic: {0: {name: b, min: 4}}}]\n",
            "outside b's range",
        ),
        ("calibration: {data: images.npz}\n", "give 'model:' (an ONNX file), an 'export:' section"),
        ("model: cnn.safetensors\nexport: {hf_model: .}\n", "not both"),
    ],
)
def test_bad_export_config_is_exit_2(capsys, project, body, expected):
    config = write(project, "bad", body + "targets: [{name: host-cpu}]\n")
    code, _, err = run_cli(capsys, "export", config, "--out", project / "out-bad")
    assert code == 2 and expected in err, err


def test_build_runs_the_export_stage_cached_and_per_target_opset(capsys, project):
    config = write(
        project,
        "build",
        """
name: mlp-build
export:
  module: "export_nets:MLP"
  inputs: [{name: x, shape: [4, 16], dynamic: {0: {name: batch, max: 64}}}]
  opset: 20
  target_opsets: {host-openvino: 18}
targets: [{name: host-cpu, precision: fp32}, {name: host-openvino, precision: fp32}]
benchmark: {enabled: false}
""",
    )
    out = project / "out-build"
    code, stdout, err = run_cli(capsys, "build", config, "--out", out)
    assert code == 0, err
    assert "(opset 20): done" in stdout and "(opset 18): done" in stdout
    cpu = json.loads((out / "host-cpu" / "manifest.json").read_text())
    ov = json.loads((out / "host-openvino" / "manifest.json").read_text())
    assert cpu["model"]["source_onnx_sha256"] != ov["model"]["source_onnx_sha256"]
    assert cpu["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 16]}]
    code, stdout, _ = run_cli(capsys, "build", config, "--out", out, "--target", "host-cpu")
    assert code == 0 and "(opset 20): cached" in stdout and "opset 18" not in stdout
