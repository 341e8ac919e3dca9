"""Write operations. Each takes an open connection, so a caller can group several in one transaction:
`store.write(ops.add_step, run_id, 0, "action")` or `await writer.write(...)`."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Update, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from proctor.store import _schema as s
from proctor.store._prepared import Prepared
from proctor.store._records import RunRecord, RunStatus, StepRecord

# Statements built once and run with parameters: compiled once, and run on the driver's cursor (see `Prepared`;
# building a statement costs more than running it, and the runner writes several per step). `_by_id` is the id a
# row is matched by.
_INSERT = {table.name: Prepared(insert(table)) for table in s.metadata.sorted_tables}
_BY_ID = update(s.runs).where(s.runs.c.id == bindparam("_by_id"))
_UPDATE_RUN = Prepared(_BY_ID)
_UPSERT_TASK = {
    name: Prepared(
        dialect_insert(s.tasks).on_conflict_do_update(
            index_elements=[s.tasks.c.id],
            set_={
                c.name: dialect_insert(s.tasks).excluded[c.name]
                for c in s.tasks.c
                if c.name not in ("id", "created_at")
            },
        )
    )
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}
_COUNT_STEP = Prepared(
    _BY_ID.values(steps_done=s.runs.c.steps_done + 1, active_seconds=bindparam("_active")).returning(
        s.runs.c.pause_requested
    )
)
_ADD_TOTALS = Prepared(
    _BY_ID.values(
        input_tokens=s.runs.c.input_tokens + bindparam("_input", type_=s.runs.c.input_tokens.type),
        output_tokens=s.runs.c.output_tokens + bindparam("_output", type_=s.runs.c.output_tokens.type),
        cost=s.runs.c.cost + bindparam("_cost", type_=s.runs.c.cost.type),
    )
)
_FINISH_RUN = Prepared(_BY_ID.returning(*s.runs.c))
_FINISH_RUN_BUT_CONFIG = Prepared(_BY_ID.returning(*(c for c in s.runs.c if c.name != "config")))


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def new_run_id() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex[:12]


def upsert_task(conn: Connection, /, row: dict[str, Any]) -> None:
    """Insert a task, or refresh its stored description (one statement)."""
    _UPSERT_TASK[conn.dialect.name].execute(conn, {**row, "created_at": now()})


def create_run(
    conn: Connection,
    /,
    *,
    task_id: str,
    model: str,
    config: dict[str, Any],
    status: RunStatus = RunStatus.QUEUED,
    run_id: str | None = None,
    created_at: datetime | None = None,
    **links: Any,
) -> str:
    """Create a run and return its id (`run_id`, or a fresh one). `links`: parent_run_id, parent_step_id,
    forked_from_*, workspace."""
    run_id = run_id or new_run_id()
    _INSERT["runs"].execute(
        conn,
        dict(
            id=run_id,
            task_id=task_id,
            model=model,
            config=config,
            agent=run_agent(config),
            status=status.value,
            steps_done=0,
            pause_requested=False,
            input_tokens=0,
            output_tokens=0,
            cost=0.0,
            active_seconds=0.0,
            created_at=created_at or now(),
            **links,
        ),
    )
    return run_id


def run_agent(config: dict[str, Any]) -> str | None:
    """A run's agent for its own column (reports group by it without parsing configs): the agent its config names;
    `tags` for an agent run stored before configs named one (its config, a `RunConfig`, has a chooser); none for
    runs of other kinds (oversight cases, cross-examination forks)."""
    if config.get("agent"):
        return str(config["agent"])
    return "tags" if "chooser" in config else None


def update_run(conn: Connection, /, run_id: str, **values: Any) -> None:
    """Set columns of a run; a final status also sets `finished_at`."""
    _UPDATE_RUN.execute(conn, {**_with_status(values), "_by_id": run_id})


def _with_status(values: dict[str, Any]) -> dict[str, Any]:
    """A run's new column values with its status, if among them, stored as its name; a final status also sets
    `finished_at`."""
    status = values.get("status")
    if status is None:
        return values
    values = {**values, "status": RunStatus(status).value}
    if RunStatus(status).final:
        values.setdefault("finished_at", now())
    return values


def add_event(conn: Connection, /, run_id: str, kind: str, detail: dict[str, Any]) -> int:
    """Record something that happened to a run (status change, stuck check, limit, …); returns the event's id."""
    return _INSERT["events"].insert(conn, {"run_id": run_id, "kind": kind, "detail": detail, "created_at": now()})


