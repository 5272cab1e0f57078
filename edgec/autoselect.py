"""Auto-selection: when more than one backend or precision can serve a device (this host's CPU:
ONNX Runtime fp32/int8, OpenVINO fp32/fp16/int8), the fastest candidate that holds the accuracy
budget wins. `edgec build` builds and measures the candidates of a target with `candidates:`
(`edgec/autoselect_stage.py`); this module is the decision alone, on given measurements.

The decision is recorded for the manifest: every candidate's p50, its quality drop, whether it
was within budget, and one sentence saying why the winner won.

    decision = decide(measured, Budget(max_drop=1.0, metric="top1"))
    decision.winner            # the chosen Measured
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
    """One candidate: built and measured, or (p50 None) not measured, with `detail` saying why."""

    target: str
    precision: str
    backend: str
    p50_ms: float | None
    p90_ms: float | None
    quality: float  # the metric on the eval data, in points
    drop: float  # float score minus this candidate's score
    engine: Path | None = None
    within_budget: bool = True
    note: str = ""
    detail: str = ""  # what happened before the decision, e.g. why it was not measured
    files: list[dict] | None = None  # the measured engine's files (path, sha256), to check it again

    @property
    def label(self) -> str:
        return f"{self.target}/{self.precision}"


@dataclass
class Decision:
    winner: Measured
    candidates: list[Measured]
    budget: Budget
    reason: str
    extra: dict = field(default_factory=dict)  # more top-level keys for the record (what was measured how)

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
                 "note": c.note, "files": c.files}
                for c in self.candidates
            ],
            **self.extra,
        }  # fmt: skip


def decide(measured: Sequence[Measured], budget: Budget) -> Decision:
    """Pure decision: the fastest p50 among candidates within budget; ties go to the smaller drop.

    A candidate over budget (or not measured) never wins. If none is within budget, that is the
    user's error to fix (raise the budget or add an fp32 candidate), not something to paper over."""
    if not measured:
        raise EdgecError("auto-selection needs at least one candidate")
    for c in measured:
        c.within_budget = c.drop <= budget.max_drop + 1e-9
        if not c.within_budget:
            c.note = f"over budget: drops {c.drop:.2f} > {budget.max_drop:.2f} points of {budget.metric}"
        else:
            c.note = "not measured" if c.p50_ms is None else ""
    eligible = [c for c in measured if c.within_budget and c.p50_ms is not None]
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
    for c in measured:
        if c.detail:
            c.note = f"{c.note}; {c.detail}"
    return Decision(winner, list(measured), budget, reason)
