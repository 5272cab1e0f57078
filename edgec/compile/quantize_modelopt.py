"""INT8 Q/DQ (+ FP16 elsewhere) for TensorRT through NVIDIA ModelOpt's ONNX quantizer.

`modelopt.onnx.quantization.quantize` writes the graph TensorRT 11 wants (strongly typed: Q/DQ
for INT8, casts for FP16) and runs its calibration on CPU. It is an optional extra: its `[onnx]`
extra pulls `onnxruntime-gpu`, which must not replace the CPU `onnxruntime` of the default
environment, so install it in a separate environment (pip install "nvidia-modelopt[onnx]").
Written against ModelOpt's documented API; not exercised by edgec's CI (see docs/quantization.md).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from edgec.calibration.dataset import CalibrationSet
from edgec.errors import EdgecError

EXTRA = "nvidia-modelopt[onnx] (in its own environment: it pulls onnxruntime-gpu)"


def modelopt_available() -> bool:
    try:
        importlib.import_module("modelopt.onnx.quantization")
    except ImportError:
        return False
    return True


def quantize_modelopt(
    onnx_path: Path,
    calib: CalibrationSet,
    out_path: Path,
    *,
    method: str = "entropy",
    high_precision_dtype: str = "fp16",
    nodes_to_exclude: list[str] | None = None,
    calibration_eps: tuple[str, ...] = ("cpu",),
) -> Path:
    """INT8 Q/DQ with the non-quantized part in `high_precision_dtype`, calibrated on CPU."""
    try:
        moq = importlib.import_module("modelopt.onnx.quantization")
    except ImportError as exc:
        raise EdgecError(f"quantize.tool 'modelopt' needs {EXTRA}; it is not importable here ({exc})") from exc
    if method not in {"entropy", "max", "minmax"}:
        raise EdgecError(f"calibration.method {method!r}: ModelOpt INT8 takes 'entropy' or 'minmax'")
    try:
        moq.quantize(
            str(onnx_path),
            quantize_mode="int8",
            calibration_data=dict(calib.arrays),
            calibration_method="max" if method in {"max", "minmax"} else "entropy",
            calibration_eps=list(calibration_eps),
            nodes_to_exclude=list(nodes_to_exclude or []) or None,
            high_precision_dtype=high_precision_dtype,
            output_path=str(out_path),
        )
    except Exception as exc:  # noqa: BLE001 - ModelOpt raises plain exceptions
        raise EdgecError(f"{onnx_path}: ModelOpt INT8 quantization failed: {exc}") from exc
    if not Path(out_path).is_file():
        raise EdgecError(f"{onnx_path}: ModelOpt finished without writing {out_path}")
    return Path(out_path)
