"""The `human` agent: a person does the task in the browser, on the clock.

Each step's one option is the person's next request — a command, a file listing, a file to read, intermediate
scoring, a submission — written by the web interface as a `human_request` event and picked up here, so the step
loop, the store, the sandbox and scoring are those of any run. The person's clock (start, pause, resume, stop) is
stored as `clock` events; time while it is not running is not the run's active time, so `active_seconds` is the
person's working time. Stopping the clock without submitting ends the attempt with an empty submission.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from proctor.agents._base import AgentRun, Proposal, Proposer, agent
from proctor.agents._context import show_observation
from proctor.models import Message
from proctor.store import ObservationRecord, OptionRecord, RunStatus, ops

REQUEST = "human_request"
"""Event kind: a person's next action, `{"by", "kind", "value"}` (see `request_detail`)."""
CLOCK = "clock"
"""Event kind: the person's clock, `{"by", "state"}` with state start, pause, resume or stop."""
NOTE = "note"
"""Event kind: a person's note on the run, `{"by", "text", "step"}`."""
READY = "human_agent"
"""Event kind: the human agent waits for the person, `{"intermediate_scoring"}` (what the task offers)."""

LIST_COMMAND = "find . -mindepth 1 -type f -printf '%P\\n' 2>/dev/null | LC_ALL=C sort | head -n 2000"
"""The command a file listing runs in the sandbox: the workspace's files, one relative path a line."""

RequestKind = Literal["bash", "files", "read", "score", "submit"]
REQUEST_KINDS: tuple[str, ...] = ("bash", "files", "read", "score", "submit")
ClockState = Literal["not started", "running", "paused", "stopped"]
_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("not started",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "stop": (("running", "paused"), "stopped"),
}
"""Each move of the clock: the states it can be made from, and the state it leaves."""


class RequestError(ValueError):
    """A person's request that cannot become a step; the message says what to send."""


def request_detail(kind: str, value: str, by: str) -> dict[str, Any]:
    """The detail of a `human_request` event: `kind` (bash, files, read, score, submit) with its `value` (the
    command, the path, the answer; nothing for files and score), by the person `by`.

    Raises:
        RequestError: an unknown kind, or a command or path that is empty.
    """
    if kind not in REQUEST_KINDS:
        raise RequestError(f"unknown request {kind!r}: send one of {', '.join(REQUEST_KINDS)}")
    if kind in ("bash", "read") and not value.strip():
        raise RequestError("write a command to run" if kind == "bash" else "give the path of the file to read")
    return {"by": by, "kind": kind, "value": value if kind in ("bash", "read", "submit") else ""}


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes: the store writes UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Clock(BaseModel):
    """A person's clock on a run, from its `clock` events."""

    state: ClockState
    """not started, running, paused or stopped."""
    by: str | None
    """Who started it: the person doing the run."""
    active_seconds: float
    """Seconds it has run, up to the moment it was read."""
    intervals: list[tuple[datetime, datetime | None]]
    """When it ran: (start or resume, pause or stop; None while running)."""

    def allows(self, move: str) -> bool:
        """Whether `move` (start, pause, resume, stop) can be made now."""
        return move in _MOVES and self.state in _MOVES[move][0]

    def running_between(self, since: datetime, until: datetime) -> float:
        """Seconds it ran between `since` and `until`."""
        total = 0.0
        for start, end in self.intervals:
            low, high = max(start, since), min(end or until, until)
            total += max(0.0, (high - low).total_seconds())
        return total


def clock_of(events: Sequence[dict[str, Any]], now: datetime | None = None) -> Clock:
    """The clock as a run's events (in order) leave it, read at `now` (default: the current time)."""
    now = _utc(now or datetime.now(UTC))
    state: str = "not started"
    by: str | None = None
    intervals: list[tuple[datetime, datetime | None]] = []
    for event in events:
        move = event["detail"].get("state") if event["kind"] == CLOCK else None
        if move not in _MOVES or state not in _MOVES[move][0]:
            continue
        at = _utc(event["created_at"])
        if move in ("start", "resume"):
            intervals.append((at, None))
        elif state == "running":
            intervals[-1] = (intervals[-1][0], at)
        by = by or event["detail"].get("by")
        state = _MOVES[move][1]
    clock = Clock(state=state, by=by, active_seconds=0.0, intervals=intervals)  # type: ignore[arg-type]
    since = intervals[0][0] if intervals else now
    return clock.model_copy(update={"active_seconds": clock.running_between(since, now)})


