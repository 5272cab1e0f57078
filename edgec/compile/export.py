"""PyTorch module -> ONNX: the dynamo exporter, the TorchScript exporter as a named fallback.

`export_onnx` is the simple single-input path (demo, fixtures); `export_module` takes named
inputs/outputs and named dynamic dims, and turns an exporter failure into a message that names
the operator, the module path that calls it and what to try. The user's module is loaded from
`pkg.mod:attr` (explicitly named in the config) with weights from safetensors, never a pickle.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import onnx
import torch

from edgec.artifacts import atomic_write_bytes
from edgec.compile.graph import PROVENANCE_KEY
from edgec.compile.parity import parity  # noqa: F401 - moved there; kept importable here
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


def load_user_module(spec: str, kwargs: dict, weights: Path | None, base_dir: Path) -> torch.nn.Module:
    """Import `pkg.mod:attr` (the config's folder first on sys.path), build it, load safetensors."""
    import importlib
    import sys

    module_name, _, attr = spec.partition(":")
    added = str(base_dir) not in sys.path
    if added:
        sys.path.insert(0, str(base_dir))
    try:
        target = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - the user's code can raise anything on import
        raise EdgecError(f"export.module: cannot import '{module_name}' ({type(exc).__name__}: {exc})") from exc
    finally:
        if added:
            sys.path.remove(str(base_dir))
    for part in attr.split("."):
        if not hasattr(target, part):
            raise EdgecError(f"export.module: '{module_name}' has no attribute '{attr}'")
        target = getattr(target, part)
    try:
        module = target(**kwargs) if callable(target) and not isinstance(target, torch.nn.Module) else target
    except Exception as exc:  # noqa: BLE001
        raise EdgecError(f"export.module: {spec}(**kwargs) failed ({type(exc).__name__}: {exc})") from exc
    if not isinstance(module, torch.nn.Module):
        raise EdgecError(f"export.module: {spec} gave a {type(module).__name__}, not a torch.nn.Module")
    if weights is not None:
        _load_weights(module, weights)
    return module.eval()


def _load_weights(module: torch.nn.Module, weights: Path) -> None:
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error for a bad header
        raise EdgecError(f"{weights}: not a readable .safetensors file ({exc})") from exc
    result = module.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing or unexpected:
        raise EdgecError(
            f"{weights}: does not match the module's parameters"
            + (f"; missing {missing[:5]}" if missing else "") + (f"; unexpected {unexpected[:5]}" if unexpected else "")
        )  # fmt: skip


def operator_of(exc: BaseException) -> str | None:
    """The operator an exporter error is about: 'aten::foo', 'mylib::op' (either exporter)."""
    import re

    text = str(exc)
    for pattern in (r"OpOverload\(op='([\w.]+)'", r"operator '?([\w]+::[\w.]+)", r"namespace ([\w]+::[\w.]+)",
                    r"target=torch\.ops\.([\w]+\.[\w]+)"):  # fmt: skip
        found = re.search(pattern, text)
        if found:
            name = found.group(1)
            return name if "::" in name else name.replace(".", "::", 1)
    return None


def module_path_of(module: torch.nn.Module, args: tuple, operator: str) -> str | None:
    """Run the module eagerly, recording which submodule (by path) first calls `operator`."""
    from torch.utils._python_dispatch import TorchDispatchMode

    stack: list[str] = []
    found: list[str] = []
    wanted = operator.split(".")[0]

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, fn_args=(), fn_kwargs=None):  # noqa: ANN001
            name = func._schema.name  # 'aten::add' / 'mylib::op'
            if not found and name == wanted and stack:
                found.append(stack[-1])
            return func(*fn_args, **(fn_kwargs or {}))

    def enter(path: str):
        def hook(_module, _args) -> None:
            stack.append(path or "(top level)")

        return hook

    def leave(_module, _args, _output) -> None:  # returns None: a forward hook's value replaces the output
        stack.pop()

    handles = []
    for path, sub in module.named_modules():
        handles.append(sub.register_forward_pre_hook(enter(path)))
        handles.append(sub.register_forward_hook(leave))
    try:
        with torch.no_grad(), Recorder():
            module(*args)
    except Exception:  # noqa: BLE001 - diagnosis only; the export error is what the user sees
        return found[0] if found else None
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


