"""What a graph holds, before anything is built: operators, parameters, FLOPs, inputs/outputs.

FLOPs are an estimate for the ops that dominate edge models (Conv, ConvTranspose, MatMul, Gemm),
2 per multiply-add, from inferred shapes. A named (dynamic) dim counts as 1, so the figure is
"per unit" of each dynamic dim (per sample, per token); ops whose shapes stay unknown are counted
in `flops_unknown_nodes` rather than guessed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx

from edgec.compile.graph import io_specs, iter_graphs, iter_nodes, load_model


def _shape_table(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Value name -> dims (named/unknown dims as 1) from shape inference over the whole graph."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:  # noqa: BLE001 - inference is best effort here; the summary says what it lacks
        inferred = model
    shapes: dict[str, list[int]] = {}
    for graph in iter_graphs(inferred.graph):
        for value in list(graph.input) + list(graph.value_info) + list(graph.output):
            tensor = value.type.tensor_type
            if tensor.HasField("shape"):
                shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor.shape.dim]
        for init in graph.initializer:
            shapes[init.name] = list(init.dims)
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                        shapes[node.output[0]] = list(attr.t.dims)
    return shapes


def _attr(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def node_flops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int | None:
    """2 x multiply-adds of one Conv/ConvTranspose/MatMul/Gemm node, None when shapes are unknown."""
    try:
        if node.op_type in ("Conv", "ConvTranspose"):
            weight, out = shapes[node.input[1]], shapes[node.output[0]]
            if node.op_type == "Conv":
                # out [N, M, *spatial] x weight [M, C/g, *k]
                return 2 * int(np.prod(out)) * int(np.prod(weight[1:]))
            x = shapes[node.input[0]]  # ConvTranspose: every input element meets weight [C, M/g, *k]
            return 2 * int(np.prod(x)) * int(np.prod(weight[1:]))
        if node.op_type == "MatMul":
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            return 2 * int(np.prod(out)) * int(a[-1])
        if node.op_type == "Gemm":
            a, out = shapes[node.input[0]], shapes[node.output[0]]
            k = a[0] if _attr(node, "transA", 0) else a[-1]
            return 2 * int(np.prod(out)) * int(k)
    except (KeyError, IndexError):
        return None
    return 0


def _tensor_elements(model: onnx.ModelProto) -> int:
    count = 0
    for graph in iter_graphs(model.graph):
        count += sum(int(np.prod(init.dims)) for init in graph.initializer)
        for node in graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                        count += int(np.prod(attr.t.dims))
    return count


def summarize(model: onnx.ModelProto | str | Path) -> dict:
    """Operator histogram, parameter count, FLOPs estimate, opsets and inputs/outputs with dims."""
    if not isinstance(model, onnx.ModelProto):
        model = load_model(model)
    histogram = Counter(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
                        for node in iter_nodes(model))  # fmt: skip
    shapes = _shape_table(model)
    flops, unknown = 0, []
    for graph in iter_graphs(model.graph):
        for node in graph.node:
            if node.op_type in ("Conv", "ConvTranspose", "MatMul", "Gemm"):
                value = node_flops(node, shapes)
                if value is None:
                    unknown.append(node.name or node.op_type)
                else:
                    flops += value
    inputs, outputs = io_specs(model)
    return {
        "nodes": sum(histogram.values()),
        "operators": dict(sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))),
        "parameters": _tensor_elements(model),
        "flops": flops,
        "flops_note": "Conv/ConvTranspose/MatMul/Gemm, 2 per multiply-add, dynamic dims counted as 1",
        "flops_unknown_nodes": unknown,
        "opsets": {entry.domain or "ai.onnx": entry.version for entry in model.opset_import},
        "control_flow": sorted({op for op in histogram if op in ("If", "Loop", "Scan")}),
        "inputs": [spec.as_dict() for spec in inputs],
        "outputs": [spec.as_dict() for spec in outputs],
    }


def human(count: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.2f}{unit}"
    return f"{count:.0f}"


def summary_table(title: str, info: dict):
    """The summary as rich tables: one line of totals, inputs/outputs, the operator histogram."""
    from rich.console import Group
    from rich.table import Table

    head = Table("nodes", "parameters", "FLOPs (est.)", "opsets", "control flow", title=title)
    opsets = ", ".join(f"{d} {v}" for d, v in info["opsets"].items())
    head.add_row(str(info["nodes"]), human(info["parameters"]), human(info["flops"]), opsets,
                 ", ".join(info["control_flow"]) or "—")  # fmt: skip
    io = Table("", "name", "dtype", "shape")
    for kind in ("inputs", "outputs"):
        for spec in info[kind]:
            io.add_row(kind[:-1], spec["name"], spec["dtype"], str(spec["shape"]))
    ops = Table("operator", "count")
    for op, count in info["operators"].items():
        ops.add_row(op, str(count))
    return Group(head, io, ops)


def export_tables(report: dict) -> list:
    """`edgec export`'s printout: the exporter used, each pass, parity per output, the summary."""
    from rich.table import Table

    exporter = report.get("exporter") or {}
    passes = Table("pass", "nodes before", "nodes after", "ops removed", "ops added", "note",
                   title=f"exporter: {exporter.get('used', '—')} (asked {exporter.get('requested', '—')}), "
                         f"opset {report.get('opset')}"
                         + (f"; fallback: {exporter['fallback_reason']}" if exporter.get("fallback_reason") else ""))  # fmt: skip
    for step in report["passes"]:
        note = step.get("skipped") or step.get("method") or step.get("tool") or ""
        passes.add_row(step["pass"], str(step["nodes_before"]), str(step["nodes_after"]),
                       _counts(step["ops_removed"]), _counts(step["ops_added"]), str(note))  # fmt: skip
    parity = report["parity"]
    checks = Table(
        "output",
        "max abs error",
        "max rel error",
        "min cosine",
        title=f"parity vs {parity['reference']} ({parity['batches']} batches, {parity['precision']})",
    )
    for name, stats in parity["outputs"].items():
        checks.add_row(
            name, f"{stats['max_abs_error']:.2e}", f"{stats['max_rel_error']:.2e}", f"{stats['min_cosine']:.6f}"
        )
    return [passes, checks, summary_table("graph", report["summary"])]


def _counts(ops: dict) -> str:
    text = ", ".join(f"{op} x{n}" for op, n in ops.items())
    return text if len(text) < 60 else text[:57] + "..."
