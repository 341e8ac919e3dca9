"""Where horizon runs come from: METR's published runs.jsonl and release dates, or proctor's own store."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from proctor.analysis._horizon import HorizonRuns
from proctor.analysis._stats import AnalysisError
from proctor.store import RunStatus, Store
from proctor.store import _schema as s
from proctor.tasks import DeclaredTask, declared_task

REQUIRED = ("task_id", "task_family", "alias", "human_minutes")
"""Fields every row of a METR runs file needs, besides the score column."""
WEIGHT_COLUMNS = {"invsqrt": "invsqrt_task_weight", "equal": "equal_task_weight"}
"""METR's weight columns, by weighting name."""
HUMAN_AGENT = "human"
"""The agent of a person's run (proctor.agents' `human`: a person on the clock)."""
MinutesSource = Literal["task", "metr", "people"]
"""Where a task's human minutes came from: its folder (`task.yaml`, or a METR family's `manifest.yaml`), the METR
runs file its runs were imported from, or people's successful runs of it."""


class StoreSelection(BaseModel):
    """Which stored runs a report takes, and what counts as success."""

    success_threshold: float = Field(default=1.0, ge=0.0, le=1.0)
    """A run succeeded when its score is at least this."""
    models: list[str] = Field(default_factory=list)
    """Only these models (exact `provider/model` names); empty: every model."""
    suite: str | None = None
    """Only tasks of this suite (task family)."""
    tag: str | None = None
    """Only tasks with this tag in their task.yaml."""
    tasks: Path | None = None
    """A folder to read tasks' `human_minutes` and tags from, by task name, instead of the folders the tasks were
    loaded from (e.g. when a suite has moved)."""
    need_minutes: bool = True
    """Leave out runs of tasks without human minutes (horizons need them; success rates do not)."""


def read_metr_runs(path: str | Path, *, score: str = "score_binarized") -> HorizonRuns:
    """Read runs in the format of METR's eval-analysis-public `runs.jsonl`.

    Each line is a JSON object with `task_id`, `task_family`, `alias`, `human_minutes` and the score column; METR's
    weight columns `invsqrt_task_weight` and `equal_task_weight` are used when every row has them (otherwise the
    weights are computed as METR's code does). Other fields are ignored.

    Args:
        path: The runs file.
        score: The success column: `score_binarized` (METR's headline) or `score_cont`.

    Returns:
        The runs.

    Raises:
        AnalysisError: one line naming the file, the line and the field: unreadable JSON, a missing field, a score
            outside [0, 1], human minutes that are not a positive number, a task with two lengths or families.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise AnalysisError(f"{path}: cannot read: {error}") from None
    columns: dict[str, list[Any]] = {name: [] for name in (*REQUIRED, score, *WEIGHT_COLUMNS.values())}
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise AnalysisError(f"{path}:{number}: not JSON: {error.msg}") from None
        if not isinstance(row, dict):
            raise AnalysisError(f"{path}:{number}: a row must be a JSON object, got {type(row).__name__}")
        for name in (*REQUIRED, score):
            if name not in row or row[name] is None:
                raise AnalysisError(f"{path}:{number}: missing field {name!r} (METR's runs.jsonl has it on every row)")
        for name in ("task_id", "task_family", "alias"):
            if not isinstance(row[name], str | int) or isinstance(row[name], bool):
                raise AnalysisError(f"{path}:{number}: field {name!r} must be a string, got {row[name]!r}")
            columns[name].append(str(row[name]))
        _number(row, "human_minutes", path, number, positive=True)
        value = _number(row, score, path, number)
        if not 0 <= value <= 1:
            raise AnalysisError(f"{path}:{number}: field {score!r} must be in [0, 1], got {value}")
        columns["human_minutes"].append(row["human_minutes"])
        columns[score].append(value)
        for column in WEIGHT_COLUMNS.values():
            columns[column].append(_number(row, column, path, number) if row.get(column) is not None else None)
        lines.append(number)
    if not lines:
        raise AnalysisError(f"{path}: no runs (expected one JSON object per line, in METR's runs.jsonl format)")
    weights = {}
    for name, column in WEIGHT_COLUMNS.items():
        given = columns[column]
        if all(v is not None for v in given):
            weights[name] = np.array(given, dtype=np.float64)
        elif any(v is not None for v in given):
            missing = lines[next(i for i, v in enumerate(given) if v is None)]
            raise AnalysisError(f"{path}:{missing}: missing field {column!r} (other rows have it: give it on all)")
    _check_tasks(columns, lines, path)
    return HorizonRuns(
        alias=columns["alias"],
        task_id=columns["task_id"],
        task_family=columns["task_family"],
        score=np.array(columns[score], dtype=np.float64),
        human_minutes=np.array(columns["human_minutes"], dtype=np.float64),
        weights=weights,
        source=str(path),
    )


def _number(row: dict[str, Any], name: str, path: Path, line: int, *, positive: bool = False) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnalysisError(f"{path}:{line}: field {name!r} must be a number, got {value!r}")
    if positive and value <= 0:
        raise AnalysisError(f"{path}:{line}: field {name!r} must be positive, got {value!r}")
    return float(value)


def _check_tasks(columns: dict[str, list[Any]], lines: list[int], path: Path) -> None:
    """A task has one family and one length: name the line that disagrees with the task's first."""
    seen: dict[str, tuple[str, float, int]] = {}
    for i, task in enumerate(columns["task_id"]):
        family, minutes = columns["task_family"][i], columns["human_minutes"][i]
        if task not in seen:
            seen[task] = (family, minutes, lines[i])
            continue
        first_family, first_minutes, first_line = seen[task]
        if family != first_family:
            raise AnalysisError(
                f"{path}:{lines[i]}: task {task!r} has task_family {family!r} but {first_family!r} at line "
                f"{first_line}; a task belongs to one family"
            )
        if minutes != first_minutes:
            raise AnalysisError(
                f"{path}:{lines[i]}: task {task!r} has human_minutes {minutes} but {first_minutes} at line "
                f"{first_line}; a task has one length"
            )