def set_status(conn: Connection, /, run_id: str, status: RunStatus, error: str | None = None, **values: Any) -> None:
    """Change a run's status (and other columns, `values`, in the same statement) and record it as an event."""
    update_run(conn, run_id, status=status, error=error, **values)
    add_event(conn, run_id, "status", {"status": status.value, "error": error})


def add_step(conn: Connection, /, run_id: str, index: int, kind: str, summary: str | None = None) -> int:
    """Start a step; returns its id."""
    row = {"run_id": run_id, "index": index, "kind": kind, "summary": summary, "created_at": now()}
    return _INSERT["steps"].insert(conn, row)


def add_option(conn: Connection, /, step_id: int, index: int, option: dict[str, Any]) -> int:
    """Store one option (keys: text, action, argument, parse_error, source); returns its id."""
    row = {**option, "step_id": step_id, "index": index, "created_at": now()}
    return _INSERT["options"].insert(conn, row)


def start_step(
    conn: Connection,
    /,
    run_id: str,
    index: int,
    kind: str,
    options: list[dict[str, Any]],
    summary: str | None = None,
    usages: list[dict[str, Any]] | None = None,
) -> tuple[int, list[int]]:
    """Start a step with its options in one go, and the usage of the calls that proposed them (see `add_usage`);
    returns the step id and the option ids."""
    step_id = add_step(conn, run_id, index, kind, summary)
    option_ids = [add_option(conn, step_id, i, option) for i, option in enumerate(options)]
    for usage in usages or ():
        add_usage(conn, run_id, step_id, usage)
    return step_id, option_ids


def write_step(
    conn: Connection,
    /,
    run_id: str,
    index: int,
    kind: str,
    options: list[dict[str, Any]],
    *,
    chosen: int,
    chooser: str,
    observation: dict[str, Any],
    usages: list[dict[str, Any]],
    ratings: list[tuple[int, dict[str, Any]]] | None = None,
) -> int:
    """A whole step at once — options, the usage of the calls that made and rated them, ratings (option index,
    rating), the choice (option index) and the observation — for loops that store a step when it is complete, such
    as the oversight protocols' turns. Returns the step id."""
    step_id, option_ids = start_step(conn, run_id, index, kind, options)
    for usage in usages:
        add_usage(conn, run_id, step_id, usage)
    for option, rating in ratings or []:
        add_rating(conn, option_ids[option], rating)
    add_choice(conn, step_id, option_ids[chosen], chooser)
    finish_step(conn, run_id, step_id, observation, 0.0)
    return step_id


def add_choice(conn: Connection, /, step_id: int, option_id: int, chooser: str) -> None:
    """Record which option was chosen and by whom."""
    row = {"step_id": step_id, "option_id": option_id, "chooser": chooser, "created_at": now()}
    _INSERT["choices"].execute(conn, row)


def human_choice(
    conn: Connection,
    /,
    step_id: int,
    user: str,
    *,
    option_id: int | None = None,
    option: dict[str, Any] | None = None,
) -> int:
    """A person's choice at a step: an existing option, or a new option they wrote (`option`: the stored
    columns, see `add_option`). Returns the chosen option's id."""
    if option is not None:
        count = conn.execute(select(func.count()).select_from(s.options).where(s.options.c.step_id == step_id))
        option_id = add_option(conn, step_id, int(count.scalar_one()), option)
    if option_id is None:
        raise ValueError("a choice needs an option id or a new option")
    add_choice(conn, step_id, option_id, f"human:{user}")
    return option_id


def intervene(conn: Connection, /, run_id: str, index: int, option: dict[str, Any], user: str) -> int:
    """A person's option for the next step of a paused run, chosen by them; the run continues from it when it is
    resumed. Returns the step id."""
    step_id, (option_id,) = start_step(conn, run_id, index, "action", [option])
    add_choice(conn, step_id, option_id, f"human:{user}")
    add_event(conn, run_id, "intervened", {"by": user, "step": index})
    return step_id


_WAITING = {"approval": RunStatus.WAITING_APPROVAL, "question": RunStatus.WAITING_ANSWER}
VERDICTS = ("approved", "edited", "rejected", "answered")
"""What a person may decide about a held action (`answered` for a question)."""


