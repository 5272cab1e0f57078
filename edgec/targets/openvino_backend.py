"""OpenVINO builder: IR (.xml/.bin) from the precision-typed ONNX graph or from an OpenVINO IR
(an NNCF-quantized model), FP16 weight compression where asked, an explicit inference
precision, and, where the profile asks, the compiled model exported as a blob.

An INT8 QDQ graph becomes FakeQuantize nodes that OpenVINO's CPU plugin runs in INT8.
"""

from __future__ import annotations

import io
from pathlib import Path

import openvino as ov

from edgec.artifacts import atomic_write_bytes
from edgec.errors import EdgecError
from edgec.targets.base import Builder, BuildResult
from edgec.targets.profiles import TargetProfile

BLOB = "model.blob"


def read_source(model: Path) -> ov.Model:
    """An ONNX graph is converted; an IR (.xml with its .bin beside it) is read as it is."""
    try:
        if model.suffix == ".xml":
            if not model.with_suffix(".bin").is_file():
                raise EdgecError(f"{model}: OpenVINO IR without its weights file {model.with_suffix('.bin').name}")
            return ov.Core().read_model(str(model))
        return ov.convert_model(str(model))
    except EdgecError:
        raise
    except Exception as exc:  # noqa: BLE001 - OpenVINO's frontends raise several types
        raise EdgecError(f"{model}: OpenVINO could not read the model ({type(exc).__name__}: {exc})") from exc


def compile_config(runtime: dict) -> dict:
    """The same properties the runtime opens the model with (see OpenVinoRunner)."""
    config = {
        "PERFORMANCE_HINT": runtime["performance_hint"],
        "INFERENCE_PRECISION_HINT": runtime["inference_precision"],
    }
    if runtime.get("threads"):
        config["INFERENCE_NUM_THREADS"] = int(runtime["threads"])
    return config


class OpenVinoBuilder(Builder):
    name = "openvino"

    def version(self) -> str:
        return ov.get_version()

    def build(self, model: Path, precision: str, profile: TargetProfile, out_dir: Path) -> BuildResult:
        options = profile.ov
        converted = read_source(model)
        xml = out_dir / "model.xml"
        # FP16 weights when asked (profile or an fp16 build): the CPU plugin decompresses them on load.
        compress = options.compress_weights_fp16 or precision == "fp16"
        ov.save_model(converted, str(xml), compress_to_fp16=compress)
        runtime = {
            "device": options.device,
            "performance_hint": options.performance_hint,
            "inference_precision": options.inference_precision or ("f16" if precision == "fp16" else "f32"),
        }
        if profile.threads:
            runtime["threads"] = profile.threads
        source = "OpenVINO IR (read as given)" if model.suffix == ".xml" else "converted from the ONNX graph"
        notes = [f"IR {source}", f"weights {'fp16' if compress else 'as in the source'}",
                 f"inference precision {runtime['inference_precision']}"]  # fmt: skip
        details = {"ir": ["model.xml", "model.bin"], "source_format": model.suffix.lstrip("."),
                   "compress_weights_fp16": compress, "compile_config": compile_config(runtime)}  # fmt: skip
        engine = xml.name
        if options.export_compiled_blob:
            compiled = ov.Core().compile_model(ov.Core().read_model(str(xml)), options.device, compile_config(runtime))
            exported = compiled.export_model()
            data = exported.getvalue() if isinstance(exported, io.BytesIO) else bytes(exported)
            atomic_write_bytes(out_dir / BLOB, data)
            engine = BLOB
            details["compiled_blob"] = {"file": BLOB, "device": options.device, "openvino": ov.get_version()}
            notes.append(
                f"compiled blob for {options.device} (opens only with OpenVINO {ov.get_version()}; the IR is the fallback)"
            )
        return BuildResult(
            engine=engine,
            runner="openvino",
            backend_version=ov.get_version(),
            runtime_options=runtime,
            notes=notes,
            details=details,
        )
