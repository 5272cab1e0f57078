"""ONNX Runtime Mobile: the ORT format (`.ort` + required operators) and the usability check.

Both use ONNX Runtime's own tools: `convert_onnx_models_to_ort` (run as the documented
`python -m` command, in a subprocess, so its prints and temp files stay out of edgec's process)
and the partition analysis behind `check_onnx_model_mobile_usability`, called per execution
provider so its findings can be written down instead of only logged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgec.artifacts import atomic_write_text
from edgec.errors import EdgecError

ORT_MODEL = "model.ort"
REQUIRED_OPERATORS = "required_operators.config"
CONVERSION_LOG = "ort_conversion.log"
XNNPACK_OPS = Path(__file__).with_name("xnnpack_supported_ops.md")


def convert_to_ort(model: Path, out_dir: Path, *, style: str, target_platform: str | None) -> dict:
    """Write model.ort and required_operators.config into `out_dir`; return what was run."""
    with tempfile.TemporaryDirectory(prefix="edgec-ort-") as tmp:
        source_dir, convert_dir = Path(tmp) / "in", Path(tmp) / "out"
        source_dir.mkdir()
        shutil.copyfile(model, source_dir / "model.onnx")
        cmd = [sys.executable, "-m", "onnxruntime.tools.convert_onnx_models_to_ort", str(source_dir),
               "--output_dir", str(convert_dir), "--optimization_style", style]  # fmt: skip
        if target_platform:
            cmd += ["--target_platform", target_platform]
        env = {**os.environ, "ORT_CONVERT_ONNX_MODELS_TO_ORT_OPTIMIZATION_LEVEL": "all"}  # the documented default
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, env=env)
        log = (done.stdout + done.stderr).replace(tmp, "<tmp>")
        if done.returncode != 0:
            tail = "\n".join(log.strip().splitlines()[-8:])
            raise EdgecError(f"{model.name}: conversion to the ORT format failed:\n{tail}")
        # The tool names its outputs after the style and level (model.with_runtime_opt.ort, …).
        ort_files = sorted(convert_dir.glob("*.ort"))
        configs = sorted(convert_dir.glob("required_operators*.config"))
        if len(ort_files) != 1 or len(configs) != 1:
            raise EdgecError(f"{model.name}: ORT conversion did not write one .ort model and one operators config")
        ort_file, config = ort_files[0], configs[0]
        shutil.copyfile(ort_file, out_dir / ORT_MODEL)
        # The generated header lists temporary paths; keep only the operator lines and say where from.
        ops = [line for line in config.read_text().splitlines() if line and not line.startswith("#")]
        atomic_write_text(out_dir / REQUIRED_OPERATORS,
                          f"# Generated from {ORT_MODEL} by onnxruntime.tools.convert_onnx_models_to_ort\n"
                          "# (--optimization_style " + style + "); use with --include_ops_by_config\n"
                          + "\n".join(ops) + "\n")  # fmt: skip
        atomic_write_text(out_dir / CONVERSION_LOG, "$ " + " ".join(cmd).replace(tmp, "<tmp>") + "\n" + log)
    command = ["python", "-m", "onnxruntime.tools.convert_onnx_models_to_ort", "MODEL_DIR",
               "--optimization_style", style] + (["--target_platform", target_platform] if target_platform else [])  # fmt: skip
    return {"command": " ".join(command), "operators": ops}


def _partition_summary(info) -> dict:  # noqa: ANN001 - ORT's PartitioningInfo
    return {
        "nodes": info.num_nodes,
        "supported_nodes": info.num_supported_nodes,
        "coverage": round(info.num_supported_nodes / info.num_nodes, 4) if info.num_nodes else 0.0,
        "partitions": info.num_partitions,
        "unsupported_ops": sorted(info.unsupported_ops),
        "unsupported_due_to_dynamic_shape": info.nodes_unsupported_due_to_dynamic_input,
        "suitability": info.suitability().name,  # YES / MAYBE / NO, ORT's own verdict
    }


def usability_check(model: Path) -> dict:
    """NNAPI, Core ML (NeuralNetwork and MLProgram) and XNNPACK coverage of the graph as ONNX
    Runtime's mobile usability checker sees it (basic optimizations applied first, as it does)."""
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    with tempfile.TemporaryDirectory(prefix="edgec-usability-") as tmp:
        optimized = Path(tmp) / "model.onnx"
        optimize_model(model, optimized, use_external_initializers=True)
        graph_model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        dynamic_inputs, _ = uc.check_shapes(graph_model.graph)
        checks = {
            "NNAPI": lambda fixed: uc.check_nnapi_partitions(graph_model, fixed),
            "CoreML NeuralNetwork": lambda fixed: uc.check_coreml_partitions(
                graph_model, fixed, "coreml_supported_neuralnetwork_ops.md"),
            "CoreML MLProgram": lambda fixed: uc.check_coreml_partitions(
                graph_model, fixed, "coreml_supported_mlprogram_ops.md"),
            "XNNPACK": lambda fixed: uc._check_ep_partitioning(graph_model, XNNPACK_OPS, fixed),
        }  # fmt: skip
        findings = {}
        for ep, check in checks.items():
            as_is = _partition_summary(check(True))
            # Dynamic dims keep NNAPI off; say what fixing the shapes would buy, as ORT's tool does.
            if dynamic_inputs:
                as_is["if_shapes_fixed"] = _partition_summary(check(False))
            findings[ep] = as_is
    return {
        "tool": "onnxruntime.tools.check_onnx_model_mobile_usability (partition analysis)",
        "dynamic_inputs": [i.name for i in dynamic_inputs],
        "execution_providers": findings,
    }
