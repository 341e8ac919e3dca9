"""Reads behind the pages: the runs list (keyset pagination), a window of a run's tree, the map of its steps,
the live state a run page polls, and who may see which run."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Connection, CursorResult, and_, false, func, or_, select, tuple_

from proctor.analysis import RunFilter
from proctor.analysis._filters import agent_column, counted, where
from proctor.store import (
    HoldRecord,
    ObservationRecord,
    OptionRecord,
    RatingRecord,
    Role,
    RunRecord,
    StepRecord,
    UserRecord,
)
from proctor.store import _schema as s

SortKey = Literal["created", "score", "cost", "task", "model", "status"]
_SORTS: dict[str, Any] = {
    "created": s.runs.c.created_at,
    "score": s.RUN_SCORE_KEY,
    "cost": s.runs.c.cost,
    "task": s.runs.c.task_id,
    "model": s.runs.c.model,
    "status": s.runs.c.status,
}


AGENT = s.runs.c.agent
"""A run's agent (stored in a column of its own, from its config)."""


class RunQuery(BaseModel):
    """What the runs list shows: filters, order and page."""

    q: str = ""
    """Free text: part of a task id or model, or a run id prefix."""
    status: str = ""
    """Only runs with this status."""
    task: str = ""
    """Only tasks whose id contains this."""
    model: str = ""
    """Only models whose name contains this."""
    tag: str = ""
    """Only runs with a step tagged this."""
    sort: SortKey = "created"
    """The column to order by."""
    order: Literal["asc", "desc"] = "desc"
    """Ascending or descending."""
    after: str = ""
    """The cursor of the page's start (from the previous page's `next`)."""
    limit: int = Field(default=50, ge=1, le=500)
    """Runs per page."""
    subtasks: bool = False
    """Include delegated subtask runs."""
    agent: str = ""
    """Only runs of this agent (exactly; an oversight case's protocol), as reports group them."""
    exact: bool = False
    """`task` and `model` name the task and model exactly (a results grid cell's link), not a part of them."""
    where: str = ""
    """A report filter (`suite=examples,tag=shell,since=2026-03-01`, see docs/reports.md): only the runs it keeps."""
    counted: bool = False
    """Only runs that count towards success rates (top-level, done with a score or over a limit)."""


class RunRow(BaseModel):
    """One line of the runs list."""

    id: str
    """Run id."""
    task_id: str
    """The task."""
    model: str
    """The agent's model."""
    status: str
    """Where the run is."""
    score: float | None
    """The score, if scored."""
    cost: float
    """US dollars."""
    steps_done: int
    """Completed steps."""
    parent_run_id: str | None
    """The delegating run of a subtask."""
    forked_from_run_id: str | None
    """The run this one forks."""
    created_at: datetime
    """When the run was created."""
    agent: str | None = None
    """The agent it runs with (`human`: a person does it, on its work page)."""
    tags: list[str] = Field(default_factory=list)
    """Tags on its steps."""


class RunPage(BaseModel):
    """A page of the runs list."""

    runs: list[RunRow]
    """The runs on this page."""
    next: str | None
    """The cursor of the next page, if there is one."""


class MapCell(BaseModel):
    """One step in the compact map of a run."""

    index: int
    """The step's index."""
    outcome: str
    """What the cell shows: the chosen action (bash, calls, python, read, write, edit, delegate, score, submit), or
    failed, stuck, restart, waiting, unparsed."""
    human: bool
    """A person chose (or wrote) the step's option."""
    forked: bool
    """Some run forks from this step."""


def _encode(value: Any, run_id: str) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    return base64.urlsafe_b64encode(json.dumps([value, run_id]).encode()).decode()


def _decode(cursor: str) -> tuple[Any, str] | None:
    try:
        value, run_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        return None
    if isinstance(value, dict) and "t" in value:
        value = datetime.fromisoformat(str(value["t"]))
    return value, str(run_id)


def assigned_runs(user: UserRecord) -> Any:
    """A subquery of the run ids assigned to `user` and of the subtask runs below them (at any depth)."""
    assigned = select(s.assignments.c.run_id.label("id")).where(s.assignments.c.user_id == user.id)
    tree = assigned.cte("assigned_tree", recursive=True)
    below = select(s.runs.c.id).join(tree, s.runs.c.parent_run_id == tree.c.id)
    tree = tree.union(below)
    return select(tree.c.id)


