"""Text-encoder recipes on a tiny random BERT built in the test (no download)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgec.compile.transformer import EncoderShape, SequenceBuckets, build_x86_text_encoder
from edgec.errors import EdgecError


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=200, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)  # fmt: skip
    model = BertModel(config).eval()
    model.save_pretrained(folder / "hf", safe_serialization=True)
    from optimum.exporters.onnx import main_export

    main_export(str(folder / "hf"), output=str(folder / "onnx"), task="feature-extraction")
    rng = np.random.default_rng(0)
    feeds = []
    for _ in range(8):
        ids = rng.integers(1, 200, (1, 16)).astype(np.int64)
        mask = np.ones((1, 16), np.int64)
        mask[0, rng.integers(4, 16) :] = 0
        feeds.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    return folder, feeds


def _run(path, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    return np.concatenate([session.run(None, {k: v for k, v in f.items() if k in names})[0] for f in feeds])


@pytest.mark.slow
def test_fused_int8_encoder_runs_and_tracks_float(tiny_bert, tmp_path):
    folder, feeds = tiny_bert
    shape = EncoderShape.from_hf_config(folder / "hf" / "config.json")
    assert shape == EncoderShape(num_heads=4, hidden_size=32, model_type="bert")
    built = build_x86_text_encoder(folder / "onnx" / "model.onnx", tmp_path / "enc.onnx", shape, per_channel=True)
    assert built.fused_ops.get("Attention", 0) == 2 and built.quantization == "dynamic"
    assert any("Attention x2" in n for n in built.notes)
    ref, got = _run(folder / "onnx" / "model.onnx", feeds), _run(built.path, feeds)
    a, b = got.reshape(len(got), -1), ref.reshape(len(ref), -1)
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.98
    static = build_x86_text_encoder(folder / "onnx" / "model.onnx", tmp_path / "s.onnx", shape, quantize="static",
                                    calib=feeds)  # fmt: skip
    assert _run(static.path, feeds).shape == ref.shape


@pytest.mark.slow
def test_openvino_static_int8_encoder(tiny_bert, tmp_path):
    import openvino as ov

    from edgec.compile.transformer_openvino import build_openvino_text_encoder

    folder, feeds = tiny_bert
    built = build_openvino_text_encoder(folder / "onnx" / "model.onnx", tmp_path / "m.xml", feeds, seq=16)
    assert built.shape == {n: [1, 16] for n in ("input_ids", "attention_mask", "token_type_ids")}
    compiled = ov.Core().compile_model(str(built.path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert [int(d) for d in compiled.outputs[0].get_partial_shape().to_shape()] == [1, 16, 32]
    out = compiled(feeds[0])[compiled.outputs[0]]
    assert np.isfinite(out).all()
    with pytest.raises(EdgecError, match="sequence length 16 != 8"):
        build_openvino_text_encoder(folder / "onnx" / "model.onnx", tmp_path / "x.xml", feeds, seq=8)


@pytest.mark.slow
def test_sequence_buckets_give_the_full_length_embeddings(tiny_bert, tmp_path):
    from edgec.benchmarks.runners import make_runner
    from edgec.compile.transformer_openvino import build_openvino_text_encoder

    folder, feeds = tiny_bert
    onnx_path = folder / "onnx" / "model.onnx"
    plain = build_openvino_text_encoder(onnx_path, tmp_path / "plain.xml", feeds, seq=16, quantize=False)
    bucketed = build_openvino_text_encoder(onnx_path, tmp_path / "b.xml", feeds, quantize=False, buckets=(4, 8, 16))
    assert bucketed.runtime_options == {"sequence_buckets": {"sizes": [4, 8, 16], "mask": "attention_mask"}}
    full = make_runner("openvino", str(plain.path), {"threads": 1})
    cut = make_runner("openvino", str(bucketed.path), {"threads": 1, **bucketed.runtime_options})
    for feed in feeds:
        real = int(feed["attention_mask"].sum())
        a = full.infer(feed)["last_hidden_state"]
        b = cut.infer(feed)["last_hidden_state"]
        assert b.shape == a.shape == (1, 16, 32)  # the caller's length, whatever bucket ran
        np.testing.assert_allclose(b[0, :real], a[0, :real], atol=1e-4)  # real tokens: the same states
        bucket = next(size for size in (4, 8, 16) if size >= real)
        assert not b[0, bucket:].any()  # positions past the bucket were never computed
    # Left padding cannot be cut from the end: every position is kept.
    feed = dict(feeds[0])
    feed["attention_mask"] = feed["attention_mask"][:, ::-1].copy()
    np.testing.assert_allclose(cut.infer(feed)["last_hidden_state"], full.infer(feed)["last_hidden_state"], atol=1e-4)
    weights = build_openvino_text_encoder(onnx_path, tmp_path / "w.xml", [], quantize=True, weights_only=True,
                                          buckets=(8, 16))  # fmt: skip
    assert any("weight-only" in note for note in weights.notes)


def test_recipe_input_errors(tmp_path):
    shape = EncoderShape(4, 32)
    with pytest.raises(EdgecError, match="not found"):
        build_x86_text_encoder(tmp_path / "missing.onnx", tmp_path / "o.onnx", shape)
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(EdgecError, match="'fast' is not one of"):
        build_x86_text_encoder(tmp_path / "m.onnx", tmp_path / "o.onnx", shape, quantize="fast")
    with pytest.raises(EdgecError, match="static INT8 needs calibration"):
        build_x86_text_encoder(tmp_path / "m.onnx", tmp_path / "o.onnx", shape, quantize="static")
    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(EdgecError, match="'num_attention_heads' is missing"):
        EncoderShape.from_hf_config(tmp_path / "config.json")


def test_sequence_buckets_pad_to_smallest_bucket():
    buckets = SequenceBuckets((16, 32, 128))
    mask = np.zeros((1, 128), np.int64)
    mask[0, :20] = 1
    feed = {"input_ids": np.arange(128)[None], "attention_mask": mask}
    padded = buckets.pad(feed)
    assert {k: v.shape for k, v in padded.items()} == {"input_ids": (1, 32), "attention_mask": (1, 32)}
    assert padded["attention_mask"].sum() == 20
    short = buckets.pad({"input_ids": np.ones((1, 5), np.int64), "attention_mask": np.ones((1, 5), np.int64)})
    assert short["input_ids"].shape == (1, 16) and short["attention_mask"][0, 5:].sum() == 0
    with pytest.raises(EdgecError, match="longer than the largest bucket"):
        buckets.bucket_for(129)
    with pytest.raises(EdgecError, match="rising order"):
        SequenceBuckets((32, 16))
    with pytest.raises(EdgecError, match="attention_mask"):
        buckets.pad({"input_ids": np.ones((1, 5))})
