"""Backend name -> builder. Built-ins are imported lazily (no SDK is imported until used);
third-party backends register in the `edgec.backends` entry-point group."""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points

from edgec.errors import EdgecError
from edgec.targets.base import Builder

BUILTIN = {
    "onnxruntime": ("edgec.targets.onnxruntime_backend:OnnxRuntimeBuilder", "onnxruntime"),
    "openvino": ("edgec.targets.openvino_backend:OpenVinoBuilder", "openvino"),
    # Importable without TensorRT: it builds on the board, or skips the build with the reason.
    "tensorrt": ("edgec.targets.tensorrt_backend:TensorRtBuilder", "tensorrt"),
}
ENTRY_POINT_GROUP = "edgec.backends"


def _load(reference: str):
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_names() -> list[str]:
    return sorted(set(BUILTIN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def backend_installed(name: str) -> bool:
    """Whether `name` can build here: a built-in's SDK is importable (looked up, not imported: that
    costs seconds), or a plugin registers it."""
    if name in BUILTIN:
        return importlib.util.find_spec(BUILTIN[name][1]) is not None  # the extra is named after its module
    return any(ep.name == name for ep in entry_points(group=ENTRY_POINT_GROUP))


def get_builder(name: str) -> Builder:
    if name in BUILTIN:
        reference, extra = BUILTIN[name]
        try:
            return _load(reference)()
        except ImportError as exc:
            raise EdgecError(
                f"backend '{name}' is not installed ({exc.name or exc}); install it with: pip install 'edgec[{extra}]'"
            ) from exc
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                builder = ep.load()()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is the user's to fix; say which
                raise EdgecError(
                    f"backend '{name}' (entry point {ep.value} in group {ENTRY_POINT_GROUP}) failed to load: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(builder, Builder):
                raise EdgecError(f"backend '{name}' ({ep.value}) is not an edgec.targets.base.Builder")
            return builder
    raise EdgecError(f"unknown backend {name!r}; known: {', '.join(backend_names())}")
