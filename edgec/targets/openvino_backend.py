"""OpenVINO builder: IR (.xml/.bin) from the precision-typed ONNX graph.

An INT8 QDQ graph becomes FakeQuantize nodes that OpenVINO's CPU plugin runs in INT8.
"""

from __future__ import annotations

from pathlib import Path

import openvino as ov

from edgec.targets.base import Builder, BuildResult
from edgec.targets.profiles import TargetProfile


class OpenVinoBuilder(Builder):
    name = "openvino"

    def version(self) -> str:
        return ov.get_version()

    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        # An .xml is already IR (NNCF's INT8 output); convert_model reads only framework formats.
        converted = ov.Core().read_model(str(model)) if model.suffix == ".xml" else ov.convert_model(str(model))
        engine = out_dir / "model.xml"
        # FP16 weights only when asked for: the CPU plugin decompresses them on load.
        ov.save_model(converted, str(engine), compress_to_fp16=precision == "fp16")
        options = profile.backend_options
        runtime = {
            "device": options.get("device", "CPU"),
            "performance_hint": options.get("performance_hint", "LATENCY"),
            # Explicit: AVX-512 BF16 CPUs otherwise run bf16 where f32 was meant.
            "inference_precision": options.get("inference_precision", "f32"),
        }
        if profile.threads:
            runtime["threads"] = profile.threads
        return BuildResult(
            engine=engine.name,
            runner="openvino",
            backend_version=ov.get_version(),
            runtime_options=runtime,
            notes=["IR converted from the ONNX graph"],
        )
