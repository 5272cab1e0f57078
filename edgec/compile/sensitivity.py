"""The accuracy budget: when INT8 loses more than `max_drop`, keep the most sensitive layers in
float, one at a time, until the budget holds or nothing is left to try.

Sensitivity is measured layer by layer: each quantized compute node is quantized on its own
(every other candidate kept in float) and the graph is scored on the judge data. The node that
alone loses the most (metric first, cosine to the float outputs to break ties) is the most
sensitive. (Keeping one node at a time in float measures less well: an activation with an
outlier range hurts through its producer and its consumer alike, so no single exclusion helps.)
Calibration ranges are cached, so each trial is a re-quantization and an evaluation, not a new
calibration run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.compile import quality
from edgec.errors import EdgecError

Quantizer = Callable[[list[str], Path], Path]  # (nodes kept in float, out path) -> quantized graph
Evaluator = Callable[[Path], np.ndarray]  # graph -> outputs on the judge data


@dataclass
class Judge:
    """Scores outputs against the float graph's outputs (and labels for top1)."""

    metric: str
    reference: np.ndarray
    labels: np.ndarray | None

    def score(self, outputs: np.ndarray) -> float:
        return quality.score(outputs, self.metric, self.labels, self.reference)

    def cosine(self, outputs: np.ndarray) -> float:
        return quality.fidelity(outputs, self.reference)["cosine_mean"]

    @property
    def float_score(self) -> float:
        return self.score(self.reference)


@dataclass
class BudgetResult:
    path: Path
    quantized: float
    drop: float
    fidelity: dict
    kept_in_float: list[str]
    steps: list[dict] = field(default_factory=list)  # one per graph tried, naive INT8 first
    sensitivity: list[dict] = field(default_factory=list)  # per candidate node, most sensitive first
    within_budget: bool = True


def _trial(quantize: Quantizer, evaluate: Evaluator, judge: Judge, kept: list[str], path: Path):
    out = quantize(kept, path)
    outputs = evaluate(out)
    return out, outputs, judge.score(outputs)


def quantize_within_budget(
    quantize: Quantizer,
    evaluate: Evaluator,
    judge: Judge,
    candidates: Callable[[Path], list[str]],
    work_dir: Path,
    *,
    max_drop: float,
    always_float: list[str] = (),
    max_float_nodes: int = 16,
    fallback: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> BudgetResult:
    """Naive INT8 first; if it breaks the budget, rank nodes by sensitivity and keep them in
    float step by step. Returns the first graph within budget, or the last one tried."""
    base = list(always_float)
    float_score = judge.float_score
    path, outputs, score = _trial(quantize, evaluate, judge, base, work_dir / "trial-0.onnx")
    steps = [{"kept_in_float": [], "quantized": score, "drop": float_score - score, "cosine": judge.cosine(outputs)}]
    log(
        f"INT8: {judge.metric} {score:.2f} (float {float_score:.2f}, drop {float_score - score:.2f}, budget {max_drop})"
    )
    result = BudgetResult(path, score, float_score - score, quality.fidelity(outputs, judge.reference), base, steps)
    if result.drop <= max_drop or not fallback:
        result.within_budget = result.drop <= max_drop
        return result

    ranked = rank_sensitivity(quantize, evaluate, judge, candidates(path), base, work_dir)
    result.sensitivity = ranked
    log("sensitivity: " + ", ".join(f"{r['node']} ({r['score_alone_in_int8']:.2f})" for r in ranked[:5]))
    kept: list[str] = []
    for step, entry in enumerate(ranked[:max_float_nodes], 1):
        kept.append(entry["node"])
        path, outputs, score = _trial(quantize, evaluate, judge, base + kept, work_dir / f"step-{step}.onnx")
        drop = float_score - score
        steps.append({"kept_in_float": list(kept), "added": entry["node"], "why": _why(entry),
                      "quantized": score, "drop": drop, "cosine": judge.cosine(outputs)})  # fmt: skip
        log(f"keep {entry['node']} in float: {judge.metric} {score:.2f} (drop {drop:.2f})")
        if drop <= max_drop:
            return BudgetResult(path, score, drop, quality.fidelity(outputs, judge.reference), base + kept,
                                steps, ranked)  # fmt: skip
    best = min(steps, key=lambda s: s["drop"])
    raise BudgetError(judge.metric, float_score, max_drop, steps, best)


def _why(entry: dict) -> str:
    return (f"most sensitive left: quantized alone it scores {entry['score_alone_in_int8']:.2f} "
            f"(cosine {entry['cosine_alone_in_int8']:.4f})")  # fmt: skip


def rank_sensitivity(quantize: Quantizer, evaluate: Evaluator, judge: Judge, nodes: list[str],
                     base: list[str], work_dir: Path) -> list[dict]:  # fmt: skip
    """Each candidate quantized alone (the others in float); most sensitive (largest loss) first."""
    nodes = [n for n in nodes if n not in base]
    rows = []
    for i, node in enumerate(nodes):
        others = [n for n in nodes if n != node]
        _, outputs, score = _trial(quantize, evaluate, judge, base + others, work_dir / f"sens-{i}.onnx")
        rows.append({"node": node, "score_alone_in_int8": score, "cosine_alone_in_int8": judge.cosine(outputs)})
    rows.sort(key=lambda r: (r["score_alone_in_int8"], r["cosine_alone_in_int8"]))
    return rows


class BudgetError(EdgecError):
    """INT8 could not be brought within the budget; the message lists every step tried."""

    def __init__(self, metric: str, float_score: float, max_drop: float, steps: list[dict], best: dict) -> None:
        lines = [f"  {', '.join(s['kept_in_float']) or '(naive INT8)'}: {metric} {s['quantized']:.2f}, "
                 f"drop {s['drop']:.2f}" for s in steps]  # fmt: skip
        super().__init__(
            f"INT8 cannot hold quantize.max_drop = {max_drop} on {metric} (float {float_score:.2f}); "
            f"tried {len(steps)} graph(s), best drop {best['drop']:.2f}:\n" + "\n".join(lines),
            hint="raise quantize.max_drop or quantize.max_float_nodes, or build this target at fp32/fp16",
        )
        self.steps = steps
