"""`edgec gate`: compare the current build with a baseline, target by target, against budgets.

Absolute budgets (p50/p90 latency, peak memory, model size, accuracy, fidelity) look at the
current build alone. Relative budgets look at both: accuracy drop in points, and latency
slowdown, which fails only when it is over the threshold *and* significant on the raw samples
(`significance.compare_latency`). Measurements from different machines or backend versions are
not compared for speed unless the caller allows it; absolute budgets still apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgec.benchmarks import interleave, significance
from edgec.benchmarks.gate_config import GatesConfig, TargetBudgets
from edgec.benchmarks.gate_inputs import (
    MB,
    Measured,
    environment_differences,
    load_side,
    pair_targets,
)
from edgec.errors import EdgecError, GateFailure

PASS, FAIL, SKIP = "pass", "fail", "skipped"


@dataclass(frozen=True)
class Check:
    """One budget of one target: the numbers, the threshold and the verdict."""

    target: str
    budget: str  # the gates: key, e.g. "max_p90_ms"; "present" for a target missing from current
    label: str  # for people: "p90 latency"
    baseline: str  # formatted value, "—" where it does not apply
    current: str
    threshold: str
    verdict: str  # pass | fail | skipped
    detail: str


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == FAIL]

    @property
    def passed(self) -> bool:
        return not self.failed

    def __bool__(self) -> bool:
        return self.passed


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g} ms"


def _mb(value: float | None) -> str:
    return "—" if value is None else f"{value / MB:.3f} MB"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _upper(target: str, budget: str, label: str, value: float | None, limit: float, fmt, unit_limit: str) -> Check:
    """current <= limit."""
    if value is None:
        return Check(target, budget, label, "—", "—", unit_limit, SKIP, f"no {label} recorded for this target")
    ok = value <= limit
    detail = f"{label} {fmt(value)}: {'within' if ok else 'over'} the budget ({unit_limit})"
    return Check(target, budget, label, "—", fmt(value), unit_limit, PASS if ok else FAIL, detail)


def _lower(target: str, budget: str, label: str, value: float | None, limit: float, fmt) -> Check:
    """current >= limit."""
    threshold = f"≥ {limit:g}"
    if value is None:
        return Check(target, budget, label, "—", "—", threshold, SKIP, f"no {label} recorded for this target")
    ok = value >= limit
    detail = f"{label} {fmt(value)}: {'meets' if ok else 'below'} the budget ({threshold})"
    return Check(target, budget, label, "—", fmt(value), threshold, PASS if ok else FAIL, detail)


def absolute_checks(name: str, current: Measured, budgets: TargetBudgets) -> list[Check]:
    checks = []
    samples = None if current.samples is None else np.asarray(current.samples, dtype=np.float64)
    # Percentiles come from the raw samples, not the summary: `edgec verify` is what checks that
    # the two agree, and a gate should not trust a number it can recompute.
    for budget, q, label in (("max_p50_ms", 50, "p50 latency"), ("max_p90_ms", 90, "p90 latency")):
        limit = getattr(budgets, budget)
        if limit is not None:
            value = None if samples is None else float(np.percentile(samples, q))
            checks.append(_upper(name, budget, label, value, limit, _ms, f"≤ {limit:g} ms"))
    if budgets.max_peak_memory_mb is not None:
        rss = (current.report or {}).get("peak_rss_bytes")
        checks.append(_upper(name, "max_peak_memory_mb", "peak memory", rss, budgets.max_peak_memory_mb * MB, _mb,
                             f"≤ {budgets.max_peak_memory_mb:g} MB"))  # fmt: skip
    if budgets.max_model_size_mb is not None:
        checks.append(_upper(name, "max_model_size_mb", "model size", current.model_bytes(),
                             budgets.max_model_size_mb * MB, _mb, f"≤ {budgets.max_model_size_mb:g} MB"))  # fmt: skip
    quality = current.quality()
    metric = quality[0] if quality else "accuracy"
    if budgets.min_accuracy is not None:
        value = quality[1] if quality else None
        checks.append(_lower(name, "min_accuracy", f"{metric} %", value, budgets.min_accuracy, _pct))
    if budgets.min_fidelity is not None:
        value = quality[2] if quality else None
        checks.append(_lower(name, "min_fidelity", "top-1 agreement with float", value, budgets.min_fidelity,
                             lambda v: f"{v:.4f}"))  # fmt: skip
    return checks


def _slowdown_check(name: str, base: Measured, cur: Measured, pct: float, alpha: float, env_diffs: list[str],
                    allow_different_env: bool) -> Check:  # fmt: skip
    label, threshold = "median latency vs baseline", f"≤ +{pct:g} % (significant)"
    if base.samples is None or cur.samples is None:
        side = "baseline" if base.samples is None else "current"
        return Check(name, "max_slowdown_pct", label, "—", "—", threshold, SKIP, f"the {side} has no benchmark.json")
    if min(len(base.samples), len(cur.samples)) < 2:
        return Check(name, "max_slowdown_pct", label, "—", "—", threshold, SKIP, "fewer than 2 samples on one side")
    if env_diffs and not allow_different_env:
        base_med, cur_med = float(np.median(base.samples)), float(np.median(cur.samples))
        return Check(name, "max_slowdown_pct", label, _ms(base_med), _ms(cur_med), threshold, SKIP,
                     "not comparable: measured in different environments (" + "; ".join(env_diffs) +
                     "); pass --allow-different-env to compare anyway")  # fmt: skip
    result = significance.compare_latency(base.samples, cur.samples, threshold=pct / 100.0, alpha=alpha)
    verdict = FAIL if result.regression else PASS
    current = f"{_ms(result.current_median_ms)} ({result.change_pct:+.1f} %, {significance.format_p(result.p_value)})"
    return Check(name, "max_slowdown_pct", label, _ms(result.baseline_median_ms), current, threshold, verdict,
                 result.explain())  # fmt: skip


def _accuracy_drop_check(name: str, base: Measured, cur: Measured, max_drop: float) -> Check:
    threshold = f"drop ≤ {max_drop:g} points"
    qb, qc = base.quality(), cur.quality()
    if qb is None or qc is None or qb[1] is None or qc[1] is None:
        side = "baseline" if qb is None or qb[1] is None else "current"
        return Check(name, "max_accuracy_drop", "accuracy vs baseline", "—", "—", threshold, SKIP,
                     f"the {side} manifest records no accuracy")  # fmt: skip
    label = f"{qc[0]} % vs baseline"
    if qb[0] != qc[0]:
        return Check(name, "max_accuracy_drop", label, _pct(qb[1]), _pct(qc[1]), threshold, SKIP,
                     f"not comparable: baseline metric '{qb[0]}', current metric '{qc[0]}'")  # fmt: skip
    drop = qb[1] - qc[1]
    ok = drop <= max_drop
    detail = f"{qc[0]} {qb[1]:.2f} -> {qc[1]:.2f} ({-drop:+.2f} points; budget: drop ≤ {max_drop:g})"
    return Check(name, "max_accuracy_drop", label, _pct(qb[1]), f"{_pct(qc[1])} ({-drop:+.2f})", threshold,
                 PASS if ok else FAIL, detail)  # fmt: skip


def relative_checks(name: str, base: Measured | None, cur: Measured, budgets: TargetBudgets, alpha: float,
                    allow_different_env: bool) -> tuple[list[Check], list[str]]:  # fmt: skip
    checks: list[Check] = []
    wanted = [b for b in ("max_slowdown_pct", "max_accuracy_drop") if getattr(budgets, b) is not None]
    if base is None:
        for budget in wanted:
            checks.append(Check(name, budget, budget, "—", "—", "—", SKIP, "no baseline for this target"))
        return checks, []
    env_diffs = environment_differences(base, cur) if base.report and cur.report else []
    if budgets.max_slowdown_pct is not None:
        checks.append(_slowdown_check(name, base, cur, budgets.max_slowdown_pct, alpha, env_diffs, allow_different_env))
    if budgets.max_accuracy_drop is not None:
        checks.append(_accuracy_drop_check(name, base, cur, budgets.max_accuracy_drop))
    notes = [f"{name}: baseline and current environments differ: " + "; ".join(env_diffs)] if env_diffs else []
    return checks, notes


DEFAULT_SETTINGS = {"warmup_runs": 10, "warmup_seconds": 0.5, "min_runs": 100, "min_seconds": 2.0}


def remeasure(name: str, base: Measured, cur: Measured, rounds: int) -> str:
    """Replace both sides' samples with an interleaved measurement of both bundles on this
    machine; returns a note for the summary."""
    if base.bundle_dir is None or cur.bundle_dir is None:
        return f"{name}: not re-measured (a side has no bundle with manifest.json); stored samples compared"
    settings = ((cur.report or base.report or {}).get("settings")) or DEFAULT_SETTINGS
    raw_base, raw_cur = interleave.measure_interleaved([base.bundle_dir, cur.bundle_dir], settings, rounds)
    for side, raw in ((base, raw_base), (cur, raw_cur)):
        side.report = {**(side.report or {}), **raw, "settings": settings}
    return f"{name}: baseline and current re-measured here, interleaved in {rounds} rounds"


def evaluate(baseline: dict[str, Measured] | None, current: dict[str, Measured], gates: GatesConfig,
             *, allow_different_env: bool = False, remeasure_rounds: int = 0) -> GateResult:  # fmt: skip
    """Every check for every target; `baseline=None` applies the absolute budgets alone.
    `remeasure_rounds > 0` measures both bundles again here, interleaved, before comparing."""
    result = GateResult()
    pairs = [(n, None, c) for n, c in current.items()] if baseline is None else pair_targets(baseline, current)
    if remeasure_rounds:
        for name, base, cur in pairs:
            if base is not None and cur is not None and gates.budgets_for(name).max_slowdown_pct is not None:
                result.notes.append(remeasure(name, base, cur, remeasure_rounds))
    for name, base, cur in pairs:
        budgets = gates.budgets_for(name)
        if cur is None:
            result.checks.append(Check(name, "present", "target built", "present", "missing", "present", FAIL,
                                       f"target '{name}' is in the baseline but not in the current build"))  # fmt: skip
            continue
        result.checks.extend(absolute_checks(name, cur, budgets))
        if baseline is not None:
            checks, notes = relative_checks(name, base, cur, budgets, gates.alpha, allow_different_env)
            result.checks.extend(checks)
            result.notes.extend(notes)
    unknown = sorted(set(gates.targets) - {n for n, _, _ in pairs})
    if unknown:
        result.notes.append("gates.targets names targets not in either side: " + ", ".join(unknown))
    return result


def run_gate(
    baseline: Path | None,
    current: Path,
    gates: GatesConfig,
    *,
    allow_different_env: bool = False,
    remeasure_rounds: int = 0,
) -> GateResult:
    base = None if baseline is None else load_side(baseline, "baseline")
    if remeasure_rounds and base is None:
        raise EdgecError("--remeasure needs a baseline to measure against")
    current_side = load_side(current, "current")
    return evaluate(
        base, current_side, gates, allow_different_env=allow_different_env, remeasure_rounds=remeasure_rounds
    )


def raise_if_failed(result: GateResult) -> None:
    if result.failed:
        lines = [f"{c.target}: {c.label}: {c.detail}" for c in result.failed]
        raise GateFailure(
            f"{len(result.failed)} of {len(result.checks)} gate check(s) failed:\n  " + "\n  ".join(lines)
        )
