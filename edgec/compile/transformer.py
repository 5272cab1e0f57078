"""Text encoders (BERT-family) for x86 CPUs: ONNX Runtime transformer fusions, then INT8.

Plain INT8 on an unfused BERT graph quantizes dozens of small MatMuls and leaves attention,
LayerNorm and GELU as chains of elementwise nodes. ONNX Runtime's transformer optimizer first
fuses each layer into `Attention`, `SkipLayerNormalization` and `BiasGelu` (plus
`EmbedLayerNormalization`), and only then are the remaining weight matrices quantized, so the
INT8 kernels (VNNI dot products on AVX-512 VNNI CPUs) see a few large GEMMs per layer.

`build_x86_text_encoder` is the recipe measured in `perf/minilm_compare.py`; see
`docs/performance.md` for the numbers behind each default.

Real sentences are much shorter than the 128 tokens a model is usually exported for:
`SequenceBuckets` pads each batch to the smallest bucket that holds it instead of to the maximum.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.benchmarks.runners import fit_to_bucket
from edgec.errors import EdgecError

# ORT's optimizer names for the families it knows how to fuse (onnxruntime.transformers).
FUSABLE_MODEL_TYPES = ("bert", "bart", "gpt2", "t5", "vit", "clip", "phi")


@dataclass(frozen=True)
class EncoderShape:
    """What the fusion pass must be told about the encoder (it cannot always infer it)."""

    num_heads: int
    hidden_size: int
    model_type: str = "bert"

    @classmethod
    def from_hf_config(cls, config_json: str | Path) -> EncoderShape:
        """Read heads/hidden size from a Hugging Face `config.json`."""
        import json

        path = Path(config_json)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EdgecError(f"{path}: cannot read the model config ({exc})") from exc
        missing = [k for k in ("num_attention_heads", "hidden_size") if k not in data]
        if missing:
            raise EdgecError(f"{path}: key '{missing[0]}' is missing (needed for transformer fusion)")
        model_type = data.get("model_type", "bert")
        # BERT-likes (MiniLM, RoBERTa, DistilBERT, …) share the bert fusion patterns.
        fusion_type = model_type if model_type in FUSABLE_MODEL_TYPES else "bert"
        return cls(int(data["num_attention_heads"]), int(data["hidden_size"]), fusion_type)


@dataclass
class TextEncoderBuild:
    """What `build_x86_text_encoder` did, for the manifest's `build.notes` and `quality`."""

    path: Path
    fused_ops: dict[str, int]
    quantization: str
    excluded_nodes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fuse_transformer(onnx_in: Path, onnx_out: Path, shape: EncoderShape, *, opt_level: int = 1) -> dict[str, int]:
    """ORT transformer fusions (Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm); returns
    the count of each fused op. `opt_level=1` keeps the graph portable (no CPU-specific layout
    transforms), like the ONNX Runtime builder's offline "extended" level."""
    from onnxruntime.transformers.optimizer import optimize_model

    if shape.model_type not in FUSABLE_MODEL_TYPES:
        raise EdgecError(f"model_type {shape.model_type!r} cannot be fused (known: {', '.join(FUSABLE_MODEL_TYPES)})")
    try:
        optimized = optimize_model(
            str(onnx_in),
            model_type=shape.model_type,
            num_heads=shape.num_heads,
            hidden_size=shape.hidden_size,
            opt_level=opt_level,
            use_gpu=False,
        )
    except Exception as exc:  # noqa: BLE001 - the optimizer raises whatever its passes raise
        raise EdgecError(f"{onnx_in}: transformer fusion failed: {exc}") from exc
    stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    optimized.save_model_to_file(str(onnx_out))
    return stats


