"""Reading an ONNX graph safely and describing its inputs and outputs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from edgec.errors import EdgecError

# Metadata key under which a distilled student carries its provenance (teacher, data, losses).
PROVENANCE_KEY = "edgec.provenance"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name, e.g. "float32"
    shape: tuple  # ints for fixed dims, strings for named dims, "?" for unnamed dynamic ones

    def as_dict(self) -> dict:
        return {**asdict(self), "shape": list(self.shape)}

    def check(self, array: np.ndarray, where: str, *, batched: bool = True) -> None:
        """Raise a clear error when `array` cannot feed this input (first axis = batch)."""
        if array.dtype != np.dtype(self.dtype):
            raise EdgecError(f"{where}: input '{self.name}' has dtype {array.dtype}, the graph takes {self.dtype}")
        if len(array.shape) != len(self.shape):
            raise EdgecError(
                f"{where}: input '{self.name}' has shape {list(array.shape)} ({array.ndim} dims), "
                f"the graph takes {list(self.shape)}"
            )
        for axis, (got, want) in enumerate(zip(array.shape, self.shape, strict=True)):
            if isinstance(want, int) and got != want and not (batched and axis == 0 and want == 1):
                raise EdgecError(
                    f"{where}: input '{self.name}' has shape {list(array.shape)}, the graph takes "
                    f"{list(self.shape)} (axis {axis}: {got} != {want})"
                )


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    tensor = value.type.tensor_type
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).name
    dims = []
    for dim in tensor.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return TensorSpec(value.name, dtype, tuple(dims))


def load_model(path: str | Path, *, load_external_data: bool = False) -> onnx.ModelProto:
    """Read an ONNX file; every external-data reference is checked to stay inside its folder
    (before any of it is read), and the data is loaded only when asked."""
    path = Path(path)
    if not path.is_file():
        raise EdgecError(f"{path}: ONNX model not found")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a bad file
        raise EdgecError(
            f"{path}: not a readable ONNX model; the file is corrupt or truncated ({type(exc).__name__}: {exc})"
        ) from exc
    if not model.graph.node and not model.graph.output:
        # Protobuf parses many non-ONNX byte strings (even an empty file) as an empty model.
        raise EdgecError(f"{path}: not an ONNX model (no graph nodes or outputs); the file is corrupt or truncated")
    check_external_data(model, path)
    if load_external_data and external_data_refs(model):
        try:
            onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
        except Exception as exc:  # noqa: BLE001 - numpy/protobuf/OS errors for a bad data file
            raise EdgecError(f"{path}: could not read its external data ({type(exc).__name__}: {exc})") from exc
    return model


def iter_graphs(graph: onnx.GraphProto):
    """The graph and, depth first, every subgraph of its control-flow nodes (If, Loop, Scan)."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from iter_graphs(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from iter_graphs(sub)


def iter_nodes(model: onnx.ModelProto):
    for graph in iter_graphs(model.graph):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def _all_tensors(model: onnx.ModelProto):
    for graph in iter_graphs(model.graph):
        yield from graph.initializer
        yield from (sparse.values for sparse in graph.sparse_initializer)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t


def external_data_refs(model: onnx.ModelProto) -> list[tuple[str, dict]]:
    """(tensor name, {location, offset, length}) for every tensor stored outside the .onnx file."""
    refs = []
    for tensor in _all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            refs.append((tensor.name, {entry.key: entry.value for entry in tensor.external_data}))
    return refs


def check_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Refuse external data that is absolute, escapes the model's folder, is missing or too short."""
    folder = path.resolve().parent
    for name, info in external_data_refs(model):
        location = info.get("location", "")
        where = f"{path}: initializer '{name}' stores its data in {location!r}"
        if not location:
            raise EdgecError(f"{path}: initializer '{name}' is marked external but names no file")
        if Path(location).is_absolute() or location.startswith(("/", "\\")) or ":" in Path(location).parts[0]:
            raise EdgecError(f"{where}, an absolute path; external data must sit in the model's folder {folder}")
        target = (folder / location).resolve()
        if folder not in target.parents:
            raise EdgecError(f"{where}, which points outside the model's folder {folder}; refused")
        if not target.is_file():
            raise EdgecError(f"{where}, which does not exist (looked for {target})")
        try:
            offset, length = int(info.get("offset", 0)), int(info.get("length", 0) or 0)
        except ValueError as exc:
            raise EdgecError(f"{where} with an unreadable offset/length ({exc})") from exc
        if offset < 0 or length < 0 or offset + length > target.stat().st_size:
            raise EdgecError(
                f"{where} at offset {offset}, length {length}, past the end of the file "
                f"({target.stat().st_size} bytes): truncated external data"
            )


def check_model(path: str | Path) -> onnx.ModelProto:
    """Load a model and prove it is usable: the ONNX checker passes, it has inputs and outputs,
    and ONNX Runtime can open it (unsupported opsets and unknown ops surface here, named)."""
    import onnxruntime as ort

    path = Path(path)
    model = load_model(path)
    if not model.graph.node or not model.graph.output:
        raise EdgecError(f"{path}: not an ONNX model (no graph nodes or outputs; empty or wrong file?)")
    try:
        onnx.checker.check_model(str(path))  # by path: works for >2 GB / external data
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise EdgecError(f"{path}: the ONNX checker rejects the model: {first}") from exc
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        reason = str(exc).split(" : ", 2)[-1].strip()
        raise EdgecError(f"{path}: ONNX Runtime cannot load the model: {reason}") from exc
    return model


def io_specs(model: onnx.ModelProto) -> tuple[list[TensorSpec], list[TensorSpec]]:
    initializers = {init.name for init in model.graph.initializer}
    inputs = [_spec(v) for v in model.graph.input if v.name not in initializers]
    outputs = [_spec(v) for v in model.graph.output]
    return inputs, outputs


def io_specs_of(path: str | Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    return io_specs(load_model(path))


def read_provenance(model: onnx.ModelProto) -> dict | None:
    for prop in model.metadata_props:
        if prop.key == PROVENANCE_KEY:
            try:
                return json.loads(prop.value)
            except json.JSONDecodeError as exc:
                raise EdgecError(f"model metadata '{PROVENANCE_KEY}' is not valid JSON ({exc})") from exc
    return None
