"""INT8 quantization with ONNX Runtime: static, QDQ format, calibrated on the user's data."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgec.calibration.dataset import CalibrationSet
from edgec.errors import EdgecError

_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a CalibrationSet."""

    def __init__(self, calib: CalibrationSet) -> None:
        self._feeds = iter(calib.feeds())

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def quantize_static_int8(
    model_path: Path,
    calib: CalibrationSet,
    out_path: Path,
    *,
    method: str = "minmax",
    per_channel: bool = True,
    nodes_to_exclude: list[str] | None = None,
) -> Path:
    """Static INT8 in QDQ format: int8 weights (per channel), uint8 activations, as ORT's
    x86 CPU kernels prefer; `quant_pre_process` first so shapes are known and graphs fused."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="edgec-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            quant_pre_process(str(model_path), str(prepared), skip_symbolic_shape=False)
        except Exception as exc:  # noqa: BLE001 - ORT's pre-processing raises many types
            raise EdgecError(f"{model_path}: quantization pre-processing failed: {exc}") from exc
        quantize_static(
            str(prepared),
            str(out_path),
            _Reader(calib),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=getattr(CalibrationMethod, _METHODS[method]),
            nodes_to_exclude=nodes_to_exclude or [],
            extra_options={"CalibTensorRangeSymmetric": False},
        )
    return out_path