def gave_up(event: dict[str, Any]) -> bool:
    """Whether `event` is the clock stopped without a submission (the web stops it with one, too)."""
    detail = event["detail"]
    return event["kind"] == CLOCK and detail.get("state") == "stop" and not detail.get("submitted")


def proposal_of(event: dict[str, Any]) -> Proposal:
    """A person's request (or their clock stopped without a submission) as the step's one option."""
    detail, request = event["detail"], event["id"]
    source = f"human:{detail.get('by') or 'unknown'}"
    if event["kind"] == CLOCK:
        argument = {"answer": "", "gave_up": True, "request": request}
        return Proposal(text="stopped the clock without submitting", action="submit", argument=argument, source=source)
    kind, value = detail["kind"], detail.get("value", "")
    if kind == "bash":
        return Proposal(text=value, action="bash", argument={"command": value, "request": request}, source=source)
    if kind == "files":
        argument = {"command": LIST_COMMAND, "view": "files", "request": request}
        return Proposal(text="list the files", action="bash", argument=argument, source=source)
    if kind == "read":
        return Proposal(
            text=f"read {value}", action="read", argument={"path": value, "request": request}, source=source
        )
    if kind == "score":
        return Proposal(text="score my work so far", action="score", argument={"request": request}, source=source)
    answer = value.strip()
    return Proposal(text=answer, action="submit", argument={"answer": answer, "request": request}, source=source)


def _now() -> datetime:
    return datetime.now(UTC)


@agent("human")
class HumanAgent:
    """A person does the task in the browser, on a clock: commands, files, notes, scoring, submission."""

    chooser: ClassVar[dict[str, Any]] = {"name": "author"}
    """Each step's one option is chosen by the person who wrote it."""
    config_defaults: ClassVar[dict[str, Any]] = {
        "model": "human/web",
        "limits": {"steps": None},
        "stuck": {"every": 0, "after_failures": 0},
    }
    """A person's run calls no model, has no step limit and is never asked whether it is stuck (unless given)."""
    task_step_limit = False
    """A task's step limit (a model's budget) does not apply: each file a person opens is a step."""

    def __init__(self, poll_seconds: float = 0.25) -> None:
        """
        Args:
            poll_seconds: How often the store is read for the person's next request.
        """
        self.poll_seconds = poll_seconds
        self.seen = 0
        """The last request (event id) turned into a step."""
        self._accounted: datetime | None = None
        self._announced = False

    def start(self, run: AgentRun) -> list[Message]:
        return [Message(role="user", content=run.instructions)]

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        writer, run_id = proposer.writer, proposer.run_id
        if not self._announced:
            await writer.write(ops.add_event, run_id, READY, {"intermediate_scoring": run.intermediate_scoring})
            self._announced = True
        since = self._accounted or _now()
        await writer.write(ops.set_status, run_id, RunStatus.WAITING_HUMAN)
        while True:
            events = await asyncio.to_thread(writer.store.events, run_id)
            found = self._next(events)
            if found is not None:
                break
            await asyncio.sleep(self.poll_seconds)
        until = _now()
        clock = clock_of(events, until)
        # The time the clock was not running (not started yet, paused) is not the person's working time.
        proposer.idle((until - since).total_seconds() - clock.running_between(since, until))
        self._accounted = until
        self.seen = found["id"]
        await writer.write(ops.set_status, run_id, RunStatus.RUNNING)
        return [proposal_of(found)]

    def _next(self, events: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The first request after the last one taken, or the clock stopped without a submission."""
        for event in events:
            if event["id"] <= self.seen:
                continue
            if event["kind"] == REQUEST or gave_up(event):
                return event
        return None

    def step_messages(self, run: AgentRun, option: OptionRecord, observation: ObservationRecord) -> list[Message]:
        self.seen = max(self.seen, int((option.argument or {}).get("request") or 0))
        shown = show_observation(observation, run.observation_chars)
        return [Message(role="assistant", content=option.text), Message(role="user", content=shown)]

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        return [*messages, *self.step_messages(run, option, observation)]
