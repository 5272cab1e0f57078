"""`edgec build`: calibrate, quantize, build per target, benchmark, and write one bundle each.

Every stage goes through the content-addressed `StageCache`; bundles are assembled in a staging
folder and renamed into place, so a killed build never leaves a bundle that looks complete.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgec.artifacts import (
    atomic_write_bytes,
    atomic_write_json,
    folder_lock,
    prepare_output_folder,
    sha256_file,
    sha256_json,
    staged_dir,
    sweep_temporaries,
)
from edgec.benchmarks import harness
from edgec.calibration.dataset import CalibrationSet
from edgec.compile.graph import check_model, io_specs, read_provenance
from edgec.config import Config
from edgec.errors import EdgecError
from edgec.manifest import BENCHMARK, MANIFEST, manifest
from edgec.stages import StageCache
from edgec.targets.profiles import TargetProfile, get_profile, user_profiles
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
    """The config's targets (or those of them `only` names, from --target), each with its profile
    (the config's own `profiles:` / `profile:` files first, then the shipped ones) and precision."""
    extra = user_profiles(config)
    specs = config.targets
    if only:
        known = {t.name for t in specs}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise EdgecError(f"--target {unknown[0]!r} is not in the config's targets ({', '.join(sorted(known))})")
        specs = [t for t in specs if t.name in only]
    chosen = []
    for spec in specs:
        profile = get_profile(spec.name, extra)
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
    if config.model is None and config.export is None:  # distill-only: nothing exported to build yet
        raise EdgecError(
            f"config '{config.name}': no 'model' or 'export:' to build; run `edgec distill`, then point "
            "'export:' at the student it wrote (docs/distill.md)"
        )
    if config.model is None:  # an `export:` section: export (cached) per opset, then build from that ONNX
        from edgec.compile.export_build import build_from_export

        out = prepare_output_folder(out)
        with folder_lock(out, on_wait=log):
            return build_from_export(config, out, only, log, build)
    model_proto = check_model(config.model)
    inputs, outputs = io_specs(model_proto)
    model_sha = sha256_file(config.model)
    targets = _select_targets(config, only)
    calib, evalset = _load_data(config, inputs)  # before anything is written: bad data leaves no trace
    needs_int8 = any(precision == "int8" for _, precision in targets)
    if needs_int8 and calib is None:
        raise EdgecError(f"{config.model.name}: INT8 targets need a 'calibration:' section with data")
    out = prepare_output_folder(out)
    with folder_lock(out, on_wait=log):  # one writer per output folder (re-entrant in a process)
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
    # Caches that outlive one build (TensorRT's timing cache): per target, beside the stage cache.
    builder.state_dir = cache.root / "state" / profile.name
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
                "runtime_options": result.runtime_options, "notes": result.notes, "details": result.details,
                "engine_built": result.engine_built, "skipped_reason": result.skipped_reason}  # fmt: skip

    built = cache.run("build", key, f"{profile.name}: build {precision}", do_build)
    info = built.info
    engine_dir = built.path / "engine"
    if not info.get("engine_built", True):
        log(f"{profile.name}: engine not built: {info['skipped_reason']}")
    bench = None
    if config.benchmark.enabled:
        # A local measurement is honest only on the hardware the profile names; a device runs its own.
        why_not = None if config.benchmark.device else _why_not_benchmarked_here(profile, info)
        if why_not:
            log(f"{profile.name}: benchmark skipped: {why_not}")
        else:
            measured = _benchmark_stage(cache, config, profile, engine_dir, info, inputs_npz, inputs, precision)
            bench = None if measured is None else measured.info
    final = out / profile.name
    with staged_dir(final) as tmp:
        shutil.copytree(engine_dir, tmp, dirs_exist_ok=True)
        if bench is not None:
            atomic_write_json(tmp / BENCHMARK, bench)
        data = manifest(
            bundle=tmp,
            model={"name": config.name, "source_onnx_sha256": model_sha},
            target=_target_block(profile, precision, info),
            inputs=[s.as_dict() for s in inputs],
            outputs=[s.as_dict() for s in outputs],
            calibration=None
            if calib is None or precision != "int8"
            else {
                "samples": len(calib),
                "sha256": calib.fingerprint(),
                "method": config.calibration.method,
                "source": _source_kind(config),
            },  # fmt: skip
            quality=_quality_block(quantized, precision),
            provenance=read_provenance(model_proto),
            build={
                key: info.get(key)
                for key in ("engine", "runner", "runtime_options", "notes", "details", "engine_built", "skipped_reason")
            },  # fmt: skip
        )
        atomic_write_json(tmp / MANIFEST, data)
    log(f"{profile.name}: bundle written to {final}")
    return BundleResult(profile.name, precision, final, data, bench)


