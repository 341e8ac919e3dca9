"""The work page of a run whose agent is `human`: a person does the task on the clock.

The page writes the person's intents into the store — the clock's moves, their next request (a command, a file
listing, a file to read, intermediate scoring, a submission), notes — and the human agent, in the runner that
drives the run, turns each request into a step that runs in the sandbox. The page reads those steps back: files
are listed and read by steps in the sandbox, never from the host's disk.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from proctor.agents import RequestError, clock_of, request_detail
from proctor.agents._human import CLOCK, NOTE, READY, REQUEST, gave_up
from proctor.runner import RunConfig
from proctor.store import RunRecord, RunStatus, StepRecord, StoreError, UserError, ops, users
from proctor.store._users import SessionRecord
from proctor.web import _queries as q
from proctor.web._app import WebError, respond, wants_json
from proctor.web._auth import STAFF, Viewer, form_data, require, store_of
from proctor.web._forms import ClockMove, Note, PersonRun, WorkRequest, parse
from proctor.web._runs import visible_run

router = APIRouter()
LIVE = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.WAITING_HUMAN,
    RunStatus.WAITING_APPROVAL,
    RunStatus.WAITING_ANSWER,
)
"""The statuses in which a person's requests are taken up (by the runner driving the run, or the next one)."""
LOG_STEPS = 100
"""The latest steps the page shows."""
NOTE_CHARS = 10_000
"""The longest note."""
CLOCK_MOVES = {"start": "Start the clock", "pause": "Pause", "resume": "Resume", "stop": "Stop (give up)"}


def human_run(request: Request, session: SessionRecord, run_id: str) -> RunRecord:
    """The run `run_id` if the user may see it and a person does it (its agent is `human`).

    Raises:
        WebError: 404 for no such run, a run the user may not see, or a run of another agent.
    """
    run = visible_run(request, session, run_id)
    agent = run.config.get("agent", "tags")
    if agent != "human":
        raise WebError(404, f"run {run.id} is not done by a person (its agent is {agent}): see /runs/{run.id}")
    return run


def _request_of(step: StepRecord) -> int:
    chosen = step.chosen
    return int((chosen.argument or {}).get("request") or 0) if chosen is not None else 0


def _latest(steps: list[StepRecord], wanted: Any) -> StepRecord | None:
    return next((s for s in reversed(steps) if s.done and s.chosen is not None and wanted(s.chosen)), None)


def _file(step: StepRecord | None) -> dict[str, Any] | None:
    """The file a `read` step showed: its path, content and how reading it went."""
    if step is None or step.chosen is None or step.observation is None:
        return None
    shown = step.observation
    path = (step.chosen.argument or {}).get("path", "")
    return {"step": step.index, "path": path, "content": shown.output, "stderr": shown.stderr} | shown.model_dump(
        include={"failed", "truncated"}
    )


def work_data(request: Request, session: SessionRecord, run_id: str) -> dict[str, Any]:
    """Everything the work page shows: the run, its task, the clock, the latest steps, the requests not yet taken
    up, the files last listed, the file last read, notes, intermediate scores, and what the user may do now."""
    run = human_run(request, session, run_id)
    store = store_of(request)
    with store.engine.connect() as conn:
        version = q.live_version(conn, run.id)  # first: a change after it makes the next poll differ
    run = store.run(run.id)
    events = store.events(run.id)
    clock = clock_of(events, datetime.now(UTC))
    with store.engine.connect() as conn:
        total = q.step_count(conn, run.id)
        steps = q.steps_window(conn, run.id, max(0, total - LOG_STEPS), total)
    try:
        task = store.task(run.task_id)
    except StoreError:
        task = {"id": run.task_id, "instructions": ""}
    taken = max((_request_of(s) for s in steps), default=0)
    live = run.status in LIVE
    pending = [
        {"id": e["id"], **e["detail"]}
        for e in events
        if live and e["id"] > taken and (e["kind"] == REQUEST or gave_up(e))
    ]
    ready = next((e["detail"] for e in reversed(events) if e["kind"] == READY), None)
    listing = _latest(steps, lambda o: (o.argument or {}).get("view") == "files")
    viewed = _latest(steps, lambda o: o.action == "read")
    mine = clock.by in (None, session.user.name)
    acting = live and mine and clock.state == "running"
    return {
        "run": run,
        "task": {"id": task["id"], "instructions": task["instructions"]},
        "clock": clock,
        "steps": steps,
        "pending": pending,
        "files": listing.observation.output.splitlines() if listing and listing.observation else None,
        "file": _file(viewed),
        "notes": [e["detail"] | {"at": e["created_at"]} for e in events if e["kind"] == NOTE],
        "scoring": bool(ready and ready.get("intermediate_scoring")),
        "scores": [s for s in steps if s.done and s.chosen is not None and s.chosen.action == "score"],
        "version": version,
        "can": {
            "start": live and clock.allows("start"),
            "pause": live and mine and clock.allows("pause"),
            "resume": live and mine and clock.allows("resume"),
            "stop": live and mine and clock.allows("stop"),
            "act": acting,
        },
        "moves": CLOCK_MOVES,
    }


@router.get("/runs/{run_id}/work")
@router.get("/api/runs/{run_id}/work")
def work_page(request: Request, session: Viewer, run_id: str) -> Response:
    """The work page of a person's run (JSON under /api)."""
    return respond(request, "work.html", work_data(request, session, run_id))


