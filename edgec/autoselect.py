"""Auto-selection: when more than one backend or precision can serve a device (this host's CPU:
ONNX Runtime fp32/int8, OpenVINO fp32/int8), build every candidate, measure each with the
benchmark harness, and pick the fastest one that holds the accuracy budget.

The decision is recorded for the manifest: every candidate's p50, its quality drop, whether it
was within budget, and one sentence saying why the winner won.

    decision = select(candidates, Budget(max_drop=1.0), model=..., calib=..., evalset=..., out=...)
    decision.winner            # the chosen Candidate
    decision.record()          # {"chosen": ..., "reason": ..., "candidates": [...]} for manifest.json
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgec.errors import EdgecError

Log = Callable[[str], None]


@dataclass(frozen=True)
class Budget:
    """How much quality a candidate may lose against the float model, in the metric's points."""

    max_drop: float = 1.0
    metric: str = "top1"  # top1 | agreement | cosine (x100), as in QuantizeConfig

    def __post_init__(self) -> None:
        if self.max_drop < 0:
            raise EdgecError(f"accuracy budget max_drop must be >= 0 (got {self.max_drop})")


@dataclass
class Measured:
    """One built and measured candidate."""

    target: str
    precision: str
    backend: str
    p50_ms: float
    p90_ms: float
    quality: float  # the metric on the eval data, in points
    drop: float  # float score minus this candidate's score
    engine: Path | None = None
    within_budget: bool = True
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.target}/{self.precision}"


@dataclass
class Decision:
    winner: Measured
    candidates: list[Measured]
    budget: Budget
    reason: str
    extra: dict = field(default_factory=dict)

    def record(self) -> dict:
        """The manifest's `selection` block."""
        return {
            "chosen": {"target": self.winner.target, "precision": self.winner.precision,
                       "backend": self.winner.backend},
            "reason": self.reason,
            "budget": {"metric": self.budget.metric, "max_drop": self.budget.max_drop},
            "candidates": [
                {"target": c.target, "precision": c.precision, "backend": c.backend, "p50_ms": c.p50_ms,
                 "p90_ms": c.p90_ms, "quality": c.quality, "drop": c.drop, "within_budget": c.within_budget,
                 "note": c.note}
                for c in self.candidates
            ],
        }  # fmt: skip


def decide(measured: Sequence[Measured], budget: Budget) -> Decision:
    """Pure decision: the fastest p50 among candidates within budget; ties go to the smaller drop.

    A candidate over budget never wins. If none is within budget, that is the user's error to fix
    (raise the budget or add an fp32 candidate), not something to paper over."""
    if not measured:
        raise EdgecError("auto-selection needs at least one candidate")
    for c in measured:
        c.within_budget = c.drop <= budget.max_drop + 1e-9
        if not c.within_budget:
            c.note = f"over budget: drops {c.drop:.2f} > {budget.max_drop:.2f} points of {budget.metric}"
    eligible = [c for c in measured if c.within_budget]
    if not eligible:
        worst = ", ".join(f"{c.label} drops {c.drop:.2f}" for c in measured)
        raise EdgecError(
            f"no candidate holds the accuracy budget (max_drop {budget.max_drop} points of {budget.metric}): "
            f"{worst}; raise the budget or add an fp32 candidate"
        )
    ranked = sorted(eligible, key=lambda c: (c.p50_ms, c.drop))
    winner = ranked[0]
    for c in ranked[1:]:
        c.note = f"within budget, {c.p50_ms / winner.p50_ms:.2f}x the winner's p50"
    winner.note = "chosen"
    if len(ranked) > 1:
        runner_up = ranked[1]
        reason = (f"{winner.label} is the fastest within budget: p50 {winner.p50_ms:.3f} ms, "
                  f"{runner_up.p50_ms / winner.p50_ms:.2f}x faster than {runner_up.label} "
                  f"({runner_up.p50_ms:.3f} ms); drop {winner.drop:.2f} <= {budget.max_drop:.2f} points of {budget.metric}")  # fmt: skip
    else:
        reason = (
            f"{winner.label} is the only candidate within budget (drop {winner.drop:.2f} points of {budget.metric})"
        )
    over = [c.label for c in measured if not c.within_budget]
    if over:
        reason += f"; over budget, so not eligible: {', '.join(over)}"
    return Decision(winner, list(measured), budget, reason)


def select(
    candidates: Sequence[tuple[str, str]],
    budget: Budget,
    *,
    model: Path,
    calib,
    evalset,
    out: Path,
    bench=None,
    log: Log = print,
) -> Decision:
    """Build each (profile name, precision) candidate, measure it with the harness, and decide.

    `calib` is the CalibrationSet INT8 is calibrated on; `evalset` the one quality is judged on
    (labels needed for top1). `bench` is a BenchmarkConfig (short settings are fine for choosing:
    the decision compares candidates measured the same way on the same inputs)."""
    from edgec.artifacts import atomic_write_bytes
    from edgec.benchmarks import harness, stats
    from edgec.compile import quality as quality_mod
    from edgec.compile.quantize import quantize_static_int8
    from edgec.config import BenchmarkConfig
    from edgec.targets.profiles import get_profile
    from edgec.targets.registry import get_builder

    if not candidates:
        raise EdgecError("auto-selection needs at least one (target, precision) candidate")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bench = bench or BenchmarkConfig()
    reference = quality_mod.run_onnx(model, evalset)
    labels = evalset.labels if budget.metric == "top1" else None
    float_score = quality_mod.score(reference, budget.metric, labels, reference)
    inputs_npz = atomic_write_bytes(out / "bench-inputs.npz", calib.sample(64, 0).to_npz_bytes())
    int8_graph: Path | None = None
    measured = []
    for target, precision in candidates:
        profile = get_profile(target)
        profile.resolve_precision(precision)
        source = model
        if precision == "int8":
            if int8_graph is None:  # one precision-typed graph feeds every INT8 backend
                int8_graph = quantize_static_int8(model, calib, out / "model.int8.onnx")
            source = int8_graph
        engine_dir = out / f"{target}-{precision}"
        engine_dir.mkdir(parents=True, exist_ok=True)
        built = get_builder(profile.backend).build(source, precision, profile, engine_dir)
        engine = engine_dir / built.engine
        score = _engine_score(engine, built, evalset, budget.metric, labels, reference)
        raw = harness.run_local(engine, built.runner, inputs_npz, harness.agent_settings(bench, built.runtime_options))
        summary = stats.summarize(raw["samples_ms"])
        log(f"auto-select: {target}/{precision}: p50 {summary['p50_ms']:.3f} ms, {budget.metric} {score:.2f}")
        measured.append(Measured(target, precision, profile.backend, summary["p50_ms"], summary["p90_ms"], score,
                                 float_score - score, engine))  # fmt: skip
    decision = decide(measured, budget)
    log(f"auto-select: {decision.reason}")
    return decision


def _engine_score(engine: Path, built, evalset, metric: str, labels, reference) -> float:
    """The metric of the engine as built, run by the same runner apps and benchmarks use."""
    import numpy as np

    from edgec.benchmarks.agent import make_runner
    from edgec.compile.quality import score

    runner = make_runner(built.runner, str(engine), built.runtime_options)
    runner.load()
    first = None
    outputs = []
    for feed in evalset.feeds():
        result = runner.infer(feed)
        first = first or next(iter(result))
        outputs.append(np.asarray(result[first]))
    return score(np.concatenate(outputs), metric, labels, reference)
