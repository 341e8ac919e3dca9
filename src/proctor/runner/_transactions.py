"""The runner's store transactions: each groups what one moment of a run writes (and reads back), so a run
makes few trips to the writer; each commits before the runner goes on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from proctor.store import RunRecord, RunStatus, StepRecord, Store, ops


@dataclass
class Progress:
    """Where a claimed run stands: what driving it starts from."""

    record: RunRecord
    steps: list[StepRecord]
    set_up: bool
    """The task's set-up is stored as done."""
    allowed: int
    """The checkpoint level a person last allowed the run past (resuming a paused run allows it)."""


def claim_run(
    conn: Connection,
    store: Store,
    run_id: str,
    statuses: tuple[RunStatus, ...],
    *,
    fresh: RunRecord | None = None,
    owner: str | None = None,
) -> Progress | None:
    """Claim a run (see `ops.claim`; with `owner`, only under that worker's lease) and read where it stands, in the
    same transaction: one trip to the writer. A `fresh` run (just created by this runner, given as created) has
    nothing stored to read."""
    if not ops.claim(conn, run_id, statuses, owner):
        return None
    if fresh is not None:
        record = fresh.model_copy(update={"status": RunStatus.RUNNING})
        return Progress(record=record, steps=[], set_up=False, allowed=0)
    events = store.events(run_id, conn=conn)
    return Progress(
        record=store.run(run_id, conn=conn),
        steps=store.steps(run_id, conn=conn),
        set_up=any(e["kind"] == "setup" for e in events),
        allowed=max((int(e["detail"]["level"]) for e in events if e["kind"] == "checkpoint"), default=0),
    )


# Actions that change nothing when executed: their choice is stored with their observation, one write fewer.
WITHOUT_EFFECTS = (None, "submit")


def complete_step(
    conn: Connection,
    run_id: str,
    step_id: int,
    choice: tuple[int, str] | None,
    observation: dict[str, Any],
    active: float,
    status: RunStatus | None,
) -> bool:
    """Complete a step in one transaction: its choice (option id, chooser) if not yet stored, its observation,
    and after a submission the run's new status (see `ops.finish_step`). Returns whether a pause was requested."""
    if choice is not None:
        ops.add_choice(conn, step_id, *choice)
    return ops.finish_step(conn, run_id, step_id, observation, active, status)


def end_run(conn: Connection, store: Store, run_id: str, status: RunStatus, **values: Any) -> RunRecord:
    """Set a run's final status and return the run as stored (see `ops.finish_run`)."""
    return ops.finish_run(conn, run_id, status, **values)


def create_run(conn: Connection, task: dict[str, Any], run_id: str, run: dict[str, Any]) -> None:
    """Store a task (or refresh it) and a queued run of it, in one transaction."""
    ops.upsert_task(conn, task)
    ops.create_run(conn, run_id=run_id, **run)