def build_x86_text_encoder(
    onnx_in: str | Path,
    out: str | Path,
    shape: EncoderShape,
    *,
    quantize: str = "dynamic",
    calib: Sequence[dict[str, np.ndarray]] | None = None,
    exclude_nodes: Sequence[str] = (),
    per_channel: bool = False,
    quantize_attention: bool = True,
) -> TextEncoderBuild:
    """Fuse, then quantize a BERT-family encoder for an x86 CPU with ONNX Runtime.

    quantize: "dynamic" (INT8 weights, activations quantized per call: no calibration data,
    robust to the wide activation ranges of attention; the measured default), "static" (QDQ,
    calibrated on `calib` feeds), or "none" (fusions only, float). quantize_attention=False keeps
    the fused Attention ops in float and quantizes only the other MatMuls (FFN, projections).
    """
    op_types = ["MatMul", "Attention"] if quantize_attention else ["MatMul"]
    onnx_in, out = Path(onnx_in), Path(out)
    if not onnx_in.is_file():
        raise EdgecError(f"{onnx_in}: ONNX model not found")
    if quantize not in ("dynamic", "static", "none"):
        raise EdgecError(f"quantize {quantize!r} is not one of 'dynamic', 'static', 'none'")
    if quantize == "static" and not calib:
        raise EdgecError(f"{onnx_in}: static INT8 needs calibration feeds")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgec-text-") as tmp:
        fused = Path(tmp) / "fused.onnx"
        stats = fuse_transformer(onnx_in, fused, shape)
        notes = ["ORT transformer fusions: " + ", ".join(f"{k} x{v}" for k, v in sorted(stats.items()))]
        if quantize == "none":
            fused.replace(out)
            return TextEncoderBuild(out, stats, "none", [], notes)
        if quantize == "dynamic":
            _quantize_dynamic(fused, out, exclude_nodes, per_channel, op_types)
        else:
            _quantize_static(fused, out, calib, exclude_nodes, per_channel, op_types)
    notes.append(f"INT8 {quantize} ({', '.join(op_types)}): signed int8 weights{' per channel' if per_channel else ''}, "
                 f"{len(exclude_nodes)} node(s) kept in float")  # fmt: skip
    return TextEncoderBuild(out, stats, quantize, list(exclude_nodes), notes)


def _quantize_dynamic(fused: Path, out: Path, exclude: Sequence[str], per_channel: bool, op_types: list[str]) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Attention becomes QAttention and MatMul DynamicQuantizeMatMul: ORT's u8s8 VNNI kernels.
    # Gather (the embedding table) stays float: quantizing it saves size, not time, and costs fidelity.
    quantize_dynamic(
        str(fused),
        str(out),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        op_types_to_quantize=op_types,
        nodes_to_exclude=list(exclude),
        # Fused ops (com.microsoft domain) defeat ONNX shape inference; their outputs are float.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _quantize_static(fused: Path, out: Path, calib, exclude: Sequence[str], per_channel: bool,
                     op_types: list[str]) -> None:  # fmt: skip
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    feeds = iter(list(calib))

    class _Reader:
        def get_next(self):
            return next(feeds, None)

    quantize_static(
        str(fused),
        str(out),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=per_channel,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=op_types,
        nodes_to_exclude=list(exclude),
        calibrate_method=CalibrationMethod.MinMax,
        # Fused ops (com.microsoft domain) defeat ONNX shape inference; their outputs are float.
        extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
    )


@dataclass(frozen=True)
class SequenceBuckets:
    """Pad token batches to the smallest bucket that holds them (e.g. 16/32/64/128), not to the
    maximum: attention cost grows with the square of the padded length."""

    sizes: tuple[int, ...] = (16, 32, 64, 128)

    def __post_init__(self) -> None:
        if not self.sizes or list(self.sizes) != sorted(set(self.sizes)) or self.sizes[0] < 1:
            raise EdgecError(f"sequence buckets {self.sizes} must be distinct positive lengths in rising order")

    def bucket_for(self, length: int) -> int:
        for size in self.sizes:
            if length <= size:
                return size
        raise EdgecError(f"a sequence of {length} tokens is longer than the largest bucket ({self.sizes[-1]})")

    def pad(self, feed: dict[str, np.ndarray], mask_name: str = "attention_mask") -> dict[str, np.ndarray]:
        """Cut or pad every [batch, seq] input of `feed` to the bucket of its longest real row."""
        if mask_name not in feed:
            raise EdgecError(f"input '{mask_name}' is missing; buckets need the attention mask")
        self.bucket_for(max(int(np.asarray(feed[mask_name]).sum(axis=1).max()), 1))  # too long: a clear error
        # One cutting rule for build-time calibration and the runner that serves the buckets.
        return fit_to_bucket(feed, list(self.sizes), mask_name)[1]
