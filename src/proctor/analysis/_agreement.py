"""Agreement between raters: Krippendorff's α, Cohen's κ (unweighted and weighted), leave-one-out consensus,
Spearman's ρ and the AUC, each with a percentile bootstrap interval over items (or clusters of items).

Ratings are laid out as the `krippendorff` package lays them out: a reliability matrix with one row per rater and
one column per item (an option, a question), NaN where a rater did not rate the item.

α, κ and the AUC are functions of a table summed over items — α of the coincidence matrix (at the interval level,
of four moments), κ of the contingency table, the AUC of the counts of each score among successes and failures — so
a bootstrap resample is a weighted sum of per-item tables: resampling items with replacement draws multinomial
counts over the items, and items whose tables are identical are interchangeable, so the counts are drawn over the
distinct tables only (as `proctor.analysis._stats` does for means). Spearman's ρ needs ranks recomputed per
resample; it is done on per-item weights, in chunks.

Undefined statistics raise `AnalysisError` with the reason (no item rated twice, ratings that never vary, one
outcome only). In a bootstrap, resamples where the statistic is undefined are left out; when none is defined the
interval is the statistic's whole range ([-1, 1], or [0, 1] for the AUC) and `resamples` is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from proctor.analysis._stats import AnalysisError, Estimate

Level = Literal["nominal", "ordinal", "interval"]
"""Krippendorff's levels of measurement: which differences between two values count as disagreement."""
KappaWeights = Literal["linear", "quadratic"]
"""Weighted κ: disagreement grows with the distance between categories (linear) or its square (quadratic)."""

Floats = NDArray[np.float64]
_CHUNK_CELLS = 4_000_000  # resamples × table cells held at once
_TABLE_CELLS = 256  # ρ and the AUC from a table of value pairs up to this many cells, else item by item
_MULTINOMIAL_UNITS = 1000  # distinct units up to which resampling draws multinomial counts over them


@dataclass(frozen=True)
class ReliabilityData:
    """Ratings as a reliability matrix."""

    matrix: Floats
    """(raters, items): the value each rater gave each item, NaN where it gave none."""
    raters: list[Hashable]
    """The rater of each row."""
    items: list[Hashable]
    """The item of each column."""


def reliability_matrix(ratings: Iterable[tuple[Hashable, Hashable, float]]) -> ReliabilityData:
    """Arrange `(rater, item, value)` triples as a reliability matrix; a rater's later rating of the same item
    replaces the earlier one.

    Example:
        >>> reliability_matrix([("ada", "o1", 4), ("bob", "o1", 5)]).matrix.tolist()
        [[4.0], [5.0]]
    """
    raters: dict[Hashable, int] = {}
    items: dict[Hashable, int] = {}
    cells: dict[tuple[int, int], float] = {}
    for rater, item, value in ratings:
        cells[(raters.setdefault(rater, len(raters)), items.setdefault(item, len(items)))] = float(value)
    matrix = np.full((len(raters), len(items)), np.nan)
    for (row, column), value in cells.items():
        matrix[row, column] = value
    return ReliabilityData(matrix=matrix, raters=list(raters), items=list(items))


# Krippendorff's α


def krippendorff_alpha(data: ArrayLike, *, level: Level = "ordinal") -> float:
    """Krippendorff's α of a reliability matrix: 1 - observed / expected disagreement, over the items rated by two
    or more raters (items rated once carry no information about agreement and are left out).

    Args:
        data: (raters, items), NaN for a missing rating.
        level: `ordinal` (ranks of the distinct values), `interval` (squared differences) or `nominal` (any two
            different values disagree equally).

    Returns:
        α: 1 for perfect agreement, about 0 for agreement at chance, below 0 for systematic disagreement.

    Raises:
        AnalysisError: no item is rated twice (one rater, or items rated once), or every rating has the same value
            (α is 0/0: agreement is perfect but uninformative).

    Example:
        >>> krippendorff_alpha([[1, 2, 3, 3], [1, 2, 3, 4]], level="interval")
        0.8888888888888888
    """
    contributions, statistic = _alpha_parts(_matrix(data), level)
    value = float(statistic(contributions.sum(axis=0, keepdims=True))[0])
    if not np.isfinite(value):
        raise AnalysisError(_NO_VARIATION)
    return value


