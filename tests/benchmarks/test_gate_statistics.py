"""The slowdown statistics on synthetic samples: properties that must hold for any input.

Hypothesis runs derandomized (a fixed sequence of examples), so these tests are deterministic:
a property like "identical distributions do not fail" is checked on the same examples every run.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgec.benchmarks.significance import bootstrap_medians, compare_latency

PROPERTY = settings(derandomize=True, max_examples=40, deadline=None)


def _latencies(seed: int, n: int, sigma: float, scale: float = 1.0) -> np.ndarray:
    """Right-skewed like real latencies: a floor plus a lognormal body."""
    rng = np.random.default_rng(seed)
    return scale * (0.5 + rng.lognormal(0.0, sigma, n))


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 3000), sigma=st.floats(0.05, 0.8),
       threshold=st.floats(0.05, 0.3))  # fmt: skip
def test_identical_distributions_do_not_fail(seed, n, sigma, threshold):
    base = _latencies(seed, n, sigma)
    cur = _latencies(seed + 1, n, sigma)
    assert not compare_latency(base, cur, threshold=threshold).regression


def test_false_alarm_rate_over_many_trials():
    """200 independent A/A comparisons at the default 10 %: no alarm (the bound allows ~0)."""
    alarms = sum(
        compare_latency(_latencies(2 * i, 300, 0.4), _latencies(2 * i + 1, 300, 0.4), threshold=0.10).regression
        for i in range(200)
    )
    assert alarms == 0


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(400, 4000), sigma=st.floats(0.05, 0.3),
       threshold=st.floats(0.03, 0.3), excess=st.floats(1.12, 2.0))  # fmt: skip
def test_shift_beyond_threshold_with_enough_samples_fails(seed, n, sigma, threshold, excess):
    base = _latencies(seed, n, sigma)
    cur = _latencies(seed + 1, n, sigma) * (1 + threshold) * excess
    result = compare_latency(base, cur, threshold=threshold)
    assert result.regression, result.explain()


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 3000), sigma=st.floats(0.05, 0.8),
       factor=st.floats(1.0, 3.0))  # fmt: skip
def test_speedup_never_fails(seed, n, sigma, factor):
    base = _latencies(seed, n, sigma)
    cur = _latencies(seed + 1, n, sigma) / factor
    assert not compare_latency(base, cur, threshold=0.05).regression


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 3000), sigma=st.floats(0.01, 1.0),
       shift=st.floats(0.5, 2.0), scale=st.floats(1e-4, 1e4))  # fmt: skip
def test_scale_invariance(seed, n, sigma, shift, scale):
    base, cur = _latencies(seed, n, sigma), _latencies(seed + 1, n, sigma) * shift
    a = compare_latency(base, cur, threshold=0.1)
    b = compare_latency(base * scale, cur * scale, threshold=0.1)
    assert b.ratio == pytest.approx(a.ratio, rel=1e-9)
    assert b.ratio_ci == pytest.approx(a.ratio_ci, rel=1e-9)
    assert b.p_value == pytest.approx(a.p_value, rel=1e-6, abs=1e-300)
    assert b.regression == a.regression


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 6))
def test_a_handful_of_samples_never_decides(seed, n):
    """Ten times slower, but 6 samples a side: the rank test cannot reach p < 0.001."""
    base = _latencies(seed, n, 0.2)
    assert not compare_latency(base, base * 10, threshold=0.1).regression


@pytest.mark.parametrize("n", [9, 16, 301])
def test_order_statistic_bootstrap_matches_resampling(n):
    """bootstrap_medians draws order statistics directly; it must match the textbook resampling."""
    x = _latencies(7, n, 0.5)
    rng = np.random.default_rng(3)
    fast = bootstrap_medians(x, 40_000, rng)
    slow = np.median(x[rng.integers(0, n, (40_000, n))], axis=1)
    qs = [0.025, 0.25, 0.5, 0.75, 0.975]
    spread = np.quantile(slow, 0.975) - np.quantile(slow, 0.025)
    assert np.abs(np.quantile(fast, qs) - np.quantile(slow, qs)).max() < 0.05 * spread
    assert fast.mean() == pytest.approx(slow.mean(), abs=0.02 * spread)


def test_verdict_is_reproducible():
    base, cur = _latencies(1, 500, 0.3), _latencies(2, 500, 0.3) * 1.2
    assert compare_latency(base, cur, threshold=0.1) == compare_latency(base, cur, threshold=0.1)


@pytest.mark.parametrize("bad", [[1.0], [1.0, -1.0], [1.0, float("nan")]])
def test_refuses_unusable_samples(bad):
    with pytest.raises(ValueError):
        compare_latency(bad, [1.0, 2.0, 3.0], threshold=0.1)
