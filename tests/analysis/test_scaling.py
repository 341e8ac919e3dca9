"""Oversight success against the Elo gap and nested oversight (Engels et al. 2025), checked by hand."""

from __future__ import annotations

import math

import pytest

from proctor.analysis import AnalysisError, OversightGames, fit_oversight, nested_oversight


def games(*played: tuple[float, int, int]) -> list[OversightGames]:
    return [OversightGames(overseer="j", overseen=f"m{g}", gap=g, games=n, successes=k) for g, n, k in played]


def test_the_fit_passes_through_the_success_rates_at_two_gaps() -> None:
    fit = fit_oversight(games((0.0, 10, 9), (400.0, 10, 6)))
    # By hand: logit(0.9) = ln 9 at x = 0 and logit(0.6) = ln 1.5 at x = 1 (gap / 400).
    assert fit.intercept == pytest.approx(math.log(9), abs=1e-4)
    assert fit.slope == pytest.approx(math.log(1.5) - math.log(9), abs=1e-4)
    assert fit.success(400.0) == pytest.approx(0.6, abs=1e-5) and fit.games == 20


def test_nested_oversight_is_the_product_of_its_steps_and_can_beat_one_step() -> None:
    fit = fit_oversight(games((0.0, 10, 9), (400.0, 10, 6)))
    chain = nested_oversight(fit, 1200.0, max_steps=8)
    # Three overseers each bridge 400 Elo, where one succeeds 60% of the time: 0.6³.
    assert chain[2].steps == 3 and chain[2].step_gap == 400.0 and chain[2].success == pytest.approx(0.216, abs=1e-4)

    def by_hand(n: int) -> float:
        step = math.log(9) + (math.log(1.5) - math.log(9)) * 1200 / 400 / n
        return float((1 / (1 + math.exp(-step))) ** n)

    assert [s.success for s in chain] == pytest.approx([by_hand(n) for n in range(1, 9)], abs=1e-4)
    # One overseer across 1200 Elo: 4%; five in a chain: 24%, the best of one to eight.
    assert chain[0].success == pytest.approx(0.0400, abs=1e-3)
    assert max(chain, key=lambda s: s.success).steps == 5


def test_fits_that_cannot_be_made_say_why() -> None:
    with pytest.raises(AnalysisError, match="one Elo gap"):
        fit_oversight(games((100.0, 5, 3), (100.0, 5, 2)))
    with pytest.raises(AnalysisError, match="every game or in none"):
        fit_oversight(games((0.0, 5, 5), (400.0, 5, 5)))
    with pytest.raises(AnalysisError, match="no oversight games"):
        fit_oversight([])
