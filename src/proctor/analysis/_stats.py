"""Accuracy with confidence intervals, and paired comparisons of two protocols on the same questions.

Every interval here is a percentile bootstrap unless asked otherwise. Resampling is done over *units*: single
outcomes by default, or whole clusters (all outcomes sharing a cluster id, e.g. one question judged in both answer
orders, or every question of one article) when `clusters` is given, because outcomes in a cluster are not
independent and resampling them one by one makes intervals too narrow.

Resampling k units with replacement is the same as drawing multinomial counts over the units; units with identical
(sum, size) are interchangeable, so counts are drawn over the distinct (sum, size) pairs only. For 0/1 outcomes
there are at most a handful of those, so 10,000 resamples of a million outcomes cost microseconds.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from itertools import combinations
from statistics import NormalDist
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

# Resamples × distinct units held in memory at once; past this the draws are made in chunks.
_CHUNK_CELLS = 4_000_000


class AnalysisError(ValueError):
    """The data given to an analysis function cannot be analysed as asked."""


class Estimate(BaseModel):
    """A measured quantity with its confidence interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    """The point estimate from all the data (e.g. the accuracy, or accuracy A minus accuracy B)."""
    low: float
    """Lower end of the confidence interval."""
    high: float
    """Upper end of the confidence interval."""
    n: int = Field(ge=0)
    """Outcomes the estimate is computed from (for a paired difference: pairs)."""
    confidence: float = Field(gt=0.0, lt=1.0)
    """Confidence level of the interval, e.g. 0.95."""
    method: Literal["bootstrap", "cluster-bootstrap", "wilson"]
    """How the interval was computed: percentile bootstrap over outcomes, over clusters, or the Wilson score."""
    clusters: int | None = None
    """Clusters resampled by a cluster bootstrap; None when outcomes were resampled one by one."""
    resamples: int | None = None
    """Bootstrap resamples drawn; None for the Wilson interval."""
    p_value: float | None = None
    """Two-sided p-value of "the true value is 0" from a randomization test (exact at small n); set only by
    differences."""

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def accuracy_ci(
    correct: Sequence[bool],
    *,
    confidence: float = 0.95,
    method: Literal["bootstrap", "wilson"] = "bootstrap",
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 10_000,
    seed: int = 0,
) -> Estimate:
    """The fraction of outcomes that are correct, with a confidence interval.

    Args:
        correct: One outcome per judged item (True = correct).
        confidence: Confidence level of the interval.
        method: "bootstrap" (percentile bootstrap) or "wilson" (Wilson score interval; with clusters, at the
            effective sample size, see `effective_size`). Wilson never collapses to a point: all-correct outcomes
            get an interval below 1, which a bootstrap cannot give.
        clusters: Optional cluster id per outcome; the bootstrap then resamples whole clusters.
        resamples: Bootstrap resamples.
        seed: Seed of the bootstrap; the same seed gives the same interval.

    Returns:
        The accuracy and its interval.

    Raises:
        AnalysisError: No outcomes, or clusters of the wrong length.

    Example:
        >>> print(accuracy_ci([True, True, True, False], method="wilson"))
        0.750 [0.301, 0.954] (n=4)
    """
    values = _as_array(correct, "correct")
    _check_common(confidence, resamples)
    if method == "wilson":
        if clusters is None:
            low, high = wilson_interval(int(values.sum()), values.size, confidence=confidence)
            return Estimate(
                value=float(values.mean()), low=low, high=high, n=values.size, confidence=confidence, method="wilson"
            )
        effective, count = effective_size(values, clusters)
        low, high = _wilson(float(values.mean()), effective, confidence)
        return Estimate(
            value=float(values.mean()),
            low=low,
            high=high,
            n=values.size,
            confidence=confidence,
            method="wilson",
            clusters=count,
        )
    return _bootstrap_mean(values, clusters, confidence=confidence, resamples=resamples, seed=seed)


