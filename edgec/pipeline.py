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
from typing import Any

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
from edgec.stages import StageCache, StageResult
from edgec.targets.plan import TargetPlan, plan_targets
from edgec.targets.profiles import TargetProfile
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


@dataclass
class BuildContext:
    """What every target's stages share within one `edgec build`."""

    cache: StageCache
    config: Config
    out: Path
    model_sha: str
    model_proto: Any
    inputs: list  # TensorSpec of the graph's inputs
    outputs: list
    calib: CalibrationSet | None
    evalset: CalibrationSet | None
    inputs_npz: Path | None  # calibration samples every local benchmark runs on, when there are some
    log: Log


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


def _quantize_stage(ctx: BuildContext, profile: TargetProfile, precision: str) -> StageResult | None:
    """The graph `profile` is built from at `precision` (None: the float graph as it is)."""
    from edgec.compile.quantize import is_transformer_graph
    from edgec.compile.quantize_stage import quantize_stage, recipe_for

    config = ctx.config
    recipe = recipe_for(config, profile.backend, profile.cpu_arch, precision, is_transformer_graph(ctx.model_proto))
    if recipe is None:
        return None
    return quantize_stage(ctx.cache, config, config.model, ctx.model_sha, recipe, ctx.calib, ctx.evalset, ctx.log)


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
    plans = plan_targets(config, only)
    calib, evalset = _load_data(config, inputs)  # before anything is written: bad data leaves no trace
    needs_int8 = any(precision == "int8" for plan in plans for _, precision in plan.candidates)
    if needs_int8 and calib is None:
        raise EdgecError(f"{config.model.name}: INT8 targets need a 'calibration:' section with data")
    selecting = [plan for plan in plans if plan.selecting]
    if selecting and not config.benchmark.enabled:
        raise EdgecError(
            f"targets[{selecting[0].index}] ({selecting[0].name}): auto-selection measures every candidate; "
            "it needs the benchmark stage (drop --no-bench / benchmark.enabled: false, or build one precision)"
        )
    out = prepare_output_folder(out)
    with folder_lock(out, on_wait=log):  # one writer per output folder (re-entrant in a process)
        sweep_temporaries(out)
        cache = StageCache(out / ".cache", log)
        inputs_npz = None
        if calib is not None:
            inputs_npz = cache.root / "inputs" / f"{calib.fingerprint()}.npz"
            if not inputs_npz.exists():
                atomic_write_bytes(inputs_npz, calib.sample(64, 0).to_npz_bytes())
        ctx = BuildContext(cache, config, out, model_sha, model_proto, inputs, outputs, calib, evalset, inputs_npz, log)
        graphs = _graphs(ctx, plans)
        results = []
        for plan in plans:
            if plan.selecting:
                from edgec.autoselect_stage import build_selected

                results.append(build_selected(ctx, plan, graphs))
            else:
                profile, precision = plan.candidates[0]
                results.append(_build_target(ctx, profile, precision, graphs[(profile.name, precision)]))
        return results


def _graphs(ctx: BuildContext, plans: list[TargetPlan]) -> dict[tuple[str, str], Any]:
    """Every target's graph (StageResult, or None: the float model) first: a budget no recipe can
    hold stops the run before any bundle. Auto-selection's candidates are the exception: their
    BudgetError is kept in place of the graph, and such a candidate is not chosen."""
    from edgec.compile.sensitivity import BudgetError

    graphs: dict[tuple[str, str], Any] = {}
    for plan in sorted(plans, key=lambda p: p.selecting):  # plain targets first: theirs must hold
        for profile, precision in plan.candidates:
            if (profile.name, precision) in graphs:
                continue
            try:
                graphs[(profile.name, precision)] = _quantize_stage(ctx, profile, precision)
            except BudgetError as exc:
                if not plan.selecting:
                    raise
                ctx.log(f"{plan.name}: {profile.name}/{precision}: no graph holds the accuracy budget ({exc.message})")
                graphs[(profile.name, precision)] = exc
    return graphs


def source_of(ctx: BuildContext, quantized: StageResult | None) -> Path:
    """The graph an engine is built from: the quantize stage's output, or the float model."""
    return quantized.path / quantized.info["file"] if quantized else ctx.config.model


def build_stage(ctx: BuildContext, profile: TargetProfile, precision: str, source: Path) -> StageResult:
    """The engine of `profile` at `precision` from `source`, cached by graph, profile and backend."""
    builder = get_builder(profile.backend)
    # Caches that outlive one build (TensorRT's timing cache): per target, beside the stage cache.
    builder.state_dir = ctx.cache.root / "state" / profile.name
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

    built = ctx.cache.run("build", key, f"{profile.name}: build {precision}", do_build)
    if not built.info.get("engine_built", True):
        ctx.log(f"{profile.name}: engine not built: {built.info['skipped_reason']}")
    return built


def _build_target(ctx: BuildContext, profile: TargetProfile, precision: str, quantized) -> BundleResult:
    built = build_stage(ctx, profile, precision, source_of(ctx, quantized))
    info, engine_dir = built.info, built.path / "engine"
    bench = None
    if ctx.config.benchmark.enabled:
        # A local measurement is honest only on the hardware the profile names; a device runs its own.
        why_not = None if ctx.config.benchmark.device else _why_not_benchmarked_here(profile, info)
        if why_not:
            ctx.log(f"{profile.name}: benchmark skipped: {why_not}")
        else:
            measured = _benchmark_stage(ctx, profile, engine_dir, info, precision)
            bench = None if measured is None else measured.info
    return write_bundle(ctx, profile.name, profile, precision, engine_dir, info, bench, quantized)


