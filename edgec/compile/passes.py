"""Graph passes run on every ONNX edgec builds (exported or brought by the user).

checker -> operator check -> shape inference -> simplification -> dead-node removal -> [fp16].
Each pass returns the new model and a report of what it changed (node counts before and after,
operators removed and added), which goes into the export report.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import onnx

from edgec.compile.config import PassesConfig
from edgec.compile.graph import iter_graphs, iter_nodes
from edgec.errors import EdgecError

# Domains ONNX Runtime implements; a node in any other domain is a custom op that needs a library.
KNOWN_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                 "com.microsoft", "com.microsoft.nchwc", "com.ms.internal.nhwc"}  # fmt: skip
MIN_OPSET = 13
PROTOBUF_LIMIT = 2 * 1024**3  # a single .onnx protobuf cannot exceed 2 GB


def _ops(model: onnx.ModelProto) -> Counter:
    return Counter(node.op_type for node in iter_nodes(model))


def _report(name: str, before: onnx.ModelProto, after: onnx.ModelProto, started: float, **details) -> dict:
    old, new = _ops(before), _ops(after)
    return {
        "pass": name,
        "nodes_before": sum(old.values()),
        "nodes_after": sum(new.values()),
        "ops_removed": dict(sorted((old - new).items())),
        "ops_added": dict(sorted((new - old).items())),
        "seconds": round(time.perf_counter() - started, 3),
        **details,
    }


def check_operators(model: onnx.ModelProto, source: str) -> None:
    """Opset >= 13 for the default domain, and no node from a domain ONNX Runtime does not know."""
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    default = opsets.get("ai.onnx")
    if default is not None and default < MIN_OPSET:
        raise EdgecError(
            f"{source}: uses ONNX opset {default}; edgec takes opset {MIN_OPSET} or newer",
            hint="re-export with a newer opset, or convert with onnx.version_converter.convert_version(model, 17)",
        )
    local = {function.domain for function in model.functions}
    for node in iter_nodes(model):
        if node.domain not in KNOWN_DOMAINS and node.domain not in local:
            raise EdgecError(
                f"{source}: node '{node.name or node.output[0]}' is operator '{node.op_type}' from the custom "
                f"domain '{node.domain}', which ONNX Runtime and the target backends do not implement",
                hint="re-export without the custom op (decompose it into standard ONNX ops), "
                "or build for a backend with a plugin for that domain",
            )


def checker_pass(model: onnx.ModelProto, source: str) -> tuple[onnx.ModelProto, dict]:
    started = time.perf_counter()
    try:
        if model.ByteSize() < PROTOBUF_LIMIT:
            onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise EdgecError(f"{source}: fails the ONNX checker: {first}") from exc
    return model, _report("check", model, model, started)


def _shaped_values(model: onnx.ModelProto) -> int:
    count = 0
    for graph in iter_graphs(model.graph):
        count += sum(1 for v in graph.value_info if v.type.tensor_type.HasField("shape"))
    return count


def shape_pass(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict]:
    """ONNX shape inference; ONNX Runtime's symbolic inference where named dims leave gaps."""
    started = time.perf_counter()
    before = _shaped_values(model)
    notes = []
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
        method = "onnx"
    except Exception as exc:  # noqa: BLE001 - ONNX raises several types; not fatal, the model still runs
        inferred, method = model, "none"
        notes.append(f"onnx shape inference failed: {str(exc).splitlines()[0]}")
    nodes = sum(1 for _ in iter_nodes(inferred))
    if _shaped_values(inferred) < nodes // 2 or _has_symbolic_dims(inferred):
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        try:
            symbolic = SymbolicShapeInference.infer_shapes(inferred, auto_merge=True, guess_output_rank=True)
            if symbolic is not None:
                inferred, method = symbolic, "symbolic"
        except Exception as exc:  # noqa: BLE001 - best effort: keep ONNX's result
            notes.append(
                f"symbolic shape inference failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            )
    after = _shaped_values(inferred)
    return inferred, _report("shape_inference", model, inferred, started, method=method,
                             values_with_shape_before=before, values_with_shape_after=after, notes=notes)  # fmt: skip


def _has_symbolic_dims(model: onnx.ModelProto) -> bool:
    return any(not d.HasField("dim_value") for v in model.graph.input for d in v.type.tensor_type.shape.dim)


def simplify_pass(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict]:
    """Constant folding, fusions and common-subexpression elimination (onnxslim)."""
    import onnxslim

    started = time.perf_counter()
    if model.ByteSize() >= PROTOBUF_LIMIT:
        return model, _report("simplify", model, model, started, skipped="model above 2 GB")
    try:
        slim = onnxslim.slim(onnx.ModelProto.FromString(model.SerializeToString()), model_check=False)
    except Exception as exc:  # noqa: BLE001 - an optional optimization; the unsimplified graph is valid
        return model, _report("simplify", model, model, started, skipped=f"onnxslim failed: {exc}")
    if slim is None:
        return model, _report("simplify", model, model, started, skipped="onnxslim returned no model")
    return slim, _report("simplify", model, slim, started, tool=f"onnxslim {onnxslim.__version__}")


def _subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Outer-scope names a control-flow node's subgraphs read (they are real uses)."""
    used: set[str] = set()
    for attr in node.attribute:
        subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in subs:
            for graph in iter_graphs(sub):
                for inner in graph.node:
                    used.update(inner.input)
    return used


def dead_node_pass(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict]:
    """Drop top-level nodes no graph output depends on, and initializers nothing reads."""
    started = time.perf_counter()
    result = onnx.ModelProto()
    result.CopyFrom(model)
    graph = result.graph
    needed = {output.name for output in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            keep.append(node)
            needed.update(name for name in node.input if name)
            needed.update(_subgraph_inputs(node))
    keep.reverse()
    removed_inits = [init.name for init in graph.initializer if init.name not in needed]
    kept_inits = [init for init in graph.initializer if init.name in needed]
    del graph.node[:]
    graph.node.extend(keep)
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    return result, _report("dead_node_removal", model, result, started, initializers_removed=len(removed_inits))


def _topological_sort(graph: onnx.GraphProto) -> None:
    """Reorder nodes so each comes after its producers (Kahn's algorithm, stable)."""
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    produced = {name for node in graph.node for name in node.output}
    pending, ordered = list(graph.node), []
    while pending:
        rest = []
        for node in pending:
            needs = (set(node.input) | _subgraph_inputs(node)) & produced
            if needs <= ready:
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):  # a cycle or a dangling input: leave it to the checker to name
            ordered.extend(rest)
            break
        pending = rest
    copies = [onnx.NodeProto.FromString(n.SerializeToString()) for n in ordered]
    del graph.node[:]
    graph.node.extend(copies)


def fp16_pass(model: onnx.ModelProto, settings: PassesConfig) -> tuple[onnx.ModelProto, dict]:
    """Float weights and compute to float16; graph inputs and outputs keep their float32 type."""
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    started = time.perf_counter()
    block = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(settings.fp16_op_block_list))
    try:
        converted = convert_float_to_float16(
            onnx.ModelProto.FromString(model.SerializeToString()), keep_io_types=True,
            op_block_list=block, node_block_list=list(settings.fp16_node_block_list),
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - the converter raises bare exceptions
        raise EdgecError(
            f"fp16 conversion failed: {exc}", hint="add the failing op type to export.passes.fp16_op_block_list"
        ) from exc
    _topological_sort(converted.graph)  # the converter appends its input casts at the end
    halves = sum(
        1 for g in iter_graphs(converted.graph) for i in g.initializer if i.data_type == onnx.TensorProto.FLOAT16
    )
    return converted, _report("fp16", model, converted, started, initializers_fp16=halves,
                              op_block_list=list(settings.fp16_op_block_list),
                              node_block_list=list(settings.fp16_node_block_list))  # fmt: skip


def run_passes(model: onnx.ModelProto, settings: PassesConfig, source: str) -> tuple[onnx.ModelProto, list[dict]]:
    """Every pass in order; the result is checked again at the end."""
    reports = []
    model, report = checker_pass(model, source)
    reports.append(report)
    check_operators(model, source)
    model, report = shape_pass(model)
    reports.append(report)
    if settings.simplify:
        model, report = simplify_pass(model)
        reports.append(report)
    model, report = dead_node_pass(model)
    reports.append(report)
    if settings.fp16:
        model, report = fp16_pass(model, settings)
        reports.append(report)
    checker_pass(model, f"{source} (after passes)")
    return model, reports


def save_model(model: onnx.ModelProto, path: Path, *, external_data: bool = False,
               threshold: int = PROTOBUF_LIMIT) -> list[Path]:  # fmt: skip
    """Write `path` (single file), or `path` + `path.data` when asked or when above `threshold`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data or model.ByteSize() >= threshold:
        data = path.with_name(path.name + ".data")
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024)  # fmt: skip
        return [path, data]
    onnx.save_model(model, str(path))
    return [path]
