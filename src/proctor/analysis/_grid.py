"""The results grid (task × model × agent) and the capability profile (success per task tag and step tag, per
model and agent), aggregated in SQL: one GROUP BY over the runs for the grid, one over tagged steps for the
profile, so a report over 100,000 runs reads a few thousand rows."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Connection, case, func, select

from proctor.analysis._filters import (
    COUNTED,
    RunFilter,
    agent_column,
    check_solved_at,
    counted,
    score_value,
    solved,
    wall_seconds,
    where,
)
from proctor.analysis._rates import Rate, pooled_rate, task_rate
from proctor.store import RunStatus, Store
from proctor.store import _schema as s


class Costs(BaseModel):
    """What counted runs spent, per run (means) and in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: float
    """Mean tokens (prompt and generated, subtasks included) per run."""
    cost: float
    """Mean US dollars per run."""
    total_cost: float
    """US dollars over all the runs."""
    wall_seconds: float | None
    """Mean seconds from creation to end (queueing and pauses included) of the runs that ended; None if none did."""
    ended: int
    """Runs with an end time, which `wall_seconds` is over (a run over a limit has none: it may be resumed)."""
    active_seconds: float
    """Mean seconds running, pauses excluded."""


class GridCell(BaseModel):
    """One task with one model and agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task_id: str
    """The task, `family/name`."""
    family: str
    """The task's family."""
    tags: list[str]
    """The task's tags."""
    model: str
    """The agent's model."""
    agent: str
    """The agent (scaffold)."""
    runs: int
    """Counted runs (done with a score, or over a limit)."""
    solved: int
    """Counted runs solved."""
    failed: int
    """Runs that failed for good (a model or set-up error): left out of the rate."""
    success: Rate | None
    """Solved over counted runs with the Wilson interval; None without counted runs."""
    mean_score: float | None
    """Mean score of the counted runs (0 for a run over a limit); None without counted runs."""
    costs: Costs | None
    """Means over the counted runs; None without counted runs."""


class ModelSummary(BaseModel):
    """One model and agent over every task of the grid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """The agent's model."""
    agent: str
    """The agent."""
    tasks: int
    """Tasks with counted runs."""
    runs: int
    """Counted runs."""
    solved: int
    """Counted runs solved."""
    failed: int
    """Runs that failed for good."""
    success: Rate | None
    """Solved over counted runs, the interval clustered by task; None without counted runs."""
    task_success: float | None
    """Mean over tasks of each task's success rate (each task weighs the same); None without counted runs."""
    mean_score: float | None
    """Mean score of the counted runs."""
    costs: Costs | None
    """Means over the counted runs."""


class ProfileRow(BaseModel):
    """Success on the tasks (or runs) that carry one tag, for one model and agent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """The agent's model."""
    agent: str
    """The agent."""
    kind: Literal["task", "step"]
    """`task`: a tag of the task (task.yaml); `step`: a tag a person or model put on one of the run's steps."""
    tag: str
    """The tag, e.g. `shell` or `difficulty:hard`."""
    success: Rate
    """Solved over counted runs, the interval clustered by task."""


