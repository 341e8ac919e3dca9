"""Runs with rated options, written through the store's operations (for tests only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from proctor.store import RunStatus, Store, ops
from proctor.store import _schema as s

Ratings = dict[str, float]
"""One option's ratings: rater (`human:<user>`, `model:<name>`) to value."""


def add_task(store: Store, task_id: str, *, source: str = "/suites/demo/t", **extra: Any) -> None:
    """Store a task `family/name` (columns other than the usual ones go in `extra`)."""
    family, name = task_id.split("/", 1)
    row = {
        "id": task_id,
        "family": family,
        "name": name,
        "format": "native",
        "source": source,
        "instructions": f"Do {name}.",
        "permissions": [],
    }
    store.write(ops.upsert_task, row | extra)


def rated_run(
    store: Store,
    steps: Sequence[Sequence[Ratings]],
    *,
    task_id: str = "demo/t1",
    model: str = "m/a",
    score: float | None = 1.0,
    status: RunStatus = RunStatus.DONE,
    chosen: Sequence[int] | None = None,
    scale: str = "1-5",
    config: dict[str, Any] | None = None,
    started: datetime | None = None,
    parent: str | None = None,
    submit: bool = False,
) -> str:
    """A run of `task_id` whose step i has one option per entry of `steps[i]`, rated as given; option
    `chosen[i]` (default 0) is chosen and executed (the last one a submission with `submit`); the run, created at
    `started`, runs from 10 s later and ends 3 minutes after it with `status` and `score`. Returns its id."""
    if not _has_task(store, task_id):
        add_task(store, task_id)
    picks = list(chosen) if chosen is not None else [0] * len(steps)
    start = started or datetime(2025, 1, 1, tzinfo=UTC)

    def write(conn: Connection) -> str:
        run_id = ops.create_run(
            conn,
            task_id=task_id,
            model=model,
            config={"model": model, "agent": "tags"} | (config or {}),
            created_at=start,
            parent_run_id=parent,
        )
        running = {"run_id": run_id, "kind": "status", "detail": {"status": "running", "error": None}}
        conn.execute(insert(s.events).values(**running, created_at=start + timedelta(seconds=10)))
        for index, options in enumerate(steps):
            fields = [
                {
                    "text": f"<bash>echo {index}.{k}</bash>",
                    "action": "bash",
                    "argument": {"command": f"echo {index}.{k}"},
                    "parse_error": None,
                    "source": f"model:{model}",
                }
                for k in range(len(options))
            ]
            step_id, option_ids = ops.start_step(conn, run_id, index, "action", fields)
            for option_id, rated in zip(option_ids, options, strict=True):
                for rater, value in rated.items():
                    method = "human" if rater.startswith("human:") else "logprobs"
                    ops.add_rating(conn, option_id, {"rater": rater, "value": value, "scale": scale, "method": method})
            ops.add_choice(conn, step_id, option_ids[picks[index]], "first")
            kind = "submit" if submit and index == len(steps) - 1 else "bash"
            ops.finish_step(conn, run_id, step_id, {"kind": kind, "output": f"{index}", "exit_code": 0}, 1.5)
        ops.update_run(
            conn,
            run_id,
            status=status,
            score=score,
            cost=0.25,
            input_tokens=1000,
            output_tokens=100,
            finished_at=start + timedelta(minutes=3),
        )
        return run_id

    return store.write(write)


def _has_task(store: Store, task_id: str) -> bool:
    try:
        store.task(task_id)
    except Exception:
        return False
    return True