def list_runs(conn: Connection, query: RunQuery, user: UserRecord) -> RunPage:
    """A page of runs matching `query` that `user` may see, ordered by (sort key, id).

    Raises:
        AnalysisError: `query.where` is not a filter.
    """
    key = _SORTS[query.sort]
    conditions: list[ColumnElement[bool]] = []
    if user.role is Role.RATER:
        conditions.append(s.runs.c.id.in_(assigned_runs(user)))
    if not query.subtasks:
        conditions.append(s.runs.c.parent_run_id.is_(None))
    if query.q:
        text = query.q.strip()
        conditions.append(
            or_(
                s.runs.c.id.startswith(text, autoescape=True),
                s.runs.c.task_id.contains(text, autoescape=True),
                s.runs.c.model.contains(text, autoescape=True),
            )
        )
    if query.status:
        conditions.append(s.runs.c.status == query.status)
    if query.task:
        task = s.runs.c.task_id
        conditions.append(task == query.task if query.exact else task.contains(query.task, autoescape=True))
    if query.model:
        model = s.runs.c.model
        conditions.append(model == query.model if query.exact else model.contains(query.model, autoescape=True))
    if query.agent:
        conditions.append(agent_column() == query.agent)
    if query.counted:
        conditions.append(counted())
    joined = bool(query.where)
    if query.where:  # the report's own conditions, so a grid cell's link lists exactly the runs it counts
        conditions.extend(where(RunFilter.parse(query.where), conn.dialect.name))
    if query.tag:
        tagged = select(s.steps.c.run_id).join(s.tags, s.tags.c.step_id == s.steps.c.id)
        tagged = tagged.where(s.tags.c.name == query.tag)
        conditions.append(s.runs.c.id.in_(tagged))
    if query.after:
        cursor = _decode(query.after)
        if cursor is None:
            conditions.append(false())
        else:
            position = tuple_(key, s.runs.c.id)
            conditions.append(position < tuple_(*cursor) if query.order == "desc" else position > tuple_(*cursor))
    ordering = [key.desc(), s.runs.c.id.desc()] if query.order == "desc" else [key.asc(), s.runs.c.id.asc()]
    columns = [c for c in s.runs.c if c.name in RunRow.model_fields]  # the agent among them
    statement = select(*columns, key.label("sort_key")).where(*conditions).order_by(*ordering)
    if joined:
        statement = statement.select_from(s.runs.join(s.tasks, s.tasks.c.id == s.runs.c.task_id))
    rows = conn.execute(statement.limit(query.limit + 1)).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    page = [RunRow.model_validate(r._asdict()) for r in rows]
    if page:
        by_id = {r.id: r for r in page}
        tag_rows = conn.execute(
            select(s.steps.c.run_id, s.tags.c.name)
            .distinct()
            .join(s.steps, s.steps.c.id == s.tags.c.step_id)
            .where(s.steps.c.run_id.in_(list(by_id)))
            .order_by(s.tags.c.name)
        )
        for run_id, name in tag_rows:
            by_id[run_id].tags.append(name)
    next_cursor = _encode(rows[-1].sort_key, rows[-1].id) if more else None
    return RunPage(runs=page, next=next_cursor)


def may_see(conn: Connection, user: UserRecord, run: RunRecord) -> bool:
    """Whether `user` may see `run`: researchers and admins see every run, a rater the runs assigned to them and
    the subtask runs below those."""
    if user.role is not Role.RATER:
        return True
    chain, parent = [run.id], run.parent_run_id
    while parent is not None and len(chain) < 50:
        chain.append(parent)
        parent = conn.execute(select(s.runs.c.parent_run_id).where(s.runs.c.id == parent)).scalar()
    found = conn.execute(
        select(s.assignments.c.id).where(s.assignments.c.user_id == user.id, s.assignments.c.run_id.in_(chain))
    ).first()
    return found is not None


