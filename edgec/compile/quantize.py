"""INT8 with ONNX Runtime: static QDQ calibrated on the user's data, or dynamic, per target family.

Presets say what a target family's kernels want (ORT's own guidance, and TensorRT's parser rules):

- `x86-vnni`: uint8 activations (asymmetric), int8 per-channel weights; what ORT's x86 kernels run fastest.
- `arm`: int8 symmetric activations and weights; what ARM's int8 dot-product kernels prefer.
- `tensorrt`: int8 symmetric activations and weights, zero points 0, per-tensor activations,
  per-channel weights, no int32 bias, one Q/DQ pair per consumer: what TensorRT's ONNX parser
  accepts as explicit quantization (TensorRT 11 has no other INT8 path).

Calibration ranges are cached as ORT's JSON `TensorsData` (no pickle), keyed by the prepared
model, the samples and the calibration settings, so the sensitivity search and other presets
reuse one calibration run.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import onnx

from edgec.artifacts import sha256_file, sha256_json
from edgec.calibration.dataset import CalibrationSet
from edgec.errors import EdgecError

METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


@dataclass(frozen=True)
class Preset:
    name: str
    activation_type: str  # onnxruntime.quantization.QuantType member name
    weight_type: str
    extra_options: dict = field(default_factory=dict)
    description: str = ""


PRESETS = {
    "x86-vnni": Preset("x86-vnni", "QUInt8", "QInt8", {}, "uint8 activations, int8 per-channel weights (ORT x86)"),
    "arm": Preset(
        "arm", "QInt8", "QInt8", {"ActivationSymmetric": True, "WeightSymmetric": True},
        "int8 symmetric activations and weights (ARM int8 dot product)",
    ),
    "tensorrt": Preset(
        "tensorrt", "QInt8", "QInt8",
        {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False, "DedicatedQDQPair": True},
        "TensorRT explicit quantization: symmetric int8, zero points 0, no int32 bias, dedicated Q/DQ pairs",
    ),
}  # fmt: skip


def preset_for(backend: str, cpu_arch: str | None, asked: str = "auto") -> str:
    """The preset a target family wants, unless the user named one."""
    if asked != "auto":
        return asked
    if backend == "tensorrt":
        return "tensorrt"
    if cpu_arch and cpu_arch.lower() in {"arm64", "aarch64", "armv7", "arm"}:
        return "arm"
    return "x86-vnni"


def is_transformer_graph(model: onnx.ModelProto) -> bool:
    """Attention-style graphs (Softmax + LayerNormalization, or fused Attention): dynamic INT8
    suits them on CPU because their activation ranges vary per input."""
    ops = {node.op_type for node in model.graph.node}
    return bool({"Attention", "MultiHeadAttention"} & ops) or {"Softmax", "LayerNormalization"} <= ops


def prepare(model_path: Path, out_path: Path) -> Path:
    """`quant_pre_process`: shape inference and graph optimization, which quantization needs."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(model_path), str(out_path), skip_symbolic_shape=False)
    except Exception as exc:  # noqa: BLE001 - ORT's pre-processing raises many types
        raise EdgecError(f"{model_path}: quantization pre-processing failed: {exc}") from exc
    return out_path


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over a CalibrationSet."""

    def __init__(self, calib: CalibrationSet) -> None:
        self._calib = calib
        self._feeds = iter(calib.feeds())

    def get_next(self) -> dict | None:
        return next(self._feeds, None)

    def __len__(self) -> int:
        return len(self._calib)


def _calib_options(method: str, percentile: float) -> dict:
    options = {"CalibTensorRangeSymmetric": False}
    if method == "percentile":
        options["CalibPercentile"] = percentile
    return options


def ranges_cache_path(folder: Path, prepared: Path, calib: CalibrationSet, method: str, percentile: float) -> Path:
    """Where the calibration ranges of (this prepared graph, these samples, these settings) live."""
    import onnxruntime as ort

    key = {"model": sha256_file(prepared), "data": calib.fingerprint(), "method": method,
           "options": _calib_options(method, percentile), "ort": ort.__version__}  # fmt: skip
    return Path(folder) / f"{sha256_json(key)}.json"


def quantize_static_int8(
    model_path: Path,
    calib: CalibrationSet,
    out_path: Path,
    *,
    method: str = "minmax",
    per_channel: bool = True,
    nodes_to_exclude: list[str] | None = None,
    preset: str = "x86-vnni",
    percentile: float = 99.999,
    ranges_path: Path | None = None,
    prepared: bool = False,
) -> Path:
    """Static INT8 in QDQ format. `quant_pre_process` runs first unless `prepared`; with
    `ranges_path` the calibration ranges are read from (or saved to) that JSON file."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    chosen = PRESETS[preset]
    with tempfile.TemporaryDirectory(prefix="edgec-quant-") as tmp:
        source = model_path if prepared else prepare(model_path, Path(tmp) / "prepared.onnx")
        try:
            quantize_static(
                str(source), str(out_path), _Reader(calib),
                quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=getattr(QuantType, chosen.activation_type),
                weight_type=getattr(QuantType, chosen.weight_type),
                calibrate_method=getattr(CalibrationMethod, METHODS[method]),
                nodes_to_exclude=list(nodes_to_exclude or []),
                extra_options={**_calib_options(method, percentile), **chosen.extra_options},
                calibration_cache_path=ranges_path,
            )  # fmt: skip
        except ValueError as exc:
            raise EdgecError(f"{model_path}: static INT8 quantization failed: {exc}") from exc
    return out_path


def quantize_dynamic_int8(
    model_path: Path,
    out_path: Path,
    *,
    per_channel: bool = True,
    nodes_to_exclude: list[str] | None = None,
    prepared: bool = False,
) -> Path:
    """Dynamic INT8: int8 weights, activation scales computed per inference (MatMul/Gemm/Attention)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="edgec-quant-") as tmp:
        source = model_path if prepared else prepare(model_path, Path(tmp) / "prepared.onnx")
        quantize_dynamic(
            str(source), str(out_path), per_channel=per_channel, weight_type=QuantType.QInt8,
            nodes_to_exclude=list(nodes_to_exclude or []), extra_options={"MatMulConstBOnly": True},
        )  # fmt: skip
    return out_path


# Q/DQ themselves and ops that only move or reshape data: keeping one in float changes nothing.
_NOT_CANDIDATES = {
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Shape", "Size", "Reshape", "Transpose",
    "Squeeze", "Unsqueeze", "Flatten", "Gather", "Identity", "Relu", "Clip", "MaxPool", "Concat", "Split", "Slice",
    "Cast", "Expand", "Tile", "Pad",
}  # fmt: skip


def quantized_nodes(model_path: Path) -> list[str]:
    """Names of compute nodes that run on quantized inputs (fed by DequantizeLinear, or the
    dynamic-quantization ops): the candidates for keeping in float, in graph order."""
    model = onnx.load(str(model_path), load_external_data=False)
    dq_outputs = {out for node in model.graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    integer_ops = {
        "MatMulInteger",
        "ConvInteger",
        "DynamicQuantizeMatMul",
        "QAttention",
        "QLinearMatMul",
        "QLinearConv",
    }
    names = []
    for node in model.graph.node:
        if node.op_type in _NOT_CANDIDATES:
            continue
        if node.op_type in integer_ops or any(i in dq_outputs for i in node.input):
            names.append(node.name)
    return names


def dynamic_node_origins(quantized: Path) -> list[str]:
    """Dynamic quantization renames nodes (`X_quant`); map them back to the float graph's names."""
    return [name.removesuffix("_quant").removesuffix("_MatMul") for name in quantized_nodes(quantized)]
