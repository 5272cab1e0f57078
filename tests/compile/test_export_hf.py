"""A tiny random Hugging Face BERT, built from a BertConfig in the test (no download), exported
through optimum's task-aware exporter and checked against the same model in PyTorch."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest

from tests.compile.test_export import run_cli

transformers = pytest.importorskip("transformers", reason="the hf extra (transformers) is not installed")
pytest.importorskip("optimum.exporters.onnx", reason="the hf extra (optimum-onnx) is not installed")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    transformers.BertModel(config).eval().save_pretrained(folder / "bert")
    return folder


def test_tiny_bert_exports_with_dynamic_batch_and_sequence(capsys, tiny_bert):
    config = tiny_bert / "edgec.yaml"
    config.write_text("""
name: tiny-bert
export:
  hf_model: bert
  task: feature-extraction
  opset: 18
  parity: {random: 3}
targets: [{name: host-cpu, precision: fp32}]
""")
    out = tiny_bert / "out"
    code, stdout, err = run_cli(capsys, "export", config, "--out", out)
    assert code == 0, err
    report = json.loads((out / "export" / "export_report.json").read_text())
    assert report["exporter"]["requested"] == "optimum" and "optimum-onnx" in report["exporter"]["used"]
    assert report["exporter"]["task"] == "feature-extraction"
    inputs = {i["name"]: i["shape"] for i in report["summary"]["inputs"]}
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(isinstance(d, str) for shape in inputs.values() for d in shape)  # batch and sequence are dynamic
    stats = report["parity"]["outputs"]["last_hidden_state"]
    assert stats["max_abs_error"] < 1e-4 and stats["min_cosine"] > 0.9999
    assert report["summary"]["operators"].get("MatMul", 0) >= 12  # q, k, v, out, 2 FFN, 2 attention per layer
    session = ort.InferenceSession(str(out / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {name: np.ones((3, 11), np.int64) for name in inputs}
    (hidden,) = session.run(["last_hidden_state"], feeds)
    assert hidden.shape == (3, 11, 32)


def test_hf_model_folder_must_exist(capsys, tmp_path):
    config = tmp_path / "edgec.yaml"
    config.write_text("export:\n  hf_model: nowhere\ntargets: [{name: host-cpu}]\n")
    code, _, err = run_cli(capsys, "export", config, "--out", tmp_path / "out")
    assert code == 2 and "export.hf_model: folder 'nowhere' not found" in err


def test_hf_folder_with_only_pickled_weights_is_refused(capsys, tmp_path):
    folder = tmp_path / "bert"
    folder.mkdir()
    transformers.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
                            intermediate_size=8).save_pretrained(folder)  # fmt: skip
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    config = tmp_path / "edgec.yaml"
    config.write_text("export:\n  hf_model: bert\ntargets: [{name: host-cpu}]\n")
    code, _, err = run_cli(capsys, "export", config, "--out", tmp_path / "out")
    assert code == 2 and "no .safetensors weights" in err and "pytorch_model.bin" in err