def read_release_dates(path: str | Path) -> dict[str, date]:
    """Release dates in METR's format: `date: {ALIAS: YYYY-MM-DD}`.

    Raises:
        AnalysisError: unreadable YAML, no `date` mapping, or a value that is not a date.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise AnalysisError(f"{path}: cannot read: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("date"), dict):
        raise AnalysisError(f"{path}: expected METR's format, a 'date' mapping: date: {{ALIAS: YYYY-MM-DD}}")
    dates = {}
    for alias, value in data["date"].items():
        if isinstance(value, datetime):
            value = value.date()
        elif isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                raise AnalysisError(f"{path}: date.{alias}: not a date (YYYY-MM-DD): {value!r}") from None
        if not isinstance(value, date):
            raise AnalysisError(f"{path}: date.{alias}: not a date (YYYY-MM-DD): {value!r}")
        dates[str(alias)] = value
    return dates


def store_runs(store: Store, selection: StoreSelection | None = None) -> tuple[HorizonRuns, list[str]]:
    """Runs from the store for horizons or success rates, with notes on what was left out.

    Taken: top-level runs (not subtasks, not forks) of native and METR tasks, and runs imported from METR's
    runs.jsonl, that are `done` with a score — success when the score is at least the threshold — or stopped
    `over_limit` (a failure: the run used up its budget). Runs still going, paused, failed with an error, or waiting
    for a person's score are left out, as are people's runs (agent `human`): they measure the task, not a model. A
    model that ran through more than one agent gets one alias per agent, `model (agent)`.

    A task's human minutes come from, in this order: its folder (`human_minutes` in its `task.yaml`, or in a METR
    family's `manifest.yaml`; see `proctor.tasks.declared_task`), the METR runs file its runs were imported from (the
    `human_minutes` kept in the run's config under `metr`), or people's runs of it: the geometric mean of the active
    time of the successful runs of the `human` agent (see `human_minutes_from_people`). With `need_minutes`, tasks
    without human minutes are left out and named in a note; a note also names the tasks timed by people.

    Returns:
        (runs, notes): the runs, and one line per exclusion.

    Raises:
        AnalysisError: no run is left.
    """
    selection = selection or StoreSelection()
    query = (
        select(
            s.runs.c.task_id,
            s.runs.c.model,
            s.runs.c.agent,
            s.runs.c.config,
            s.runs.c.status,
            s.runs.c.score,
            s.tasks.c.family,
            s.tasks.c.name,
            s.tasks.c.format,
            s.tasks.c.source,
            s.tasks.c.tags,
        )
        .join(s.tasks, s.tasks.c.id == s.runs.c.task_id)
        .where(s.runs.c.parent_run_id.is_(None), s.runs.c.forked_from_run_id.is_(None))
        .where(s.tasks.c.format.in_(["native", "metr", "metr_runs"]))
        .where(s.runs.c.status.in_([RunStatus.DONE.value, RunStatus.OVER_LIMIT.value]))
    )
    if selection.models:
        query = query.where(s.runs.c.model.in_(selection.models))
    if selection.suite:
        query = query.where(s.tasks.c.family == selection.suite)
    with store.engine.connect() as conn:
        rows = [row for row in conn.execute(query).all() if row.agent != HUMAN_AGENT]
        people = human_minutes_from_people(conn, {row.task_id for row in rows})
    notes: list[str] = []
    declared: dict[str, Any] = {}
    imported: dict[str, Counter[float]] = {}
    for row in rows:
        if row.task_id not in declared:
            declared[row.task_id] = _declared(row, selection.tasks)
        metr = row.config.get("metr") if isinstance(row.config, dict) else None
        value = metr.get("human_minutes") if isinstance(metr, dict) else None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
            imported.setdefault(row.task_id, Counter())[float(value)] += 1
    minutes: dict[str, float | None] = {}
    sources: dict[str, MinutesSource] = {}
    for task, info in declared.items():
        found, source = task_minutes(info.human_minutes, imported.get(task), people.get(task))
        minutes[task] = found
        if source is not None:
            sources[task] = source
    kept = []
    unscored = 0
    for row in rows:
        info = declared[row.task_id]
        if selection.tag and selection.tag not in info.tags:
            continue
        if selection.need_minutes and minutes[row.task_id] is None:
            continue
        if row.status == RunStatus.DONE.value and row.score is None:
            unscored += 1
            continue
        kept.append(row)
    problems = sorted({f"{task}: {info.problem}" for task, info in declared.items() if info.problem})
    notes += [f"could not read task {p}" for p in problems]
    timed = sorted(task for task, source in sources.items() if source == "people")
    if timed and selection.need_minutes:
        notes.append(
            f"human minutes of {len(timed)} tasks from people's runs (geometric mean of successful human runs' "
            f"active time): {_names(timed)}"
        )
    if selection.need_minutes:
        without = sorted(t for t, info in declared.items() if minutes[t] is None and not info.problem)
        if without:
            runs_left = sum(1 for row in rows if row.task_id in without)
            notes.append(
                f"left out {runs_left} runs of {len(without)} tasks without human_minutes: {_names(without)} "
                "(add `human_minutes:` to their task.yaml, or time a person's run of them)"
            )
    if unscored:
        notes.append(f"left out {unscored} done runs without a score")
    if not kept:
        raise AnalysisError(
            "no runs to report: the store has no finished runs of tasks with human_minutes matching the filters "
            "(run tasks whose task.yaml gives human_minutes, or check --model/--suite/--tag)"
        )
    agents: dict[str, set[str]] = {}
    for row in kept:
        agents.setdefault(row.model, set()).add(_agent(row))
    alias = [row.model if len(agents[row.model]) == 1 else f"{row.model} ({_agent(row)})" for row in kept]
    kept_minutes = [minutes[row.task_id] for row in kept]
    score = [
        1.0 if row.status == RunStatus.DONE.value and row.score >= selection.success_threshold else 0.0 for row in kept
    ]
    runs = HorizonRuns(
        alias=alias,
        task_id=[row.task_id for row in kept],
        task_family=[row.family for row in kept],
        score=np.array(score),
        human_minutes=np.array([math.nan if m is None else m for m in kept_minutes], dtype=np.float64),
        source=f"store {store.url}",
    )
    return runs, notes


def _declared(row: Any, tasks: Path | None) -> DeclaredTask:
    """What the task's folder declares; for runs imported from a METR runs file (no folder), the stored tags."""
    if row.format == "metr_runs":
        return DeclaredTask(tags=[str(t) for t in row.tags] if isinstance(row.tags, list) else [])
    source = Path(tasks) / row.name if tasks else Path(row.source)
    if tasks and row.format == "metr":
        source = Path(tasks) / row.family
    return declared_task(source, row.format, row.name)


