"""INT8 keeps the drop inside a 1-point budget: the demo ConvNet (ONNX Runtime static QDQ and
OpenVINO/NNCF) and a small transformer (dynamic INT8 and NNCF's transformer mode)."""

from __future__ import annotations

import numpy as np
import pytest

from edgec.calibration.dataset import CalibrationSet
from edgec.config import BenchmarkConfig, CalibrationConfig, Config, QuantizeConfig, TargetSpec


def _config(model, calib, evaluation, targets=("host-cpu", "host-openvino")) -> Config:
    return Config(
        name="m", model=model, calibration=CalibrationConfig(data=calib, samples=128, seed=0),
        quantize=QuantizeConfig(eval_data=evaluation, metric="top1", max_drop=1.0),
        targets=[TargetSpec(name=t, precision="int8") for t in targets], benchmark=BenchmarkConfig(enabled=False),
    )  # fmt: skip


def test_demo_model_int8_within_one_point_on_both_host_targets(tiny_model, tmp_path):
    from edgec import runtime
    from edgec.compile.quality import score
    from edgec.pipeline import build

    results = build(_config(tiny_model.onnx, tiny_model.calibration, tiny_model.eval), tmp_path, log=lambda _m: None)
    calib = CalibrationSet.from_file(tiny_model.calibration).sample(128, 0)
    for bundle in results:
        m = bundle.manifest
        q = m["quality"]
        assert q["metric"] == "top1" and q["float"] > 80
        assert q["drop"] <= 1.0 and abs(q["float"] - q["quantized"] - q["drop"]) < 1e-9
        assert q["fidelity"]["cosine_mean"] > 0.98 and isinstance(q["kept_in_float"], list)
        assert m["calibration"] == {"samples": 128, "sha256": calib.fingerprint(), "method": "minmax", "source": "data"}
        assert q["calibration_sha256"] == calib.fingerprint()
        # The bundle really is the graph that was scored: run it through the app runtime.
        engine = runtime.load(bundle.path)
        logits = np.concatenate([engine.run({"input": x[None]})[engine.output_names[0]] for x in tiny_model.test_x])
        assert abs(score(logits, "top1", tiny_model.test_y, None) - q["quantized"]) <= 0.5
    recipes = {b.target: b.manifest["quality"]["recipe"] for b in results}
    assert recipes == {"host-cpu": "onnxruntime-x86-vnni-static", "host-openvino": "nncf"}
    assert (tmp_path / "host-openvino" / "model.xml").is_file()


@pytest.fixture(scope="module")
def tiny_transformer(tmp_path_factory):
    """Two encoder layers classifying token sequences by which of tokens 0..2 is most frequent."""
    import torch
    from torch import nn

    from edgec.compile.export import export_onnx

    class TinyTransformer(nn.Module):
        def __init__(self, vocab=8, d=16, length=8, classes=3):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.pos = nn.Parameter(torch.randn(1, length, d) * 0.1)
            layer = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(d, classes)

        def forward(self, ids):
            return self.head(self.encoder(self.embed(ids) + self.pos).mean(1))

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 8, size=(900, 8)).astype(np.int64)
    labels = np.stack([(ids == t).sum(1) for t in range(3)], 1).argmax(1).astype(np.int64)
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is faster on a shared 2-core runner
    model = TinyTransformer()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x, y = torch.from_numpy(ids[:600]), torch.from_numpy(labels[:600])
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    torch.set_num_threads(threads)
    folder = tmp_path_factory.mktemp("transformer")
    export_onnx(model, x[:2], folder / "model.onnx")
    np.savez(folder / "calibration.npz", input=ids[:200], labels=labels[:200])
    np.savez(folder / "eval.npz", input=ids[600:], labels=labels[600:])
    return folder


def test_small_transformer_int8_within_one_point(tiny_transformer, tmp_path):
    from edgec.compile.quantize_command import quantize

    f = tiny_transformer
    results = quantize(_config(f / "model.onnx", f / "calibration.npz", f / "eval.npz"), tmp_path, log=lambda _m: None)
    by_recipe = {r.recipe.name: r.report["quality"] for r in results}
    # Attention graphs get dynamic INT8 on CPU and NNCF's transformer mode for OpenVINO.
    assert set(by_recipe) == {"onnxruntime-x86-vnni-dynamic", "nncf-transformer"}
    for q in by_recipe.values():
        assert q["float"] > 80, q
        assert q["drop"] <= 1.0, q
    import onnx

    ops = {
        n.op_type
        for n in onnx.load(str(tmp_path / "quantized" / "onnxruntime-x86-vnni-dynamic" / "model.int8.onnx")).graph.node
    }
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops
