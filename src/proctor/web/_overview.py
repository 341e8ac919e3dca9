"""Reads behind a run page of any size: the map as bands of similar steps, the window of steps around a place,
the subtasks a window delegated, the path up to the root run, and the messages the model saw at a step.

Every read here is an indexed range query on one run (steps by `(run_id, index)`, the rest by step id); nothing
loads a whole tree."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, and_, case, func, or_, select

from proctor.agents import AgentRun, get_agent, rebuild
from proctor.agents._actions import INTERNET_REFUSED, SCORE_HELP
from proctor.models import Message
from proctor.runner import RunConfig
from proctor.store import RunRecord, StepRecord
from proctor.store import _schema as s
from proctor.web import _queries as q

MAP_BANDS = 240
"""Most bands the map shows; a longer run's bands each cover an equal share of its steps."""
MARKS = ("failed", "forked", "human", "stuck", "subtask", "waiting")
"""What a band counts besides its steps, each shown as a mark on the map."""


class MapBand(BaseModel):
    """Steps `start` ≤ index < `stop` of a run, shown as one band of the map."""

    start: int
    """The first step's index."""
    stop: int
    """One past the last step's index."""
    outcome: str
    """The steps' most common outcome: the chosen action (bash, calls, …), or stuck, restart, waiting, unparsed."""
    outcomes: dict[str, int] = Field(default_factory=dict)
    """How many steps had each outcome."""
    failed: int = 0
    """Steps whose action failed (a non-zero exit, an error observation, a failed call)."""
    forked: int = 0
    """Steps some run forks from."""
    human: int = 0
    """Steps a person chose (or wrote) the option of."""
    stuck: int = 0
    """Stuck checks and restarts."""
    subtask: int = 0
    """Steps that delegated a subtask."""
    waiting: int = 0
    """Steps waiting for a choice."""
    subtasks: list[str] = Field(default_factory=list)
    """The subtask runs delegated in these steps (at most a few; `subtask` counts them all)."""

    @property
    def count(self) -> int:
        """How many steps the band covers."""
        return self.stop - self.start

    def add(self, other: MapBand) -> None:
        """Widen this band over `other`, which follows it."""
        self.stop = other.stop
        for outcome, n in other.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + n
        for mark in MARKS:
            setattr(self, mark, getattr(self, mark) + getattr(other, mark))
        self.subtasks.extend(other.subtasks[: max(0, 3 - len(self.subtasks))])
        self.outcome = max(self.outcomes, key=lambda o: self.outcomes[o])


ROW_STEPS = 2000
"""Up to this many steps, the map is built from each step (alike neighbours collapse); past it, from equal shares
of the run counted in SQL."""