def paired_difference_ci(
    a: Sequence[bool] | Sequence[float],
    b: Sequence[bool] | Sequence[float],
    *,
    confidence: float = 0.95,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 10_000,
    seed: int = 0,
) -> Estimate:
    """Accuracy of A minus accuracy of B on the same questions, by a paired bootstrap, with a p-value.

    Outcome i of `a` and of `b` must come from the same question (and the same answer order), so resampling
    questions keeps each pair together: the interval reflects only how A and B differ, not how hard the questions
    are.

    The p-value of "no difference" is the sign-flip randomization test of `sign_flip_p_value`, exact at small n
    (6 of 10 questions differing, all one way: p = 0.031, the exact sign test); a bootstrap p-value is far too
    small there.

    Args:
        a: Outcome per question under protocol A (booleans, or scores in [0, 1]).
        b: Outcome per question under protocol B, in the same order.
        confidence: Confidence level of the interval.
        clusters: Optional cluster id per pair; whole clusters are resampled.
        resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        The difference A - B with its interval and `p_value`.

    Raises:
        AnalysisError: Empty or unequal-length sequences, or clusters of the wrong length.
    """
    first = _as_array(a, "a")
    second = _as_array(b, "b")
    if first.size != second.size:
        raise AnalysisError(
            f"a has {first.size} outcomes and b has {second.size}: a paired comparison needs one outcome of each "
            "protocol per question, in the same order"
        )
    _check_common(confidence, resamples)
    difference = first - second
    estimate, _ = _bootstrap(difference, clusters, confidence=confidence, resamples=resamples, seed=seed)
    p_value = sign_flip_p_value(difference, clusters, resamples=resamples, seed=seed)
    return estimate.model_copy(update={"p_value": p_value})


