"""What stuck checks did: how often they fired and found the agent stuck, and whether restarting from a summary
then helped, per model.

The comparison that answers "does restarting help?" is between runs the model itself judged stuck: those whose
config restarts them (the default) and those that only record the check (`--no-restart`). Run the same tasks both
ways and the report gives the difference in how many of them were solved, with a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from proctor.analysis import Estimate, accuracy_ci, difference_ci
from proctor.store import Store, StuckRecord

SOLVED = 1.0
"""A run is solved when its score is at least this."""


class StuckRow(BaseModel):
    """One model's runs under one setting."""

    model: str
    """The agent's model."""
    restart: bool
    """Whether these runs restart when a check finds them stuck."""
    runs: int
    """Finished runs."""
    checked: int
    """Runs where at least one stuck check fired."""
    checks: int
    """Stuck checks that fired."""
    found_stuck: int
    """Runs the model judged stuck at least once."""
    restarts: int
    """Restarts from a summary."""
    solved: Estimate
    """Share of all the runs solved."""
    solved_when_stuck: Estimate | None
    """Share solved of the runs judged stuck; None when none was."""


class StuckEffect(BaseModel):
    """What restarting did for one model: solved share of runs judged stuck, restarted minus only recorded."""

    model: str
    """The agent's model."""
    difference: Estimate
    """Restarted minus recorded, with its interval and p-value."""


class StuckReport(BaseModel):
    """Stuck checks per model and setting, and the effect of restarting where both settings were run."""

    rows: list[StuckRow]
    """One per model and setting."""
    effects: list[StuckEffect]
    """One per model run both ways with runs judged stuck in each."""


def stuck_report(store: Store, *, task: str | None = None, model: str | None = None) -> StuckReport:
    """Measure the stored runs' stuck checks (`task`, `model`: substrings that runs' task ids and models contain).

    Example:
        report = stuck_report(Store(), task="examples/")
        for row in report.rows:
            print(row.model, row.restart, row.solved_when_stuck)
    """
    return summarise(store.stuck_checks(task=task, model=model))


def summarise(records: Sequence[StuckRecord]) -> StuckReport:
    """The report of these runs (see `stuck_report`)."""
    groups: dict[tuple[str, bool], list[StuckRecord]] = {}
    for record in records:
        groups.setdefault((record.model, record.restart), []).append(record)
    rows = [_row(model, restart, runs) for (model, restart), runs in sorted(groups.items())]
    effects = []
    for name in sorted({model for model, _ in groups}):
        restarted, recorded = (_stuck_outcomes(groups.get((name, setting), [])) for setting in (True, False))
        if restarted and recorded:
            effects.append(StuckEffect(model=name, difference=difference_ci(restarted, recorded)))
    return StuckReport(rows=rows, effects=effects)


def _row(model: str, restart: bool, runs: list[StuckRecord]) -> StuckRow:
    outcomes = _stuck_outcomes(runs)
    return StuckRow(
        model=model,
        restart=restart,
        runs=len(runs),
        checked=sum(1 for r in runs if r.checks),
        checks=sum(r.checks for r in runs),
        found_stuck=len(outcomes),
        restarts=sum(r.restarts for r in runs),
        solved=accuracy_ci([_solved(r) for r in runs], method="wilson"),
        solved_when_stuck=accuracy_ci(outcomes, method="wilson") if outcomes else None,
    )


def _stuck_outcomes(runs: list[StuckRecord]) -> list[bool]:
    """Solved or not, for each run the model judged stuck at least once."""
    return [_solved(r) for r in runs if r.stuck]


def _solved(run: StuckRecord) -> bool:
    return run.score is not None and run.score >= SOLVED