def steps_window(conn: Connection, run_id: str, start: int, stop: int) -> list[StepRecord]:
    """Steps `start` ≤ index < `stop` of a run, each with options (and ratings), choice, observation and tags."""
    in_window = and_(s.steps.c.run_id == run_id, s.steps.c.index >= start, s.steps.c.index < stop)
    steps = {
        r.id: StepRecord.model_validate(r._asdict())
        for r in conn.execute(select(s.steps).where(in_window).order_by(s.steps.c.index))
    }
    if not steps:
        return []
    options: dict[int, OptionRecord] = {}
    option_rows = conn.execute(
        select(s.options)
        .join(s.steps, s.steps.c.id == s.options.c.step_id)
        .where(in_window)
        .order_by(s.options.c.step_id, s.options.c.index)
    )
    for r in option_rows:
        options[r.id] = OptionRecord.model_validate(r._asdict())
        steps[r.step_id].options.append(options[r.id])
    rating_rows = conn.execute(
        select(s.ratings)
        .join(s.options, s.options.c.id == s.ratings.c.option_id)
        .join(s.steps, s.steps.c.id == s.options.c.step_id)
        .where(in_window, s.CURRENT_RATING)
        .order_by(s.ratings.c.id)
    )
    for r in rating_rows:
        options[r.option_id].ratings.append(RatingRecord.model_validate(r._asdict()))
    for r in conn.execute(select(s.choices).join(s.steps, s.steps.c.id == s.choices.c.step_id).where(in_window)):
        steps[r.step_id].chosen_option_id = r.option_id
        steps[r.step_id].chooser = r.chooser
    observation_rows = conn.execute(
        select(s.observations).join(s.steps, s.steps.c.id == s.observations.c.step_id).where(in_window)
    )
    for r in observation_rows:
        steps[r.step_id].observation = ObservationRecord.model_validate(r._asdict())
    tag_rows = conn.execute(
        select(s.tags.c.step_id, s.tags.c.name).join(s.steps, s.steps.c.id == s.tags.c.step_id).where(in_window)
    )
    for step_id, name in tag_rows:
        steps[step_id].tags.append(name)
    hold_rows = conn.execute(
        select(s.holds).join(s.steps, s.steps.c.id == s.holds.c.step_id).where(in_window).order_by(s.holds.c.call)
    )
    for r in hold_rows:
        steps[r.step_id].holds.append(HoldRecord.model_validate(r._asdict()))
    return list(steps.values())


def conversation_steps(conn: Connection, run_id: str, start: int, stop: int) -> list[StepRecord]:
    """Steps `start` ≤ index < `stop` of a run with only what an agent's `rebuild` reads: kind, summary, choice,
    the chosen option (all of a compaction's options) and the observation; no ratings, tags, holds, nor the
    options not chosen."""
    in_window = and_(s.steps.c.run_id == run_id, s.steps.c.index >= start, s.steps.c.index < stop)
    rows = _dicts(conn.execute(select(s.steps).where(in_window).order_by(s.steps.c.index)))
    steps = {row["id"]: StepRecord.model_validate(row) for row in rows}
    if not steps:
        return []
    for r in conn.execute(select(s.choices).join(s.steps, s.steps.c.id == s.choices.c.step_id).where(in_window)):
        steps[r.step_id].chosen_option_id = r.option_id
        steps[r.step_id].chooser = r.chooser
    needed = or_(s.options.c.id == s.choices.c.option_id, s.steps.c.kind == "compaction")
    option_rows = conn.execute(
        select(s.options)
        .join(s.steps, s.steps.c.id == s.options.c.step_id)
        .outerjoin(s.choices, s.choices.c.step_id == s.options.c.step_id)
        .where(in_window, needed)
        .order_by(s.options.c.step_id, s.options.c.index)
    )
    for row in _dicts(option_rows):
        steps[row["step_id"]].options.append(OptionRecord.model_validate(row))
    observation_rows = conn.execute(
        select(s.observations).join(s.steps, s.steps.c.id == s.observations.c.step_id).where(in_window)
    )
    for row in _dicts(observation_rows):
        steps[row["step_id"]].observation = ObservationRecord.model_validate(row)
    return list(steps.values())


def _dicts(result: CursorResult[Any]) -> Iterator[dict[str, Any]]:
    """A result's rows as dicts, its column names read once (`Row._asdict` reads them again for every row)."""
    keys = list(result.keys())
    for row in result:
        yield dict(zip(keys, row, strict=True))


def step_count(conn: Connection, run_id: str) -> int:
    """How many steps a run has (completed or not)."""
    return int(conn.execute(select(func.count()).where(s.steps.c.run_id == run_id)).scalar_one())


