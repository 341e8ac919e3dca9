"""Runs in the format of METR's `runs.jsonl` (github.com/METR/eval-analysis-public), so METR's own time-horizon
pipeline reads proctor's results.

One line per finished top-level run of a task with known human minutes. The weights are computed as METR's
`compute_task_weights.py` computes them, per alias: a run weighs 1 / (the alias's runs of its task)
(`equal_task_weight`), times 1 / √(the alias's tasks in the task's family) for `invsqrt_task_weight`; each is then
normalised to sum to 1 over the alias's runs, which METR's logistic fit asserts. Times are milliseconds since the
epoch, as METR's code reads them (`(completed_at - started_at) / 60000` minutes).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from proctor.store import _schema as s
from proctor.store._export import _chunks, utc
from proctor.store._records import RunRecord, RunStatus
from proctor.store._store import Store

AliasBy = Literal["model-agent", "model"]
"""How a run's `alias` (METR's name for the agent being measured) is made: `model (agent)`, or the model alone."""
SOLVED = 1.0
"""`score_binarized` is 1 when the score is at least this (a run that solved its task)."""


class MetrRun(BaseModel):
    """One line of METR's runs.jsonl."""

    task_id: str
    """The task, `family/name`."""
    task_family: str
    """Its family: METR's weighting and bootstrap group tasks by it."""
    run_id: str
    """The proctor run id."""
    alias: str
    """The agent measured: `model (agent)` by default, or the model alone."""
    model: str
    """The agent's model, `provider/model`."""
    scaffold: str
    """The agent (scaffold) the model worked through: `tags`, `react`, …"""
    score_binarized: int
    """1 if the run solved the task (score at least 1), else 0."""
    score_cont: float
    """The score in [0, 1]; 0 for a run stopped over a limit."""
    fatal_error_from: str | None = None
    """Always null: runs that failed for reasons other than the agent's are left out, not exported."""
    human_minutes: float
    """How long a person takes for the task: its `human_minutes`."""
    human_score: float | None = None
    """Not known to proctor: null."""
    human_source: str
    """Where `human_minutes` came from: `task` (the stored task) or `task.yaml` (its folder)."""
    task_source: str
    """The suite: the name of the folder holding the task's folder (the family for others)."""
    generation_cost: float
    """US dollars over all priced calls, subtasks included."""
    human_cost: float | None = None
    """Not known to proctor: null."""
    tokens_count: int
    """Prompt and generated tokens over all calls, subtasks included."""
    action_count: int
    """Completed action steps, not counting the submission (as METR counts actions)."""
    time_limit: float | None = None
    """The run's wall-time limit in seconds (`RunConfig.limits.seconds`), null if none."""
    started_at: int
    """When the run started running (or was created, if that is unknown), milliseconds since the epoch."""
    completed_at: int | None
    """When it finished, milliseconds since the epoch."""
    task_version: str | None = None
    """Not known to proctor: null."""
    equal_task_weight: float = Field(ge=0.0)
    """1 / (the alias's runs of this task), normalised to sum to 1 over the alias's runs."""
    invsqrt_task_weight: float = Field(ge=0.0)
    """`equal_task_weight` × 1 / √(the alias's tasks in this family), normalised to sum to 1 over the alias's
    runs."""


class MetrExport(BaseModel):
    """The runs in METR's format, and what was left out."""

    runs: list[MetrRun]
    """The exported lines."""
    left_out: list[str] = Field(default_factory=list)
    """One line per reason runs were left out, with how many."""


def metr_runs(store: Store, records: list[RunRecord], *, alias: AliasBy = "model-agent") -> MetrExport:
    """The runs as lines of METR's runs.jsonl, with METR's weights computed over the lines exported.

    Left out (and counted in `left_out`): subtask runs, oversight runs (judged questions), runs that are not
    finished or failed for reasons other than the agent (`done` with a score, and `over_limit` as a failure, are
    exported), and runs of tasks without `human_minutes`.
    """
    left: Counter[str] = Counter()
    kept: list[RunRecord] = []
    for record in records:
        if record.parent_run_id is not None:
            left["subtask runs (their parent run is the attempt at the task)"] += 1
        elif "experiment" in record.config:
            left["oversight runs (judged questions, not agent tasks)"] += 1
        elif _score(record) is None:
            state = "done without a score" if record.status is RunStatus.DONE else record.status.value
            left[f"runs {state} (only runs done with a score, or stopped over a limit, are attempts)"] += 1
        else:
            kept.append(record)
    tasks = _tasks(store, sorted({r.task_id for r in kept}))
    missing = sorted(t for t, row in tasks.items() if row["minutes"] is None)
    if missing:
        runs = sum(1 for r in kept if r.task_id in missing)
        shown = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
        left[f"runs of {len(missing)} tasks without human_minutes ({shown}): add `human_minutes:` to task.yaml"] += runs
        kept = [r for r in kept if r.task_id not in missing]
    ids = [r.id for r in kept]
    started, actions = _started(store, ids), _actions(store, ids)
    lines = [_line(r, tasks[r.task_id], alias, started.get(r.id), actions.get(r.id, 0)) for r in kept]
    _weigh(lines)
    return MetrExport(runs=[MetrRun.model_validate(line) for line in lines], left_out=_reasons(left))


