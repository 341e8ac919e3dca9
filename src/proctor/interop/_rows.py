"""Runs as rows, in bulk: imported runs written many at a time (one transaction a batch, a run already stored
skipped), and stored runs read many at a time for export."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from proctor.store import RunRecord, RunStatus
from proctor.store import _schema as s
from proctor.store._ops import now, run_agent


def stable_run_id(key: str) -> str:
    """The run id an imported record always gets: 16 hex digits of the SHA-256 of its key (e.g.
    `inspect:EVAL_ID:SAMPLE_ID:EPOCH`), so importing it again finds it stored."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def utc(value: datetime | str | None) -> datetime | None:
    """A time as an aware UTC datetime (SQLite gives naive ones, which are UTC; Inspect writes ISO strings)."""
    if value is None or value == "":
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class StepRows:
    """One step of a run as rows: its options (with their ratings), the choice, the observation, its tags."""

    index: int
    """Position in the run."""
    kind: str = "action"
    """`action`, `stuck_check`, `restart`, `compaction`, `advice`, …"""
    options: list[dict[str, Any]] = field(default_factory=list)
    """Option columns (text, action, argument, parse_error, source), each with a `ratings` list of rating columns."""
    chosen: int | None = None
    """The chosen option's position in `options`."""
    chooser: str | None = None
    """Who chose it."""
    observation: dict[str, Any] | None = None
    """Observation columns; None leaves the step incomplete."""
    summary: str | None = None
    """A restart's or compaction's summary."""
    tags: list[dict[str, str]] = field(default_factory=list)
    """Tags: `name` and `author`."""
    created_at: datetime | None = None
    """When the step began (None: the run's start)."""


@dataclass
class RunRows:
    """A whole run to store: its task, the run row, steps, usage rows and events."""

    task: dict[str, Any]
    """The task row (id, family, name, format, source, instructions, permissions); kept if already stored."""
    run: dict[str, Any]
    """Run columns: id, task_id, status, model, config, and any of submission, score, error, totals, times."""
    steps: list[StepRows] = field(default_factory=list)
    """The steps, in order."""
    usage: list[tuple[int | None, dict[str, Any]]] = field(default_factory=list)
    """Model calls: (the step index or None, usage columns)."""
    events: list[tuple[str, dict[str, Any], datetime | None]] = field(default_factory=list)
    """Events: (kind, detail, when)."""

    def weight(self) -> int:
        """About how many characters of text the run holds (to bound what a batch keeps in memory)."""
        total = len(self.task.get("instructions") or "")
        for step in self.steps:
            total += sum(len(o.get("text") or "") + len(json.dumps(o.get("argument"))) for o in step.options)
            observation = step.observation or {}
            total += len(observation.get("output") or "")
            total += sum(len(call.get("output") or "") for call in observation.get("calls") or [])
        return total


_RUN_DEFAULTS: dict[str, Any] = {
    "parent_run_id": None,
    "parent_step_id": None,
    "forked_from_run_id": None,
    "forked_from_step": None,
    "workspace": None,
    "submission": None,
    "score": None,
    "error": None,
    "pause_requested": False,
    "active_seconds": 0.0,
    "finished_at": None,
}
_USAGE_DEFAULTS: dict[str, Any] = {
    "input_tokens": 0,
    "output_tokens": 0,
    "cost": None,
    "latency": 0.0,
    "attempts": 1,
    "error": None,
}
_OBSERVATION_DEFAULTS: dict[str, Any] = {
    "stderr": "",
    "exit_code": None,
    "failed": False,
    "timed_out": False,
    "truncated": False,
    "duration": 0.0,
    "child_run_id": None,
    "calls": None,
}
_TASK_DEFAULTS: dict[str, Any] = {"format": "imported", "source": "", "instructions": "", "permissions": []}
_OPTION_COLUMNS = ("text", "action", "argument", "parse_error", "source")


