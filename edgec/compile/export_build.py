"""The export stage in the pipeline: cached runs, `edgec export`, and the two ways into `build`.

- a config with `export:` and no `model:` -> one export per opset the targets need -> build;
- `edgec build --model FILE.onnx` (bring your own) -> the same passes and checks -> build.
Both go through the content-addressed `StageCache`: unchanged inputs and settings are not redone.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

from edgec.artifacts import folder_lock, prepare_output_folder, sha256_file, staged_dir, sweep_temporaries
from edgec.compile.config import ExportConfig, PassesConfig
from edgec.compile.export_stage import MODEL_FILE, REPORT_FILE, export_model, prepare_onnx
from edgec.compile.graph import external_data_refs, load_model
from edgec.config import Config, validate_mapping
from edgec.errors import EdgecError
from edgec.stages import StageCache, StageResult

Log = Callable[[str], None]


def _versions() -> dict:
    """Versions of what decides the exported graph (read from metadata: importing torch is slow)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "onnx", "onnxruntime", "onnxscript", "onnxslim", "optimum-onnx", "transformers"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def _module_files(export: ExportConfig) -> dict:
    """sha256 of the file defining `module:` (so editing the model's code re-exports)."""
    import sys

    name = export.module.partition(":")[0]
    sys.path.insert(0, str(export.base_dir))
    try:
        spec = find_spec(name)
    except (ImportError, ValueError) as exc:
        raise EdgecError(f"export.module: cannot find '{name}' ({exc})") from exc
    finally:
        sys.path.remove(str(export.base_dir))
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise EdgecError(f"export.module: cannot find '{name}' (looked in {export.base_dir} and sys.path)")
    return {spec.origin: sha256_file(spec.origin)}


def _hf_files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def real_data_of(config: Config) -> Path | None:
    """Real samples for parity: export.parity.data, else calibration data, else eval data."""
    if config.export and config.export.parity.data:
        return config.export.parity.data
    if config.calibration:
        return config.calibration.data
    return config.quantize.eval_data


def run_export(cache: StageCache, config: Config, opset: int) -> StageResult:
    export = config.export
    real = real_data_of(config)
    key = {"settings": export.model_dump(mode="json", exclude={"weights", "hf_model", "target_opsets", "opset"}),
           "opset": opset, "weights": sha256_file(export.weights) if export.weights else None,
           "code": _module_files(export) if export.module else None,
           "hf_model": _hf_files(export.hf_model) if export.hf_model else None,
           "real_data": sha256_file(real) if real else None, "versions": _versions()}  # fmt: skip
    label = f"export {export.module or export.hf_model.name} (opset {opset})"
    return cache.run("export", key, label, lambda tmp: export_model(export, tmp, opset=opset, real_data=real))


def run_prepare(cache: StageCache, source: Path, passes: PassesConfig, real_data: Path | None) -> StageResult:
    source = Path(source).resolve()
    model = load_model(source)  # checks external data locations before anything reads them
    data_files = sorted({info["location"] for _, info in external_data_refs(model)})
    key = {"source": sha256_file(source), "external_data": {f: sha256_file(source.parent / f) for f in data_files},
           "passes": passes.model_dump(mode="json"), "real_data": sha256_file(real_data) if real_data else None,
           "versions": _versions()}  # fmt: skip
    return cache.run("prepare", key, f"check and prepare {source.name}",
                     lambda tmp: prepare_onnx(source, tmp, passes=passes, real_data=real_data))  # fmt: skip


def export_command(config: Config, out: Path, *, log: Log = print) -> Path:
    """`edgec export`: the export stage at the default opset, copied to OUT/export/."""
    if config.export is None:
        raise EdgecError("the config has no 'export:' section; `edgec export` needs one")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(out)
    result = run_export(StageCache(out / ".cache", log), config, config.export.opset)
    final = out / "export"
    with staged_dir(final) as tmp:
        for path in result.path.iterdir():
            if path.name != "stage.json":
                shutil.copy2(path, tmp / path.name)
    log(f"export written to {final} ({MODEL_FILE}, {REPORT_FILE})")
    return final


def build_from_export(config: Config, out: Path, only: list[str] | None, log: Log, build: Callable) -> list:
    """Export once per opset the selected targets need, then build each group from its ONNX."""
    known = [t.name for t in config.targets]
    unknown = [name for name in only or [] if name not in known]
    if unknown:
        raise EdgecError(f"--target {unknown[0]!r} is not in the config's targets ({', '.join(sorted(known))})")
    chosen = [t for t in config.targets if not only or t.name in only]
    groups: dict[int, list] = {}
    for spec in chosen:
        groups.setdefault(config.export.opset_for(spec.name), []).append(spec)
    cache = StageCache(Path(out) / ".cache", log)
    results = []
    for opset, specs in sorted(groups.items()):
        exported = run_export(cache, config, opset)
        sub = config.model_copy(update={"model": exported.path / MODEL_FILE, "targets": specs})
        results.extend(build(sub, out, only=None, log=log))
    return results


def byo_config(model: Path, calibration: Path | None, targets: list[str], precision: str | None) -> Config:
    """The Config a `edgec build --model FILE.onnx ...` stands for."""
    if not targets:
        raise EdgecError("--model needs at least one --target (`edgec targets list` shows them)")
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", Path(model).stem).lstrip("-_.") or "model"
    data = {"name": name, "model": str(model), "targets": [{"name": t, "precision": precision} for t in targets]}
    if calibration is not None:
        data["calibration"] = {"data": str(calibration)}
    return validate_mapping(Config, data, "--model/--calibration/--target", Path.cwd())


def build_onnx(config: Config, out: Path, *, parity_data: Path | None = None, log: Log = print,
               build: Callable | None = None) -> list:  # fmt: skip
    """Bring your own ONNX: check and prepare `config.model`, then the later stages on the result."""
    if build is None:
        from edgec.pipeline import build
    out = prepare_output_folder(out)
    with folder_lock(out, on_wait=log):
        return _build_onnx_locked(config, out, parity_data, log, build)


def _build_onnx_locked(config: Config, out: Path, parity_data: Path | None, log: Log, build: Callable) -> list:
    sweep_temporaries(out)
    if config.calibration is None:
        from edgec.targets.plan import plan_targets

        for plan in plan_targets(config):
            if any(precision == "int8" for _, precision in plan.candidates):
                raise EdgecError(f"--target {plan.name} builds int8, which needs --calibration DATA.npz "
                                 f"(or pass --precision fp32)")  # fmt: skip
    real = parity_data or (config.calibration.data if config.calibration else None)
    prepared = run_prepare(StageCache(out / ".cache", log), config.model, PassesConfig(), real)
    if not prepared.info["parity"]["batches"]:
        log("parity: no data given (--calibration or --parity-data): the prepared graph was not compared")
    return build(config.model_copy(update={"model": prepared.path / MODEL_FILE}), out, log=log)
