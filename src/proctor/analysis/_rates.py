"""Success rates with intervals that stay honest for small samples, all-or-nothing outcomes, and runs that share
a task.

One task's runs: the Wilson score interval (never zero width, exact at 0 and n successes).

Runs pooled over several tasks are not independent: a model that always solves task A and never task B has less
information in 10 runs of each than 20 independent runs would give. Those rates use the Wilson interval at the
*effective* number of runs, the runs divided by the design effect of clustering by task (Kish):
`deff = V_cluster / V_binomial`, where `V_cluster = k/(k−1) · Σ_t (s_t − p·n_t)² / N²` is the cluster-robust
(sandwich) variance of the pooled rate `p = Σ s_t / N` over k tasks and `V_binomial = p(1 − p) / N`. The design
effect is kept between 1 (runs as good as independent) and `Σ n_t² / N`, its value when every task is all-or-nothing
(intraclass correlation 1) — which is also used when p is 0 or 1 and the data cannot tell; with one run per task
that bound is 1 and the interval is Wilson's. Because the design effect is estimated from only k tasks, the normal
quantile is moved towards Student's t with k − 1 degrees of freedom in proportion to 1 − 1/deff, never past the
interval of all-or-nothing tasks (the most variance a rate can have: one binomial outcome per task). Simulated coverage
of the mean success of a population of tasks (tests/analysis/test_rates.py): about 95 % from 15 tasks up, about
93 % with 5 tasks and 91 % with 3; treating runs as independent covers about 80 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from proctor.analysis._stats import AnalysisError, wilson_interval


class Rate(BaseModel):
    """A success rate with its confidence interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    """Solved runs over counted runs."""
    low: float
    """Lower end of the interval."""
    high: float
    """Upper end of the interval."""
    successes: int = Field(ge=0)
    """Solved runs."""
    runs: int = Field(ge=1)
    """Counted runs."""
    tasks: int = Field(ge=1)
    """Tasks the runs are of."""
    effective_runs: float
    """Runs the interval treats as independent: `runs` for one task, fewer when tasks differ (see `method`)."""
    confidence: float = Field(gt=0.0, lt=1.0)
    """Confidence level of the interval."""
    method: Literal["wilson", "wilson-clustered"]
    """Wilson score interval over runs (one task), or at the effective runs of runs clustered by task."""

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] ({self.successes}/{self.runs})"


def task_rate(successes: int, runs: int, *, confidence: float = 0.95) -> Rate:
    """The success rate of one task's runs, with the Wilson score interval.

    Example:
        >>> print(task_rate(3, 3))
        1.000 [0.438, 1.000] (3/3)
    """
    low, high = wilson_interval(successes, runs, confidence=confidence)
    return Rate(
        value=successes / runs,
        low=low,
        high=high,
        successes=successes,
        runs=runs,
        tasks=1,
        effective_runs=float(runs),
        confidence=confidence,
        method="wilson",
    )


def pooled_rate(per_task: Sequence[tuple[int, int]], *, confidence: float = 0.95) -> Rate:
    """The success rate of runs over several tasks, `per_task` holding each task's (solved, runs), with the
    Wilson interval at the effective number of runs (see the module docstring).

    Raises:
        AnalysisError: No runs, or a task with more solved runs than runs.

    Example:
        >>> rate = pooled_rate([(5, 5), (0, 5)])  # all-or-nothing tasks: 10 runs worth 2
        >>> rate.value, rate.effective_runs
        (0.5, 2.0)
    """
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    cells = [(s, n) for s, n in per_task if n > 0]
    if not cells:
        raise AnalysisError("a success rate needs at least one counted run")
    if any(not 0 <= s <= n for s, n in cells):
        raise AnalysisError(f"each task needs 0 <= solved <= runs, got {cells}")
    total = sum(n for _, n in cells)
    successes = sum(s for s, _ in cells)
    if len(cells) == 1:
        return task_rate(successes, total, confidence=confidence)
    p = successes / total
    most = sum(n * n for _, n in cells) / total  # the design effect at intraclass correlation 1
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    # Widest possible: every task all-or-nothing, i.e. one outcome per task (binomial variance over tasks).
    widest = _wilson(p, total / most, z)
    if 0 < p < 1:
        k = len(cells)
        cluster_variance = k / (k - 1) * sum((s - p * n) ** 2 for s, n in cells) / total**2
        design_effect = min(max(cluster_variance / (p * (1 - p) / total), 1.0), most)
        # The design effect is estimated from k tasks' residuals: with few tasks, widen towards Student's t on
        # k − 1 degrees of freedom as far as clustering matters (not at all at design effect 1).
        t = t_quantile(0.5 + confidence / 2, k - 1)
        z += (t - z) * (1 - 1 / design_effect)
    else:
        design_effect = most
    effective = total / design_effect
    low, high = _wilson(p, effective, z)
    low, high = max(low, widest[0]), min(high, widest[1])
    return Rate(
        value=p,
        low=low,
        high=high,
        successes=successes,
        runs=total,
        tasks=len(cells),
        effective_runs=effective,
        confidence=confidence,
        method="wilson-clustered",
    )


def wilson_bounds(p: float, n: float, *, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `p` observed over `n` trials, `n` possibly fractional (an effective
    sample size); equal to `wilson_interval(round(p * n), n)` for whole numbers."""
    if n <= 0 or not 0 <= p <= 1:
        raise AnalysisError(f"Wilson interval needs 0 <= p <= 1 and n > 0, got p={p}, n={n}")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    return _wilson(p, n, NormalDist().inv_cdf(0.5 + confidence / 2))


def _wilson(p: float, n: float, z: float) -> tuple[float, float]:
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    low = 0.0 if p == 0 else max(0.0, centre - half)
    high = 1.0 if p == 1 else min(1.0, centre + half)
    return low, high


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (scipy's, imported on first use: `scipy.stats` alone takes half a second to import,
    which every `proctor` command would pay)."""
    from scipy.special import stdtrit

    return float(stdtrit(df, p))
