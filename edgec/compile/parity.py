"""Parity: does the ONNX graph in ONNX Runtime compute what the reference computes?

The reference is the PyTorch module (export) or the graph before the passes (bring your own
ONNX). Per output: max absolute error, max relative error, cosine. An element fails when
|got - want| > atol + rtol * |want| (numpy's allclose rule); the report names the output, the
batch it came from and the worst element's index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from edgec.compile.config import Tolerance
from edgec.errors import EdgecError

Feeds = dict[str, np.ndarray]


def compare(want: np.ndarray, got: np.ndarray) -> dict:
    """Errors of one output on one batch (floats as float64 so fp16 outputs compare fairly)."""
    want, got = np.asarray(want), np.asarray(got)
    if want.shape != got.shape:
        return {"shape_mismatch": [list(want.shape), list(got.shape)]}
    if want.dtype.kind not in "fc":
        return {
            "exact": bool(np.array_equal(want, got)),
            "max_abs_error": float(np.abs(want.astype(np.float64) - got.astype(np.float64)).max(initial=0)),
        }
    w, g = want.astype(np.float64), got.astype(np.float64)
    diff = np.abs(w - g)
    rel = diff / np.maximum(np.abs(w), 1e-6)
    denom = np.linalg.norm(w) * np.linalg.norm(g)
    cosine = float((w * g).sum() / denom) if denom > 0 else float(np.array_equal(w, g))
    return {"max_abs_error": float(diff.max(initial=0)), "max_rel_error": float(rel.max(initial=0)), "cosine": cosine,
            "finite": bool(np.isfinite(g).all() == np.isfinite(w).all())}  # fmt: skip


def _worst(want: np.ndarray, got: np.ndarray, tol: Tolerance) -> tuple[list[int], float, float]:
    w, g = want.astype(np.float64), got.astype(np.float64)
    excess = np.abs(w - g) - (tol.atol + tol.rtol * np.abs(w))
    excess = np.where(np.isnan(excess), np.inf, excess)
    index = np.unravel_index(int(np.argmax(excess)), want.shape) if want.size else ()
    return [int(i) for i in index], float(w[index]) if want.size else 0.0, float(g[index]) if want.size else 0.0


def check_batches(
    batches: Iterable[tuple[str, Feeds]],
    reference: Callable[[Feeds], dict[str, np.ndarray]],
    candidate: Callable[[Feeds], dict[str, np.ndarray]],
    tol: Tolerance,
    source: str,
) -> dict:
    """Run both on every batch; aggregate per output; raise naming the worst failing element."""
    per_output: dict[str, dict] = {}
    count = 0
    for label, feeds in batches:
        want, got = reference(feeds), candidate(feeds)
        count += 1
        for name, expected in want.items():
            if name not in got:
                raise EdgecError(f"{source}: output '{name}' of the reference is missing from the ONNX graph")
            stats = compare(expected, got[name])
            if "shape_mismatch" in stats:
                a, b = stats["shape_mismatch"]
                raise EdgecError(f"{source}: output '{name}' on {label} has shape {b} in ONNX, {a} in the reference")
            agg = per_output.setdefault(name, {"max_abs_error": 0.0, "max_rel_error": 0.0, "min_cosine": 1.0})
            agg["max_abs_error"] = max(agg["max_abs_error"], stats["max_abs_error"])
            agg["max_rel_error"] = max(agg["max_rel_error"], stats.get("max_rel_error", 0.0))
            agg["min_cosine"] = min(agg["min_cosine"], stats.get("cosine", 1.0))
            _judge(name, label, np.asarray(expected), np.asarray(got[name]), stats, tol, source)
    return {"batches": count, "tolerance": tol.model_dump(), "outputs": per_output}


def _judge(name: str, label: str, want: np.ndarray, got: np.ndarray, stats: dict, tol: Tolerance, source: str) -> None:
    if want.dtype.kind not in "fc":
        if not stats["exact"]:
            index = np.argwhere(want != got)[0].tolist()
            raise EdgecError(f"{source}: output '{name}' on {label} differs at index {index} "
                             f"(ONNX {got[tuple(index)]}, reference {want[tuple(index)]})")  # fmt: skip
        return
    within = np.abs(want.astype(np.float64) - got.astype(np.float64)) <= tol.atol + tol.rtol * np.abs(want)
    if within.all() and stats["cosine"] >= tol.min_cosine and stats["finite"]:
        return
    index, w, g = _worst(want, got, tol)
    raise EdgecError(
        f"{source}: output '{name}' on {label} differs from the reference: max abs error "
        f"{stats['max_abs_error']:.3g}, max rel error {stats['max_rel_error']:.3g}, cosine {stats['cosine']:.6f}; "
        f"worst element at index {index} (ONNX {g:.6g}, reference {w:.6g}); tolerance atol {tol.atol}, "
        f"rtol {tol.rtol}, min cosine {tol.min_cosine}",
        hint="try another opset or the other exporter (export.exporter), or keep the op in float32 "
        "(export.passes.fp16_op_block_list); loosen export.parity.tolerances only if the difference is expected",
    )


class OrtRunner:
    """A CPU ONNX Runtime session as a `feeds -> {output: array}` callable."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.path = path
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own error types for a bad graph
            raise EdgecError(f"{path}: ONNX Runtime cannot load the graph: {str(exc).strip()[:800]}") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.ranks = {i.name: len(i.shape) for i in self.session.get_inputs()}

    def __call__(self, feeds: Feeds) -> dict[str, np.ndarray]:
        try:
            values = self.session.run(self.output_names, {k: v for k, v in feeds.items() if k in self.input_names})
        except Exception as exc:  # noqa: BLE001
            shapes = {k: list(v.shape) for k, v in feeds.items()}
            raise EdgecError(f"{self.path}: ONNX Runtime failed on inputs {shapes}: {str(exc).strip()[:500]}") from exc
        return dict(zip(self.output_names, values, strict=True))


def parity(module, onnx_path: Path, samples: np.ndarray, atol: float = 1e-4) -> dict:
    """Single input/output module vs ONNX Runtime on `samples` (the demo's check)."""
    import torch

    session = OrtRunner(onnx_path)

    def reference(feeds: Feeds) -> dict[str, np.ndarray]:
        with torch.no_grad():
            return {"output": module(torch.from_numpy(feeds[session.input_names[0]])).numpy()}

    def candidate(feeds: Feeds) -> dict[str, np.ndarray]:
        return {"output": session(feeds)[session.output_names[0]]}

    tol = Tolerance(atol=atol, rtol=0.0, min_cosine=-1.0)
    report = check_batches([("samples", {session.input_names[0]: samples})], reference, candidate, tol, str(onnx_path))
    stats = report["outputs"]["output"]
    return {"max_abs_error": stats["max_abs_error"], "min_cosine": stats["min_cosine"], "samples": int(len(samples)),
            "atol": atol}  # fmt: skip
