"""Success rates: the Wilson interval against scipy's, and the clustered rate's coverage on tasks that differ."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from proctor.analysis import AnalysisError, pooled_rate, task_rate, wilson_bounds, wilson_interval


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (1, 1), (0, 3), (3, 3), (1, 2), (7, 20), (0, 50), (49, 50)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_task_rate_is_the_wilson_interval_scipy_computes(successes: int, n: int, confidence: float) -> None:
    rate = task_rate(successes, n, confidence=confidence)
    reference = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert rate.low == pytest.approx(reference.low, abs=1e-9)
    assert rate.high == pytest.approx(reference.high, abs=1e-9)
    assert rate.value == successes / n
    assert rate.high - rate.low > 0.02  # never zero-wide, even at 0/n and n/n


def test_fractional_wilson_matches_the_integer_one() -> None:
    for successes, n in [(0, 4), (3, 10), (10, 10)]:
        assert wilson_bounds(successes / n, n) == pytest.approx(wilson_interval(successes, n))


def test_one_run_per_task_pools_like_independent_runs() -> None:
    rate = pooled_rate([(1, 1)] * 6 + [(0, 1)] * 4)
    assert rate.effective_runs == pytest.approx(10)
    assert (rate.low, rate.high) == pytest.approx(wilson_interval(6, 10))


def test_all_or_nothing_tasks_count_once_each() -> None:
    # Two tasks, ten runs each: always solved and never solved. The runs say nothing beyond "one task of two".
    rate = pooled_rate([(10, 10), (0, 10)])
    assert rate.value == 0.5 and rate.effective_runs == pytest.approx(2)
    assert (rate.low, rate.high) == pytest.approx(wilson_interval(1, 2))
    # Everything solved: the data cannot tell how alike tasks are; assume the worst (one outcome per task).
    solved = pooled_rate([(5, 5), (5, 5), (5, 5)])
    assert solved.value == 1.0 and solved.high == 1.0
    assert solved.effective_runs == pytest.approx(3)
    assert solved.low == pytest.approx(wilson_interval(3, 3)[0]) and solved.low < 0.5


def test_bad_rates_get_one_clear_line() -> None:
    with pytest.raises(AnalysisError, match="at least one counted run"):
        pooled_rate([])
    with pytest.raises(AnalysisError, match="solved <= runs"):
        pooled_rate([(3, 2), (1, 1)])


def coverage(interval: str, seed: int, *, tasks: int = 15, runs: int = 6, trials: int = 2000) -> float:
    """How often the interval covers the mean success probability of the population of tasks, each task's
    probability drawn from Beta(1, 1.5) (mean 0.4): tasks differ a lot, as real ones do."""
    rng = np.random.default_rng(seed)
    truth = 1 / (1 + 1.5)
    covered = 0
    for _ in range(trials):
        p = rng.beta(1, 1.5, size=tasks)
        solved = rng.binomial(runs, p)
        if interval == "pooled":
            rate = pooled_rate([(int(s), runs) for s in solved])
            low, high = rate.low, rate.high
        else:  # the naive interval: every run independent
            low, high = wilson_interval(int(solved.sum()), tasks * runs)
        covered += low <= truth <= high
    return covered / trials


def test_the_clustered_interval_covers_the_truth_and_the_naive_one_does_not() -> None:
    pooled = coverage("pooled", seed=1)
    naive = coverage("naive", seed=1)
    assert 0.93 <= pooled <= 0.975, pooled
    assert naive < 0.85, naive  # runs of one task are not independent evidence
    assert 0.92 <= coverage("pooled", seed=2, tasks=5, runs=20) <= 0.975  # few tasks, many runs each
    assert 0.93 <= coverage("pooled", seed=3, tasks=40, runs=2) <= 0.97  # many tasks, two runs each
