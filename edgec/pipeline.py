"""`edgec build`: calibrate, quantize, build per target, benchmark, and write one bundle each.

Every stage goes through the content-addressed `StageCache`; bundles are assembled in a staging
folder and renamed into place, so a killed build never leaves a bundle that looks complete.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgec.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    sha256_file,
    sha256_json,
    staged_dir,
    sweep_temporaries,
)
from edgec.benchmarks import harness
from edgec.calibration.dataset import CalibrationSet
from edgec.compile.graph import io_specs, load_model, read_provenance
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
    """Calibration samples (any configured source, checked and sampled) and eval data (checked)."""
    from edgec.calibration.sources import load_calibration

    calib = evalset = None
    if config.calibration:
        calib = load_calibration(config.calibration, specs)
    if config.quantize.eval_data:
        evalset = CalibrationSet.from_file(config.quantize.eval_data)
        evalset.check(specs)
    return calib, evalset


def _quantize_stage(cache: StageCache, config: Config, model: Path, model_sha: str, calib, evalset,
                    profile: TargetProfile, precision: str, model_proto, log: Log = print):  # fmt: skip
    """The graph `profile` is built from at `precision` (None: the float graph as it is)."""
    from edgec.compile.quantize import is_transformer_graph
    from edgec.compile.quantize_stage import quantize_stage, recipe_for

    recipe = recipe_for(config, profile.backend, profile.cpu_arch, precision, is_transformer_graph(model_proto))
    if recipe is None:
        return None
    return quantize_stage(cache, config, model, model_sha, recipe, calib, evalset, log)


def build(config: Config, out: Path, *, only: list[str] | None = None, log: Log = print) -> list[BundleResult]:
    out = Path(out)
    model_proto = load_model(config.model)
    inputs, outputs = io_specs(model_proto)
    model_sha = sha256_file(config.model)
    targets = _select_targets(config, only)
    calib, evalset = _load_data(config, inputs)  # before anything is written: bad data leaves no trace
    needs_int8 = any(precision == "int8" for _, precision in targets)
    if needs_int8 and calib is None:
        raise EdgecError(f"{config.model.name}: INT8 targets need a 'calibration:' section with data")
    out.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(out)
    cache = StageCache(out / ".cache", log)
    inputs_npz = None
    if calib is not None:
        inputs_npz = cache.root / "inputs" / f"{calib.fingerprint()}.npz"
        if not inputs_npz.exists():
            atomic_write_bytes(inputs_npz, calib.sample(64, 0).to_npz_bytes())
    # Every target's graph first: a budget no recipe can hold stops the run before any bundle.
    graphs = [_quantize_stage(cache, config, config.model, model_sha, calib, evalset, profile, precision,
                              model_proto, log) for profile, precision in targets]  # fmt: skip
    results = []
    for (profile, precision), quantized in zip(targets, graphs, strict=True):
        source = quantized.path / quantized.info["file"] if quantized else config.model
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
    if source.suffix == ".xml":  # OpenVINO IR: the weights live in the .bin next to it
        source_sha = sha256_json([source_sha, sha256_file(source.with_suffix(".bin"))])
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
            else {"samples": len(calib), "sha256": calib.fingerprint(), "method": config.calibration.method,
                  "source": _source_kind(config)},  # fmt: skip
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
    """The manifest's quality block (ARCHITECTURE.md keys first; steps say what was tried)."""
    if quantized is None:
        return None
    info = quantized.info
    return {**info["quality"], "recipe": info["recipe"], "tool": info["tool"], "preset": info.get("preset"),
            "mode": info.get("mode")}  # fmt: skip


def _source_kind(config: Config) -> str:
    c = config.calibration
    return next(k for k in ("data", "images", "text", "callable") if getattr(c, k) is not None)


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
