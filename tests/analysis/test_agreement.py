"""Agreement statistics against references (the `krippendorff` package, scikit-learn, SciPy, a slow computation
from the definition), on raters whose agreement is known, and on the edge cases that have no answer."""

from __future__ import annotations

import math
from itertools import permutations

import krippendorff
import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from proctor.analysis import (
    AnalysisError,
    alpha_ci,
    auc_ci,
    cohen_kappa,
    kappa_ci,
    krippendorff_alpha,
    loo_consensus,
    reliability_matrix,
    spearman_ci,
)

NAN = float("nan")
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the worked example: 4 coders, 12 units.
TEXTBOOK = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]


def slow_alpha(matrix: list[list[float]], level: str) -> float:
    """α from its definition, pair by pair: 1 - D_o / D_e over the pairable values."""
    units = [[v for v in column if not math.isnan(v)] for column in zip(*matrix, strict=True)]
    units = [u for u in units if len(u) >= 2]
    values = [v for u in units for v in u]
    n = len(values)
    counts = {v: values.count(v) for v in set(values)}

    def d2(c: float, k: float) -> float:
        if level == "nominal":
            return float(c != k)
        if level == "interval":
            return (c - k) ** 2
        low, high = min(c, k), max(c, k)
        return (sum(counts[g] for g in counts if low <= g <= high) - (counts[c] + counts[k]) / 2) ** 2

    observed = sum(d2(u[i], u[j]) / (len(u) - 1) for u in units for i, j in permutations(range(len(u)), 2)) / n
    expected = sum(d2(values[i], values[j]) for i, j in permutations(range(n), 2)) / (n * (n - 1))
    return 1 - observed / expected


