"""The auto-selection stage of `edgec build`, for a target with `candidates:` (edgec/targets/plan.py).

Every candidate goes through the pipeline's own stages (quantize, build; cached like any target's
and shared with them). One `select` stage then scores each engine on the eval data through the
runner apps use, and measures them all with the benchmark harness on the same inputs, in turns
(A B C, A B C, … for `benchmark.repeats` rounds), so that drift on a shared machine hits every
candidate alike. It is keyed by every candidate's engine files, the benchmark settings, the
inputs, the host and the judge data: a rebuild with nothing changed measures nothing again.
`decide()` picks; the winner's engine, its benchmark.json and the manifest's `selection` block
become the target's bundle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec import pipeline
from edgec.artifacts import atomic_write_json, file_entries, read_json
from edgec.autoselect import Budget, Measured, decide
from edgec.benchmarks import harness
from edgec.calibration.dataset import CalibrationSet
from edgec.compile.sensitivity import BudgetError
from edgec.errors import EdgecError
from edgec.pipeline import BuildContext, BundleResult
from edgec.stages import StageResult
from edgec.targets.plan import TargetPlan
from edgec.targets.profiles import TargetProfile


@dataclass
class _Built:
    """A candidate whose engine the build stage made."""

    position: int  # in the plan's candidates
    profile: TargetProfile
    precision: str
    quantized: StageResult | None  # the quantize stage's graph, None: the float model
    built: StageResult  # the build stage's engine

    @property
    def label(self) -> str:
        return f"{self.profile.name}/{self.precision}"

    @property
    def engine_dir(self) -> Path:
        return self.built.path / "engine"


def build_selected(ctx: BuildContext, plan: TargetPlan, graphs: dict) -> BundleResult:
    """Build, score and measure every candidate of `plan`, decide, and write the winner's bundle."""
    where = f"targets[{plan.index}] ({plan.name})"
    judge_data, metric = _judge_data(ctx, plan, where)
    budget = Budget(max_drop=ctx.config.quantize.max_drop, metric=metric)
    built: list[_Built] = []
    unbuilt: dict[int, Measured] = {}
    for position, (profile, precision) in enumerate(plan.candidates):
        graph = graphs[(profile.name, precision)]
        if isinstance(graph, BudgetError):  # its quantize stage could not hold the budget: nothing to build
            unbuilt[position] = _over_budget(profile, precision, graph)
            continue
        stage = pipeline.build_stage(ctx, profile, precision, pipeline.source_of(ctx, graph))
        _check_measurable(ctx, plan, position, profile, precision, stage.info)
        built.append(_Built(position, profile, precision, graph, stage))
    selected = _select_stage(ctx, plan, built, judge_data, metric) if built else None
    measured = [unbuilt[i] if i in unbuilt else _measured(next(b for b in built if b.position == i), selected)
                for i in range(len(plan.candidates))]  # fmt: skip
    for m in measured:
        speed = "not measured" if m.p50_ms is None else f"p50 {m.p50_ms:.3f} ms, p90 {m.p90_ms:.3f} ms"
        ctx.log(f"{plan.name}: {m.label}: {speed}, {metric} {m.quality:.2f} (drop {m.drop:.2f})")
    try:
        decision = decide(measured, budget)
    except EdgecError as exc:
        raise EdgecError(f"{where}: {exc.message}", hint=exc.hint) from exc
    ctx.log(f"{plan.name}: auto-select: {decision.reason}")
    decision.extra = {"quality_data": selected.info["quality_data"], "measured": selected.info["measured"]}
    winner = next(b for b in built if b.label == decision.winner.label)
    report = read_json(selected.path / _entry(selected, winner)["report"], "candidate benchmark")
    # Named like the bundle (as its manifest is), so gates pair it with the last build whoever won.
    report["target"] = {**report["target"], "name": plan.name, "profile": winner.profile.name}
    return pipeline.write_bundle(ctx, plan.name, winner.profile, winner.precision, winner.engine_dir,
                                 winner.built.info, report, winner.quantized, selection=decision.record())  # fmt: skip


def _entry(selected: StageResult, b: _Built) -> dict:
    return next(c for c in selected.info["candidates"] if c["label"] == b.label)


def _measured(b: _Built, selected: StageResult) -> Measured:
    """A built candidate as the select stage scored and measured it."""
    entry = _entry(selected, b)
    return Measured(b.profile.name, b.precision, b.profile.backend, entry["p50_ms"], entry["p90_ms"], entry["quality"],
                    selected.info["float"] - entry["quality"], b.engine_dir, files=entry["files"])  # fmt: skip


def _judge_data(ctx: BuildContext, plan: TargetPlan, where: str) -> tuple[CalibrationSet, str]:
    """The data and metric quality is judged with: as the quantize stage judges (the eval data,
    else the calibration samples; top1 without labels becomes agreement with the float model)."""
    asked = ctx.config.quantize.metric
    data = ctx.evalset or ctx.calib
    if data is None:
        raise EdgecError(f"{where}: auto-selection judges every candidate's quality; give quantize.eval_data "
                         "(inputs + labels) or a 'calibration:' section")  # fmt: skip
    metric = "agreement" if asked == "top1" and data.labels is None else asked
    if ctx.evalset is None:
        ctx.log(f"{plan.name}: no quantize.eval_data: candidates are judged on the calibration samples "
                f"({metric}), as the quantize stage judges")  # fmt: skip
    elif metric != asked:
        ctx.log(f"{plan.name}: the eval data has no labels: judged by {metric} with the float model, not {asked}")
    return data, metric


