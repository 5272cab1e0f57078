"""How good a graph is on the user's eval data: top-1, or agreement/cosine with a reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec.calibration.dataset import CalibrationSet
from edgec.errors import EdgecError


def run_onnx(model_path: Path, data: CalibrationSet, threads: int | None = None) -> np.ndarray:
    """First output of the graph for every sample, stacked (runs sample by sample: any batch dim)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    name = session.get_outputs()[0].name
    return np.concatenate([session.run([name], feed)[0] for feed in data.feeds()], axis=0)


def score(outputs: np.ndarray, metric: str, labels: np.ndarray | None, reference: np.ndarray | None) -> float:
    """Metric in percent: top1 against labels, agreement or mean cosine against a reference."""
    flat = outputs.reshape(len(outputs), -1)
    if metric == "top1":
        if labels is None:
            raise EdgecError("metric 'top1' needs a 'labels' array in the eval data")
        return float((flat.argmax(axis=1) == labels.reshape(-1)).mean() * 100)
    if reference is None:
        return 100.0  # the reference scored against itself
    ref = reference.reshape(len(reference), -1)
    if metric == "agreement":
        return float((flat.argmax(axis=1) == ref.argmax(axis=1)).mean() * 100)
    cos = (flat * ref).sum(1) / (np.linalg.norm(flat, axis=1) * np.linalg.norm(ref, axis=1) + 1e-12)
    return float(cos.mean() * 100)


def fidelity(outputs: np.ndarray, reference: np.ndarray) -> dict:
    """How closely a quantized graph tracks its float original (top-1 agreement and cosine)."""
    a, b = outputs.reshape(len(outputs), -1), reference.reshape(len(reference), -1)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return {
        "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean()),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "max_abs_error": float(np.abs(a - b).max()),
    }