def hold(conn: Connection, /, run_id: str, step_id: int, fields: dict[str, Any]) -> int:
    """Hold an action of a step's chosen option for a person (keys: call, kind, action, tool, argument, rule,
    prior) and set the run waiting (`waiting_approval` or `waiting_answer`); returns the hold's id."""
    hold_id = _INSERT["holds"].insert(conn, {**fields, "step_id": step_id, "created_at": now()})
    set_status(conn, run_id, _WAITING[fields["kind"]])
    add_event(conn, run_id, "held", {"hold": hold_id, "kind": fields["kind"], "action": fields["action"]})
    return hold_id


def decide(
    conn: Connection,
    /,
    hold_id: int,
    verdict: str,
    by: str,
    *,
    edited: dict[str, Any] | None = None,
    text: str | None = None,
) -> bool:
    """A person's decision on a held action — `approved`, `edited` (with the new arguments), `rejected` (with an
    optional reason as `text`) — or their answer to a question (`answered`, the answer as `text`). Returns False,
    changing nothing, when the hold was decided already (someone was quicker)."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    values = {"verdict": verdict, "edited": edited, "text": text, "decided_by": by, "decided_at": now()}
    pending = (s.holds.c.id == hold_id) & s.holds.c.verdict.is_(None)
    if conn.execute(update(s.holds).where(pending).values(**values)).rowcount != 1:
        return False
    query = select(s.steps.c.run_id).join(s.holds, s.holds.c.step_id == s.steps.c.id).where(s.holds.c.id == hold_id)
    add_event(conn, conn.execute(query).scalar_one(), "decided", {"hold": hold_id, "verdict": verdict, "by": by})
    return True


def hold_ran(conn: Connection, /, hold_id: int, result: dict[str, Any]) -> None:
    """Keep the result of a held action that ran (approved or edited), so a resumed run does not run it again."""
    conn.execute(update(s.holds).where(s.holds.c.id == hold_id).values(result=result))


def add_rating(conn: Connection, /, option_id: int, rating: dict[str, Any]) -> int:
    """Rate an option (keys: rater, value, scale, method, comment). A rater has one current rating per option: a
    new one replaces their earlier one, which is kept as history (`replaced_at` set). Returns the rating's id."""
    stamp = now()
    mine = (s.ratings.c.option_id == option_id) & (s.ratings.c.rater == rating["rater"])
    conn.execute(update(s.ratings).where(mine, s.ratings.c.replaced_at.is_(None)).values(replaced_at=stamp))
    return _INSERT["ratings"].insert(conn, {**rating, "option_id": option_id, "created_at": stamp})


def add_tag(conn: Connection, /, step_id: int, name: str, author: str) -> None:
    """Tag a step."""
    conn.execute(insert(s.tags).values(step_id=step_id, name=name, author=author, created_at=now()))


def add_usage(conn: Connection, /, run_id: str, step_id: int | None, usage: dict[str, Any]) -> None:
    """Record one model call's usage (keys: model, role, input_tokens, output_tokens, cost, latency, attempts,
    error) and add it to the run's totals."""
    _INSERT["usage"].execute(conn, {**usage, "run_id": run_id, "step_id": step_id, "created_at": now()})
    add_to_totals(conn, run_id, usage.get("input_tokens", 0), usage.get("output_tokens", 0), usage.get("cost"))


def add_to_totals(conn: Connection, /, run_id: str, input_tokens: int, output_tokens: int, cost: float | None) -> None:
    """Add tokens and cost to a run's totals (a subtask's totals are added to its parent's)."""
    totals = {"_by_id": run_id, "_input": input_tokens, "_output": output_tokens, "_cost": cost or 0.0}
    _ADD_TOTALS.execute(conn, totals)


def finish_step(
    conn: Connection,
    /,
    run_id: str,
    step_id: int,
    observation: dict[str, Any],
    active: float,
    status: RunStatus | None = None,
) -> bool:
    """Store a step's observation and count the step in the run: the step is then complete. A
    submission's step gives the run's new `status`, set (with the submission, the observation's output) in the
    same statement that counts the step.

    Returns whether a person asked the run to pause (read in the same transaction: no extra trip)."""
    _INSERT["observations"].execute(conn, {**observation, "step_id": step_id, "created_at": now()})
    values: dict[str, Any] = {"_by_id": run_id, "_active": active}
    if status is not None:
        values |= _with_status({"status": status, "error": None, "submission": observation["output"]})
    pause_requested = _COUNT_STEP.one(conn, values)["pause_requested"]
    if status is not None:
        add_event(conn, run_id, "status", {"status": status.value, "error": None})
    return bool(pause_requested)