def step_map(conn: Connection, run_id: str) -> list[MapCell]:
    """Every step of a run as one map cell, in order."""
    forked = set(conn.execute(select(s.runs.c.forked_from_step).where(s.runs.c.forked_from_run_id == run_id)).scalars())
    query = (
        select(
            s.steps.c.index,
            s.steps.c.kind,
            s.choices.c.chooser,
            s.options.c.action,
            s.observations.c.failed,
        )
        .select_from(s.steps)
        .outerjoin(s.choices, s.choices.c.step_id == s.steps.c.id)
        .outerjoin(s.options, s.options.c.id == s.choices.c.option_id)
        .outerjoin(s.observations, s.observations.c.step_id == s.steps.c.id)
        .where(s.steps.c.run_id == run_id)
        .order_by(s.steps.c.index)
    )
    cells = []
    for index, kind, chooser, action, failed in conn.execute(query):
        if kind == "stuck_check":
            outcome = "stuck"
        elif kind == "restart":
            outcome = "restart"
        elif chooser is None:
            outcome = "waiting"
        elif failed:
            outcome = "failed"
        else:
            outcome = action or "unparsed"
        human = bool(chooser and chooser.startswith("human:"))
        cells.append(MapCell(index=index, outcome=outcome, human=human, forked=index in forked))
    return cells


def live_version(conn: Connection, run_id: str) -> str:
    """A short string that changes whenever the run's page would: status, steps, choices, ratings, tags, forks,
    holds and their decisions, events (a person's clock, requests and notes), options added, comparisons."""
    run = conn.execute(select(s.runs.c.status, s.runs.c.steps_done).where(s.runs.c.id == run_id)).one()
    of_run = s.steps.c.run_id == run_id
    steps = conn.execute(select(func.count(), func.max(s.steps.c.id)).where(of_run)).one()
    choices = conn.execute(select(func.count()).select_from(s.choices.join(s.steps)).where(of_run)).scalar()
    ratings = conn.execute(
        select(func.count()).select_from(s.ratings.join(s.options).join(s.steps)).where(of_run)
    ).scalar()
    tags = conn.execute(select(func.count()).select_from(s.tags.join(s.steps)).where(of_run)).scalar()
    options = conn.execute(select(func.max(s.options.c.id)).select_from(s.options.join(s.steps)).where(of_run)).scalar()
    compared = conn.execute(select(func.count()).select_from(s.comparisons.join(s.steps)).where(of_run)).scalar()
    forks = conn.execute(select(func.count()).where(s.runs.c.forked_from_run_id == run_id)).scalar()
    holds = conn.execute(
        select(func.count(), func.count(s.holds.c.verdict)).select_from(s.holds.join(s.steps)).where(of_run)
    ).one()
    events = conn.execute(select(func.max(s.events.c.id)).where(s.events.c.run_id == run_id)).scalar()
    counts = [steps[0], steps[1], choices, ratings, tags, forks, holds[0], holds[1], events, options, compared]
    return ".".join(str(part) for part in (run.status, run.steps_done, *counts))


def forks_of(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """The runs forked from a run: id, step, model, status, score."""
    query = (
        select(s.runs.c.id, s.runs.c.forked_from_step, s.runs.c.model, s.runs.c.status, s.runs.c.score)
        .where(s.runs.c.forked_from_run_id == run_id)
        .order_by(s.runs.c.created_at)
    )
    return [r._asdict() for r in conn.execute(query)]


def step_usage(conn: Connection, run_id: str, start: int, stop: int) -> dict[int, dict[str, Any]]:
    """Tokens and cost of the model calls made for each step in the window, by step id (a range of the run's steps,
    their usage by step)."""
    query = (
        select(
            s.usage.c.step_id,
            func.sum(s.usage.c.input_tokens).label("input_tokens"),
            func.sum(s.usage.c.output_tokens).label("output_tokens"),
            func.sum(s.usage.c.cost).label("cost"),
        )
        .select_from(s.steps)
        .join(s.usage, s.usage.c.step_id == s.steps.c.id)
        .where(s.steps.c.run_id == run_id, s.steps.c.index >= start, s.steps.c.index < stop)
        .group_by(s.usage.c.step_id)
    )
    return {r.step_id: r._asdict() for r in conn.execute(query)}
