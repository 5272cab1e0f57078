"""Is the current build slower than the baseline? Statistics on the raw latency samples.

A slowdown is called only when two things hold at once (docs/ci.md says why both):

1. it is **large**: the lower end of a 95 % bootstrap confidence interval of the ratio of
   medians (current / baseline) lies above `1 + threshold`, i.e. even the optimistic end of the
   interval is over budget;
2. it is **significant**: a one-sided Mann–Whitney U test on the raw samples rejects "current
   is not slower" at level `alpha`.

The ratio bound is what makes noise and small drifts pass (a 3 % wobble never clears a 10 %
threshold); the rank test keeps a handful of samples from ever deciding anything (with fewer
than ~7 samples a side, U cannot reach p < 0.001). Both are scale invariant: multiplying every
sample by the same factor changes no verdict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

DEFAULT_ALPHA = 0.001
CI_LEVEL = 0.95
BOOTSTRAP_DRAWS = 10_000


@dataclass(frozen=True)
class Slowdown:
    """The comparison of one target's latency: numbers and the verdict."""

    baseline_median_ms: float
    current_median_ms: float
    ratio: float  # current median / baseline median
    ratio_ci: tuple[float, float]  # two-sided CI_LEVEL bootstrap interval of the ratio
    p_value: float  # one-sided Mann–Whitney U: current stochastically larger than baseline
    threshold: float  # allowed fraction, 0.10 for 10 %
    alpha: float
    baseline_count: int
    current_count: int

    @property
    def over_threshold(self) -> bool:
        return self.ratio_ci[0] > 1.0 + self.threshold

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    @property
    def regression(self) -> bool:
        return self.over_threshold and self.significant

    @property
    def change_pct(self) -> float:
        return (self.ratio - 1.0) * 100.0

    def explain(self) -> str:
        lo, hi = self.ratio_ci
        verdict = (
            "slower, over the threshold and significant"
            if self.regression
            else "within the threshold or not significant"
        )
        return (
            f"median {self.baseline_median_ms:.4g} -> {self.current_median_ms:.4g} ms "
            f"({self.change_pct:+.1f} %, ratio CI [{lo:.3f}, {hi:.3f}], "
            f"Mann-Whitney {format_p(self.p_value)}; threshold +{self.threshold:.0%}, alpha {self.alpha:g}): {verdict}"
        )


def format_p(p: float) -> str:
    # Thousands of samples give p-values that underflow to 0; "p=0" would claim certainty.
    return "p<1e-12" if p < 1e-12 else f"p={p:.2g}"


def bootstrap_medians(samples: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` bootstrap replicates of the median of `samples`, in O(draws) after one sort.

    A bootstrap resample is n draws from the empirical distribution, i.e. the empirical
    quantile function applied to n uniforms; since that function is monotone, the k-th smallest
    value of the resample is the quantile function at the k-th smallest of n uniforms, which is
    Beta(k, n-k+1). For an even n the median averages the k-th and (k+1)-th order statistics; the
    gap from U(k) to U(k+1), relative to what is left above U(k), is Beta(1, n-k). This is exact,
    and lets a report with a million samples be bootstrapped in milliseconds.
    """
    x = np.sort(np.asarray(samples, dtype=np.float64))
    n = x.size

    def at(u: np.ndarray) -> np.ndarray:
        return x[np.clip(np.ceil(u * n).astype(np.int64) - 1, 0, n - 1)]

    if n % 2:
        k = (n + 1) // 2
        return at(rng.beta(k, n - k + 1, draws))
    k = n // 2
    lower = rng.beta(k, n - k + 1, draws)
    upper = lower + (1.0 - lower) * rng.beta(1, n - k, draws)
    return (at(lower) + at(upper)) / 2.0


def compare_latency(
    baseline_ms,
    current_ms,
    *,
    threshold: float,
    alpha: float = DEFAULT_ALPHA,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> Slowdown:
    """Compare two sets of raw latency samples (milliseconds). Seeded: the same input, the same
    verdict."""
    base = np.asarray(baseline_ms, dtype=np.float64)
    cur = np.asarray(current_ms, dtype=np.float64)
    for name, x in (("baseline", base), ("current", cur)):
        if x.size < 2:
            raise ValueError(f"{name} has {x.size} sample(s); at least 2 are needed to compare")
        if not np.all(np.isfinite(x)) or np.any(x <= 0):
            raise ValueError(f"{name} has non-positive or non-finite latency samples")
    base_med, cur_med = float(np.median(base)), float(np.median(cur))
    rng = np.random.default_rng(seed)
    ratios = bootstrap_medians(cur, draws, rng) / bootstrap_medians(base, draws, rng)
    tail = (1.0 - CI_LEVEL) / 2
    lo, hi = np.quantile(ratios, [tail, 1.0 - tail])
    # Exact U distribution for small samples, the normal approximation (with tie correction)
    # beyond; "greater": the alternative is that current samples tend to be larger.
    method = "exact" if base.size <= 50 and cur.size <= 50 else "asymptotic"
    p_value = float(mannwhitneyu(cur, base, alternative="greater", method=method).pvalue)
    return Slowdown(
        baseline_median_ms=base_med,
        current_median_ms=cur_med,
        ratio=cur_med / base_med,
        ratio_ci=(float(lo), float(hi)),
        p_value=p_value,
        threshold=threshold,
        alpha=alpha,
        baseline_count=int(base.size),
        current_count=int(cur.size),
    )
