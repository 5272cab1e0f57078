"""Latency statistics from raw samples: percentiles, spread and bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
from scipy.stats import t as student_t

HIGH_CV = 0.10  # above this the run is noisy enough that a reader should be told
BOOTSTRAP_RESAMPLES = 2000
# One process's samples are cut into this many consecutive blocks (batch means): latency drifts
# within a run (frequency, cache, other work), so neighbouring samples are not independent.
SINGLE_RUN_BLOCKS = 8
MIN_BLOCK_SAMPLES = 10


def bootstrap_ci(samples: np.ndarray, q: float, *, seed: int = 0, level: float = 0.95,
                 run_lengths: list[int] | None = None) -> list[float]:  # fmt: skip
    """Percentile-bootstrap confidence interval of the q-th percentile (seeded: reproducible).

    With `run_lengths` (samples pooled from several agent processes, in order) it is a two-stage
    bootstrap: runs are resampled, then samples within each. Runs of the same engine differ by
    more than their samples suggest (core placement, memory layout, machine load), so an
    interval from one process's samples alone is too narrow to cover the next run.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(samples, dtype=np.float64)
    n = len(x)
    stats = np.empty(BOOTSTRAP_RESAMPLES)
    if run_lengths and len(run_lengths) > 1:
        bounds = np.cumsum([0, *run_lengths])
        runs = [x[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        for i in range(BOOTSTRAP_RESAMPLES):
            picked = [runs[j] for j in rng.integers(0, len(runs), len(runs))]
            stats[i] = np.percentile(np.concatenate([r[rng.integers(0, len(r), len(r))] for r in picked]), q)
    else:
        # Resample in blocks: vectorized, but never more than ~16 MB of indices at once.
        block = max(1, min(BOOTSTRAP_RESAMPLES, 2_000_000 // max(n, 1)))
        for start in range(0, BOOTSTRAP_RESAMPLES, block):
            stop = min(start + block, BOOTSTRAP_RESAMPLES)
            stats[start:stop] = np.percentile(x[rng.integers(0, n, (stop - start, n))], q, axis=1)
    alpha = (1 - level) / 2
    return [float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))]


def percentile_ci(samples: np.ndarray, q: float, run_lengths: list[int] | None = None,
                  level: float = 0.95) -> tuple[list[float], str]:  # fmt: skip
    """The reported 95 % interval of the q-th percentile, and how it was made.

    What a reader does with the interval is compare the next run against it, so it is made to
    hold the percentile a repeat run measures (a Student-t prediction interval over groups of
    samples), which also makes it a conservative confidence interval of the engine's true
    percentile on this machine. The bootstrap alone (even two-stage) is far too narrow for that:
    measured here, back-to-back `edgec bench` runs of one bundle differed by up to 5.6 % while
    their bootstrap intervals were +/-1 % wide. The interval is the union of the bootstrap and:

    - "runs": a t interval over the agent processes (`run_lengths`, two or more): each process's
      percentile is one observation, so process-to-process variation (core placement, memory
      layout, load) is in it, and the t quantile pays for having few processes.
    - "blocks": one process cut into consecutive blocks (batch means): covers drift within the
      run, not between processes (`warnings_for` says so).
    - "bootstrap": too few samples to cut into blocks.

    Half-width: t(level, k-1) * s * sqrt(2 / k) for k groups with standard deviation s: the
    difference of two runs' averages of k groups each.
    """
    x = np.asarray(samples, dtype=np.float64)
    boot = bootstrap_ci(x, q, run_lengths=run_lengths, level=level)
    if run_lengths and len(run_lengths) > 1:
        bounds = np.cumsum([0, *run_lengths])
        groups, method = [x[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)], "runs"
    elif x.size >= SINGLE_RUN_BLOCKS * MIN_BLOCK_SAMPLES:
        groups, method = np.array_split(x, SINGLE_RUN_BLOCKS), "blocks"
    else:
        return boot, "bootstrap"
    per_group = np.array([np.percentile(g, q) for g in groups])
    k = len(per_group)
    half = float(student_t.ppf(0.5 + level / 2, k - 1) * per_group.std(ddof=1) * np.sqrt(2 / k))
    center = float(np.percentile(x, q))
    lo = max(min(boot[0], center - half), float(x.min()))  # a percentile never leaves the samples' range
    hi = min(max(boot[1], center + half), float(x.max()))
    return [lo, hi], method


def widen_for_drift(ci: list[float], center: float, drift_pct: float) -> list[float]:
    """Add a drift allowance of +/-drift_pct % of `center` to a statistical interval, root-sum-square
    on each side (statistical and systematic uncertainty combined, as in metrology's GUM).

    Why: latency on a shared machine drifts between runs on a timescale longer than one run
    (measured here: runs a few seconds apart differed by 0.4-1.3 % while their own 5 processes
    agreed within 0.2 %), and no statistic of a run can see drift the run did not live through.
    The allowance is a setting (`benchmark.drift_pct`), recorded in the summary."""
    if drift_pct <= 0:
        return ci
    allowance = center * drift_pct / 100.0
    lo = center - float(np.hypot(center - ci[0], allowance))
    hi = center + float(np.hypot(ci[1] - center, allowance))
    return [max(lo, 0.0), hi]


def summarize(samples_ms: list[float] | np.ndarray, run_lengths: list[int] | None = None,
              drift_pct: float = 0.0) -> dict:  # fmt: skip
    """The `summary` block of benchmark.json, computed only from the samples (and, when they were
    pooled from several runs, the report's `run_lengths`; `drift_pct`: `widen_for_drift`)."""
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    ci50, method = percentile_ci(x, 50, run_lengths)
    ci90, _ = percentile_ci(x, 90, run_lengths)
    ci50 = widen_for_drift(ci50, float(np.percentile(x, 50)), drift_pct)
    ci90 = widen_for_drift(ci90, float(np.percentile(x, 90)), drift_pct)
    return {
        "count": int(x.size),
        "p50_ms": float(np.percentile(x, 50)),
        "p90_ms": float(np.percentile(x, 90)),
        "p95_ms": float(np.percentile(x, 95)),
        "p99_ms": float(np.percentile(x, 99)),
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": float(x.min()),
        "max_ms": float(x.max()),
        "cv": std / mean if mean > 0 else 0.0,
        "ci95_p50_ms": ci50,
        "ci95_p90_ms": ci90,
        "ci_method": method,  # runs | blocks | bootstrap (see percentile_ci)
        "drift_pct": float(drift_pct),  # the allowance in both intervals (widen_for_drift)
        "throughput_per_s": 1000.0 / mean if mean > 0 else 0.0,
    }


def warnings_for(summary: dict) -> list[str]:
    notes = []
    if summary["cv"] > HIGH_CV:
        notes.append(
            f"high variation: coefficient of variation {summary['cv']:.1%} > {HIGH_CV:.0%}; "
            "close other work, pin cores or raise min_seconds"
        )
    if summary.get("ci_method") in ("blocks", "bootstrap"):
        notes.append(
            "one process measured: the confidence interval covers this run's own noise, not the "
            "difference between runs; measure with repeats >= 3 for an interval the next run falls in"
        )
    return notes