def _insert_tasks_missing(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the tasks not stored yet; a stored task keeps its row (e.g. the real task a log was made from)."""
    if not rows:
        return
    dialect = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect(s.tasks).on_conflict_do_nothing(index_elements=[s.tasks.c.id]), rows)


def stored_ids(conn: Connection, run_ids: Sequence[str]) -> set[str]:
    """Which of these run ids are stored."""
    found: set[str] = set()
    for start in range(0, len(run_ids), 500):
        chunk = list(run_ids[start : start + 500])
        found |= {r.id for r in conn.execute(select(s.runs.c.id).where(s.runs.c.id.in_(chunk)))}
    return found


def store_runs(conn: Connection, /, runs: Sequence[RunRows]) -> int:
    """Store runs in bulk (a few statements for the whole batch); runs whose id is already stored, and repeats
    within the batch, are skipped. Returns how many were stored.

    Run totals default to the sums of the usage rows; `steps_done` to the completed steps."""
    already = stored_ids(conn, [r.run["id"] for r in runs])
    fresh: list[RunRows] = []
    for run in runs:
        if run.run["id"] not in already:
            already.add(run.run["id"])
            fresh.append(run)
    if not fresh:
        return 0
    stamp = now()
    tasks = {r.task["id"]: _columns(s.tasks, r.task | {"created_at": stamp}, _TASK_DEFAULTS) for r in fresh}
    _insert_tasks_missing(conn, list(tasks.values()))
    conn.execute(insert(s.runs), [_run_row(r, stamp) for r in fresh])
    steps = [(r, step) for r in fresh for step in r.steps]
    step_rows = [
        {
            "run_id": r.run["id"],
            "index": step.index,
            "kind": step.kind,
            "summary": step.summary,
            "created_at": step.created_at or r.run.get("created_at") or stamp,
        }
        for r, step in steps
    ]
    step_ids = _insert_returning_ids(conn, s.steps, step_rows)
    id_of_step: dict[tuple[str, int | None], int] = {
        (r.run["id"], step.index): step_id for (r, step), step_id in zip(steps, step_ids, strict=True)
    }
    option_rows, option_owners = [], []
    for (_, step), step_id in zip(steps, step_ids, strict=True):
        for position, option in enumerate(step.options):
            row = {key: option.get(key) for key in _OPTION_COLUMNS}
            option_rows.append(row | {"step_id": step_id, "index": position, "created_at": stamp})
            option_owners.append((step_id, position, option.get("ratings") or []))
    option_ids = _insert_returning_ids(conn, s.options, option_rows)
    option_id = {
        (step_id, position): oid for (step_id, position, _), oid in zip(option_owners, option_ids, strict=True)
    }
    ratings = [
        _columns(s.ratings, rating | {"option_id": oid, "created_at": stamp}, {"comment": None})
        for (_, _, rated), oid in zip(option_owners, option_ids, strict=True)
        for rating in rated
    ]
    choices, observations, tags = [], [], []
    for (_, step), step_id in zip(steps, step_ids, strict=True):
        if step.chosen is not None and (step_id, step.chosen) in option_id:
            chosen = option_id[step_id, step.chosen]
            choices.append({"step_id": step_id, "option_id": chosen, "chooser": step.chooser or "first"})
        if step.observation is not None:
            # A subtask run is not imported with its parent: the link is kept in the calls only.
            observed = step.observation | {"step_id": step_id, "child_run_id": None}
            observations.append(_columns(s.observations, observed, _OBSERVATION_DEFAULTS))
        tags += [{"step_id": step_id, "name": t["name"], "author": t["author"]} for t in step.tags]
    usage = [
        _columns(
            s.usage, columns | {"run_id": r.run["id"], "step_id": id_of_step.get((r.run["id"], index))}, _USAGE_DEFAULTS
        )
        for r in fresh
        for index, columns in r.usage
    ]
    events = [
        {"run_id": r.run["id"], "kind": kind, "detail": detail, "created_at": when or stamp}
        for r in fresh
        for kind, detail, when in r.events
    ]
    for table, rows in (
        (s.ratings, ratings),
        (s.choices, [c | {"created_at": stamp} for c in choices]),
        (s.observations, [o | {"created_at": stamp} for o in observations]),
        (s.tags, [t | {"created_at": stamp} for t in tags]),
        (s.usage, [u | {"created_at": u["created_at"] or stamp} for u in usage]),
        (s.events, events),
    ):
        if rows:
            conn.execute(insert(table), rows)
    return len(fresh)


def _columns(table: Any, row: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The row with exactly the table's columns (a batch's rows must have the same keys), missing ones defaulted;
    the id is left to the database unless the table's id is a string."""
    names = [c.name for c in table.c if not (c.name == "id" and c.autoincrement is True)]
    return {name: row.get(name, defaults.get(name)) for name in names}


def _run_row(run: RunRows, stamp: datetime) -> dict[str, Any]:
    row = _RUN_DEFAULTS | run.run
    row["status"] = RunStatus(row["status"]).value
    row.setdefault("agent", run_agent(row.get("config") or {}))  # as ops.create_run stores it
    row.setdefault("input_tokens", sum(int(u.get("input_tokens") or 0) for _, u in run.usage))
    row.setdefault("output_tokens", sum(int(u.get("output_tokens") or 0) for _, u in run.usage))
    row.setdefault("cost", sum(float(u.get("cost") or 0.0) for _, u in run.usage))
    row.setdefault("steps_done", sum(1 for step in run.steps if step.observation is not None))
    row["created_at"] = row.get("created_at") or stamp
    if row["finished_at"] is None and RunStatus(row["status"]).final:
        row["finished_at"] = row["created_at"]
    return _columns(s.runs, row, {})


def _insert_returning_ids(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows and return their new ids in the rows' order (one statement per batch of rows)."""
    if not rows:
        return []
    statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [int(r[0]) for r in conn.execute(statement, rows)]


# Reading stored runs in bulk, for export.


@dataclass
class StoredRun:
    """A stored run with everything an export shows: its task, steps (as dicts: options with ratings, chosen
    position, chooser, observation, tags with authors), usage rows (with their step's index) and events."""

    record: RunRecord
    """The run."""
    task: dict[str, Any]
    """Its task row."""
    steps: list[dict[str, Any]]
    """Its steps in order: index, kind, summary, created_at, options, chosen, chooser, observation, tags."""
    usage: list[dict[str, Any]]
    """Its model calls in order: usage columns and `step`, the index of their step (or None)."""
    events: list[dict[str, Any]]
    """Its events in order: kind, detail, created_at."""


def read_runs(conn: Connection, records: Sequence[RunRecord]) -> list[StoredRun]:
    """The runs with their trees, read with a few queries for all of them."""
    if not records:
        return []
    run_ids = [r.id for r in records]
    task_ids = sorted({r.task_id for r in records})
    task_rows = {row.id: row._asdict() for row in conn.execute(select(s.tasks).where(s.tasks.c.id.in_(task_ids)))}
    steps: dict[int, dict[str, Any]] = {}
    by_run: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    query = select(s.steps).where(s.steps.c.run_id.in_(run_ids)).order_by(s.steps.c.run_id, s.steps.c.index)
    for row in conn.execute(query):
        step = {
            "index": row.index,
            "kind": row.kind,
            "summary": row.summary,
            "created_at": utc(row.created_at),
            "options": [],
            "chosen": None,
            "chooser": None,
            "observation": None,
            "tags": [],
        }
        steps[row.id] = step
        by_run[row.run_id].append(step)
    step_ids = list(steps)
    options: dict[int, tuple[dict[str, Any], int]] = {}
    for chunk in _chunks(step_ids):
        query = select(s.options).where(s.options.c.step_id.in_(chunk)).order_by(s.options.c.step_id, s.options.c.index)
        for row in conn.execute(query):
            option = {key: getattr(row, key) for key in _OPTION_COLUMNS} | {"ratings": []}
            options[row.id] = (option, len(steps[row.step_id]["options"]))
            steps[row.step_id]["options"].append(option)
        for row in conn.execute(select(s.choices).where(s.choices.c.step_id.in_(chunk))):
            steps[row.step_id]["chosen"] = options[row.option_id][1]
            steps[row.step_id]["chooser"] = row.chooser
        for row in conn.execute(select(s.observations).where(s.observations.c.step_id.in_(chunk))):
            observation = row._asdict()
            for key in ("id", "step_id", "created_at"):
                observation.pop(key)
            steps[row.step_id]["observation"] = observation
        for row in conn.execute(select(s.tags).where(s.tags.c.step_id.in_(chunk)).order_by(s.tags.c.id)):
            steps[row.step_id]["tags"].append({"name": row.name, "author": row.author})
    for chunk in _chunks(list(options)):
        query = select(s.ratings).where(s.ratings.c.option_id.in_(chunk), s.CURRENT_RATING).order_by(s.ratings.c.id)
        for row in conn.execute(query):
            rating = {k: getattr(row, k) for k in ("rater", "value", "scale", "method", "comment")}
            options[row.option_id][0]["ratings"].append(rating)
    usage: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    query = select(s.usage).where(s.usage.c.run_id.in_(run_ids)).order_by(s.usage.c.id)
    for row in conn.execute(query):
        call = row._asdict()
        owner = steps.get(call.pop("step_id"))
        call |= {"step": None if owner is None else owner["index"], "created_at": utc(call["created_at"])}
        for key in ("id", "run_id"):
            call.pop(key)
        usage[row.run_id].append(call)
    events: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in run_ids}
    query = select(s.events).where(s.events.c.run_id.in_(run_ids)).order_by(s.events.c.id)
    for row in conn.execute(query):
        events[row.run_id].append({"kind": row.kind, "detail": row.detail, "created_at": utc(row.created_at)})
    return [
        StoredRun(
            record=r,
            task=_task_of(task_rows, r.task_id),
            steps=by_run[r.id],
            usage=usage[r.id],
            events=events[r.id],
        )
        for r in records
    ]


def _task_of(rows: dict[str, dict[str, Any]], task_id: str) -> dict[str, Any]:
    found = rows.get(task_id)
    row = dict(found) if found else {"id": task_id, "family": task_id.split("/")[0], "name": task_id}
    row.pop("created_at", None)
    return {"format": "native", "source": "", "instructions": "", "permissions": []} | row


def _chunks(ids: list[int], size: int = 500) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