@pytest.mark.parametrize(("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)])
def test_alpha_on_krippendorffs_worked_example(level: str, published: float) -> None:
    assert krippendorff_alpha(TEXTBOOK, level=level) == pytest.approx(published, abs=5e-4)  # type: ignore[arg-type]
    assert krippendorff_alpha(TEXTBOOK, level=level) == pytest.approx(slow_alpha(TEXTBOOK, level))  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_matches_the_krippendorff_package_and_the_definition(seed: int, level: str) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=25)
    matrix = np.clip(truth + rng.integers(-1, 2, size=(4, 25)), 1, 5).astype(float)
    matrix[rng.random(matrix.shape) < 0.35] = np.nan
    ours = krippendorff_alpha(matrix, level=level)  # type: ignore[arg-type]
    assert ours == pytest.approx(krippendorff.alpha(matrix, level_of_measurement=level), abs=1e-9)
    assert ours == pytest.approx(slow_alpha(matrix.tolist(), level), abs=1e-9)


def test_alpha_at_the_interval_level_on_non_integer_values() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(3, 1, size=(3, 40)).round(2) + rng.normal(0, 0.5, size=40)
    matrix[0, :5] = np.nan
    expected = krippendorff.alpha(matrix, level_of_measurement="interval")
    assert krippendorff_alpha(matrix, level="interval") == pytest.approx(expected, abs=1e-9)


def test_perfect_agreement_is_one_and_random_raters_are_near_zero() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(1, 6, size=300).astype(float)
    same = np.stack([truth, truth, truth])
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(same, level=level) == 1.0  # type: ignore[arg-type]
    noise = rng.integers(1, 6, size=(3, 2000)).astype(float)
    for level in ("nominal", "ordinal", "interval"):
        assert abs(krippendorff_alpha(noise, level=level)) < 0.03  # type: ignore[arg-type]
    estimate = alpha_ci(noise, level="ordinal", resamples=500)
    assert estimate.low < 0.0 < estimate.high and estimate.n == 2000 and estimate.resamples == 500


def test_alpha_edge_cases_say_why() -> None:
    with pytest.raises(AnalysisError, match="no item is rated by two raters"):
        krippendorff_alpha([[1, 2, 3, 4]])  # one rater
    with pytest.raises(AnalysisError, match="no item is rated by two raters"):
        krippendorff_alpha([[1, NAN, 3], [NAN, 2, NAN]])  # every item rated once
    with pytest.raises(AnalysisError, match="every rating has the same value"):
        krippendorff_alpha([[3, 3, 3], [3, 3, 3]])
    with pytest.raises(AnalysisError, match="every rating has the same value"):
        alpha_ci([[2.5, 2.5], [2.5, 2.5]], level="interval")
    with pytest.raises(AnalysisError, match="level must be"):
        krippendorff_alpha([[1, 2], [1, 2]], level="ratio")  # type: ignore[arg-type]
    # Items rated once are left out: they change nothing.
    assert krippendorff_alpha([[1, 2, 3, 5], [1, 3, 3, NAN]]) == krippendorff_alpha([[1, 2, 3], [1, 3, 3]])


def test_an_interval_is_never_zero_width_by_accident_and_the_seed_fixes_it() -> None:
    # Two items: most resamples repeat one item, where α is undefined; the rest decide the interval.
    small = alpha_ci([[1, 4], [1, 5]], level="interval", resamples=400)
    assert small.value == pytest.approx(krippendorff.alpha([[1, 4], [1, 5]], level_of_measurement="interval"))
    assert 0 < small.resamples < 400
    # When no resample defines the statistic, the interval is its whole range, and says so.
    from proctor.analysis._agreement import _estimate

    lone = _estimate(0.4, np.array([NAN, NAN]), 2, None, 0.95, (-1.0, 1.0))
    assert (lone.low, lone.high, lone.resamples) == (-1.0, 1.0, 0)
    first = alpha_ci(TEXTBOOK, resamples=300, seed=5)
    assert first == alpha_ci(TEXTBOOK, resamples=300, seed=5) and first != alpha_ci(TEXTBOOK, resamples=300, seed=6)


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_kappa_matches_scikit_learn(weights: str | None) -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        a = rng.integers(1, 6, size=60)
        b = np.clip(a + rng.integers(-2, 3, size=60), 1, 5)
        expected = cohen_kappa_score(a, b, weights=weights)
        assert cohen_kappa(list(a), list(b), weights=weights) == pytest.approx(expected, abs=1e-12)  # type: ignore[arg-type]
        # With the scale's points given, unused points count in the distances, as sklearn's `labels` does.
        b = np.where(b == 4, 5, b)
        points = [1, 2, 3, 4, 5, 6]
        expected = cohen_kappa_score(a, b, weights=weights, labels=points)
        ours = cohen_kappa(list(a), list(b), weights=weights, categories=points)  # type: ignore[arg-type]
        assert ours == pytest.approx(expected, abs=1e-12)


def test_kappa_known_truth_and_edge_cases() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 3, size=5000).astype(float)
    assert cohen_kappa(a, a) == 1.0 and cohen_kappa(a, a, weights="quadratic") == 1.0
    assert abs(cohen_kappa(a, rng.integers(0, 3, size=5000).astype(float))) < 0.03
    assert cohen_kappa([3, 3, 3, 3], [1, 3, 2, 3]) == 0.0  # one rater constant: no agreement beyond chance
    with pytest.raises(AnalysisError, match="both raters gave one and the same value"):
        cohen_kappa([2, 2, 2], [2, 2, 2])
    with pytest.raises(AnalysisError, match="one value of each rater per item"):
        cohen_kappa([1, 2], [1])
    with pytest.raises(AnalysisError, match="not among the categories"):
        cohen_kappa([1, 2], [1, 7], categories=[1, 2, 3])
    with pytest.raises(AnalysisError, match="both raters' values"):
        cohen_kappa([1, NAN], [1, 2])


def test_intervals_cover_the_true_agreement_about_95_percent_of_the_time() -> None:
    """Rater B copies A with probability q, else picks at random among 3 categories: κ = q (and nominal α, with
    equal marginals, tends to q too)."""
    q, n, simulations = 0.6, 120, 200
    rng = np.random.default_rng(11)
    kappa_hits = alpha_hits = 0
    for i in range(simulations):
        a = rng.integers(0, 3, size=n)
        b = np.where(rng.random(n) < q, a, rng.integers(0, 3, size=n))
        k = kappa_ci(list(a.astype(float)), list(b.astype(float)), resamples=400, seed=i)
        kappa_hits += k.low <= q <= k.high
        alpha = alpha_ci(np.stack([a, b]).astype(float), level="nominal", resamples=400, seed=i)
        alpha_hits += alpha.low <= q <= alpha.high
    assert 0.89 <= kappa_hits / simulations <= 0.99
    assert 0.89 <= alpha_hits / simulations <= 0.99


def test_consensus_leaves_the_rater_out() -> None:
    consensus = loo_consensus([[1, 4, NAN], [3, NAN, 2], [5, 2, NAN]])
    assert consensus[0].tolist()[:2] == [4.0, 2.0] and math.isnan(consensus[0, 2])
    assert consensus[1, 0] == 3.0 and math.isnan(consensus[1, 1]) and math.isnan(consensus[1, 2])  # alone on item 3
    assert consensus[2].tolist()[:2] == [2.0, 4.0]


