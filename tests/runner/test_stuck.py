"""Measuring stuck checks: `stuck_report` over runs the real runner made, restarted or only recorded."""

from __future__ import annotations

from pathlib import Path

from stuck_runs import stuck_runs

from proctor.runner import stuck_report
from proctor.store import RunStatus, Store, ops


def test_the_report_counts_checks_and_measures_what_restarting_did(sqlite_store: Store, reachable_tmp: Path) -> None:
    stuck_runs(sqlite_store, reachable_tmp, restarted=3, recorded=2)
    statuses = sorted(r.status.value for r in sqlite_store.runs())
    assert statuses == ["done"] * 3 + ["over_limit"] * 2  # recorded only, the model never gets out

    report = stuck_report(sqlite_store)
    recorded, restarted = report.rows  # sorted: record only (False) first
    assert (restarted.restart, restarted.runs, restarted.found_stuck, restarted.restarts) == (True, 3, 3, 3)
    assert restarted.solved_when_stuck is not None and restarted.solved_when_stuck.value == 1.0
    assert (recorded.restart, recorded.runs, recorded.found_stuck, recorded.restarts) == (False, 2, 2, 0)
    assert recorded.checks >= 2 and recorded.solved.value == 0.0
    (effect,) = report.effects
    assert effect.model == "double/stuck-then-solves" and effect.difference.value == 1.0
    assert effect.difference.n == 5 and effect.difference.p_value is not None

    assert stuck_report(sqlite_store, model="nobody").rows == stuck_report(sqlite_store, task="other").rows == []
    assert [r.runs for r in stuck_report(sqlite_store, task="note-task", model="stuck-then").rows] == [2, 3]
    sqlite_store.write(ops.update_run, sqlite_store.runs()[0].id, status=RunStatus.RUNNING)
    assert sum(r.runs for r in stuck_report(sqlite_store).rows) == 4  # only finished runs count
