"""Text encoders (BERT-family) for x86 CPUs through OpenVINO: static shapes, then NNCF INT8 with
optional float layers for fidelity-first builds.

Measured in `perf/minilm_compare.py` (numbers in `docs/performance.md`): on an AVX-512 VNNI CPU
OpenVINO's INT8 kernels beat ONNX Runtime's (even after ORT's transformer fusions) for MiniLM at
batch 1, and fixing the input shape ([1, seq] instead of dynamic batch and sequence) lets the CPU
plugin plan every kernel once: about 0.8x the latency of the same NNCF INT8 model kept dynamic. Sequence-length buckets (`SequenceBuckets`) give one
static engine per bucket for text whose real length is much shorter than the maximum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.compile.transformer import SequenceBuckets
from edgec.errors import EdgecError

# Nothing is kept in float by default: on MiniLM every subset tried (attention's activation
# MatMuls, one layer, the last layer) cost latency without raising the minimum cosine, except the
# FFN output projections of every layer (FIDELITY_FIRST_PATTERNS), which raise it from 0.994 to
# 0.996 at about 1.4x the latency. See docs/performance.md.
DEFAULT_FLOAT_PATTERNS: tuple[str, ...] = ()
FIDELITY_FIRST_PATTERNS = (r".*/layer\.\d+/output/dense/MatMul.*",)


@dataclass
class OpenVinoTextBuild:
    path: Path
    shape: dict[str, list[int]]
    float_patterns: list[str]
    notes: list[str] = field(default_factory=list)
    runtime_options: dict = field(default_factory=dict)  # what the OpenVINO runner needs to open it


def build_openvino_text_encoder(
    onnx_in: str | Path,
    out_xml: str | Path,
    calib: Sequence[dict[str, np.ndarray]],
    *,
    seq: int | None = 128,
    batch: int = 1,
    float_patterns: Sequence[str] = DEFAULT_FLOAT_PATTERNS,
    quantize: bool = True,
    weights_only: bool = False,
    buckets: Sequence[int] | None = None,
) -> OpenVinoTextBuild:
    """ONNX encoder -> OpenVINO IR, reshaped to static [batch, seq] (seq=None keeps it dynamic),
    INT8 by `nncf.quantize` (transformer model type) on `calib` feeds, float weights kept f32.

    With `buckets` (e.g. 16, 32, 64, 128) the IR keeps a dynamic sequence axis, calibration runs
    on each sentence cut to its bucket (so padding positions do not set the INT8 ranges), and
    `runtime_options` tells the OpenVINO runner to compile one static model per bucket.
    `weights_only`: INT8 weights, float activations (`nncf.compress_weights`): no calibration,
    near-float fidelity, less speed than full INT8."""
    import openvino as ov

    onnx_in, out_xml = Path(onnx_in), Path(out_xml)
    if not onnx_in.is_file():
        raise EdgecError(f"{onnx_in}: ONNX model not found")
    if quantize and not weights_only and not calib:
        raise EdgecError(f"{onnx_in}: INT8 needs calibration feeds (tokenized sentences)")
    model = ov.convert_model(str(onnx_in))
    names = [p.get_any_name() for p in model.inputs]
    shape: dict[str, list[int]] = {}
    notes = []
    runtime_options: dict = {}
    if buckets:
        sizes = SequenceBuckets(tuple(sorted(int(b) for b in buckets)))
        model.reshape({name: [batch, -1] for name in names})
        calib = [sizes.pad(feed) for feed in calib]
        runtime_options = {"sequence_buckets": {"sizes": list(sizes.sizes), "mask": "attention_mask"}}
        notes.append(f"sequence buckets {list(sizes.sizes)}: one static [{batch}, n] model per bucket at load")
        seq = None
    elif seq is not None:
        shape = {name: [batch, seq] for name in names}
        model.reshape(shape)
        notes.append(f"static input shape [{batch}, {seq}]")
    else:
        notes.append("dynamic input shape")
    if quantize and weights_only:
        import nncf

        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_SYM)
        notes.append("NNCF weight-only INT8 (symmetric), activations in float")
    elif quantize:
        model = _nncf_int8(model, names, calib, seq, float_patterns)
        notes.append(f"NNCF INT8 (transformer), {len(calib)} calibration samples, kept in float: "
                     + (", ".join(float_patterns) or "nothing"))  # fmt: skip
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(out_xml), compress_to_fp16=False)
    return OpenVinoTextBuild(out_xml, shape, list(float_patterns), notes, runtime_options)


def _nncf_int8(model, names: list[str], calib, seq: int | None, float_patterns: Sequence[str]):
    import nncf

    feeds = []
    for i, feed in enumerate(calib):
        missing = [n for n in names if n not in feed]
        if missing:
            raise EdgecError(f"calibration sample {i}: input '{missing[0]}' is missing (graph inputs: {names})")
        item = {n: np.asarray(feed[n]) for n in names}
        if seq is not None and any(a.shape[-1] != seq for a in item.values()):
            raise EdgecError(f"calibration sample {i}: sequence length {item[names[0]].shape[-1]} != {seq}")
        feeds.append(item)
    kwargs = {}
    if float_patterns:
        kwargs["ignored_scope"] = nncf.IgnoredScope(patterns=list(float_patterns), validate=False)
    return nncf.quantize(model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(feeds), **kwargs)  # fmt: skip