def request_pause(conn: Connection, /, run_id: str, by: str) -> None:
    """Ask a run to pause at its next step (a person wants to look, or to intervene)."""
    conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(pause_requested=True))
    add_event(conn, run_id, "pause_requested", {"by": by})


def pause(conn: Connection, /, run_id: str, reason: str) -> None:
    """Pause a run (it waits for `proctor resume` or a worker) and clear any pause request; a run someone asked to
    kill (`kill`) ends `killed` instead."""
    conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(pause_requested=False))
    if kill_requested(conn, run_id):
        set_status(conn, run_id, RunStatus.KILLED, "killed on request")
    else:
        set_status(conn, run_id, RunStatus.PAUSED, reason)


def queue_run(conn: Connection, /, run_id: str, by: str) -> None:
    """Mark a run to be driven (again) by the next free worker: a fork, a resumed or an intervened run."""
    set_status(conn, run_id, RunStatus.QUEUED)
    add_event(conn, run_id, "queued", {"by": by})


def _claim_where(statuses: tuple[RunStatus, ...]) -> Update:
    # One statement per set of statuses: `status IN (...)` with a list would be expanded anew on every call.
    wanted = or_(*(s.runs.c.status == status.value for status in statuses))
    return update(s.runs).where(s.runs.c.id == bindparam("_by_id"), wanted)


@functools.cache
def _claim_statement(statuses: tuple[RunStatus, ...]) -> Prepared:
    return Prepared(_claim_where(statuses))


@functools.cache
def _leased_claim_statement(statuses: tuple[RunStatus, ...]) -> Prepared:
    return Prepared(_claim_where(statuses).where(s.runs.c.lease_owner == bindparam("_owner")))


def claim(conn: Connection, /, run_id: str, statuses: tuple[RunStatus, ...], owner: str | None = None) -> bool:
    """Atomically take a run in one of `statuses` for driving (status `running`); False if it is not in one of
    them (someone else has it, or it is finished). With `owner`, only if that worker holds the run's lease (see
    `proctor.store.leases`); without, any lease on the run is dropped (its worker stops driving it)."""
    values = {"status": RunStatus.RUNNING.value, "error": None, "finished_at": None, "_by_id": run_id}
    statement = _claim_statement(statuses)
    if owner is not None:
        statement, values = _leased_claim_statement(statuses), values | {"_owner": owner}
    else:  # driven without a lease (`proctor run`, `resume`): a worker that had leased it loses it, and stops
        values |= {"lease_owner": None, "lease_expires": None}
    if statement.execute(conn, values) != 1:
        return False
    add_event(conn, run_id, "status", {"status": RunStatus.RUNNING.value, "error": None})
    return True


def end_if(conn: Connection, /, run_id: str, statuses: tuple[RunStatus, ...], status: RunStatus, error: str) -> bool:
    """Atomically end a run that is in one of `statuses` (say, a queued run its command gave up on before it
    started) with `status` and the reason; False, and nothing changed, if it is not in one of them."""
    values = _with_status({"status": status, "error": error}) | {"_by_id": run_id}
    if _claim_statement(statuses).execute(conn, values) != 1:
        return False
    add_event(conn, run_id, "status", {"status": status.value, "error": error})
    return True


DRIVEN = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.WAITING_HUMAN,
    RunStatus.WAITING_APPROVAL,
    RunStatus.WAITING_ANSWER,
)
"""Runs a runner has (or a worker takes up): queued, running, waiting for a person."""


def abort(conn: Connection, /, run_id: str, status: RunStatus, error: str) -> bool:
    """End a run its driver gave up on (cancelled, or a fault) with `status` and the reason, unless it has already
    ended: a run stored done, paused or over a limit keeps what it was; False, and nothing changed, then."""
    return end_if(conn, run_id, (*DRIVEN, RunStatus.SCORING), status, error)


