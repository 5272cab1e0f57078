"""Latency statistics from raw samples: percentiles, spread and bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np

HIGH_CV = 0.10  # above this the run is noisy enough that a reader should be told
BOOTSTRAP_RESAMPLES = 2000


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


def summarize(samples_ms: list[float] | np.ndarray, run_lengths: list[int] | None = None) -> dict:
    """The `summary` block of benchmark.json, computed only from the samples (and, when they were
    pooled from several runs, the report's `run_lengths`)."""
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples to summarize")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
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
        "ci95_p50_ms": bootstrap_ci(x, 50, run_lengths=run_lengths),
        "ci95_p90_ms": bootstrap_ci(x, 90, run_lengths=run_lengths),
        "throughput_per_s": 1000.0 / mean if mean > 0 else 0.0,
    }


def warnings_for(summary: dict) -> list[str]:
    notes = []
    if summary["cv"] > HIGH_CV:
        notes.append(
            f"high variation: coefficient of variation {summary['cv']:.1%} > {HIGH_CV:.0%}; "
            "close other work, pin cores or raise min_seconds"
        )
    return notes