def difference_ci(
    a: Sequence[bool] | Sequence[float],
    b: Sequence[bool] | Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Estimate:
    """Mean of A minus mean of B for two independent groups (e.g. runs restarted when stuck against runs that were
    not), bootstrapping each group on its own, with the p-value of a permutation test (`permutation_p_value`).

    Args:
        a: Outcomes of group A (booleans, or scores in [0, 1]).
        b: Outcomes of group B; the groups may differ in size.
        confidence: Confidence level of the interval.
        resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        The difference A - B with its interval and `p_value`; `n` counts the outcomes of both groups.

    Raises:
        AnalysisError: An empty group.

    Example:
        >>> round(difference_ci([True, True, False], [False, False]).value, 3)
        0.667
    """
    first, second = _as_array(a, "a"), _as_array(b, "b")
    _check_common(confidence, resamples)
    _, draws_a = _bootstrap(first, None, confidence=confidence, resamples=resamples, seed=seed)
    _, draws_b = _bootstrap(second, None, confidence=confidence, resamples=resamples, seed=seed + 1)
    observed = float(first.mean() - second.mean())
    p_value = permutation_p_value(first, second, resamples=resamples, seed=seed)
    return difference_estimate(
        observed, draws_a - draws_b, n=first.size + second.size, confidence=confidence, p_value=p_value
    )


def difference_estimate(
    observed: float,
    draws: NDArray[np.float64],
    *,
    n: int,
    confidence: float,
    method: Literal["bootstrap", "cluster-bootstrap"] = "bootstrap",
    clusters: int | None = None,
    p_value: float,
) -> Estimate:
    """A difference with the percentile interval of its bootstrap `draws` and the given p-value of "no
    difference" (from a randomization test: `sign_flip_p_value` or `permutation_p_value`)."""
    alpha = 1 - confidence
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Estimate(
        value=observed,
        low=float(low),
        high=float(high),
        n=n,
        confidence=confidence,
        method=method,
        clusters=clusters,
        resamples=int(draws.size),
        p_value=p_value,
    )


EXACT_UNITS = 30
"""Sign-flip tests count all 2^k sign patterns exactly up to this many non-zero units (2^15 sums per half)."""
EXACT_PERMUTATIONS = 50_000
"""Permutation tests enumerate every split of the pooled outcomes up to this many splits."""


def sign_flip_p_value(
    differences: Sequence[float] | NDArray[np.float64],
    clusters: Sequence[Hashable] | None = None,
    *,
    resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """Two-sided p-value of "no difference" for paired differences, by the sign-flip randomization test.

    Under the null each unit's difference (a question's, or a cluster's summed differences) is as likely negative
    as positive. p is the share of the 2^k sign patterns of the k non-zero units whose |sum| is at least the
    observed |sum|: exact up to `EXACT_UNITS` non-zero units (counted by meeting in the middle), else estimated from
    `resamples` random patterns as (1 + count) / (resamples + 1). For 0/1 outcomes it is the exact two-sided sign
    test (McNemar's exact test): 6 of 10 questions differing, all in one direction, gives 2 / 2^6 = 0.031.

    Example:
        >>> round(sign_flip_p_value([1.0] * 6 + [0.0] * 4), 4)
        0.0312
    """
    values = np.asarray(differences, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise AnalysisError("differences has no outcomes: give a non-empty flat sequence of numbers")
    sums, _ = _units(values, clusters)
    units = sums[np.abs(sums) > 1e-12]
    observed = abs(float(units.sum()))
    if units.size == 0 or observed <= 1e-12:
        return 1.0
    threshold = observed - 1e-9 * max(1.0, observed)
    if units.size <= EXACT_UNITS:
        half = units.size // 2
        left = _signed_sums(units[:half])
        right = np.sort(_signed_sums(units[half:]))
        at_least = right.size - np.searchsorted(right, threshold - left, side="left")
        at_most = np.searchsorted(right, -threshold - left, side="right")
        return float((at_least.sum() + at_most.sum()) / 2.0**units.size)
    rng = np.random.default_rng(seed)
    count = 0
    chunk = max(1, _CHUNK_CELLS // units.size)
    for start in range(0, resamples, chunk):
        signs = rng.choice(np.array([-1.0, 1.0]), size=(min(resamples, start + chunk) - start, units.size))
        count += int(np.count_nonzero(np.abs(signs @ units) >= threshold))
    return (1 + count) / (resamples + 1)


def _signed_sums(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """All 2^len(values) sums of the values each taken with sign + or -."""
    sums = np.zeros(1)
    for value in values:
        sums = np.concatenate([sums + value, sums - value])
    return sums


def permutation_p_value(
    a: NDArray[np.float64], b: NDArray[np.float64], *, resamples: int = 10_000, seed: int = 0
) -> float:
    """Two-sided p-value of "no difference" between two independent groups, by a permutation test of |mean A -
    mean B|: exact (every split of the pooled outcomes into groups of the same sizes) up to `EXACT_PERMUTATIONS`
    splits, else from `resamples` random splits as (1 + count) / (resamples + 1)."""
    pooled = np.concatenate([a, b])
    size, total = a.size, float(pooled.sum())

    def gaps(chosen: NDArray[np.float64]) -> NDArray[np.float64]:  # chosen: sums of the splits' group A
        return np.asarray(np.abs(chosen / size - (total - chosen) / b.size), dtype=np.float64)

    observed = float(gaps(np.array([a.sum()]))[0])
    threshold = observed - 1e-9 * max(1.0, observed)
    if math.comb(pooled.size, size) <= EXACT_PERMUTATIONS:
        chosen = np.array([pooled[list(pick)].sum() for pick in combinations(range(pooled.size), size)])
        return float(np.count_nonzero(gaps(chosen) >= threshold) / chosen.size)
    rng = np.random.default_rng(seed)
    count = 0
    chunk = max(1, _CHUNK_CELLS // pooled.size)
    for start in range(0, resamples, chunk):
        order = np.argsort(rng.random((min(resamples, start + chunk) - start, pooled.size)), axis=1)
        chosen = pooled[order[:, :size]].sum(axis=1)
        count += int(np.count_nonzero(gaps(chosen) >= threshold))
    return (1 + count) / (resamples + 1)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion.

    Args:
        successes: Number of successes.
        n: Number of trials (at least 1).
        confidence: Confidence level.

    Returns:
        (low, high).

    Raises:
        AnalysisError: n < 1 or successes outside [0, n].
    """
    if n < 1 or not 0 <= successes <= n:
        raise AnalysisError(f"Wilson interval needs 0 <= successes <= n and n >= 1, got {successes}/{n}")
    # At 0 or n successes the bound is exactly 0 or 1; the subtraction would leave rounding noise.
    return _wilson(successes / n, float(n), confidence)


def effective_size(values: NDArray[np.float64], clusters: Sequence[Hashable]) -> tuple[float, int]:
    """The effective sample size of clustered 0/1 outcomes, and the number of clusters.

    It is n / deff, with the design effect deff = (variance of the mean between clusters, the ratio estimator's
    linearised variance) / (its variance if outcomes were independent), kept between 1 and the mean cluster size
    (n / clusters): never more information than n independent outcomes, never less than one outcome per cluster.
    When it cannot be estimated (all outcomes equal, or one cluster) the worst case, one outcome per cluster, is
    taken: an all-correct protocol on 10 questions judged in both answer orders counts as 10 outcomes, not 20."""
    sums, sizes = _units(values, clusters)
    n, count = float(values.size), len(sums)
    mean = float(values.mean())
    largest = n / count
    if count < 2 or mean in (0.0, 1.0):
        return count * 1.0, count
    between = count / (count - 1) * float(np.sum((sums - mean * sizes) ** 2)) / (n * n)
    independent = mean * (1 - mean) / n
    deff = min(max(between / independent, 1.0), largest)
    return n / deff, count


def _wilson(p: float, n: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion `p` from `n` (possibly effective, fractional) outcomes."""
    z = _normal_quantile(0.5 + confidence / 2)
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if p == 0.0 else max(0.0, centre - half)
    high = 1.0 if p == 1.0 else min(1.0, centre + half)
    return low, high


def mean_ci(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    clusters: Sequence[Hashable] | None = None,
    resamples: int = 10_000,
    seed: int = 0,
) -> Estimate:
    """The mean of real-valued outcomes (e.g. per-question scores in [0, 1]) with a percentile bootstrap interval.

    Args:
        values: One value per item.
        confidence: Confidence level of the interval.
        clusters: Optional cluster id per value; whole clusters are resampled.
        resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Returns:
        The mean and its interval.

    Raises:
        AnalysisError: No values, or clusters of the wrong length.
    """
    array = _as_array(values, "values")
    _check_common(confidence, resamples)
    return _bootstrap_mean(array, clusters, confidence=confidence, resamples=resamples, seed=seed)


def _bootstrap_mean(
    values: NDArray[np.float64],
    clusters: Sequence[Hashable] | None,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> Estimate:
    estimate, _ = _bootstrap(values, clusters, confidence=confidence, resamples=resamples, seed=seed)
    return estimate


def _bootstrap(
    values: NDArray[np.float64],
    clusters: Sequence[Hashable] | None,
    *,
    confidence: float,
    resamples: int,
    seed: int,
) -> tuple[Estimate, NDArray[np.float64]]:
    """Percentile bootstrap of the mean of `values`, resampling outcomes or clusters; also returns the draws."""
    sums, sizes = _units(values, clusters)
    # Identical units are interchangeable: draw counts over distinct (sum, size) pairs only.
    pairs, weights = np.unique(np.stack([sums, sizes], axis=1), axis=0, return_counts=True)
    probabilities = weights / weights.sum()
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples, dtype=np.float64)
    chunk = max(1, _CHUNK_CELLS // len(pairs))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        counts = rng.multinomial(len(sums), probabilities, size=stop - start)  # (R, distinct units)
        draws[start:stop] = (counts @ pairs[:, 0]) / (counts @ pairs[:, 1])
    alpha = 1 - confidence
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    estimate = Estimate(
        value=float(values.mean()),
        low=float(low),
        high=float(high),
        n=values.size,
        confidence=confidence,
        method="bootstrap" if clusters is None else "cluster-bootstrap",
        clusters=None if clusters is None else len(sums),
        resamples=resamples,
    )
    return estimate, draws


def _units(
    values: NDArray[np.float64], clusters: Sequence[Hashable] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per resampling unit: the sum of its values and its number of outcomes."""
    if clusters is None:
        return values, np.ones_like(values)
    if len(clusters) != values.size:
        raise AnalysisError(
            f"{len(clusters)} cluster ids for {values.size} outcomes: give exactly one cluster id per outcome"
        )
    index: dict[Hashable, int] = {}
    ids = np.fromiter((index.setdefault(c, len(index)) for c in clusters), dtype=np.int64, count=values.size)
    sums = np.bincount(ids, weights=values, minlength=len(index)).astype(np.float64)
    sizes = np.bincount(ids, minlength=len(index)).astype(np.float64)
    return sums, sizes


def _as_array(values: Sequence[bool] | Sequence[float], name: str) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise AnalysisError(f"{name} has no outcomes: give a non-empty flat sequence of booleans or numbers")
    if not np.all(np.isfinite(array)):
        raise AnalysisError(f"{name} holds NaN or infinite values: drop or score those items first")
    return array


def _check_common(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    if resamples < 1:
        raise AnalysisError(f"resamples must be at least 1 (10,000 is usual), got {resamples}")


def _normal_quantile(p: float) -> float:
    """Inverse of the standard normal CDF."""
    return NormalDist().inv_cdf(p)