def alpha_ci(
    data: ArrayLike, *, level: Level = "ordinal", confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> Estimate:
    """Krippendorff's α with a percentile bootstrap interval over items (`n` counts the items rated twice or more).

    Raises:
        AnalysisError: as `krippendorff_alpha`.
    """
    _check(confidence, resamples)
    contributions, statistic = _alpha_parts(_matrix(data), level)
    return _summed_estimate(contributions, statistic, None, confidence, resamples, seed, _NO_VARIATION, (-1.0, 1.0))


_NO_VARIATION = "every rating has the same value: α is undefined (agreement is perfect but uninformative)"


def _matrix(data: ArrayLike) -> Floats:
    matrix = np.asarray(data, dtype=np.float64)
    if matrix.ndim != 2:
        raise AnalysisError("give ratings as a (raters, items) matrix with NaN for a missing rating")
    if np.isinf(matrix).any():
        raise AnalysisError("ratings hold infinite values: give finite numbers, NaN for a missing rating")
    return matrix


def _alpha_parts(matrix: Floats, level: Level) -> tuple[Floats, Callable[[Floats], Floats]]:
    """Per pairable item, its contribution to the summed table; and α as a function of summed tables (R, K)."""
    rated = ~np.isnan(matrix)
    pairable = matrix[:, rated.sum(axis=0) >= 2]  # (raters, U)
    if pairable.shape[1] == 0:
        raise AnalysisError("no item is rated by two raters or more: agreement needs items rated more than once")
    if level == "interval":
        return _interval_parts(pairable)
    if level not in ("nominal", "ordinal"):
        raise AnalysisError(f"level must be nominal, ordinal or interval, not {level!r}")
    values, codes = np.unique(pairable[~np.isnan(pairable)], return_inverse=True)
    counts = np.zeros((pairable.shape[1], values.size))  # (U, V): how often each value was given to each item
    columns = np.nonzero(~np.isnan(pairable))[1]
    np.add.at(counts, (columns, codes), 1.0)
    m = counts.sum(axis=1)  # (U,)
    pairs = counts[:, :, None] * counts[:, None, :]  # (U, V, V)
    pairs[:, np.arange(values.size), np.arange(values.size)] -= counts
    contributions = (pairs / (m - 1)[:, None, None]).reshape(len(m), -1)  # coincidences, (U, V*V)
    size = values.size

    def statistic(summed: Floats) -> Floats:
        o = summed.reshape(-1, size, size)  # (R, V, V)
        marginal = o.sum(axis=2)  # (R, V)
        n = marginal.sum(axis=1)  # (R,)
        if level == "nominal":
            d2 = np.broadcast_to(1.0 - np.eye(size), o.shape)
        else:  # ordinal: (values from c to k, counted by their marginals) - (n_c + n_k) / 2, squared
            cum = np.cumsum(marginal, axis=1)
            between = cum[:, None, :] - cum[:, :, None] + marginal[:, :, None]  # (R, c, k), valid for c <= k
            upper = (between - (marginal[:, :, None] + marginal[:, None, :]) / 2) ** 2
            d2 = np.where(np.triu(np.ones((size, size), dtype=bool)), upper, np.swapaxes(upper, 1, 2))
        observed = (o * d2).sum(axis=(1, 2))
        expected = (marginal[:, :, None] * marginal[:, None, :] * d2).sum(axis=(1, 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(1.0 - (n - 1) * observed / expected, dtype=np.float64)

    return contributions, statistic


def _interval_parts(pairable: Floats) -> tuple[Floats, Callable[[Floats], Floats]]:
    """At the interval level α needs only four sums per item: values, their sum and sum of squares, and the sum of
    squared differences within the item over m - 1. Values are centred first (α does not change) for precision."""
    x = pairable - np.nanmean(pairable)
    m = (~np.isnan(x)).sum(axis=0).astype(np.float64)
    s1 = np.nansum(x, axis=0)
    s2 = np.nansum(x * x, axis=0)
    within = 2 * (m * s2 - s1 * s1) / (m - 1)
    contributions = np.stack([m, s1, s2, within], axis=1)  # (U, 4)

    def statistic(summed: Floats) -> Floats:
        n, t1, t2, q = summed.T
        with np.errstate(divide="ignore", invalid="ignore"):
            observed = q / n
            expected = 2 * (n * t2 - t1 * t1) / (n * (n - 1))
            alpha = 1.0 - observed / expected
        # Rounding noise in a sum of squares of identical values is not variation.
        return np.asarray(np.where(expected > 1e-12 * np.maximum(t2 / n, 1.0), alpha, np.nan), dtype=np.float64)

    return contributions, statistic


# Cohen's κ


def cohen_kappa(
    a: Sequence[float],
    b: Sequence[float],
    *,
    weights: KappaWeights | None = None,
    categories: Sequence[float] | None = None,
) -> float:
    """Cohen's κ of two raters on the same items, unweighted or weighted; as scikit-learn's `cohen_kappa_score`
    with `labels=categories`.

    Args:
        a: One rater's value per item.
        b: The other rater's value for the same items, in the same order.
        weights: None (any disagreement counts fully), `linear` or `quadratic` (by the distance between the two
            categories' positions in `categories`).
        categories: The ordered categories (e.g. the scale's points 1..5); by default the values seen.

    Raises:
        AnalysisError: no items, sequences of different lengths, a value outside `categories`, or both raters gave
            one and the same value to every item (κ is 0/0).

    Example:
        >>> cohen_kappa([1, 2, 3, 3], [1, 2, 3, 2])
        0.6363636363636364
    """
    contributions, statistic = _kappa_parts(a, b, weights, categories)
    value = float(statistic(contributions.sum(axis=0, keepdims=True))[0])
    if not np.isfinite(value):
        raise AnalysisError(_ONE_VALUE)
    return value


def kappa_ci(
    a: Sequence[float],
    b: Sequence[float],
    *,
    weights: KappaWeights | None = None,
    categories: Sequence[float] | None = None,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Cohen's κ with a percentile bootstrap interval over items, or over clusters of items when `clusters` gives
    one cluster id per item (e.g. the question, when a question was judged several times).

    Raises:
        AnalysisError: as `cohen_kappa`.
    """
    _check(confidence, resamples)
    contributions, statistic = _kappa_parts(a, b, weights, categories)
    return _summed_estimate(contributions, statistic, clusters, confidence, resamples, seed, _ONE_VALUE, (-1.0, 1.0))


_ONE_VALUE = "both raters gave one and the same value to every item: κ is undefined"


def _kappa_parts(
    a: Sequence[float], b: Sequence[float], weights: KappaWeights | None, categories: Sequence[float] | None
) -> tuple[Floats, Callable[[Floats], Floats]]:
    first, second = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if first.ndim != 1 or first.shape != second.shape or first.size == 0:
        raise AnalysisError(
            f"κ needs one value of each rater per item: got {first.size} and {second.size} values (and at least 1)"
        )
    if np.isnan(first).any() or np.isnan(second).any():
        raise AnalysisError("κ needs both raters' values for every item: keep only the items both rated")
    ordered = np.unique(np.concatenate([first, second])) if categories is None else np.asarray(categories, float)
    if ordered.ndim != 1 or ordered.size == 0 or np.unique(ordered).size != ordered.size:
        raise AnalysisError("categories must be distinct values, in order")
    index = {float(v): i for i, v in enumerate(ordered)}
    unknown = sorted({float(v) for v in np.concatenate([first, second])} - set(index))
    if unknown:
        raise AnalysisError(f"values {unknown[:5]} are not among the categories {ordered.tolist()}")
    size = ordered.size
    cells = np.array([index[float(x)] * size + index[float(y)] for x, y in zip(first, second, strict=True)])
    contributions = np.zeros((cells.size, size * size))
    contributions[np.arange(cells.size), cells] = 1.0
    positions = np.arange(size, dtype=np.float64)
    distance = np.abs(positions[:, None] - positions[None, :])
    weight = {None: (distance > 0).astype(np.float64), "linear": distance, "quadratic": distance**2}.get(weights)
    if weight is None:
        raise AnalysisError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")

    def statistic(summed: Floats) -> Floats:
        table = summed.reshape(-1, size, size)  # (R, V, V)
        expected = table.sum(axis=2)[:, :, None] * table.sum(axis=1)[:, None, :] / table.sum(axis=(1, 2))[:, None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(
                1.0 - (table * weight).sum(axis=(1, 2)) / (expected * weight).sum(axis=(1, 2)), dtype=np.float64
            )

    return contributions, statistic


# Consensus, correlation with it and with outcomes


def loo_consensus(data: ArrayLike) -> Floats:
    """For each rater and item it rated, the mean rating of the *other* raters of that item (the leave-one-out
    consensus), NaN where the rater did not rate the item or nobody else did.

    Example:
        >>> loo_consensus([[1, 4], [3, float("nan")], [5, 2]]).tolist()
        [[4.0, 2.0], [3.0, nan], [2.0, 4.0]]
    """
    matrix = _matrix(data)
    rated = ~np.isnan(matrix)
    total = np.nansum(matrix, axis=0)  # (items,)
    count = rated.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        others = (total[None, :] - np.where(rated, matrix, 0.0)) / (count[None, :] - 1)
    return np.asarray(np.where(rated & (count[None, :] >= 2), others, np.nan), dtype=np.float64)


def spearman_ci(
    x: Sequence[float],
    y: Sequence[float],
    *,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Spearman's rank correlation (ties get mid-ranks, as `scipy.stats.spearmanr`) with a percentile bootstrap
    interval over items, or over clusters of items (e.g. runs, whose chosen options share one outcome).

    Raises:
        AnalysisError: fewer than two items, sequences of different lengths, or one of them never varies.
    """
    _check(confidence, resamples)
    first, second = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if first.ndim != 1 or first.shape != second.shape or first.size < 2:
        raise AnalysisError(
            f"a correlation needs two equal-length sequences of 2 or more: got {first.size}, {second.size}"
        )
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise AnalysisError("a correlation needs finite values: drop the items without one")
    gx, gy = np.unique(first, return_inverse=True)[1], np.unique(second, return_inverse=True)[1]
    value = float(_weighted_spearman(gx, gy, np.ones((1, first.size)))[0])
    if not np.isfinite(value):
        raise AnalysisError(_CONSTANT)
    sizes = (int(gx.max()) + 1, int(gy.max()) + 1)
    if sizes[0] * sizes[1] <= _TABLE_CELLS:
        # Few distinct values (ratings on a scale, binary outcomes): ρ is a function of the table of value pairs.
        contributions = _one_hot(gx * sizes[1] + gy, sizes[0] * sizes[1])
        statistic = _table_spearman(*sizes)
        return _summed_estimate(contributions, statistic, clusters, confidence, resamples, seed, _CONSTANT, (-1.0, 1.0))
    draws, count = _item_draws(
        lambda weights: _weighted_spearman(gx, gy, weights), first.size, clusters, resamples, seed
    )
    return _estimate(value, draws, first.size, count, confidence, (-1.0, 1.0))


_CONSTANT = "the ratings or the outcomes never vary: a correlation is undefined"


def _table_spearman(rows: int, columns: int) -> Callable[[Floats], Floats]:
    """Spearman's ρ of summed tables (R, rows * columns) counting pairs of (rank of x, rank of y) values: mid-ranks
    come from the margins, and ρ is the Pearson correlation over the cells weighted by their counts."""

    def statistic(summed: Floats) -> Floats:
        table = summed.reshape(-1, rows, columns)
        nx, ny = table.sum(axis=2), table.sum(axis=1)  # (R, rows), (R, columns)
        n = nx.sum(axis=1, keepdims=True)
        mid = (n + 1) / 2  # the mean mid-rank
        rx = np.cumsum(nx, axis=1) - nx + (nx + 1) / 2 - mid
        ry = np.cumsum(ny, axis=1) - ny + (ny + 1) / 2 - mid
        covariance = np.einsum("rij,ri,rj->r", table, rx, ry)
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = covariance / np.sqrt((nx * rx * rx).sum(axis=1) * (ny * ry * ry).sum(axis=1))
        return np.asarray(rho, dtype=np.float64)

    return statistic


def _uniform_counts(rng: np.random.Generator, units: int, resamples: int) -> Floats:
    """How often each of `units` units is drawn in each of `resamples` resamples of `units` draws with replacement
    (multinomial counts; drawing indices and counting them is much faster than `multinomial` over many units)."""
    drawn = rng.integers(0, units, size=(resamples, units)) + units * np.arange(resamples)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * units).reshape(resamples, units).astype(np.float64)


def _weighted_spearman(gx: NDArray[np.intp], gy: NDArray[np.intp], weights: Floats) -> Floats:
    """Spearman's ρ of each row of item weights (R, n): the Pearson correlation of weighted mid-ranks, which is ρ of
    the sample that holds item i `weights[r, i]` times."""
    rx, ry = _midranks(gx, weights), _midranks(gy, weights)
    total = weights.sum(axis=1, keepdims=True)
    dx = rx - (weights * rx).sum(axis=1, keepdims=True) / total
    dy = ry - (weights * ry).sum(axis=1, keepdims=True) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (weights * dx * dy).sum(axis=1) / np.sqrt(
            (weights * dx * dx).sum(axis=1) * (weights * dy * dy).sum(axis=1)
        )
    return np.asarray(rho, dtype=np.float64)


def _midranks(groups: NDArray[np.intp], weights: Floats) -> Floats:
    """Mid-ranks (R, n) of items whose values have ranks `groups` among the distinct values, items weighted."""
    order = np.argsort(groups, kind="stable")
    starts = np.flatnonzero(np.diff(groups[order], prepend=-1))  # where each distinct value begins, sorted
    per_group = np.add.reduceat(weights[:, order], starts, axis=1)  # (R, distinct values)
    before = np.cumsum(per_group, axis=1) - per_group
    return np.asarray((before + (per_group + 1) / 2)[:, groups], dtype=np.float64)


def auc_ci(
    scores: Sequence[float],
    positive: Sequence[bool],
    *,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """The AUC: the chance that a positive item (e.g. an option in a run that succeeded) scores higher than a
    negative one, ties counting half (as scikit-learn's `roc_auc_score`), with a percentile bootstrap interval over
    items or clusters of items.

    Raises:
        AnalysisError: no items, sequences of different lengths, or no positive or no negative item.
    """
    _check(confidence, resamples)
    values, labels = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    if values.ndim != 1 or values.shape != labels.shape or values.size == 0 or not np.isfinite(values).all():
        raise AnalysisError("the AUC needs one finite score and one outcome per item")
    groups = np.unique(values, return_inverse=True)[1]
    size = int(groups.max()) + 1
    reason = "every item has the same outcome: the AUC needs both successes and failures"
    if 2 * size > _TABLE_CELLS:  # many distinct scores: the Mann–Whitney U of weighted mid-ranks, item by item
        value = float(_weighted_auc(groups, labels, np.ones((1, values.size)))[0])
        if not np.isfinite(value):
            raise AnalysisError(reason)
        draws, count = _item_draws(lambda w: _weighted_auc(groups, labels, w), values.size, clusters, resamples, seed)
        return _estimate(value, draws, values.size, count, confidence, (0.0, 1.0))
    contributions = _one_hot(groups + np.where(labels, 0, size), 2 * size)

    def statistic(summed: Floats) -> Floats:
        hits, misses = summed[:, :size], summed[:, size:]
        below = np.cumsum(misses, axis=1) - misses
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (hits * (below + misses / 2)).sum(axis=1) / (hits.sum(axis=1) * misses.sum(axis=1))
        return np.asarray(auc, dtype=np.float64)

    return _summed_estimate(contributions, statistic, clusters, confidence, resamples, seed, reason, (0.0, 1.0))


def _weighted_auc(groups: NDArray[np.intp], labels: NDArray[np.bool_], weights: Floats) -> Floats:
    """The AUC of each row of item weights (R, n): the Mann–Whitney U of weighted mid-ranks over (positives ×
    negatives)."""
    ranks = _midranks(groups, weights)
    positive = weights * labels
    hits = positive.sum(axis=1)
    misses = weights.sum(axis=1) - hits
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((positive * ranks).sum(axis=1) - hits * (hits + 1) / 2) / (hits * misses)
    return np.asarray(auc, dtype=np.float64)


def _one_hot(cells: NDArray[np.intp], size: int) -> Floats:
    """(items, size): a 1 in each item's cell."""
    found = np.zeros((cells.size, size))
    found[np.arange(cells.size), cells] = 1.0
    return found


def _item_draws(
    statistic: Callable[[Floats], Floats], n: int, clusters: Sequence[Hashable] | None, resamples: int, seed: int
) -> tuple[Floats, int | None]:
    """A statistic of item weights (R, n) over bootstrap resamples of items or of clusters; also the number of
    clusters (None when items were resampled)."""
    ids, count = _cluster_ids(clusters, n)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    chunk = max(1, _CHUNK_CELLS // (4 * n))
    for start in range(0, resamples, chunk):
        size = min(resamples, start + chunk) - start
        weights = _uniform_counts(rng, count, size)  # (size, units)
        draws[start : start + size] = statistic(weights if ids is None else weights[:, ids])
    return draws, None if ids is None else count


# The bootstrap of statistics of summed tables


def _summed_estimate(
    contributions: Floats,
    statistic: Callable[[Floats], Floats],
    clusters: Sequence[Hashable] | None,
    confidence: float,
    resamples: int,
    seed: int,
    undefined: str,
    bounds: tuple[float, float],
) -> Estimate:
    value = float(statistic(contributions.sum(axis=0, keepdims=True))[0])
    if not np.isfinite(value):
        raise AnalysisError(undefined)
    ids, count = _cluster_ids(clusters, contributions.shape[0])
    units = contributions
    if ids is not None:
        units = np.zeros((count, contributions.shape[1]))
        np.add.at(units, ids, contributions)
    draws = np.concatenate([statistic(summed) for summed in _resampled_sums(units, resamples, seed)])
    return _estimate(value, draws, contributions.shape[0], count if ids is not None else None, confidence, bounds)


def _resampled_sums(units: Floats, resamples: int, seed: int) -> Iterator[Floats]:
    """Sums of `units` (U, K) over bootstrap resamples of the units, in chunks of (resamples, K)."""
    distinct, multiplicity = np.unique(units, axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    many = distinct.shape[0] > _MULTINOMIAL_UNITS  # mostly distinct units: drawing them is cheaper
    rows = units if many else distinct
    chunk = max(1, _CHUNK_CELLS // max(rows.shape))
    for start in range(0, resamples, chunk):
        size = min(resamples, start + chunk) - start
        if many:
            counts = _uniform_counts(rng, units.shape[0], size)
        else:
            counts = rng.multinomial(units.shape[0], multiplicity / multiplicity.sum(), size=size).astype(np.float64)
        yield counts @ rows  # (R, K)


def _cluster_ids(clusters: Sequence[Hashable] | None, n: int) -> tuple[NDArray[np.intp] | None, int]:
    if clusters is None:
        return None, n
    if len(clusters) != n:
        raise AnalysisError(f"{len(clusters)} cluster ids for {n} items: give exactly one cluster id per item")
    index: dict[Hashable, int] = {}
    ids = np.fromiter((index.setdefault(c, len(index)) for c in clusters), dtype=np.intp, count=n)
    return ids, len(index)


def _estimate(
    value: float, draws: Floats, n: int, clusters: int | None, confidence: float, bounds: tuple[float, float]
) -> Estimate:
    defined = draws[np.isfinite(draws)]
    alpha = 1 - confidence
    low, high = np.quantile(defined, [alpha / 2, 1 - alpha / 2]) if defined.size else bounds
    return Estimate(
        value=value,
        low=float(low),
        high=float(high),
        n=n,
        confidence=confidence,
        method="bootstrap" if clusters is None else "cluster-bootstrap",
        clusters=clusters,
        resamples=int(defined.size),
    )


def _check(confidence: float, resamples: int) -> None:
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    if resamples < 1:
        raise AnalysisError(f"resamples must be at least 1 (2,000 is usual), got {resamples}")
