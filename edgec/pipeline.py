"""`edgec build`: calibrate, quantize, build per target, benchmark, and write one bundle each.

Every stage goes through the content-addressed `StageCache`; bundles are assembled in a staging
folder and renamed into place, so a killed build never leaves a bundle that looks complete.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgec.artifacts import atomic_write_bytes, atomic_write_json, sha256_file, staged_dir, sweep_temporaries
from edgec.benchmarks import harness
from edgec.calibration.dataset import CalibrationSet
from edgec.compile import quality as quality_mod
from edgec.compile.graph import io_specs, load_model, read_provenance
from edgec.compile.quantize import quantize_static_int8
from edgec.config import Config
from edgec.errors import EdgecError
from edgec.manifest import BENCHMARK, MANIFEST, manifest
from edgec.stages import StageCache
from edgec.targets.profiles import TargetProfile, get_profile
from edgec.targets.registry import get_builder

Log = Callable[[str], None]


@dataclass
class BundleResult:
    target: str
    precision: str
    path: Path
    manifest: dict
    benchmark: dict | None
    accuracy: float | None = None  # top-1 of the built engine itself, where the caller measured it


def _select_targets(config: Config, only: list[str] | None) -> list[tuple[TargetProfile, str]]:
    specs = config.targets
    if only:
        known = {t.name for t in specs}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise EdgecError(f"--target {unknown[0]!r} is not in the config's targets ({', '.join(sorted(known))})")
        specs = [t for t in specs if t.name in only]
    chosen = []
    for spec in specs:
        profile = get_profile(spec.name)
        chosen.append((profile, profile.resolve_precision(spec.precision)))
    return chosen


def _load_data(config: Config, specs) -> tuple[CalibrationSet | None, CalibrationSet | None]:
    calib = evalset = None
    if config.calibration:
        calib = CalibrationSet.from_file(config.calibration.data)
        calib.check(specs)
        calib = calib.sample(config.calibration.samples, config.calibration.seed)
    if config.quantize.eval_data:
        evalset = CalibrationSet.from_file(config.quantize.eval_data)
        evalset.check(specs)
    return calib, evalset


def _quantize_stage(cache: StageCache, config: Config, model: Path, model_sha: str, calib, evalset):
    import onnxruntime as ort

    q = config.quantize
    judge = evalset or calib
    metric = q.metric if judge.labels is not None or q.metric != "top1" else "agreement"
    key = {
        "model": model_sha, "calibration": calib.fingerprint(), "method": config.calibration.method,
        "per_channel": q.per_channel, "eval": judge.fingerprint(), "metric": metric, "ort": ort.__version__,
    }  # fmt: skip

    def build(tmp: Path) -> dict:
        out = quantize_static_int8(model, calib, tmp / "model.int8.onnx", method=config.calibration.method,
                                   per_channel=q.per_channel)  # fmt: skip
        ref = quality_mod.run_onnx(model, judge)
        got = quality_mod.run_onnx(out, judge)
        float_score = quality_mod.score(ref, metric, judge.labels, ref)
        int8_score = quality_mod.score(got, metric, judge.labels, ref)
        return {
            "metric": metric, "float": float_score, "quantized": int8_score,
            "drop": float_score - int8_score, "fidelity": quality_mod.fidelity(got, ref),
            "kept_in_float": [], "max_drop": q.max_drop,
        }  # fmt: skip

    result = cache.run("quantize", key, "quantize int8", build)
    if result.info["drop"] > config.quantize.max_drop:
        raise EdgecError(
            f"INT8 loses {result.info['drop']:.2f} points of {metric} "
            f"(budget quantize.max_drop = {q.max_drop}); raise the budget or build fp32"
        )
    return result


def build(config: Config, out: Path, *, only: list[str] | None = None, log: Log = print) -> list[BundleResult]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(out)
    cache = StageCache(out / ".cache", log)
    if config.model is None:  # a distill-only config: the student must be exported before it can be built
        raise EdgecError(f"config '{config.name}': no 'model' to build; run `edgec distill` and export the student")
    model_proto = load_model(config.model)
    inputs, outputs = io_specs(model_proto)
    model_sha = sha256_file(config.model)
    targets = _select_targets(config, only)
    calib, evalset = _load_data(config, inputs)
    needs_int8 = any(precision == "int8" for _, precision in targets)
    if needs_int8 and calib is None:
        raise EdgecError(f"{config.model.name}: INT8 targets need a 'calibration:' section with data")
    quantized = _quantize_stage(cache, config, config.model, model_sha, calib, evalset) if needs_int8 else None
    inputs_npz = None
    if calib is not None:
        inputs_npz = cache.root / "inputs" / f"{calib.fingerprint()}.npz"
        if not inputs_npz.exists():
            atomic_write_bytes(inputs_npz, calib.sample(64, 0).to_npz_bytes())
    results = []
    for profile, precision in targets:
        source = quantized.path / "model.int8.onnx" if precision == "int8" else config.model
        results.append(
            _build_target(
                cache,
                config,
                out,
                profile,
                precision,
                source,
                model_sha,
                model_proto,
                inputs,
                outputs,
                calib,
                quantized,
                inputs_npz,
                log,
            )  # fmt: skip
        )
    return results


def _build_target(cache, config, out, profile, precision, source, model_sha, model_proto, inputs, outputs,
                  calib, quantized, inputs_npz, log) -> BundleResult:  # fmt: skip
    builder = get_builder(profile.backend)
    source_sha = sha256_file(source)
    key = {"source": source_sha, "profile": profile.sha256, "precision": precision,
           "backend": profile.backend, "backend_version": builder.version()}  # fmt: skip

    def do_build(tmp: Path) -> dict:
        engine_dir = tmp / "engine"
        engine_dir.mkdir()
        result = builder.build(source, precision, profile, engine_dir)
        return {"engine": result.engine, "runner": result.runner, "backend_version": result.backend_version,
                "runtime_options": result.runtime_options, "notes": result.notes}  # fmt: skip

    built = cache.run("build", key, f"{profile.name}: build {precision}", do_build)
    engine_dir = built.path / "engine"
    bench = None
    if config.benchmark.enabled and inputs_npz is not None:
        bench = _benchmark_stage(cache, config, profile, engine_dir, built.info, inputs_npz).info
    final = out / profile.name
    with staged_dir(final) as tmp:
        shutil.copytree(engine_dir, tmp, dirs_exist_ok=True)
        if bench is not None:
            atomic_write_json(tmp / BENCHMARK, bench)
        data = manifest(
            bundle=tmp,
            model={"name": config.name, "source_onnx_sha256": model_sha},
            target={
                "name": profile.name,
                "profile_sha256": profile.sha256,
                "backend": profile.backend,
                "backend_version": built.info["backend_version"],
                "precision": precision,
                "status": profile.status,
            },  # fmt: skip
            inputs=[s.as_dict() for s in inputs],
            outputs=[s.as_dict() for s in outputs],
            calibration=None
            if calib is None or precision != "int8"
            else {"samples": len(calib), "sha256": calib.fingerprint(), "method": config.calibration.method},
            quality=_quality_block(quantized, precision),
            provenance=read_provenance(model_proto),
            build={
                "engine": built.info["engine"],
                "runner": built.info["runner"],
                "runtime_options": built.info["runtime_options"],
                "notes": built.info["notes"],
            },  # fmt: skip
        )
        atomic_write_json(tmp / MANIFEST, data)
    log(f"{profile.name}: bundle written to {final}")
    return BundleResult(profile.name, precision, final, data, bench)


def _quality_block(quantized, precision: str) -> dict | None:
    if quantized is None:
        return None
    info = quantized.info
    if precision != "int8":
        return {**info, "quantized": None, "drop": None, "fidelity": None, "kept_in_float": []}
    return dict(info)


def _benchmark_stage(cache, config, profile, engine_dir: Path, built: dict, inputs_npz: Path):
    settings = harness.agent_settings(config.benchmark, built["runtime_options"])
    from edgec.artifacts import file_entries
    from edgec.benchmarks.agent import environment

    files = file_entries(engine_dir)
    host = environment()
    key = {"files": files, "settings": settings, "inputs": sha256_file(inputs_npz),
           "host": [host["hostname"], host["cpu_model"], host["cpu_count"]]}  # fmt: skip

    def measure(tmp: Path) -> dict:
        raw = harness.run_local(engine_dir / built["engine"], built["runner"], inputs_npz, settings)
        inputs = {"source": "calibration samples", "sha256": sha256_file(inputs_npz), "batch": 1}
        return harness.make_report(raw, files, inputs, settings)

    return cache.run("benchmark", key, f"{profile.name}: benchmark", measure)