def _target_block(profile: TargetProfile, precision: str, info: dict) -> dict:
    """The manifest's `target`. The board's address (`connection`) stays out: bundles ship to apps."""
    built = info.get("engine_built", True)
    note = profile.status_note if built else f"engine not built: {info.get('skipped_reason')}"
    return {
        "name": profile.name,
        "profile_sha256": profile.sha256,
        "backend": profile.backend,
        "backend_version": info["backend_version"],
        "precision": precision,
        "status": profile.status if built else "untested",
        "status_note": note,
        "hardware": profile.hardware.model_dump(mode="json"),
        "budgets": profile.budgets.model_dump(mode="json"),
        "threads": profile.threads,
    }


def _why_not_benchmarked_here(profile: TargetProfile, info: dict) -> str | None:
    """A local benchmark is honest only on the hardware the target names (or `native`)."""
    from edgec.benchmarks.agent import RUNNERS

    if not info.get("engine_built", True):
        return "no engine was built"
    # Runner names are their backends' module names (onnxruntime, openvino, tensorrt, torch).
    if info["runner"] not in RUNNERS or importlib.util.find_spec(info["runner"]) is None:
        return f"no {info['runner']} runner on this machine; measure on the device (`edgec bench BUNDLE --device …`)"
    arch = profile.hardware.cpu_arch
    host = {"amd64": "x86_64", "aarch64": "arm64"}.get(platform.machine().lower(), platform.machine().lower())
    if arch != "native" and arch != host:
        return f"{profile.name} runs on {arch}, this machine is {host}; measure on the device (`edgec bench BUNDLE --device …`)"
    flags = _host_cpu_flags()
    missing = [f for f in profile.hardware.cpu_features if flags is not None and f not in flags]
    if missing:
        return f"this CPU lacks {', '.join(missing)}, which {profile.name} relies on"
    return None


def _host_cpu_flags() -> set[str] | None:
    """Every CPU flag of this machine (Linux /proc/cpuinfo); None where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


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


def _benchmark_stage(cache, config, profile, engine_dir: Path, built: dict, inputs_npz: Path | None, specs,
                     precision: str):  # fmt: skip
    """Measure the built engine (here, or on `benchmark.device`); cached by files, settings, inputs, host."""
    from edgec.artifacts import file_entries
    from edgec.benchmarks.agent import environment
    from edgec.benchmarks.bench_inputs import prepare_inputs
    from edgec.benchmarks.devices import parse_device
    from edgec.benchmarks.jobs import AgentJob

    settings = harness.agent_settings(config.benchmark, built["runtime_options"])
    try:
        address = parse_device(config.benchmark.device)
    except EdgecError as exc:
        raise EdgecError(f"edgec.yaml: benchmark.device: {exc}") from exc
    if inputs_npz is None:  # no calibration data: the eval data if given, random inputs otherwise
        data = config.quantize.eval_data
        inputs_npz = cache.root / "inputs" / f"bench-{'eval-' + sha256_file(data) if data else 'random'}.npz"
        try:
            inputs = prepare_inputs(specs, data, inputs_npz, where=str(config.model))
        except EdgecError as exc:
            if data is not None:
                raise
            # Random inputs cannot fill a named dim (a sequence length) or a state tensor: the build
            # is still good, the measurement needs the user's samples (`edgec bench --inputs`).
            cache.log(f"{profile.name}: benchmark skipped: {exc}")
            return None
    else:
        inputs = {"source": "calibration samples", "sha256": sha256_file(inputs_npz), "batch": 1}
    files = file_entries(engine_dir)
    host = (
        environment() if address.transport == "local" else {"hostname": address.text, "cpu_model": "", "cpu_count": 0}
    )
    key = {"files": files, "settings": settings, "inputs": inputs["sha256"],
           "host": [host["hostname"], host["cpu_model"], host["cpu_count"]]}  # fmt: skip

    def measure(tmp: Path) -> dict:
        job = AgentJob(bundle=engine_dir, files=[f["path"] for f in files], engine=built["engine"],
                       backend=built["runner"], inputs_npz=inputs_npz, input_names=[s.name for s in specs],
                       settings=settings, label=profile.name)  # fmt: skip
        raw = harness.run_repeated(harness.make_executor(address), job, config.benchmark.repeats, cache.log)
        report = harness.make_report(raw, files, inputs, settings)
        report["target"] = {"name": profile.name, "backend": profile.backend,
                            "backend_version": built["backend_version"], "precision": precision}  # fmt: skip
        report["device"] = {**address.describe(), **raw.get("connection", {})}
        return report

    return cache.run("benchmark", key, f"{profile.name}: benchmark", measure)
