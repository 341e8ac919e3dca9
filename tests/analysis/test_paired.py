"""Paired comparisons: McNemar's exact test against scipy, statsmodels and a direct sum; Newcombe's interval and the
cluster bootstrap recovered from simulations with a known difference; `compare` on stored runs."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from report_runs import START, Run, add_runs, add_tasks
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar

from proctor.analysis import (
    AnalysisError,
    RunFilter,
    clustered_difference,
    compare,
    mcnemar_exact,
    newcombe_paired_interval,
)
from proctor.store import Store


def direct_mcnemar(a_only: int, b_only: int) -> float:
    """The exact two-sided p-value summed term by term: every split at most as likely as the observed one."""
    n = a_only + b_only
    observed = math.comb(n, a_only)
    return min(1.0, sum(math.comb(n, k) for k in range(n + 1) if math.comb(n, k) <= observed) / 2**n)


@pytest.mark.parametrize(("a_only", "b_only"), [(0, 0), (5, 0), (0, 5), (1, 1), (10, 10), (3, 17), (9, 2), (240, 200)])
def test_mcnemar_exact_matches_scipy_statsmodels_and_a_direct_sum(a_only: int, b_only: int) -> None:
    p = mcnemar_exact(a_only, b_only)
    assert p == pytest.approx(direct_mcnemar(a_only, b_only), rel=1e-9)
    assert p == pytest.approx(mcnemar([[7, a_only], [b_only, 4]], exact=True).pvalue, rel=1e-9)
    if a_only + b_only:
        assert p == pytest.approx(binomtest(a_only, a_only + b_only, 0.5).pvalue, rel=1e-9)


def test_newcombe_interval_is_never_zero_wide_and_is_symmetric() -> None:
    low, high = newcombe_paired_interval(12, 0, 0, 3)  # every pair agrees
    assert low < 0 < high and high - low > 0.1
    low, high = newcombe_paired_interval(14, 5, 0, 22)
    assert low < 5 / 41 < high
    swapped = newcombe_paired_interval(14, 0, 5, 22)
    assert swapped == pytest.approx((-high, -low))


def test_newcombe_interval_covers_a_known_paired_difference() -> None:
    rng = np.random.default_rng(7)
    # P(both) .45, P(A only) .2, P(B only) .1, P(neither) .25: A − B = .1; 60 pairs.
    probabilities = [0.45, 0.2, 0.1, 0.25]
    covered = 0
    for _ in range(2000):
        counts = rng.multinomial(60, probabilities)
        low, high = newcombe_paired_interval(*map(int, counts))
        covered += low <= 0.1 <= high
    assert 0.93 <= covered / 2000 <= 0.975


@pytest.mark.parametrize(("families", "tasks", "spread"), [(12, 4, 0.1), (4, 5, 0.1), (30, 3, 0.1), (4, 5, 0.0)])
def test_the_cluster_bootstrap_covers_a_known_difference(families: int, tasks: int, spread: float) -> None:
    # Tasks of a family differ alike (a family effect of sd `spread`): resampling tasks alone is far too narrow then.
    rng = np.random.default_rng(families)
    covered = narrow = 0
    trials = 300
    for trial in range(trials):
        effects = rng.normal(0, spread, families)
        differences = [0.1 + effects[f] + rng.normal(0, 0.15) for f in range(families) for _ in range(tasks)]
        names = [f"f{f}" for f in range(families) for _ in range(tasks)]
        estimate = clustered_difference(differences, names, resamples=1000, seed=trial)
        covered += estimate.low <= 0.1 <= estimate.high
        alone = clustered_difference(differences, ["one"] * len(names), resamples=1000, seed=trial)
        narrow += alone.low <= 0.1 <= alone.high
    assert 0.92 <= covered / trials <= 0.98
    if spread:  # one family's tasks taken as independent: too narrow
        assert narrow / trials < covered / trials - 0.04 and narrow / trials < 0.9


def test_one_family_still_gets_an_interval_from_its_tasks() -> None:
    estimate = clustered_difference([0.0, 0.5, 1.0, 0.5], ["suite"] * 4, resamples=2000)
    assert estimate.low < estimate.value == 0.5 < estimate.high
    assert estimate.clusters == 1


LAB = {f"fam{f}/t{t}": ["shell"] for f in range(4) for t in range(5)}


def test_compare_recovers_a_known_difference_and_pairs_runs(store: Store) -> None:
    add_tasks(store, LAB)
    rng = np.random.default_rng(3)
    runs = []
    for i, task in enumerate(sorted(LAB)):
        for k in range(3):
            when = START + timedelta(minutes=10 * i + k)
            runs.append(Run(task, model="lab/alpha", score=float(rng.random() < 0.8), created_at=when))
            runs.append(Run(task, model="lab/beta", score=float(rng.random() < 0.4), created_at=when))
    add_runs(store, runs)
    result = compare(store, RunFilter.parse("model=lab/alpha"), RunFilter.parse("model=lab/beta"), seed=1)
    assert len(result.tasks) == 20 and result.difference.clusters == 4
    assert result.difference.low < 0.4 < result.difference.high
    assert result.difference.low > 0
    # Four families, all ahead for A: the sign-flip test's smallest p-value, 2 of the 2^4 sign patterns.
    assert result.difference.p_value == pytest.approx(2 / 16)
    # The direct computation: per task, the mean of A's runs minus B's; pairs in creation order.
    for row in result.tasks:
        a = [r.score for r in runs if r.task_id == row.task_id and r.model == "lab/alpha"]
        b = [r.score for r in runs if r.task_id == row.task_id and r.model == "lab/beta"]
        assert row.difference == pytest.approx(np.mean(a) - np.mean(b))
        assert row.a_only == sum(1 for x, y in zip(a, b, strict=True) if x == 1 and y == 0)
        assert row.b_only == sum(1 for x, y in zip(a, b, strict=True) if x == 0 and y == 1)
    table = result.mcnemar
    assert table is not None and table.pairs == 60
    assert table.both + table.a_only + table.b_only + table.neither == 60
    assert table.p_value == pytest.approx(binomtest(table.a_only, table.a_only + table.b_only).pvalue)
    flipped = {f.task_id for f in result.flipped}
    assert flipped == {r.task_id for r in result.tasks if (r.a_success > 0.5) != (r.b_success > 0.5)}


def test_compare_pairs_forks_with_originals_and_lists_unshared_tasks(store: Store) -> None:
    add_tasks(store, {"fam/a": [], "fam/b": [], "fam/c": []})
    originals = add_runs(store, [Run("fam/a", score=0.0), Run("fam/b", score=0.0), Run("fam/c", score=1.0)])
    add_runs(
        store, [Run("fam/a", score=1.0, forked_from=originals[0]), Run("fam/b", score=0.0, forked_from=originals[1])]
    )
    result = compare(store, RunFilter.parse("fork=yes"), RunFilter.parse("fork=no"))
    assert [t.task_id for t in result.tasks] == ["fam/a", "fam/b"] and result.only_b == ["fam/c"]
    assert [(f.task_id, f.solved_by) for f in result.flipped] == [("fam/a", "a")]
    assert result.mcnemar is not None and (result.mcnemar.a_only, result.mcnemar.b_only) == (1, 0)
    assert result.mcnemar.p_value == 1.0
    assert result.mcnemar.difference.low < 0.5 < result.mcnemar.difference.high  # never zero-wide
    scored = compare(store, RunFilter.parse("fork=yes"), RunFilter.parse("fork=no"), measure="score")
    assert scored.mcnemar is None and scored.difference.value == pytest.approx(0.5)


def test_compare_refuses_what_it_cannot_compare(store: Store) -> None:
    add_tasks(store, {"fam/a": [], "fam/b": []})
    add_runs(store, [Run("fam/a", model="lab/alpha"), Run("fam/b", model="lab/beta")])
    alpha, beta = RunFilter.parse("model=lab/alpha"), RunFilter.parse("model=lab/beta")
    with pytest.raises(AnalysisError, match="share no task"):
        compare(store, alpha, beta)
    with pytest.raises(AnalysisError, match=r"group B \(model=lab/gamma\) has no finished runs"):
        compare(store, alpha, RunFilter.parse("model=lab/gamma"))
    with pytest.raises(AnalysisError, match="2 runs are in both groups"):
        compare(store, RunFilter.parse("model=lab/*"), RunFilter.parse("agent=tags"))