def test_reliability_matrix_keeps_a_raters_latest_rating() -> None:
    data = reliability_matrix([("ada", "o1", 2), ("bob", "o2", 5), ("ada", "o1", 4)])
    assert data.raters == ["ada", "bob"] and data.items == ["o1", "o2"]
    assert data.matrix[0, 0] == 4.0 and math.isnan(data.matrix[0, 1]) and data.matrix[1, 1] == 5.0


def test_spearman_and_auc_match_scipy_and_scikit_learn() -> None:
    rng = np.random.default_rng(2)
    x = rng.integers(1, 6, size=80).astype(float)  # ties, as ratings have
    y = x + rng.normal(0, 2, size=80)
    success = y > 3
    assert spearman_ci(x, y).value == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert spearman_ci(x, success.astype(float)).value == pytest.approx(spearmanr(x, success).statistic, abs=1e-12)
    assert auc_ci(x, success).value == pytest.approx(roc_auc_score(success, x), abs=1e-12)
    # Clustered: runs of 4 options sharing one outcome; the interval counts runs, not options.
    runs = [i // 4 for i in range(80)]
    clustered = auc_ci(x, success, clusters=runs, resamples=500)
    assert clustered.method == "cluster-bootstrap" and clustered.clusters == 20 and clustered.n == 80
    assert clustered.low < clustered.value < clustered.high


def test_auc_with_many_distinct_scores() -> None:
    """Past a few hundred distinct scores the AUC is computed item by item; it is the same statistic."""
    from proctor.analysis._agreement import _weighted_auc

    rng = np.random.default_rng(8)
    scores = rng.normal(size=600)  # a model's expected ratings: every value distinct
    success = scores + rng.normal(size=600) > 0
    estimate = auc_ci(scores, success, clusters=[i // 3 for i in range(600)], resamples=300)
    assert estimate.value == pytest.approx(roc_auc_score(success, scores), abs=1e-12)
    assert estimate.clusters == 200 and estimate.low < estimate.value < estimate.high
    groups = np.unique(scores, return_inverse=True)[1]
    counts = rng.multinomial(600, np.full(600, 1 / 600))
    picked = np.repeat(np.arange(600), counts)
    ours = _weighted_auc(groups, success, counts[None, :].astype(float))[0]
    assert ours == pytest.approx(roc_auc_score(success[picked], scores[picked]), abs=1e-12)


def test_spearman_bootstrap_is_the_correlation_of_resampled_items() -> None:
    """The weighted mid-rank shortcut equals ρ of the resample written out item by item."""
    from proctor.analysis._agreement import _table_spearman, _weighted_spearman

    rng = np.random.default_rng(4)
    x, y = rng.integers(1, 4, size=15).astype(float), rng.integers(0, 2, size=15).astype(float)
    gx, gy = np.unique(x, return_inverse=True)[1], np.unique(y, return_inverse=True)[1]
    for _ in range(20):
        counts = rng.multinomial(15, np.full(15, 1 / 15))
        picked = np.repeat(np.arange(15), counts)
        expected = spearmanr(x[picked], y[picked]).statistic
        ours = _weighted_spearman(gx, gy, counts[None, :].astype(float))[0]
        assert (math.isnan(ours) and math.isnan(expected)) or ours == pytest.approx(expected, abs=1e-12)
        # The same from the table of value pairs (the path taken when there are few distinct values).
        table = np.zeros((3, 2))
        np.add.at(table, (gx, gy), counts)
        tabled = _table_spearman(3, 2)(table.reshape(1, -1))[0]
        assert (math.isnan(tabled) and math.isnan(expected)) or tabled == pytest.approx(expected, abs=1e-12)


def test_correlation_edge_cases_say_why() -> None:
    with pytest.raises(AnalysisError, match="never vary"):
        spearman_ci([3, 3, 3], [1, 2, 3])
    with pytest.raises(AnalysisError, match="2 or more"):
        spearman_ci([1], [1])
    with pytest.raises(AnalysisError, match="both successes and failures"):
        auc_ci([1, 2, 3], [True, True, True])
    assert auc_ci([1, 2], [False, True]).value == 1.0
    perfect = spearman_ci([1, 2, 3, 4, 5], [2, 4, 6, 8, 10], resamples=200)
    assert perfect.value == pytest.approx(1.0) and perfect.high == pytest.approx(1.0)
