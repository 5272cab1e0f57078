"""ONNX Runtime builder: the graph optimized offline for the profile, saved as one .onnx, or, for
mobile profiles, converted to the ORT format with its required-operators config and the
NNAPI / Core ML / XNNPACK usability findings."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from edgec.artifacts import atomic_write_json
from edgec.targets import ort_mobile
from edgec.targets.base import Builder, BuildResult
from edgec.targets.profiles import TargetProfile

_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}
USABILITY_FILE = "mobile_usability.json"
# Replays the optimizations an ORT-format model saved for load time (Runtime style). ONNX Runtime
# asks that it be enabled only for trusted models: edgec built this one and the runtime checks
# its hash before loading.
SAVED_RUNTIME_OPTIMIZATIONS = "session.enable_saved_runtime_optimizations"


class OnnxRuntimeBuilder(Builder):
    name = "onnxruntime"

    def version(self) -> str:
        return ort.__version__

    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        options = profile.ort
        runtime: dict = {
            "providers": list(options.execution_providers),
            "graph_optimization_level": options.runtime_optimization,
        }
        if profile.threads:
            runtime["threads"] = profile.threads
        details: dict = {}
        if options.format == "ort":
            conversion = ort_mobile.convert_to_ort(
                model, out_dir, style=options.ort_optimization_style, target_platform=options.ort_target_platform
            )
            if options.ort_optimization_style == "Runtime":
                runtime["session_config"] = {SAVED_RUNTIME_OPTIMIZATIONS: "1"}
            engine = ort_mobile.ORT_MODEL
            details["ort_format"] = {
                "optimization_style": options.ort_optimization_style,
                "target_platform": options.ort_target_platform,
                "required_operators": ort_mobile.REQUIRED_OPERATORS,
                "command": conversion["command"],
            }
            notes = [f"ORT format ({options.ort_optimization_style} optimization style) for ONNX Runtime Mobile"]
        else:
            engine = "model.onnx"
            session = ort.SessionOptions()
            session.graph_optimization_level = _LEVELS[options.offline_optimization]
            session.optimized_model_filepath = str(out_dir / engine)
            ort.InferenceSession(str(model), session, providers=["CPUExecutionProvider"])
            details["offline_optimization"] = options.offline_optimization
            notes = [f"offline graph optimization: {options.offline_optimization}"]
        if options.usability_check:
            findings = ort_mobile.usability_check(model)
            atomic_write_json(out_dir / USABILITY_FILE, findings)
            details["mobile_usability"] = {
                "file": USABILITY_FILE,
                "coverage": {ep: f["coverage"] for ep, f in findings["execution_providers"].items()},
                "suitability": {ep: f["suitability"] for ep, f in findings["execution_providers"].items()},
            }
            notes.append(
                "mobile usability: "
                + ", ".join(f"{ep} {f['coverage']:.0%}" for ep, f in findings["execution_providers"].items())
            )
        return BuildResult(
            engine=engine,
            runner="onnxruntime",
            backend_version=ort.__version__,
            runtime_options=runtime,
            notes=notes,
            details=details,
        )