def write_bundle(ctx: BuildContext, name: str, profile: TargetProfile, precision: str, engine_dir: Path, info: dict,
                 bench: dict | None, quantized, selection: dict | None = None) -> BundleResult:  # fmt: skip
    """The bundle folder `name`: the engine, benchmark.json and manifest.json, renamed into place."""
    config, calib = ctx.config, ctx.calib
    target = _target_block(profile, precision, info)
    if name != profile.name:  # auto-selected: the bundle keeps its name; the winner's profile is named
        target = {"name": name, "profile": profile.name, **{k: v for k, v in target.items() if k != "name"}}
    final = ctx.out / name
    with staged_dir(final) as tmp:
        shutil.copytree(engine_dir, tmp, dirs_exist_ok=True)
        if bench is not None:
            atomic_write_json(tmp / BENCHMARK, bench)
        data = manifest(
            bundle=tmp,
            model={"name": config.name, "source_onnx_sha256": ctx.model_sha},
            target=target,
            inputs=[s.as_dict() for s in ctx.inputs],
            outputs=[s.as_dict() for s in ctx.outputs],
            calibration=None
            if calib is None or precision != "int8"
            else {
                "samples": len(calib),
                "sha256": calib.fingerprint(),
                "method": config.calibration.method,
                "source": _source_kind(config),
            },  # fmt: skip
            quality=_quality_block(quantized, precision),
            provenance=read_provenance(ctx.model_proto),
            build={
                key: info.get(key)
                for key in ("engine", "runner", "runtime_options", "notes", "details", "engine_built", "skipped_reason")
            },  # fmt: skip
            selection=selection,
        )
        atomic_write_json(tmp / MANIFEST, data)
    ctx.log(f"{name}: bundle written to {final}")
    return BundleResult(name, precision, final, data, bench)


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


def bench_inputs(ctx: BuildContext, label: str) -> tuple[Path, dict] | None:
    """The inputs local benchmarks run on, with what the report says of them: the calibration
    samples, else the eval data, else random inputs (None: random inputs cannot fill this graph)."""
    from edgec.benchmarks.bench_inputs import prepare_inputs

    if ctx.inputs_npz is not None:
        return ctx.inputs_npz, {"source": "calibration samples", "sha256": sha256_file(ctx.inputs_npz), "batch": 1}
    data = ctx.config.quantize.eval_data
    inputs_npz = ctx.cache.root / "inputs" / f"bench-{'eval-' + sha256_file(data) if data else 'random'}.npz"
    try:
        return inputs_npz, prepare_inputs(ctx.inputs, data, inputs_npz, where=str(ctx.config.model))
    except EdgecError as exc:
        if data is not None:
            raise
        # Random inputs cannot fill a named dim (a sequence length) or a state tensor: the build
        # is still good, the measurement needs the user's samples (`edgec bench --inputs`).
        ctx.cache.log(f"{label}: benchmark skipped: {exc}")
        return None


def bench_device(config: Config) -> tuple:
    """Where benchmarks run (`benchmark.device`; default here) and the host part of their cache key."""
    from edgec.benchmarks.agent import environment
    from edgec.benchmarks.devices import parse_device

    try:
        address = parse_device(config.benchmark.device)
    except EdgecError as exc:
        raise EdgecError(f"edgec.yaml: benchmark.device: {exc}") from exc
    host = (
        environment() if address.transport == "local" else {"hostname": address.text, "cpu_model": "", "cpu_count": 0}
    )
    return address, [host["hostname"], host["cpu_model"], host["cpu_count"]]


def bench_job(ctx: BuildContext, label: str, engine_dir: Path, files: list[dict], built: dict, inputs_npz: Path,
              settings: dict):  # fmt: skip
    from edgec.benchmarks.jobs import AgentJob

    return AgentJob(bundle=engine_dir, files=[f["path"] for f in files], engine=built["engine"],
                    backend=built["runner"], inputs_npz=inputs_npz, input_names=[s.name for s in ctx.inputs],
                    settings=settings, label=label)  # fmt: skip


def bench_report(raw: dict, files: list[dict], inputs: dict, settings: dict, target: dict, address) -> dict:
    """benchmark.json of one engine: the harness's report, the target, and where it was measured."""
    report = harness.make_report(raw, files, inputs, settings)
    report["target"] = target
    report["device"] = {**address.describe(), **raw.get("connection", {})}
    return report


def _benchmark_stage(ctx: BuildContext, profile: TargetProfile, engine_dir: Path, built: dict, precision: str):
    """Measure the built engine (here, or on `benchmark.device`); cached by files, settings, inputs, host."""
    from edgec.artifacts import file_entries

    config = ctx.config
    settings = harness.agent_settings(config.benchmark, built["runtime_options"])
    address, host = bench_device(config)
    feeds = bench_inputs(ctx, profile.name)
    if feeds is None:
        return None
    inputs_npz, inputs = feeds
    files = file_entries(engine_dir)
    key = {"files": files, "settings": settings, "inputs": inputs["sha256"], "host": host}

    def measure(tmp: Path) -> dict:
        job = bench_job(ctx, profile.name, engine_dir, files, built, inputs_npz, settings)
        raw = harness.run_repeated(harness.make_executor(address), job, config.benchmark.repeats, ctx.cache.log)
        target = {"name": profile.name, "backend": profile.backend, "backend_version": built["backend_version"],
                  "precision": precision}  # fmt: skip
        return bench_report(raw, files, inputs, settings, target, address)

    return ctx.cache.run("benchmark", key, f"{profile.name}: benchmark", measure)
