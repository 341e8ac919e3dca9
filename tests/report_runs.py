"""Finished runs written straight into a store, for report tests: tasks with families and tags, runs with a model,
agent, status, score, costs and times, tagged steps — as many as a test needs, in one transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from proctor.runner import RunConfig
from proctor.store import Store
from proctor.store import _schema as s

START = datetime(2026, 3, 1, 12, tzinfo=UTC)


@dataclass
class Run:
    """One finished run to store."""

    task_id: str
    model: str = "lab/alpha"
    agent: str | None = "tags"
    """The agent; None for an oversight run (its config names a protocol instead)."""
    status: str = "done"
    score: float | None = 1.0
    created_at: datetime = START
    wall: float | None = 60.0
    active: float = 30.0
    input_tokens: int = 100
    output_tokens: int = 10
    cost: float = 0.01
    config: dict[str, Any] = field(default_factory=dict)
    """Config keys set on top of the default `RunConfig` of the model and agent."""
    step_tags: list[str] = field(default_factory=list)
    forked_from: str | None = None
    parent: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])


def add_tasks(store: Store, tasks: dict[str, list[str]], *, source: str = "/suites/lab") -> None:
    """Store tasks `family/name` with their tags."""
    rows = [
        {
            "id": task_id,
            "family": task_id.split("/")[0],
            "name": task_id.split("/")[1],
            "format": "native",
            "source": f"{source}/{task_id}",
            "instructions": "Do it.",
            "permissions": [],
            "tags": tags,
            "created_at": START,
        }
        for task_id, tags in tasks.items()
    ]
    with store.engine.begin() as conn:
        conn.execute(insert(s.tasks), rows)


def add_runs(store: Store, runs: list[Run]) -> list[str]:
    """Store the runs (their tasks must be stored); returns their ids."""
    configs: dict[tuple[str, str], dict[str, Any]] = {}
    rows, steps, tags = [], [], []
    for run in runs:
        key = (run.model, str(run.agent))
        if key not in configs:
            # built for the model, then given the agent: a stored run may name an agent this process lacks
            configs[key] = RunConfig(model=run.model).model_dump(mode="json") | {"agent": run.agent}
        config = {**configs[key], **run.config}
        if run.agent is None:  # an oversight case's config
            config = {"experiment": "e1", "protocol": "debate", **run.config}
        rows.append(
            {
                "id": run.id,
                "task_id": run.task_id,
                "status": run.status,
                "model": run.model,
                "config": config,
                "agent": run.agent,
                "score": run.score,
                "steps_done": 1,
                "pause_requested": False,
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "cost": run.cost,
                "active_seconds": run.active,
                "created_at": run.created_at,
                "finished_at": None if run.wall is None else run.created_at + timedelta(seconds=run.wall),
                "forked_from_run_id": run.forked_from,
                "parent_run_id": run.parent,
            }
        )
        for index, name in enumerate(run.step_tags):
            steps.append({"run_id": run.id, "index": index, "kind": "action", "created_at": run.created_at})
            tags.append(name)
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(s.runs), rows[start : start + 5000])
        for step, name in zip(steps, tags, strict=True):
            step_id = conn.execute(insert(s.steps).returning(s.steps.c.id), step).scalar_one()
            conn.execute(insert(s.tags), {"step_id": step_id, "name": name, "author": "test", "created_at": START})
    return [run.id for run in runs]
