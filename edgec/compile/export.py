"""PyTorch module -> single-file ONNX, checked against PyTorch on real samples."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from edgec.artifacts import atomic_write_bytes
from edgec.compile.graph import PROVENANCE_KEY
from edgec.errors import EdgecError


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    path: Path,
    *,
    input_name: str = "input",
    output_name: str = "logits",
    dynamic_batch: bool = True,
    opset: int = 20,
    metadata: dict | None = None,
) -> Path:
    """Export with the dynamo exporter (torch's default), batch dim named 'batch'."""
    module.eval()
    if dynamic_batch and example.shape[0] < 2:
        # torch.export specializes a size-1 dim to a constant; a batch of 2 keeps it symbolic.
        example = torch.cat([example, example])
    dynamic = ({0: torch.export.Dim("batch", min=1, max=1024)},) if dynamic_batch else None
    with tempfile.TemporaryDirectory(prefix="edgec-export-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(
                module, (example,), dynamo=True, opset_version=opset, dynamic_shapes=dynamic,
                input_names=[input_name], output_names=[output_name], verbose=False,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types
            raise EdgecError(f"export of {type(module).__name__} failed: {exc}") from exc
        program.optimize()
        raw = Path(tmp) / "model.onnx"
        program.save(str(raw), external_data=False)
        model = onnx.load(str(raw))
    if dynamic_batch:
        # The exporter names the dim after the Dim ('batch'); make it so for outputs too.
        for value in list(model.graph.input) + list(model.graph.output):
            dims = value.type.tensor_type.shape.dim
            if dims and not dims[0].HasField("dim_value"):
                dims[0].dim_param = "batch"
    if metadata:
        entry = model.metadata_props.add()
        entry.key, entry.value = PROVENANCE_KEY, json.dumps(metadata, sort_keys=True)
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())
    return path


def parity(module: torch.nn.Module, onnx_path: Path, samples: np.ndarray, atol: float = 1e-4) -> dict:
    """Max abs error and cosine between PyTorch and ONNX Runtime on the given samples."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    with torch.no_grad():
        expected = module(torch.from_numpy(samples)).numpy()
    got = session.run(None, {name: samples})[0]
    err = float(np.abs(expected - got).max())
    a, b = expected.reshape(len(expected), -1), got.reshape(len(got), -1)
    cosine = float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)).min())
    if err > atol:
        worst = np.unravel_index(np.abs(expected - got).argmax(), expected.shape)
        raise EdgecError(f"{onnx_path}: output differs from PyTorch by {err:.2e} at {list(worst)} (tolerance {atol})")
    return {"max_abs_error": err, "min_cosine": cosine, "samples": int(len(samples)), "atol": atol}
