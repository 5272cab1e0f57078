"""FP16 as casts in the graph (TensorRT 11 is strongly typed: precision must live in the graph).

Inputs and outputs stay float32 (`keep_io_types`), so an app feeds the same arrays as for the
float graph; ops in `op_block_list` (and ORT's default list of ops unsafe in half precision) stay
float32, with casts around them.
"""

from __future__ import annotations

from pathlib import Path

import onnx

from edgec.artifacts import atomic_write_bytes
from edgec.compile.graph import load_model
from edgec.errors import EdgecError


def convert_fp16(model_path: Path, out_path: Path, *, op_block_list: list[str] | None = None,
                 node_block_list: list[str] | None = None) -> Path:  # fmt: skip
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    model = load_model(model_path, load_external_data=True)
    blocked = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(op_block_list or []))
    try:
        converted = convert_float_to_float16(
            model, keep_io_types=True, op_block_list=blocked, node_block_list=list(node_block_list or [])
        )
    except Exception as exc:  # noqa: BLE001 - the converter raises plain exceptions for odd graphs
        raise EdgecError(f"{model_path}: FP16 conversion failed: {exc}") from exc
    _topological_sort(converted.graph)  # the converter appends its input casts at the end
    onnx.checker.check_model(converted)
    atomic_write_bytes(out_path, converted.SerializeToString())
    return out_path


def _topological_sort(graph: onnx.GraphProto) -> None:
    """Reorder nodes so every input is produced before it is used (Kahn's algorithm, stable)."""
    known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise EdgecError(f"FP16 graph has a cycle or a missing tensor near node '{pending[0].name}'")
        for node in ready:
            ordered.append(node)
            known.update(node.output)
        taken = {id(n) for n in ready}
        pending = [n for n in pending if id(n) not in taken]
    del graph.node[:]
    graph.node.extend(ordered)
