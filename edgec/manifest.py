"""The bundle's manifest.json (ARCHITECTURE.md's contract) and the build environment."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from edgec import __version__
from edgec.artifacts import file_entries

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
BENCHMARK = "benchmark.json"
_PACKAGES = ("torch", "onnx", "onnxruntime", "openvino", "nncf", "numpy", "transformers", "tensorrt")


def build_environment() -> dict:
    packages = {}
    for name in _PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "packages": packages,
    }


def manifest(
    *,
    bundle: Path,
    model: dict,
    target: dict,
    inputs: list[dict],
    outputs: list[dict],
    calibration: dict | None,
    quality: dict | None,
    provenance: dict | None,
    build: dict,
    selection: dict | None = None,
) -> dict:
    """Everything an app or an auditor needs to know about one bundle; `null` where a stage
    did not run. `files` covers every file in the bundle but the manifest itself. `selection`
    (auto-selection's candidates and why the winner won) is there only in a bundle that was
    chosen among candidates: other bundles keep exactly the keys they always had."""
    data = {
        "schema_version": SCHEMA_VERSION,
        "edgec_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "target": target,
        "files": file_entries(bundle, exclude=(MANIFEST,)),
        "inputs": inputs,
        "outputs": outputs,
        "calibration": calibration,
        "quality": quality,
        "provenance": provenance,
        "build": build,
        "environment": build_environment(),
    }
    if selection is not None:
        data["selection"] = selection
    return data