def _done(request: Request, run_id: str, extra: dict[str, Any]) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, "run_id": run_id, **extra})
    return RedirectResponse(f"/runs/{run_id}/work", status_code=303)


def _live(run: RunRecord) -> None:
    if run.status not in LIVE:
        where = "it has ended" if run.status.final else f"resume it first: proctor resume {run.id}"
        raise WebError(409, f"run {run.id} is {run.status.value}: {where}")


def _doer(clock_by: str | None, session: SessionRecord) -> None:
    if clock_by not in (None, session.user.name):
        raise WebError(409, f"{clock_by} is doing this run: only they use its clock and commands")


def _clock(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    run = human_run(request, session, run_id)
    _live(run)
    move = parse(ClockMove, data).state
    store = store_of(request)
    with store.engine.begin() as conn:
        clock = clock_of(store.events(run.id, conn=conn))
        _doer(clock.by, session)
        if not clock.allows(move):
            raise WebError(409, f"the clock is {clock.state}: it cannot {move} now")
        event = ops.add_event(conn, run.id, CLOCK, {"state": move, "by": session.user.name})
    return _done(request, run.id, {"clock": move, "event": event})


def _act(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    run = human_run(request, session, run_id)
    _live(run)
    form = parse(WorkRequest, data)
    kind = form.action
    value = {"bash": form.command, "read": form.path, "submit": form.answer}.get(kind) or ""
    try:
        detail = request_detail(kind, value, session.user.name)
    except RequestError as error:
        raise WebError(422, str(error)) from error
    store = store_of(request)
    with store.engine.begin() as conn:
        clock = clock_of(store.events(run.id, conn=conn))
        _doer(clock.by, session)
        if clock.state != "running":
            todo = {"not started": "start the clock first", "paused": "resume the clock first"}
            raise WebError(409, f"the clock is {clock.state}: {todo.get(clock.state, 'the task has ended')}")
        event = ops.add_event(conn, run.id, REQUEST, detail)
        if kind == "submit":  # the clock stops with the submission
            ops.add_event(conn, run.id, CLOCK, {"state": "stop", "by": session.user.name, "submitted": True})
    return _done(request, run.id, {"request": event})


def _note(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    run = human_run(request, session, run_id)
    text = (parse(Note, data).text or "").strip()
    if not text or len(text) > NOTE_CHARS:
        raise WebError(422, f"write a note of 1 to {NOTE_CHARS} characters")
    note = {"by": session.user.name, "text": text, "step": run.steps_done}
    event = store_of(request).write(ops.add_event, run.id, NOTE, note)
    return _done(request, run.id, {"note": event})


def _start(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    require(session, *STAFF)
    source = visible_run(request, session, run_id)
    try:
        config = RunConfig.model_validate(source.config)
    except ValidationError as error:
        raise WebError(
            409, f"run {source.id} was not made by the runner: a person can do only an agent's task"
        ) from error
    if config.subtask is not None:
        raise WebError(409, f"run {source.id} is a subtask: start a person's run from its top-level run")
    # The task's sandbox as the run had it; a model's budget (steps, tokens, cost) is not carried over.
    kept = {"sandbox", "command_limits", "allow_internet", "task_memory_ceiling_mb", "task_disk_ceiling_mb"}
    fresh = RunConfig.model_validate(config.model_dump(mode="json", include=kept) | {"agent": "human"})
    who = parse(PersonRun, data).user
    store = store_of(request)
    try:
        with store.engine.begin() as conn:
            new_id = ops.create_run(
                conn, task_id=source.task_id, model=fresh.model, config=fresh.model_dump(mode="json")
            )
            ops.add_event(conn, new_id, "queued", {"by": session.user.name, "from": source.id})
            if who:
                users.assign(conn, who, [new_id], session.user.name)
    except UserError as error:
        raise WebError(422, str(error)) from error
    if wants_json(request):
        return JSONResponse({"ok": True, "run_id": new_id, "location": f"/runs/{new_id}/work"})
    return RedirectResponse(f"/runs/{new_id}/work", status_code=303)


@router.post("/runs/{run_id}/person")
@router.post("/api/runs/{run_id}/person")
async def start_person(request: Request, session: Viewer, run_id: str) -> Response:
    """Queue a person's run (agent `human`) of this run's task, optionally assigned to `user`; the worker drives it
    (researchers and admins). Answers its `run_id` and work page `location`."""
    return await run_in_threadpool(_start, request, session, run_id, await form_data(request, session))


@router.post("/runs/{run_id}/clock")
@router.post("/api/runs/{run_id}/clock")
async def clock(request: Request, session: Viewer, run_id: str) -> Response:
    """Move the clock of a person's run: `state` start, pause, resume or stop (stop ends the task unanswered)."""
    return await run_in_threadpool(_clock, request, session, run_id, await form_data(request, session))


@router.post("/runs/{run_id}/work")
@router.post("/api/runs/{run_id}/work")
async def act(request: Request, session: Viewer, run_id: str) -> Response:
    """A person's next request while their clock runs: `action` bash (`command`), files, read (`path`), score, or
    submit (`answer`); answers the request's id, which the step it becomes carries."""
    return await run_in_threadpool(_act, request, session, run_id, await form_data(request, session))


@router.post("/runs/{run_id}/notes")
@router.post("/api/runs/{run_id}/notes")
async def note(request: Request, session: Viewer, run_id: str) -> Response:
    """A note (`text`) on a person's run, stored with it."""
    return await run_in_threadpool(_note, request, session, run_id, await form_data(request, session))