def _over_budget(profile: TargetProfile, precision: str, error: BudgetError) -> Measured:
    """A candidate whose graph no quantization step brought within the budget: its best step."""
    best = min(error.steps, key=lambda step: step["drop"])
    return Measured(profile.name, precision, profile.backend, None, None, best["quantized"], best["drop"],
                    detail=f"not built: no quantized graph held the budget ({len(error.steps)} tried)")  # fmt: skip


def _check_measurable(ctx: BuildContext, plan: TargetPlan, position: int, profile: TargetProfile, precision: str,
                      info: dict) -> None:  # fmt: skip
    if ctx.config.benchmark.device:  # measured there: the device runs what it was built for
        why = None if info.get("engine_built", True) else "no engine was built"
    else:
        why = pipeline._why_not_benchmarked_here(profile, info)
    if why:
        raise EdgecError(f"{plan.where(position)}: {profile.name}/{precision} cannot be measured: {why}; "
                         "auto-selection measures every candidate (remove it, or set benchmark.device)")  # fmt: skip


def _select_stage(ctx: BuildContext, plan: TargetPlan, built: list[_Built], judge_data: CalibrationSet,
                  metric: str) -> StageResult:  # fmt: skip
    config = ctx.config
    address, host = pipeline.bench_device(config)
    feeds = pipeline.bench_inputs(ctx, plan.name)
    if feeds is None:
        raise EdgecError(f"targets[{plan.index}] ({plan.name}): auto-selection needs inputs to measure the "
                         "candidates on; give a 'calibration:' section or quantize.eval_data")  # fmt: skip
    inputs_npz, inputs = feeds
    files = {b.label: file_entries(b.engine_dir) for b in built}
    settings = {b.label: harness.agent_settings(config.benchmark, b.built.info["runtime_options"]) for b in built}
    key = {"candidates": [{"label": b.label, "runner": b.built.info["runner"], "files": files[b.label],
                           "settings": settings[b.label]} for b in built],
           "inputs": inputs["sha256"], "host": host, "judge": judge_data.fingerprint(), "metric": metric,
           "model": ctx.model_sha}  # fmt: skip

    def run(tmp: Path) -> dict:
        from edgec.compile.quantize_stage import make_judge

        judge = make_judge(config.model, metric, judge_data)
        scores = {b.label: judge.score(_engine_outputs(ctx, b, judge_data)) for b in built}
        executor = harness.make_executor(address)
        jobs = {b.label: pipeline.bench_job(ctx, f"{plan.name}: {b.label}", b.engine_dir, files[b.label],
                                            b.built.info, inputs_npz, settings[b.label]) for b in built}  # fmt: skip
        raws: dict[str, list[dict]] = {label: [] for label in jobs}
        for _ in range(config.benchmark.repeats):  # in turns: drift hits every candidate alike
            for label, job in jobs.items():
                raws[label].append(executor.run(job, ctx.cache.log))
        candidates = []
        for b in built:
            target = {"name": b.profile.name, "backend": b.profile.backend,
                      "backend_version": b.built.info["backend_version"], "precision": b.precision}  # fmt: skip
            raw = harness.pool_runs(raws[b.label], b.label)
            report = pipeline.bench_report(raw, files[b.label], inputs, settings[b.label], target, address)
            name = f"{b.profile.name}-{b.precision}.benchmark.json"
            atomic_write_json(tmp / name, report)
            candidates.append({"label": b.label, "report": name, "p50_ms": report["summary"]["p50_ms"],
                               "p90_ms": report["summary"]["p90_ms"], "quality": scores[b.label],
                               "files": [{"path": f["path"], "sha256": f["sha256"]} for f in files[b.label]]})  # fmt: skip
        source = "quantize.eval_data" if ctx.evalset is not None else "calibration samples"
        return {"float": judge.float_score, "candidates": candidates,
                "quality_data": {"source": source, "samples": len(judge_data), "sha256": judge_data.fingerprint(),
                                 "metric": metric, "float": judge.float_score},
                # Where stays out (a board's address is not for bundles that ship); benchmark.json says it.
                "measured": {"inputs": inputs, "rounds": config.benchmark.repeats,
                             "order": "in turns: each round measures every candidate once"}}  # fmt: skip

    return ctx.cache.run("select", key, f"{plan.name}: score and measure {len(built)} candidates", run)


def _engine_outputs(ctx: BuildContext, b: _Built, data: CalibrationSet) -> np.ndarray:
    """The engine's first graph output on every sample, run by the runner apps and benchmarks use."""
    from edgec.benchmarks.runners import make_runner

    info = b.built.info
    runner = make_runner(info["runner"], str(b.engine_dir / info["engine"]), info["runtime_options"])
    runner.load()
    first = ctx.outputs[0].name
    outputs = []
    for feed in data.feeds():
        result = runner.infer(feed)
        outputs.append(np.asarray(result[first] if first in result else next(iter(result.values()))))
    return np.concatenate(outputs)
