"""The export stage: a PyTorch or Hugging Face model, or a user's ONNX file, to a checked graph.

export (or load) -> graph passes -> save -> parity (ONNX Runtime vs the reference on real and
random samples) -> summary. The report this returns is what `export_report.json` holds.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgec.artifacts import atomic_write_json, file_entries, read_json
from edgec.calibration.dataset import load_npz
from edgec.compile.config import DEFAULT_TOLERANCES, DynamicDim, ExportConfig, ExportInput, PassesConfig, Tolerance
from edgec.compile.graph import PROVENANCE_KEY, io_specs, load_model
from edgec.compile.parity import Feeds, OrtRunner, check_batches
from edgec.compile.passes import run_passes, save_model
from edgec.compile.summary import summarize
from edgec.errors import EdgecError

MODEL_FILE, REPORT_FILE = "model.onnx", "export_report.json"
Batch = tuple[str, Feeds]


def _sample(spec: ExportInput, shape: list[int], rng: np.random.Generator) -> np.ndarray:
    if spec.dtype in ("float32", "float16"):
        if spec.range:
            return rng.uniform(spec.range[0], spec.range[1], shape).astype(spec.dtype)
        return rng.standard_normal(shape).astype(spec.dtype)
    if spec.dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    low, high = spec.range or (0, 2)
    return rng.integers(int(low), max(int(high), int(low) + 1), shape).astype(spec.dtype)


def trace_shape(spec: ExportInput) -> list[int]:
    """The example shape, with dynamic axes of size 1 made 2 (torch.export pins a size-1 dim)."""
    return [2 if axis in spec.dynamic and size == 1 and spec.dynamic[axis].max >= 2 else size
            for axis, size in enumerate(spec.shape)]  # fmt: skip


def random_batches(specs: list[ExportInput], count: int, seed: int) -> list[Batch]:
    """`count` random batches; each named dynamic dim takes its min, the example size and a
    larger size in turn (the same size for every input sharing the name)."""
    rng = np.random.default_rng(seed)
    choices: dict[str, list[int]] = {}
    for spec in specs:
        for axis, dim in spec.dynamic.items():
            example = spec.shape[axis]
            choices.setdefault(dim.name, sorted({dim.min, example, min(dim.max, max(2 * example, dim.min))}))
    batches = []
    for index in range(count):
        sizes = {name: options[index % len(options)] for name, options in choices.items()}
        feeds = {}
        for spec in specs:
            shape = [sizes[spec.dynamic[a].name] if a in spec.dynamic else s for a, s in enumerate(spec.shape)]
            feeds[spec.name] = _sample(spec, shape, rng)
        batches.append((f"random batch {index} (dims {sizes or 'fixed'})", feeds))
    return batches


def real_batches(path: Path | None, names: list[str], count: int, batch_dynamic: bool) -> list[Batch]:
    """The first `count` samples of a data file: one batch, or one per sample if batch is fixed."""
    if path is None or count == 0:
        return []
    arrays = load_npz(path)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise EdgecError(f"{path}: has no array for input(s) {missing} (it has {sorted(arrays)}) for the parity check")
    n = min(count, *(len(arrays[name]) for name in names))
    if batch_dynamic:
        return [(f"{n} real samples from {path.name}", {name: arrays[name][:n] for name in names})]
    return [(f"real sample {i} from {path.name}", {name: arrays[name][i : i + 1] for name in names}) for i in range(n)]


def _flatten(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict) or hasattr(value, "to_tuple"):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _flatten(item)]
    return []


def torch_reference(module, input_names: list[str], output_names: list[str]) -> Callable[[Feeds], dict]:
    import torch

    def run(feeds: Feeds) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = _flatten(module(*[torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in input_names]))
        if len(out) != len(output_names):
            raise EdgecError(f"the module returns {len(out)} tensors, the ONNX graph has outputs {output_names}")
        return {name: t.detach().numpy() for name, t in zip(output_names, out, strict=True)}

    return run


def hf_reference(model, output_names: list[str]) -> Callable[[Feeds], dict]:
    import torch

    def run(feeds: Feeds) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in feeds.items()})
        return {name: out[name].numpy() for name in output_names}

    return run


def _hf_specs(path: Path, model) -> list[ExportInput]:
    """Graph inputs as ExportInputs: named dims sized 2 (batch) / 8 (others), ids within vocab."""
    inputs, _ = io_specs(load_model(path))
    config = getattr(model, "config", None)
    ranges = {"input_ids": (0, getattr(config, "vocab_size", 2)), "token_type_ids": (0, getattr(config, "type_vocab_size", 2)),
              "attention_mask": (1, 2)}  # fmt: skip
    specs = []
    for spec in inputs:
        shape = [d if isinstance(d, int) else (2 if i == 0 else 8) for i, d in enumerate(spec.shape)]
        dynamic = {i: DynamicDim(name=d if d != "?" else f"dim{i}", min=1, max=64)
                   for i, d in enumerate(spec.shape) if not isinstance(d, int)}  # fmt: skip
        specs.append(ExportInput(name=spec.name, shape=shape, dtype=spec.dtype, range=ranges.get(spec.name),
                                 dynamic=dynamic))  # fmt: skip
    return specs


def export_model(export: ExportConfig, folder: Path, *, opset: int, real_data: Path | None) -> dict:
    """Export into `folder` (model.onnx [+ .data], export_report.json); returns the report."""
    source = f"export ({export.module or export.hf_model})"
    with tempfile.TemporaryDirectory(prefix="edgec-export-") as tmp:
        raw = Path(tmp) / "raw.onnx"
        if export.hf_model is not None:
            from edgec.compile.hf_export import export_hf, load_hf_model, resolve_task

            task = resolve_task(export.hf_model, export.task)
            module = load_hf_model(export.hf_model, task)
            info = export_hf(export.hf_model, task, opset, raw)
            specs = _hf_specs(raw, module)
        else:
            import torch

            from edgec.compile.export import export_module, load_user_module

            module = load_user_module(export.module, export.kwargs, export.weights, export.base_dir)
            specs = list(export.inputs)
            rng = np.random.default_rng(export.parity.seed)
            args = tuple(torch.from_numpy(_sample(s, trace_shape(s), rng)) for s in specs)
            dynamic = {s.name: {a: (d.name, d.min, d.max) for a, d in s.dynamic.items()} for s in specs}
            info = export_module(module, args, raw, input_names=[s.name for s in specs], output_names=export.outputs,
                                 dynamic=dynamic, opset=opset, exporter=export.exporter)  # fmt: skip
        model, passes = run_passes(load_model(raw, load_external_data=True), export.passes, source)
    provenance = _distilled_provenance(export)
    if provenance is not None:  # a student from `edgec distill`: its teacher travels into every manifest
        entry = model.metadata_props.add()
        entry.key, entry.value = PROVENANCE_KEY, json.dumps(provenance, sort_keys=True)
    files = save_model(model, folder / MODEL_FILE, external_data=export.external_data)
    candidate = OrtRunner(folder / MODEL_FILE)
    names = [s.name for s in specs]
    if export.hf_model is not None:
        reference = hf_reference(module, candidate.output_names)
    else:
        reference = torch_reference(module, names, candidate.output_names)
    batch_dynamic = all(0 in s.dynamic for s in specs)
    batches = real_batches(export.parity.data or real_data, names, export.parity.samples, batch_dynamic)
    batches += random_batches(specs, export.parity.random, export.parity.seed)
    precision = "fp16" if export.passes.fp16 else "fp32"
    parity = check_batches(batches, reference, candidate, export.parity.tolerance(precision), source)
    report = {"source": {"module": export.module, "hf_model": str(export.hf_model) if export.hf_model else None},
              "exporter": info, "opset": opset, "external_data": len(files) > 1, "passes": passes,
              "parity": {"reference": "pytorch", "precision": precision, **parity},
              "summary": summarize(folder / MODEL_FILE), "files": file_entries(folder)}  # fmt: skip
    atomic_write_json(folder / REPORT_FILE, report)
    return report


def _distilled_provenance(export: ExportConfig) -> dict | None:
    """provenance.json beside the weights (or in the HF folder), as `edgec distill` writes it."""
    folder = export.weights.parent if export.weights is not None else export.hf_model
    path = folder / "provenance.json" if folder is not None else None
    if path is None or not path.is_file():
        return None
    data = read_json(path, "student provenance")
    if not isinstance(data, dict):
        raise EdgecError(f"{path}: expected a JSON object")
    return data


def _noise_like(feeds: Feeds, rng: np.random.Generator) -> Feeds:
    """Float inputs replaced by noise of the same shape, mean and spread; the rest kept."""
    out = {}
    for name, value in feeds.items():
        if value.dtype.kind == "f":
            spread = float(value.std()) or 1.0
            out[name] = (rng.standard_normal(value.shape) * spread + float(value.mean())).astype(value.dtype)
        else:
            out[name] = value
    return out


def _one_sample(array: np.ndarray, index: int, rank: int) -> np.ndarray:
    """Sample `index`: an array with one axis more than the input has the sample axis in front
    (a scalar sample rate, a [2, batch, 128] state); otherwise axis 0 is the batch and is kept."""
    if array.ndim == rank + 1:
        return np.asarray(array[index])
    if array.ndim == rank == 0:
        return array
    return array[index : index + 1]


def prepare_onnx(source: Path, folder: Path, *, passes: PassesConfig, real_data: Path | None,
                 samples: int = 8, random: int = 4, seed: int = 0,
                 tolerance: Tolerance | None = None) -> dict:  # fmt: skip
    """Bring-your-own ONNX: the same passes; parity of the result against the original graph."""
    original = load_model(source, load_external_data=True)
    model, reports = run_passes(original, passes, str(source))
    files = save_model(model, folder / MODEL_FILE, external_data=False)
    reference, candidate = OrtRunner(source), OrtRunner(folder / MODEL_FILE)
    batches: list[Batch] = []
    if real_data is not None:
        arrays = load_npz(real_data)
        missing = [n for n in reference.input_names if n not in arrays]
        if missing:
            raise EdgecError(f"{real_data}: has no array for graph input(s) {missing} (it has {sorted(arrays)})")
        sized = [len(arrays[n]) for n in reference.input_names if arrays[n].ndim > 0]
        count = min(samples, *sized) if sized else min(samples, 1)
        real = [(f"real sample {i}", {n: _one_sample(arrays[n], i, reference.ranks[n]) for n in reference.input_names})
                for i in range(count)]  # fmt: skip
        rng = np.random.default_rng(seed)
        batches = real + [(f"random sample {i}", _noise_like(real[i % len(real)][1], rng))
                          for i in range(random if real else 0)]  # fmt: skip
    precision = "fp16" if passes.fp16 else "fp32"
    parity = check_batches(batches, reference, candidate, tolerance or DEFAULT_TOLERANCES[precision], str(source))
    opset = next((e.version for e in original.opset_import if e.domain in ("", "ai.onnx")), None)
    report = {"source": {"onnx": str(source)}, "exporter": None, "opset": opset,
              "external_data": len(files) > 1, "passes": reports,
              "parity": {"reference": "original ONNX graph", "precision": precision, **parity},
              "summary": summarize(folder / MODEL_FILE), "files": file_entries(folder)}  # fmt: skip
    atomic_write_json(folder / REPORT_FILE, report)
    return report