def _score(record: RunRecord) -> float | None:
    if record.status is RunStatus.DONE and record.score is not None:
        return float(record.score)
    return 0.0 if record.status is RunStatus.OVER_LIMIT else None


def _line(record: RunRecord, task: dict[str, Any], alias: AliasBy, started: Any, actions: int) -> dict[str, Any]:
    score = _score(record) or 0.0
    agent = str(record.config.get("agent", "tags"))
    limit = (record.config.get("limits") or {}).get("seconds")
    return {
        "task_id": record.task_id,
        "task_family": task["family"],
        "run_id": record.id,
        "alias": record.model if alias == "model" else f"{record.model} ({agent})",
        "model": record.model,
        "scaffold": agent,
        "score_binarized": int(score >= SOLVED),
        "score_cont": score,
        "human_minutes": task["minutes"],
        "human_source": task["minutes_source"],
        "task_source": task["suite"],
        "generation_cost": record.cost,
        "tokens_count": record.input_tokens + record.output_tokens,
        "action_count": actions,
        "time_limit": None if limit is None else float(limit),
        "started_at": _ms(started or record.created_at),
        "completed_at": None if record.finished_at is None else _ms(record.finished_at),
        "equal_task_weight": 0.0,
        "invsqrt_task_weight": 0.0,
    }


def _weigh(lines: list[dict[str, Any]]) -> None:
    """METR's weights, per alias (see the module's docstring)."""
    by_alias: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        by_alias[line["alias"]].append(line)
    for group in by_alias.values():
        runs_of_task = Counter(line["task_id"] for line in group)
        family_of_task = {line["task_id"]: line["task_family"] for line in group}
        tasks_in_family = Counter(family_of_task.values())
        equal = [1 / runs_of_task[line["task_id"]] for line in group]
        invsqrt = [w / math.sqrt(tasks_in_family[line["task_family"]]) for w, line in zip(equal, group, strict=True)]
        for line, e, i in zip(group, equal, invsqrt, strict=True):
            line["equal_task_weight"] = e / sum(equal)
            line["invsqrt_task_weight"] = i / sum(invsqrt)


def _tasks(store: Store, task_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Per task: its family, suite and human minutes (with where they came from)."""
    found = {}
    for task_id in task_ids:
        row = store.task(task_id)
        minutes, source = human_minutes(row)
        folder = Path(str(row["source"]))
        suite = folder.parent.name if folder.is_absolute() and folder.parent.name else str(row["family"])
        found[task_id] = {"family": row["family"], "suite": suite, "minutes": minutes, "minutes_source": source}
    return found


def human_minutes(task: dict[str, Any]) -> tuple[float | None, str | None]:
    """How long a person takes for a stored task, and where that came from: the task row's `human_minutes` (once
    the store records it), else the `human_minutes` key of the `task.yaml` in its folder; (None, None) if neither
    has a positive number."""
    value = task.get("human_minutes")
    if _minutes(value) is not None:
        return _minutes(value), "task"
    spec = Path(str(task.get("source", ""))) / "task.yaml"
    try:
        data = yaml.safe_load(spec.read_text()) if spec.is_file() else None
    except (OSError, yaml.YAMLError):
        data = None
    value = data.get("human_minutes") if isinstance(data, dict) else None
    return (_minutes(value), "task.yaml") if _minutes(value) is not None else (None, None)


def _minutes(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def _started(store: Store, run_ids: list[str]) -> dict[str, Any]:
    """When each run first went `running`."""
    status = s.events.c.detail["status"].as_string()
    found: dict[str, Any] = {}
    with store.engine.connect() as conn:
        for chunk in _chunks(run_ids):
            query = (
                select(s.events.c.run_id, func.min(s.events.c.created_at).label("at"))
                .where(s.events.c.run_id.in_(chunk), s.events.c.kind == "status", status == RunStatus.RUNNING.value)
                .group_by(s.events.c.run_id)
            )
            found |= {r.run_id: r.at for r in conn.execute(query)}
    return found


def _actions(store: Store, run_ids: list[str]) -> dict[str, int]:
    """Completed action steps of each run that are not the submission."""
    found: dict[str, int] = {}
    with store.engine.connect() as conn:
        for chunk in _chunks(run_ids):
            query = (
                select(s.steps.c.run_id, func.count().label("n"))
                .join(s.observations, s.observations.c.step_id == s.steps.c.id)
                .where(s.steps.c.run_id.in_(chunk), s.steps.c.kind == "action", s.observations.c.kind != "submit")
                .group_by(s.steps.c.run_id)
            )
            found |= {r.run_id: int(r.n) for r in conn.execute(query)}
    return found


def _ms(value: Any) -> int:
    return round(utc(value).timestamp() * 1000)


def _reasons(left: Counter[str]) -> list[str]:
    return [f"left out {n} {reason}" for reason, n in left.items()]
