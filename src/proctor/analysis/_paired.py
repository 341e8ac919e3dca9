"""Paired comparison of two groups of runs on the same tasks: two models, two agents, two configs, forks against
the runs they fork.

Each task weighs the same: the overall difference is the mean over shared tasks of (A's success rate on the task −
B's). Its interval is a cluster bootstrap over task families (tasks of one family tend to succeed or fail together,
so they are not counted as independent evidence), widened for few families (Hesterberg's expanded percentile
interval); a suite of a single family resamples its tasks.

For binary outcomes the runs are also paired one to one — the k-th run of A on a task with the k-th run of B on it,
oldest first — and McNemar's exact test asks whether the discordant pairs (solved by one, not the other) split
evenly; Newcombe's interval for a paired difference of proportions (method 10, Wilson-based, with the continuity-
corrected correlation of Altman et al. 2000) gives the difference on those pairs an interval that is never zero-wide,
even when every pair agrees.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, and_, func, select

from proctor.analysis._filters import RunFilter, check_solved_at, counted, score_value, solved, where
from proctor.analysis._rates import t_quantile, wilson_bounds
from proctor.analysis._stats import AnalysisError, Estimate, difference_estimate, sign_flip_p_value
from proctor.store import Store
from proctor.store import _schema as s

Outcome = Literal["success", "score"]


class TaskDifference(BaseModel):
    """One task both groups ran."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    """The task."""
    family: str
    """Its family (the bootstrap's cluster)."""
    a_runs: int
    """Counted runs of group A."""
    b_runs: int
    """Counted runs of group B."""
    a_success: float
    """A's success rate on the task."""
    b_success: float
    """B's success rate on the task."""
    a_score: float
    """A's mean score on the task."""
    b_score: float
    """B's mean score on the task."""
    difference: float
    """A minus B in the compared measure."""
    pairs: int
    """Runs paired one to one (the fewer of the two groups' runs)."""
    both: int
    """Pairs both solved."""
    a_only: int
    """Pairs A solved and B did not."""
    b_only: int
    """Pairs B solved and A did not."""


class McNemar(BaseModel):
    """Runs paired one to one over all shared tasks, and McNemar's exact test."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pairs: int
    """Paired runs."""
    both: int
    """Pairs both solved."""
    a_only: int
    """Pairs only A solved."""
    b_only: int
    """Pairs only B solved."""
    neither: int
    """Pairs neither solved."""
    p_value: float
    """Exact two-sided p-value of "the discordant pairs split evenly" (1 when there are none)."""
    difference: Estimate
    """A's success minus B's on the pairs, with Newcombe's interval (`method` says wilson: it is Wilson-based)."""


class Flip(BaseModel):
    """A task one group mostly solved and the other did not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    """The task."""
    solved_by: Literal["a", "b"]
    """The group that solved it in more than half of its runs (the other solved at most half)."""
    a_success: float
    """A's success rate on it."""
    b_success: float
    """B's success rate on it."""


class Comparison(BaseModel):
    """Group A against group B on the tasks both ran."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str
    """Group A's filter."""
    b: str
    """Group B's filter."""
    measure: Outcome
    """`success` (solved or not) or `score` (the mean score)."""
    solved_at: float
    """A run is solved when its score is at least this."""
    difference: Estimate
    """Mean over shared tasks of A − B, with the cluster bootstrap interval over task families and the sign-flip
    p-value."""
    a_mean: float
    """A's mean over the shared tasks."""
    b_mean: float
    """B's mean over the shared tasks."""
    tasks: list[TaskDifference]
    """The shared tasks, largest difference in A's favour first."""
    only_a: list[str] = Field(default_factory=list)
    """Tasks only A ran (left out)."""
    only_b: list[str] = Field(default_factory=list)
    """Tasks only B ran (left out)."""
    mcnemar: McNemar | None = None
    """Paired runs and McNemar's exact test (for `success`)."""
    flipped: list[Flip] = Field(default_factory=list)
    """Tasks one group mostly solved and the other did not."""


def compare(
    store: Store,
    a: RunFilter,
    b: RunFilter,
    *,
    measure: Outcome = "success",
    solved_at: float = 1.0,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Comparison:
    """Compare two groups of runs on the tasks both ran.

    Args:
        store: The store to read.
        a: Group A's runs, e.g. `RunFilter.parse("model=openai/gpt-4o")`.
        b: Group B's runs; no run may be in both groups.
        measure: `success` (share solved) or `score` (mean score).
        solved_at: A run is solved when its score is at least this.
        confidence: Confidence level of the intervals.
        resamples: Bootstrap resamples.
        seed: Seed of the bootstrap.

    Raises:
        AnalysisError: A group without counted runs, runs in both groups, or no task both groups ran.

    Example:
        result = compare(store, RunFilter.parse("agent=react"), RunFilter.parse("agent=tags"))
        print(result.difference, result.mcnemar.p_value)
    """
    check_solved_at(solved_at)
    if measure not in ("success", "score"):
        raise AnalysisError(f"unknown measure {measure!r}: compare success or score")
    if resamples < 1:
        raise AnalysisError(f"resamples must be at least 1 (10,000 is usual), got {resamples}")
    with store.engine.connect() as conn:
        dialect = conn.dialect.name
        both = conn.execute(_runs_of(select(func.count()), and_(*where(a, dialect), *where(b, dialect)))).scalar_one()
        if both:
            raise AnalysisError(
                f"{both} runs are in both groups (A: {a or 'every run'}; B: {b or 'every run'}): make the filters "
                "exclusive, e.g. model=X for A and model=Y for B"
            )
        tasks_a = _per_task(conn, a, solved_at, "A")
        tasks_b = _per_task(conn, b, solved_at, "B")
        pairs = _pairs(conn, a, b, solved_at)
    shared = sorted(set(tasks_a) & set(tasks_b))
    if not shared:
        raise AnalysisError(
            f"groups A ({a or 'every run'}) and B ({b or 'every run'}) share no task: a paired comparison needs "
            "runs of both on the same tasks"
        )
    rows = [_task_difference(tasks_a[t], tasks_b[t], pairs.get(t), measure) for t in shared]
    values_a = np.array([r.a_success if measure == "success" else r.a_score for r in rows])
    values_b = np.array([r.b_success if measure == "success" else r.b_score for r in rows])
    difference = clustered_difference(
        values_a - values_b, [r.family for r in rows], confidence=confidence, resamples=resamples, seed=seed
    )
    return Comparison(
        a=str(a),
        b=str(b),
        measure=measure,
        solved_at=solved_at,
        difference=difference,
        a_mean=float(values_a.mean()),
        b_mean=float(values_b.mean()),
        tasks=sorted(rows, key=lambda r: (-r.difference, r.task_id)),
        only_a=sorted(set(tasks_a) - set(tasks_b)),
        only_b=sorted(set(tasks_b) - set(tasks_a)),
        mcnemar=_mcnemar(rows, confidence) if measure == "success" else None,
        flipped=_flips(rows),
    )


def _runs_of(query: Any, *conditions: Any) -> Any:
    r, t = s.runs.c, s.tasks.c
    return query.select_from(s.runs.join(s.tasks, t.id == r.task_id)).where(counted(), *conditions)


def _per_task(conn: Connection, runs: RunFilter, solved_at: float, name: str) -> dict[str, Any]:
    r, t = s.runs.c, s.tasks.c
    query = _runs_of(
        select(
            r.task_id,
            func.min(t.family).label("family"),
            func.count().label("runs"),
            func.sum(solved(solved_at)).label("solved"),
            func.sum(score_value()).label("score"),
        ),
        *where(runs, conn.dialect.name),
    ).group_by(r.task_id)
    found = {row.task_id: row for row in conn.execute(query)}
    if not found:
        raise AnalysisError(f"group {name} ({runs or 'every run'}) has no finished runs: check its filter")
    return found


@dataclass(frozen=True)
class _Pairs:
    """One task's paired runs: how many pairs, and in how many both, only A's or only B's run was solved."""

    pairs: int
    both: int
    a_only: int
    b_only: int


def _pairs(conn: Connection, a: RunFilter, b: RunFilter, solved_at: float) -> dict[str, _Pairs]:
    """Per task: the k-th run of A paired with the k-th run of B (oldest first). Each group's outcomes are read in
    order, one small row a run, and paired here: joining two numbered subqueries on (task, k) made SQLite compare
    every run of a task with every other (5 s for 100,000 runs of 20 tasks)."""
    r = s.runs.c

    def outcomes(runs: RunFilter) -> dict[str, list[int]]:
        columns = select(r.task_id, solved(solved_at).label("ok"))
        query = _runs_of(columns, *where(runs, conn.dialect.name)).order_by(r.task_id, r.created_at, r.id)
        found: dict[str, list[int]] = defaultdict(list)
        for task_id, ok in conn.execute(query):
            found[task_id].append(int(ok))
        return found

    first, second = outcomes(a), outcomes(b)
    paired = {}
    for task_id in first.keys() & second.keys():
        runs = list(zip(first[task_id], second[task_id], strict=False))
        paired[task_id] = _Pairs(
            pairs=len(runs),
            both=sum(1 for x, y in runs if x and y),
            a_only=sum(1 for x, y in runs if x and not y),
            b_only=sum(1 for x, y in runs if y and not x),
        )
    return paired


def _task_difference(a: Any, b: Any, pairs: Any, measure: Outcome) -> TaskDifference:
    a_success, b_success = int(a.solved) / a.runs, int(b.solved) / b.runs
    a_score, b_score = float(a.score) / a.runs, float(b.score) / b.runs
    return TaskDifference(
        task_id=a.task_id,
        family=a.family,
        a_runs=a.runs,
        b_runs=b.runs,
        a_success=a_success,
        b_success=b_success,
        a_score=a_score,
        b_score=b_score,
        difference=a_success - b_success if measure == "success" else a_score - b_score,
        pairs=int(pairs.pairs) if pairs else 0,
        both=int(pairs.both) if pairs else 0,
        a_only=int(pairs.a_only) if pairs else 0,
        b_only=int(pairs.b_only) if pairs else 0,
    )


def _flips(rows: list[TaskDifference]) -> list[Flip]:
    flips = []
    for row in rows:
        if (row.a_success > 0.5) != (row.b_success > 0.5):
            winner: Literal["a", "b"] = "a" if row.a_success > 0.5 else "b"
            flips.append(Flip(task_id=row.task_id, solved_by=winner, a_success=row.a_success, b_success=row.b_success))
    return sorted(flips, key=lambda f: (f.solved_by, f.task_id))


def _mcnemar(rows: list[TaskDifference], confidence: float) -> McNemar | None:
    pairs = sum(r.pairs for r in rows)
    if not pairs:
        return None
    a_only, b_only = sum(r.a_only for r in rows), sum(r.b_only for r in rows)
    both = sum(r.both for r in rows)
    neither = pairs - both - a_only - b_only
    low, high = newcombe_paired_interval(both, a_only, b_only, neither, confidence=confidence)
    return McNemar(
        pairs=pairs,
        both=both,
        a_only=a_only,
        b_only=b_only,
        neither=neither,
        p_value=mcnemar_exact(a_only, b_only),
        difference=Estimate(
            value=(a_only - b_only) / pairs, low=low, high=high, n=pairs, confidence=confidence, method="wilson"
        ),
    )


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """McNemar's exact test: the two-sided p-value of `a_only` against `b_only` discordant pairs under "either
    is as likely", i.e. a binomial test of min(a_only, b_only) in a_only + b_only trials at 1/2.

    Example:
        >>> mcnemar_exact(5, 0)
        0.0625
    """
    if a_only < 0 or b_only < 0:
        raise AnalysisError(f"discordant pair counts must not be negative, got {a_only} and {b_only}")
    n = a_only + b_only
    if n == 0:
        return 1.0
    k = min(a_only, b_only)
    # P(X <= k) for X ~ Binomial(n, 1/2), summed in log space so n in the thousands does not overflow.
    logs = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    top = max(logs)
    tail = math.exp(top) * sum(math.exp(x - top) for x in logs)
    return min(1.0, 2 * tail)


def newcombe_paired_interval(
    both: int, a_only: int, b_only: int, neither: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's interval (1998, method 10) for p_A − p_B from paired binary outcomes, with the correlation
    corrected for continuity as in Altman et al., *Statistics with Confidence* (2000): never zero-wide.

    Args:
        both: Pairs both solved.
        a_only: Pairs only A solved.
        b_only: Pairs only B solved.
        neither: Pairs neither solved.
        confidence: Confidence level.

    Returns:
        (low, high).
    """
    n = both + a_only + b_only + neither
    if n < 1 or min(both, a_only, b_only, neither) < 0:
        raise AnalysisError(f"a paired table needs non-negative counts and at least one pair, got {both, a_only}")
    p1, p2 = (both + a_only) / n, (both + b_only) / n
    l1, u1 = wilson_bounds(p1, n, confidence=confidence)
    l2, u2 = wilson_bounds(p2, n, confidence=confidence)
    margins = (both + a_only) * (b_only + neither) * (both + b_only) * (a_only + neither)
    cross = both * neither - a_only * b_only
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2))
    return max(-1.0, low), min(1.0, high)


def clustered_difference(
    differences: Sequence[float] | NDArray[np.float64],
    families: Sequence[str],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> Estimate:
    """The mean of per-task differences with a cluster bootstrap interval over task families, and the p-value of
    "no difference" from a sign-flip test over families (`sign_flip_p_value`, as `paired_difference_ci` gives).

    Each resample draws families with replacement and takes all their tasks (tasks of one family succeed or fail
    together, so they are not independent evidence); with a single family, tasks are resampled instead. Percentile
    intervals from few clusters are too narrow, so the resamples' spread around the estimate is widened by
    √(n/(n−1))·t(n−1)/z, n the resampled units (Hesterberg's expanded percentile interval, 2015). Simulated coverage
    (tests/analysis/test_paired.py): about 95 % from 3 families up, with or without family effects. The sign-flip
    test flips the sign of each family's summed differences (each task's, with a single family): exact up to 30
    families, sampled past that.

    Args:
        differences: One difference per task.
        families: Each task's family.
        confidence: Confidence level.
        resamples: Bootstrap resamples.
        seed: Seed of the bootstrap (and of the sign-flip test when it samples).

    Raises:
        AnalysisError: No differences, or not one family per difference.
    """
    values = np.asarray(differences, dtype=np.float64)
    if values.size == 0 or len(families) != values.size:
        raise AnalysisError(f"{values.size} differences and {len(families)} families: give one family per task")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    names = sorted(set(families))
    sums: NDArray[np.float64]
    sizes: NDArray[np.float64]
    if len(names) > 1:
        index = {name: i for i, name in enumerate(names)}
        ids = np.array([index[f] for f in families])
        sums = np.bincount(ids, weights=values, minlength=len(names)).astype(np.float64)
        sizes = np.bincount(ids, minlength=len(names)).astype(np.float64)
    else:
        sums, sizes = values, np.ones_like(values)
    units = sums.size
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(units, np.full(units, 1 / units), size=resamples)  # (R, units)
    draws = (counts @ sums) / (counts @ sizes)
    observed = float(values.mean())
    if units > 1:
        quantile = 0.5 + confidence / 2
        widen = math.sqrt(units / (units - 1)) * t_quantile(quantile, units - 1)
        draws = observed + widen / NormalDist().inv_cdf(quantile) * (draws - observed)
    p_value = sign_flip_p_value(values, list(families) if len(names) > 1 else None, resamples=resamples, seed=seed)
    return difference_estimate(
        observed,
        draws,
        n=values.size,
        confidence=confidence,
        method="cluster-bootstrap",
        clusters=len(names),
        p_value=p_value,
    )