def export_module(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    *,
    input_names: list[str],
    output_names: list[str] | None,
    dynamic: dict[str, dict[int, tuple[str, int, int]]],
    opset: int,
    exporter: str = "dynamo",
) -> dict:
    """Export to `path` (single file); `dynamic` is {input: {axis: (dim name, min, max)}}.

    exporter: 'dynamo', 'torchscript', or 'auto' (dynamo, then TorchScript if dynamo fails).
    Returns {requested, used, fallback_reason, opset}.
    """
    order = ["dynamo", "torchscript"] if exporter == "auto" else [exporter]
    skipped = None
    if "dynamo" in order and opset < 18:
        if exporter == "dynamo":
            raise EdgecError(f"export: the dynamo exporter's lowest opset is 18, asked for {opset}",
                             hint="set export.exporter: torchscript (or auto) for opsets 13-17")  # fmt: skip
        order, skipped = ["torchscript"], f"the dynamo exporter's lowest opset is 18, asked for {opset}"
    module.eval()
    failures: dict[str, BaseException] = {}
    for name in order:
        try:
            _export_with(name, module, args, path, input_names, output_names, dynamic, opset)
        except Exception as exc:  # noqa: BLE001 - both exporters raise many types
            failures[name] = exc
            continue
        reason = skipped
        if failures:
            reason = f"dynamo exporter failed: {_first_line(failures['dynamo'])}"
        return {"requested": exporter, "used": name, "fallback_reason": reason, "opset": opset}
    raise _export_error(module, args, failures, opset)


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip() and not line.startswith("[torch.onnx]")]
    for line in lines:
        if line.startswith("<class"):  # the dynamo exporter's summary line holds the real cause
            return line.split(">: ", 1)[-1][:400]
    return (lines[0] if lines else type(exc).__name__)[:400]


def _export_error(module: torch.nn.Module, args: tuple, failures: dict, opset: int) -> EdgecError:
    last = failures[list(failures)[-1]]
    operator = next((op for op in map(operator_of, failures.values()) if op), None)
    tried = ", ".join(f"{name} ({_first_line(exc)})" for name, exc in failures.items())
    if operator:
        where = module_path_of(module, args, operator)
        located = f" called from module '{where}'" if where else ""
        message = f"export of {type(module).__name__} failed: operator '{operator}'{located} has no ONNX translation at opset {opset}; tried {tried}"  # noqa: E501
    else:
        message = f"export of {type(module).__name__} failed; tried {tried}"
    hint = ("try another opset (export.opset), the other exporter (export.exporter: torchscript or auto), "
            "or replace the op with standard torch ops in that module")  # fmt: skip
    error = EdgecError(message, hint=hint)
    error.__cause__ = last
    return error


def _export_with(name, module, args, path, input_names, output_names, dynamic, opset) -> None:  # noqa: ANN001
    import logging

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # registry chatter (e.g. torchvision missing)
    with tempfile.TemporaryDirectory(prefix="edgec-export-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(tmp) / "model.onnx"
        if name == "dynamo":
            dims: dict[str, torch.export.Dim] = {}
            shapes = tuple(
                {
                    axis: dims.setdefault(d[0], torch.export.Dim(d[0], min=d[1], max=d[2]))
                    for axis, d in dynamic.get(n, {}).items()
                }
                or None  # noqa: E501
                for n in input_names
            )
            program = torch.onnx.export(module, args, dynamo=True, opset_version=opset, verbose=False,
                                        dynamic_shapes=shapes if any(shapes) else None,
                                        input_names=input_names, output_names=output_names or None)  # fmt: skip
            program.optimize()
            program.save(str(raw), external_data=True)
        else:
            axes = {n: {axis: d[0] for axis, d in dynamic.get(n, {}).items()} for n in input_names if dynamic.get(n)}
            torch.onnx.export(module, args, str(raw), dynamo=False, opset_version=opset, input_names=input_names,
                              output_names=output_names or None, dynamic_axes=axes or None)  # fmt: skip
        model = onnx.load(str(raw), load_external_data=True)
    from edgec.compile.passes import save_model

    save_model(model, path)  # single file, or external data above the 2 GB protobuf limit
