"""Scaling laws for scalable oversight (Engels et al. 2025): oversight success against the Elo gap between the
overseen model and its overseer, fitted as a logistic curve, and nested oversight, in which a chain of overseers,
each a step stronger than the last, bridges a gap no single overseer could.

The fit: P(success | gap) = σ(a + b · gap / 400), by (almost unpenalised) maximum likelihood on the games played at
each gap; gap = Elo(overseen) − Elo(overseer), so a stronger overseen model has a positive gap and, for a working
protocol, a negative slope. Nested oversight with n steps splits the gap evenly, n overseers each overseeing the next
stronger one at gap / n, and succeeds only if every step does: σ(a + b · gap / (400 n))^n, the product over steps
(the steps are taken as independent, as in the paper's model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from proctor.analysis._logistic import fit_logistic
from proctor.analysis._stats import AnalysisError

ELO_SCALE = 400.0
"""Elo points per unit of the fit's feature: a gap of 400 is a factor of 10 in odds between the two models."""


class OversightGames(BaseModel):
    """Games of one overseer against one overseen model."""

    overseer: str
    """The overseeing model (a judge)."""
    overseen: str
    """The overseen model (a debater, consultant, …)."""
    gap: float
    """Elo(overseen) − Elo(overseer)."""
    games: int
    """Cases played."""
    successes: int
    """Cases in which oversight succeeded (the judge was right)."""


class OversightFit(BaseModel):
    """The fitted curve of oversight success against the Elo gap."""

    intercept: float
    """a: the log-odds of success at gap 0."""
    slope: float
    """b: the change of log-odds per 400 Elo of gap (negative when a stronger overseen model is harder to oversee)."""
    games: int
    """Games the fit used."""

    def success(self, gap: float) -> float:
        """The fitted probability that oversight succeeds at `gap`."""
        return 1.0 / (1.0 + math.exp(-(self.intercept + self.slope * gap / ELO_SCALE)))


class NestedStep(BaseModel):
    """Nested oversight with a given number of steps."""

    steps: int
    """Overseers in the chain."""
    step_gap: float
    """The gap each overseer bridges."""
    success: float
    """The chance every step succeeds."""


def fit_oversight(games: Sequence[OversightGames], *, regularization: float = 1e-6) -> OversightFit:
    """Fit P(success) = σ(a + b · gap / 400) to games at their gaps (the penalty on b is tiny: almost maximum
    likelihood; with games at only two gaps the curve passes through both success rates).

    Raises:
        AnalysisError: no games, or every game at one gap (the slope is then unknown).
    """
    played = [g for g in games if g.games > 0]
    if not played:
        raise AnalysisError("no oversight games to fit: give overseers, overseen models and their Elo ratings")
    gaps = sorted({g.gap for g in played})
    if len(gaps) < 2:
        raise AnalysisError("every game is at one Elo gap: a slope needs overseers or overseen models of other Elo")
    x = np.array(gaps, dtype=np.float64) / ELO_SCALE
    weights = np.zeros(len(gaps))
    successes = np.zeros(len(gaps))
    for g in played:
        at = gaps.index(g.gap)
        weights[at] += g.games
        successes[at] += g.successes
    intercept, slope = fit_logistic(x, weights, successes, regularization=regularization)
    if not (np.isfinite(intercept) and np.isfinite(slope)):
        raise AnalysisError("oversight succeeded in every game or in none: the curve has no finite fit")
    return OversightFit(intercept=float(intercept), slope=float(slope), games=int(weights.sum()))


def nested_oversight(fit: OversightFit, gap: float, *, max_steps: int = 10) -> list[NestedStep]:
    """The chance that a chain of n overseers, each bridging gap / n, oversees a model `gap` Elo stronger than the
    first, for n = 1 … `max_steps`."""
    return [NestedStep(steps=n, step_gap=gap / n, success=fit.success(gap / n) ** n) for n in range(1, max_steps + 1)]