def finish_run(
    conn: Connection, /, run_id: str, status: RunStatus, *, stored_config: dict[str, Any] | None = None, **values: Any
) -> RunRecord:
    """Set a run's status (see `set_status`) and return the run as now stored, in the same statement.
    `stored_config`: the run's config as stored, when the caller has it (its runner does: nothing changes a run's
    config while it is driven); the row is then read back without it, which saves decoding it again."""
    values = _with_status({**values, "status": status, "error": values.get("error")})
    if stored_config is None:
        row = _FINISH_RUN.one(conn, {**values, "_by_id": run_id})
    else:
        row = _FINISH_RUN_BUT_CONFIG.one(conn, {**values, "_by_id": run_id}) | {"config": stored_config}
    add_event(conn, run_id, "status", {"status": status.value, "error": values["error"]})
    return RunRecord.model_validate(row)


def copy_step(conn: Connection, /, run_id: str, step: StepRecord) -> None:
    """Copy a completed step (options, choice, observation) into another run at the same index."""
    options = [o.model_dump(include={"text", "action", "argument", "parse_error", "source"}) for o in step.options]
    step_id, option_ids = start_step(conn, run_id, step.index, step.kind, options, step.summary)
    chosen = next((i for o, i in zip(step.options, option_ids, strict=True) if o.id == step.chosen_option_id), None)
    if chosen is not None and step.chooser is not None:
        add_choice(conn, step_id, chosen, step.chooser)
    for held in step.holds:
        row = held.model_dump(exclude={"id", "step_id", "subject", "replacement"})
        _INSERT["holds"].execute(conn, {**row, "step_id": step_id})
    if step.observation is not None:
        finish_step(conn, run_id, step_id, step.observation.model_dump(), 0.0)


KILLABLE = (
    RunStatus.QUEUED,
    RunStatus.PAUSED,
    RunStatus.OVER_LIMIT,
    RunStatus.WAITING_HUMAN,
    RunStatus.WAITING_APPROVAL,
    RunStatus.WAITING_ANSWER,
)
"""The statuses a run is killed in at once; a `running` run is asked to stop after its current step."""


def kill(conn: Connection, /, run_id: str, by: str) -> bool:
    """Kill a run: one that is queued, paused, over a limit or waiting for a person ends `killed` now (a runner
    waiting on it stops waiting); a running one is asked to, and its runner ends it `killed` after the current step.
    Returns whether it ended now. A killed run can be resumed."""
    add_event(conn, run_id, "kill_requested", {"by": by})
    if end_if(conn, run_id, KILLABLE, RunStatus.KILLED, f"killed by {by}"):
        return True
    conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(pause_requested=True))
    return False


def kill_requested(conn: Connection, /, run_id: str) -> bool:
    """Whether the run's latest stop request (pause or kill) asks it to be killed."""
    kind = conn.execute(
        select(s.events.c.kind)
        .where(s.events.c.run_id == run_id, s.events.c.kind.in_(("kill_requested", "pause_requested", "queued")))
        .order_by(s.events.c.id.desc())
        .limit(1)
    ).scalar()
    return kind == "kill_requested"


def requeue(conn: Connection, /, run_id: str, statuses: tuple[RunStatus, ...], by: str) -> bool:
    """Queue a run in one of `statuses` for the next free worker, which resumes it from its last completed step
    (see `runner.resume`); False, and nothing changed, if it is in none of them."""
    values = {"status": RunStatus.QUEUED.value, "error": None, "finished_at": None, "_by_id": run_id}
    if _claim_statement(statuses).execute(conn, values) != 1:
        return False
    conn.execute(update(s.runs).where(s.runs.c.id == run_id).values(pause_requested=False))
    add_event(conn, run_id, "queued", {"by": by, "resumed": True})
    return True


def manual_score(conn: Connection, /, run_id: str, score: float, by: str, comment: str | None = None) -> bool:
    """Score a run that needs a person's score: it becomes `done` with `score`; who scored it, when and why are
    kept as a `manual_score` event. False, and nothing changed, if the run does not need a manual score."""
    values = {"status": RunStatus.DONE.value, "score": score, "error": None, "_by_id": run_id}
    if _claim_statement((RunStatus.NEEDS_MANUAL_SCORE,)).execute(conn, values) != 1:
        return False
    add_event(conn, run_id, "manual_score", {"by": by, "score": score, "comment": comment})
    add_event(conn, run_id, "status", {"status": RunStatus.DONE.value, "error": None})
    return True
