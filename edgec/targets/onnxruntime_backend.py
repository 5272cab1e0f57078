"""ONNX Runtime builder: the graph optimized offline for the profile, saved as one .onnx."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from edgec.targets.base import Builder, BuildResult
from edgec.targets.profiles import TargetProfile

# Offline optimization stops at "extended": "all" adds layout transforms tied to this CPU.
_LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
}


class OnnxRuntimeBuilder(Builder):
    name = "onnxruntime"

    def version(self) -> str:
        return ort.__version__

    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        level = str(profile.backend_options.get("graph_optimization_level", "extended"))
        engine = out_dir / "model.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = _LEVELS[level]
        opts.optimized_model_filepath = str(engine)
        ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        runtime = {"graph_optimization_level": "all", "providers": ["CPUExecutionProvider"]}
        if profile.threads:
            runtime["threads"] = profile.threads
        return BuildResult(
            engine=engine.name,
            runner="onnxruntime",
            backend_version=ort.__version__,
            runtime_options=runtime,
            notes=[f"offline graph optimization: {level}"],
        )