class ResultsGrid(BaseModel):
    """The results grid and its per-model summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filter: str
    """The filter the runs were read with (empty: every run)."""
    solved_at: float
    """A run is solved when its score is at least this."""
    confidence: float
    """Confidence level of every interval."""
    cells: list[GridCell] = Field(default_factory=list)
    """Task × model × agent, ordered by task, model, agent."""
    models: list[ModelSummary] = Field(default_factory=list)
    """Model × agent over all tasks, ordered by model, agent."""


def _sums(solved_at: float, dialect: str) -> list[ColumnElement[Any]]:
    """Per group: counted runs, solved, score, failed, and what counted runs spent."""
    is_counted = counted()

    def over_counted(value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.sum(case((is_counted, value), else_=None))

    r = s.runs.c
    wall = wall_seconds(dialect)
    return [
        func.sum(case((is_counted, 1), else_=0)).label("runs"),
        over_counted(solved(solved_at)).label("solved"),
        over_counted(score_value()).label("score"),
        func.sum(case((r.status == RunStatus.FAILED.value, 1), else_=0)).label("failed"),
        over_counted(r.input_tokens + r.output_tokens).label("tokens"),
        over_counted(r.cost).label("cost"),
        over_counted(r.active_seconds).label("active"),
        over_counted(wall).label("wall"),
        func.sum(case((is_counted & wall.is_not(None), 1), else_=0)).label("ended"),
    ]


def _base_conditions(runs: RunFilter, dialect: str) -> list[ColumnElement[bool]]:
    statuses = (*COUNTED, RunStatus.FAILED.value)
    return [s.runs.c.parent_run_id.is_(None), s.runs.c.status.in_(statuses), *where(runs, dialect)]


def results_grid(
    store: Store, runs: RunFilter | None = None, *, solved_at: float = 1.0, confidence: float = 0.95
) -> ResultsGrid:
    """Success per task × model × agent, with Wilson intervals, mean score, runs, tokens, cost and time, and a
    summary per model and agent over all the tasks.

    Args:
        store: The store to read.
        runs: Which runs (default: all).
        solved_at: A run is solved when its score is at least this.
        confidence: Confidence level of the intervals.

    Raises:
        AnalysisError: `solved_at` outside (0, 1].

    Example:
        grid = results_grid(Store(), RunFilter.parse("suite=examples"))
        for cell in grid.cells:
            print(cell.task_id, cell.model, cell.success)
    """
    check_solved_at(solved_at)
    runs = runs or RunFilter()
    dialect = store.engine.dialect.name
    r, t = s.runs.c, s.tasks.c
    agent = agent_column()
    query = (
        select(r.task_id, r.model, agent.label("agent"), *_sums(solved_at, dialect))
        .select_from(s.runs.join(s.tasks, t.id == r.task_id))
        .where(*_base_conditions(runs, dialect))
        .group_by(r.task_id, r.model, agent)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
        tasks = task_details(conn, {row.task_id for row in rows})
    cells = sorted(
        (_cell(row, tasks[row.task_id], confidence) for row in rows), key=lambda c: (c.task_id, c.model, c.agent)
    )
    return ResultsGrid(
        filter=str(runs),
        solved_at=solved_at,
        confidence=confidence,
        cells=cells,
        models=_summaries(cells, confidence),
    )


class TaskDetails(BaseModel):
    """What a report shows of a task besides its id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    """The task's family."""
    tags: list[str]
    """The task's tags (empty when stored before tags were)."""


def task_details(conn: Connection, task_ids: set[str]) -> dict[str, TaskDetails]:
    """Family and tags of each task, read in chunks (a report has hundreds of tasks, not runs' worth)."""
    found: dict[str, TaskDetails] = {}
    ordered = sorted(task_ids)
    t = s.tasks.c
    for start in range(0, len(ordered), 500):
        query = select(t.id, t.family, t.tags).where(t.id.in_(ordered[start : start + 500]))
        for row in conn.execute(query):
            tags = [str(tag) for tag in row.tags] if isinstance(row.tags, list) else []
            found[row.id] = TaskDetails(family=row.family, tags=tags)
    return found


def _costs(row: Any) -> Costs | None:
    if not row.runs:
        return None
    return Costs(
        tokens=float(row.tokens) / row.runs,
        cost=float(row.cost) / row.runs,
        total_cost=float(row.cost),
        wall_seconds=float(row.wall) / row.ended if row.ended else None,
        ended=int(row.ended),
        active_seconds=float(row.active) / row.runs,
    )


def _cell(row: Any, task: TaskDetails, confidence: float) -> GridCell:
    runs = int(row.runs)
    return GridCell(
        task_id=row.task_id,
        family=task.family,
        tags=task.tags,
        model=row.model,
        agent=row.agent,
        runs=runs,
        solved=int(row.solved or 0),
        failed=int(row.failed),
        success=task_rate(int(row.solved), runs, confidence=confidence) if runs else None,
        mean_score=float(row.score) / runs if runs else None,
        costs=_costs(row),
    )