def map_bands(conn: Connection, run_id: str) -> list[MapBand]:
    """The map of a run: consecutive alike steps collapsed into one band, and at most `MAP_BANDS` bands (a longer
    run's bands cover equal shares of it, counting what they hold). One grouped query over the run's steps."""
    total = q.step_count(conn, run_id)
    if total == 0:
        return []
    width = 1 if total <= ROW_STEPS else -(-total // MAP_BANDS)  # ceil: equal shares of the run
    forked = set(conn.execute(select(s.runs.c.forked_from_step).where(s.runs.c.forked_from_run_id == run_id)).scalars())
    outcome = case(
        (s.steps.c.kind == "stuck_check", "stuck"),
        (s.steps.c.kind == "restart", "restart"),
        (s.choices.c.chooser.is_(None), "waiting"),
        else_=func.coalesce(s.options.c.action, "unparsed"),
    )
    failed = case(
        (
            or_(
                s.observations.c.failed.is_(True),
                and_(s.observations.c.exit_code.is_not(None), s.observations.c.exit_code != 0),
                s.observations.c.kind == "error",
            ),
            1,
        ),
        else_=0,
    )
    human = case((s.choices.c.chooser.startswith("human:"), 1), else_=0)
    stuck = case((s.steps.c.kind.in_(("stuck_check", "restart")), 1), else_=0)
    bucket = (s.steps.c.index - s.steps.c.index % width) if width > 1 else s.steps.c.index
    query = (
        select(
            bucket.label("bucket"),
            outcome.label("outcome"),
            func.count().label("n"),
            func.min(s.steps.c.index),
            func.max(s.steps.c.index),
            func.sum(failed),
            func.sum(human),
            func.sum(stuck),
            func.count(s.observations.c.child_run_id),
            func.max(s.observations.c.child_run_id),
        )
        .select_from(s.steps)
        .outerjoin(s.choices, s.choices.c.step_id == s.steps.c.id)
        .outerjoin(s.options, s.options.c.id == s.choices.c.option_id)
        .outerjoin(s.observations, s.observations.c.step_id == s.steps.c.id)
        .where(s.steps.c.run_id == run_id)
        .group_by(bucket, outcome)
        .order_by(bucket)
    )
    bands: list[MapBand] = []
    for _, name, n, first, last, n_failed, n_human, n_stuck, n_sub, child in conn.execute(query):
        band = MapBand(
            start=first,
            stop=last + 1,
            outcome=name,
            outcomes={name: n},
            failed=n_failed or 0,
            forked=sum(1 for f in forked if first <= f <= last),
            human=n_human or 0,
            stuck=n_stuck or 0,
            subtask=n_sub,
            waiting=n if name == "waiting" else 0,
            subtasks=[child] if child else [],
        )
        if bands and width > 1 and bands[-1].start // width == first // width:  # another outcome, same share
            span = min(bands[-1].start, first), max(bands[-1].stop, last + 1)
            bands[-1].add(band)
            bands[-1].start, bands[-1].stop = span
        elif bands and width == 1 and bands[-1].outcome == name and bands[-1].stop == first and _plain(bands[-1], band):
            bands[-1].add(band)
        else:
            bands.append(band)
    if len(bands) <= MAP_BANDS:
        return bands
    share = -(-total // MAP_BANDS)
    merged: list[MapBand] = []
    for band in bands:
        if merged and merged[-1].start // share == band.start // share:
            merged[-1].add(band)
        else:
            merged.append(band.model_copy(deep=True))
    return merged


def _plain(last: MapBand, band: MapBand) -> bool:
    """Whether `band` (one step) may join `last`: neither holds a mark (marked steps stay cells of their own)."""
    return not any(getattr(last, m) or getattr(band, m) for m in MARKS)


def window_bounds(total: int, at: int | None, size: int) -> tuple[int, int]:
    """The window of `size` steps to show first: the last steps, or those around step `at`."""
    if at is None:
        return max(0, total - size), total
    at = max(0, min(at, max(0, total - 1)))
    start = max(0, min(at - size // 4, total - size))
    return start, min(total, start + size)


def subtask_runs(conn: Connection, steps: list[StepRecord]) -> dict[str, RunRecord]:
    """The subtask runs the steps delegated, by id (their own steps are loaded when the page unfolds them)."""
    ids = [st.observation.child_run_id for st in steps if st.observation and st.observation.child_run_id]
    if not ids:
        return {}
    rows = conn.execute(select(s.runs).where(s.runs.c.id.in_(ids)))
    return {r.id: RunRecord.model_validate(r._asdict()) for r in rows}


class Crumb(BaseModel):
    """One run on the path from the root run down to a subtask."""

    run_id: str
    """The run."""
    task_id: str
    """Its task."""
    step: int | None
    """The step of it that delegated the next run down (None for the run itself)."""


def breadcrumb(conn: Connection, run: RunRecord) -> list[Crumb]:
    """The runs above a subtask, root first, each with the step that delegated the one below."""
    path: list[Crumb] = []
    parent, step_id = run.parent_run_id, run.parent_step_id
    while parent is not None and len(path) < 50:
        row = conn.execute(
            select(s.runs.c.task_id, s.runs.c.parent_run_id, s.runs.c.parent_step_id).where(s.runs.c.id == parent)
        ).first()
        if row is None:
            break
        index = None
        if step_id is not None:
            index = conn.execute(select(s.steps.c.index).where(s.steps.c.id == step_id)).scalar()
        path.append(Crumb(run_id=parent, task_id=row.task_id, step=index))
        parent, step_id = row.parent_run_id, row.parent_step_id
    return path[::-1]


def instructions_of(run: RunRecord, task: dict[str, Any], scoring: bool = False) -> str:
    """What the run's agent was told: a subtask's own instructions, else the task's with the runner's notes
    (intermediate scoring when `scoring`, refused internet access)."""
    config = run.config
    if config.get("subtask"):
        return str(config["subtask"])
    notes = [str(task.get("instructions") or "")]
    if scoring:
        notes.append(SCORE_HELP)
    if "full_internet" in (task.get("permissions") or []) and not config.get("allow_internet", False):
        notes.append(INTERNET_REFUSED)
    return "\n\n".join(notes)


def messages_at(conn: Connection, run: RunRecord, task: dict[str, Any], index: int) -> list[Message]:
    """The conversation the model was sent at step `index`: the agent's own rebuild (as a resumed run does) of
    the steps before it, from the last restart or summary on (the conversation starts over there)."""
    config = RunConfig.model_validate(run.config)
    agent = get_agent(config.agent, **config.agent_options)
    scoring = conn.execute(
        select(s.events.c.id).where(s.events.c.run_id == run.id, s.events.c.kind == "intermediate_score")
    ).first()
    agent_run = AgentRun(
        instructions=instructions_of(run, task, scoring is not None),
        options=config.options,
        generate=config.generate,
        observation_chars=config.observation_chars,
        delegation=config.max_delegation_depth > 0,
        ask_human=config.ask_human,
        intermediate_scoring=scoring is not None,
    )
    restart = and_(s.steps.c.kind.in_(("restart", "compaction")), s.steps.c.summary.is_not(None))
    since = conn.execute(
        select(s.steps.c.index)
        .where(s.steps.c.run_id == run.id, s.steps.c.index < index, or_(restart))
        .order_by(s.steps.c.index.desc())
        .limit(1)
    ).scalar()
    return rebuild(agent, agent_run, _streamed(conn, run.id, since or 0, index))


class Conversations:
    """The last few conversations rebuilt, so "show earlier" pages do not rebuild one again: each is kept under
    the run's live version (which changes with any new step, choice or event) and the task's instructions, so a
    changed run or task is rebuilt, never served stale."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self.kept: OrderedDict[tuple[str, ...], list[Message]] = OrderedDict()
        self.lock = threading.Lock()

    def at(self, conn: Connection, run: RunRecord, task: dict[str, Any], index: int) -> list[Message]:
        """`messages_at(conn, run, task, index)`, rebuilt once per version of the run."""
        permissions = ",".join(task.get("permissions") or [])
        key = (run.id, str(index), q.live_version(conn, run.id), str(task.get("instructions")), permissions)
        with self.lock:
            if key in self.kept:
                self.kept.move_to_end(key)
                return self.kept[key]
        messages = messages_at(conn, run, task, index)
        with self.lock:
            self.kept[key] = messages
            while len(self.kept) > self.size:
                self.kept.popitem(last=False)
        return messages


REBUILD_WINDOW = 1000
"""Steps read from the store at a time to rebuild a conversation: memory stays bounded at any run length."""


def _streamed(conn: Connection, run_id: str, start: int, stop: int) -> Iterator[StepRecord]:
    """Steps `start` ≤ index < `stop`, in order, fetched a window at a time with only what `rebuild` reads."""
    for begin in range(start, stop, REBUILD_WINDOW):
        yield from q.conversation_steps(conn, run_id, begin, min(begin + REBUILD_WINDOW, stop))
