"""Hugging Face model folder -> ONNX through optimum's task-aware exporter (the `hf` extra).

optimum knows each model family's inputs, outputs and dynamic axes per task; edgec hands it a
local folder only (`local_files_only`, nothing is downloaded) and then runs its own passes and
parity check against the same model loaded in PyTorch.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import onnx

from edgec.compile.passes import save_model
from edgec.errors import EdgecError

HF_HINT = "install the Hugging Face extra: pip install 'edgec[hf]' (optimum-onnx, transformers<4.58)"


def _optimum():
    try:
        from optimum.exporters.onnx import main_export
        from optimum.exporters.tasks import TasksManager
    except ImportError as exc:
        raise EdgecError(f"export.hf_model needs optimum's ONNX exporter, which is not installed ({exc})",
                         hint=HF_HINT) from exc  # fmt: skip
    return main_export, TasksManager


def check_folder(folder: Path) -> None:
    """A model folder edgec reads: config.json and safetensors weights (never pickled .bin files)."""
    if not (folder / "config.json").is_file():
        raise EdgecError(f"{folder}: not a Hugging Face model folder (no config.json)")
    if not any(folder.glob("*.safetensors")):
        pickled = sorted(p.name for p in folder.glob("*.bin"))
        raise EdgecError(
            f"{folder}: has no .safetensors weights"
            + (f" (only {pickled}, pickled files edgec never loads)" if pickled else ""),
            hint="save the model with model.save_pretrained(folder, safe_serialization=True)",
        )


def resolve_task(folder: Path, task: str) -> str:
    _, tasks = _optimum()
    check_folder(folder)
    if task != "auto":
        return task
    try:
        return tasks.infer_task_from_model(str(folder))
    except Exception as exc:  # noqa: BLE001 - optimum raises KeyError/ValueError for unknown families
        raise EdgecError(f"{folder}: optimum cannot infer the task ({exc}); set export.task") from exc


def load_hf_model(folder: Path, task: str):
    """The PyTorch model optimum exports for `task`, loaded from the folder (eval mode)."""
    _, tasks = _optimum()
    try:
        model = tasks.get_model_from_task(
            task, str(folder), framework="pt", local_files_only=True, use_safetensors=True
        )
    except Exception as exc:  # noqa: BLE001
        raise EdgecError(f"{folder}: cannot load as a Hugging Face model for task '{task}' ({exc})") from exc
    return model.eval()


def export_hf(folder: Path, task: str, opset: int, path: Path) -> dict:
    """Export `folder` for `task` to `path` (one graph); returns the exporter info for the report."""
    main_export, _ = _optimum()
    check_folder(folder)  # safetensors present: transformers loads those, not a pickled .bin
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only: never reach for the Hub
    with tempfile.TemporaryDirectory(prefix="edgec-hf-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            main_export(str(folder), output=tmp, task=task, opset=opset, device="cpu", do_validation=False,
                        local_files_only=True, monolith=True, no_post_process=True)  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - optimum and torch raise many types
            from edgec.compile.export import operator_of

            operator = operator_of(exc)
            what = f"operator '{operator}' " if operator else ""
            raise EdgecError(
                f"{folder}: optimum's ONNX export for task '{task}' failed: {what}{str(exc).strip().splitlines()[0][:400]}",
                hint="try another opset (export.opset) or task (export.task)",
            ) from exc
        graphs = sorted(Path(tmp).glob("*.onnx"))
        if len(graphs) != 1:
            raise EdgecError(f"{folder}: optimum wrote {len(graphs)} ONNX graphs for task '{task}'; edgec builds one")
        save_model(onnx.load(str(graphs[0]), load_external_data=True), path)
    import optimum.exporters.onnx as exporters

    version = getattr(exporters, "__version__", None) or _dist_version("optimum-onnx")
    return {"requested": "optimum", "used": f"optimum-onnx {version} (torch.onnx TorchScript exporter)",
            "fallback_reason": None, "opset": opset, "task": task}  # fmt: skip


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"