class _Totals:
    """Sums of cells, for summaries (the same fields as the grid query's)."""

    def __init__(self) -> None:
        self.runs = self.solved = self.failed = self.ended = 0
        self.score = self.tokens = self.cost = self.active = self.wall = 0.0

    def add(self, cell: GridCell) -> None:
        self.runs += cell.runs
        self.solved += cell.solved
        self.failed += cell.failed
        if cell.costs is None or cell.mean_score is None:
            return
        self.score += cell.mean_score * cell.runs
        self.tokens += cell.costs.tokens * cell.runs
        self.cost += cell.costs.total_cost
        self.active += cell.costs.active_seconds * cell.runs
        if cell.costs.wall_seconds is not None:
            self.wall += cell.costs.wall_seconds * cell.costs.ended
            self.ended += cell.costs.ended


def _summaries(cells: list[GridCell], confidence: float) -> list[ModelSummary]:
    groups: dict[tuple[str, str], list[GridCell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.model, cell.agent)].append(cell)
    summaries = []
    for (model, agent), group in sorted(groups.items()):
        totals = _Totals()
        for cell in group:
            totals.add(cell)
        scored = [c for c in group if c.runs]
        summaries.append(
            ModelSummary(
                model=model,
                agent=agent,
                tasks=len(scored),
                runs=totals.runs,
                solved=totals.solved,
                failed=totals.failed,
                success=pooled_rate([(c.solved, c.runs) for c in scored], confidence=confidence) if scored else None,
                task_success=sum(c.solved / c.runs for c in scored) / len(scored) if scored else None,
                mean_score=totals.score / totals.runs if totals.runs else None,
                costs=_costs(totals) if totals.runs else None,
            )
        )
    return summaries


def capability_profile(
    store: Store,
    runs: RunFilter | None = None,
    *,
    solved_at: float = 1.0,
    confidence: float = 0.95,
    grid: ResultsGrid | None = None,
) -> list[ProfileRow]:
    """Success per tag, per model and agent: over the tasks carrying each task tag, and over the runs with a step
    carrying each step tag; intervals clustered by task.

    Args:
        store: The store to read.
        runs: Which runs (default: all).
        solved_at: A run is solved when its score is at least this.
        confidence: Confidence level of the intervals.
        grid: The grid of the same runs, if already computed (task tags are summed from its cells).

    Returns:
        Rows ordered by kind (task tags first), tag, model, agent.
    """
    check_solved_at(solved_at)
    runs = runs or RunFilter()
    grid = grid or results_grid(store, runs, solved_at=solved_at, confidence=confidence)
    per_tag: dict[tuple[Literal["task", "step"], str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for cell in grid.cells:
        if cell.runs:
            for tag in sorted(set(cell.tags)):
                per_tag[("task", tag, cell.model, cell.agent)].append((cell.solved, cell.runs))
    for row in _step_tag_cells(store, runs, solved_at):
        per_tag[("step", row.tag, row.model, row.agent)].append((int(row.solved), int(row.runs)))
    return [
        ProfileRow(model=model, agent=agent, kind=kind, tag=tag, success=pooled_rate(cells, confidence=confidence))
        for (kind, tag, model, agent), cells in sorted(per_tag.items())
    ]


def _step_tag_cells(store: Store, runs: RunFilter, solved_at: float) -> list[Any]:
    """Per step tag, model, agent and task: counted runs with a step carrying the tag, and how many were solved."""
    dialect = store.engine.dialect.name
    r, t = s.runs.c, s.tasks.c
    tagged = (
        select(s.steps.c.run_id, s.tags.c.name.label("tag"))
        .join(s.steps, s.steps.c.id == s.tags.c.step_id)
        .distinct()
        .subquery()
    )
    agent = agent_column()
    query = (
        select(
            tagged.c.tag,
            r.model,
            agent.label("agent"),
            r.task_id,
            func.count().label("runs"),
            func.sum(solved(solved_at)).label("solved"),
        )
        .select_from(tagged.join(s.runs, r.id == tagged.c.run_id).join(s.tasks, t.id == r.task_id))
        .where(counted(), *where(runs, dialect))
        .group_by(tagged.c.tag, r.model, agent, r.task_id)
    )
    with store.engine.connect() as conn:
        return list(conn.execute(query).all())