def task_minutes(
    declared: float | None, imported: Counter[float] | None, people: float | None
) -> tuple[float | None, MinutesSource | None]:
    """A task's human minutes and where they came from: the task's folder, else the METR runs file its runs came
    from (the value most of them give), else people's runs; (None, None) when none has them."""
    if declared is not None:
        return declared, "task"
    if imported:
        return imported.most_common(1)[0][0], "metr"
    if people is not None:
        return people, "people"
    return None, None


def human_minutes_from_people(conn: Connection, task_ids: set[str] | None = None) -> dict[str, float]:
    """Per task, the geometric mean of the active minutes of people's successful runs of it: top-level runs of the
    `human` agent, `done` with a score of 1 and some active time (the clock ran). A person's run that failed or gave
    up says the task takes longer, not how long, so it is not averaged in.

    Args:
        conn: A connection to the store.
        task_ids: Only these tasks (default: every task with such a run).
    """
    r = s.runs.c
    query = select(r.task_id, r.active_seconds).where(
        r.agent == HUMAN_AGENT,
        r.parent_run_id.is_(None),
        r.status == RunStatus.DONE.value,
        r.score >= 1.0,
        r.active_seconds > 0,
    )
    logs: dict[str, list[float]] = {}
    for task_id, seconds in conn.execute(query):
        if task_ids is None or task_id in task_ids:
            logs.setdefault(task_id, []).append(math.log(float(seconds) / 60))
    return {task: math.exp(sum(values) / len(values)) for task, values in logs.items()}


def _agent(row: Any) -> str:
    if row.agent:
        return str(row.agent)
    return str(row.config.get("agent", "tags")) if isinstance(row.config, dict) else "tags"


def _names(items: Sequence[str], most: int = 5) -> str:
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")
