"""OpenVINO INT8 through NNCF: the float ONNX graph read by OpenVINO, quantized by NNCF's
post-training algorithms on the calibration set, saved as IR (model.xml + model.bin).

With eval data, `nncf.quantize_with_accuracy_control` holds the budget itself (it reverts the
most harmful quantizers to float until the metric is within `max_drop`); without, `nncf.quantize`.
NNCF's ONNX path would write uint8 zero points (not TensorRT input), so this path serves only the
`openvino` backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgec.calibration.dataset import CalibrationSet
from edgec.errors import EdgecError

_WEIGHTED = {"Convolution", "GroupConvolution", "ConvolutionBackpropData", "MatMul"}
# Ops that only move data: NNCF puts FakeQuantize before them (they commute with quantization).
_TRANSPARENT = {"MaxPool", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Gather", "Convert", "StridedSlice",
                "Concat", "Broadcast"}  # fmt: skip


def _import():
    try:
        import nncf
        import openvino as ov
    except ImportError as exc:
        raise EdgecError("OpenVINO INT8 needs openvino and nncf: pip install 'edgec[openvino]'") from exc
    return nncf, ov


def run_openvino(model, data: CalibrationSet) -> np.ndarray:
    """First output for every sample, in f32 (not the CPU plugin's default bf16 on AVX-512 BF16)."""
    _nncf, ov = _import()
    if isinstance(model, (str, Path)):
        model = ov.Core().read_model(str(model))
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return _outputs(compiled, data.feeds())


def _outputs(compiled, feeds) -> np.ndarray:
    return np.concatenate([np.asarray(compiled(feed)[0]) for feed in feeds], axis=0)


def float_nodes(model) -> list[str]:
    """Weighted ops whose activation input is not fed by a FakeQuantize: they run in float."""
    kept = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in _WEIGHTED:
            producer = op.input_value(0).get_node()
            while producer.get_type_name() in _TRANSPARENT and producer.get_input_size() > 0:
                producer = producer.input_value(0).get_node()
            if producer.get_type_name() != "FakeQuantize":
                kept.append(op.get_friendly_name())
    return kept


def quantize_openvino(
    onnx_path: Path,
    calib: CalibrationSet,
    out_dir: Path,
    *,
    transformer: bool = False,
    judge=None,
    judge_data: CalibrationSet | None = None,
    max_drop: float | None = None,
    ignored: list[str] = (),
) -> dict:
    """Write `out_dir/model.xml` (+ .bin); return {file, algorithm, kept_in_float}.

    `judge` (an `edgec.compile.sensitivity.Judge`) with `judge_data` turns on accuracy control."""
    nncf, ov = _import()
    import logging

    from nncf.common.logging import nncf_logger

    nncf_logger.setLevel(logging.WARNING)  # its INFO lines would interleave with edgec's own log
    model = ov.convert_model(str(onnx_path))
    calibration = nncf.Dataset(calib.feeds())
    common = {
        "subset_size": len(calib),
        "model_type": nncf.ModelType.TRANSFORMER if transformer else None,
        "ignored_scope": nncf.IgnoredScope(names=list(ignored), validate=False) if ignored else None,
    }
    if judge is not None and judge_data is not None and max_drop is not None:
        indexed = [(i, feed) for i, feed in enumerate(judge_data.feeds())]
        validation = nncf.Dataset(indexed, lambda item: item[1])

        def validate(compiled, items) -> float:
            items = list(items)
            outputs = _outputs(compiled, [feed for _, feed in items])
            index = np.array([i for i, _ in items])
            # Scored on the validated subset against the float outputs (and labels) of that subset.
            sub = type(judge)(judge.metric, judge.reference[index],
                              None if judge.labels is None else judge.labels[index])  # fmt: skip
            return sub.score(outputs)

        try:
            quantized = nncf.quantize_with_accuracy_control(
                model, calibration, validation, validate, max_drop=max_drop,
                drop_type=nncf.DropType.ABSOLUTE, **common,
            )  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - NNCF raises its own and plain errors
            raise EdgecError(f"{onnx_path}: NNCF accuracy-controlled quantization failed: {exc}") from exc
        algorithm = "nncf.quantize_with_accuracy_control"
    else:
        try:
            quantized = nncf.quantize(model, calibration, **common)
        except Exception as exc:  # noqa: BLE001
            raise EdgecError(f"{onnx_path}: NNCF quantization failed: {exc}") from exc
        algorithm = "nncf.quantize"
    out = Path(out_dir) / "model.xml"
    ov.save_model(quantized, str(out), compress_to_fp16=False)
    return {"file": out.name, "algorithm": algorithm, "kept_in_float": float_nodes(quantized),
            "nncf": nncf.__version__, "model_type": "transformer" if transformer else None}  # fmt: skip
