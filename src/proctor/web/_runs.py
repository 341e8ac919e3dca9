"""The runs list, a run's page (its tree, map and forms), the tree fragment, and the live state it polls."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from proctor.analysis import AnalysisError
from proctor.store import Role, RunRecord, RunStatus, StoreError
from proctor.store._users import SessionRecord
from proctor.web import _overview as ov
from proctor.web import _queries as q
from proctor.web._app import WebError, render, respond
from proctor.web._auth import Viewer, store_of
from proctor.web._vocab import vocabulary

router = APIRouter()
SUBTASK_DEPTH = 4


@router.get("/runs")
@router.get("/api/runs")
def runs_page(request: Request, session: Viewer, query: Annotated[q.RunQuery, Query()]) -> Response:
    """Runs the user may see, filtered, sorted and paged by (sort key, id)."""
    with store_of(request).engine.connect() as conn:
        try:
            page = q.list_runs(conn, query, session.user)
        except AnalysisError as error:
            raise WebError(422, f"where: {error}") from error
        tags = [t.name for t in vocabulary(conn)]
    data: dict[str, Any] = {"runs": page.runs, "next": page.next, "query": query}
    if not request.url.path.startswith("/api/"):
        data |= {"statuses": [s.value for s in RunStatus], "tags": tags, "params": _params(query)}
    return respond(request, "runs.html", data)


def _params(query: q.RunQuery) -> dict[str, str]:
    """The query's non-default values, for links that keep the filters."""
    defaults = q.RunQuery()
    return {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in query.model_dump().items()
        if v != getattr(defaults, k) and k != "after"
    }


def visible_run(request: Request, session: SessionRecord, run_id: str) -> RunRecord:
    """The run `run_id` (or unique prefix) if the user may see it.

    Raises:
        WebError: 404 for no such run, and for a run the user may not see (its existence is not revealed).
    """
    store = store_of(request)
    try:
        run = store.run(run_id)
    except StoreError as error:
        raise WebError(404, f"no run {run_id!r}: find runs on the runs page") from error
    with store.engine.connect() as conn:
        if not q.may_see(conn, session.user, run):
            raise WebError(404, f"no run {run_id!r}: find runs on the runs page")
    return run


def _window(conn: Connection, run: RunRecord, start: int, stop: int, total: int) -> dict[str, Any]:
    """Steps `start` ≤ index < `stop` of `run` with what their fragment shows: usage, the subtasks they delegated,
    the step waiting for a choice."""
    steps = q.steps_window(conn, run.id, start, stop)
    waiting = None
    if run.status is RunStatus.WAITING_HUMAN:
        waiting = next((s.id for s in reversed(steps) if not s.done and s.chosen_option_id is None), None)
    return {
        "steps": steps,
        "subtasks": ov.subtask_runs(conn, steps),
        "usage": q.step_usage(conn, run.id, start, stop),
        "window": {"start": start, "stop": min(total, stop), "total": total, "per_page": stop - start},
        "waiting_step_id": waiting,
    }


def _can(session: SessionRecord, run: RunRecord) -> dict[str, bool]:
    staff = session.user.role is not Role.RATER
    running = (RunStatus.RUNNING, RunStatus.WAITING_HUMAN, RunStatus.WAITING_APPROVAL, RunStatus.WAITING_ANSWER)
    return {
        "pause": staff and run.status in running and not run.pause_requested,
        "intervene": staff and run.status is RunStatus.PAUSED,
        "fork": True,
        "person": staff and run.parent_run_id is None and "subtask" in run.config,
    }


MAIN_SETTINGS = ("agent", "model", "options", "chooser", "limits", "sandbox")
"""The settings the configuration panel shows first; every other one follows, by name."""


def _settings(config: dict[str, Any]) -> list[tuple[str, str]]:
    """A run's configuration as (setting, value) pairs to show: the main ones first, values as indented JSON."""
    names = [n for n in MAIN_SETTINGS if n in config] + sorted(n for n in config if n not in MAIN_SETTINGS)
    shown = (
        config[n] if isinstance(config[n], str) else json.dumps(config[n], indent=1, ensure_ascii=False) for n in names
    )
    return list(zip(names, shown, strict=True))


def _task_of(request: Request, run: RunRecord) -> dict[str, Any]:
    try:
        return store_of(request).task(run.task_id)
    except StoreError:
        return {"id": run.task_id, "instructions": "", "permissions": []}


def run_data(request: Request, session: SessionRecord, run_id: str, at: int | None) -> dict[str, Any]:
    """Everything a run's page shows first: the run, its instructions (a subtask's own), the path up to its root
    run, its configuration, the map, the window of steps around `at` (the last steps by default), forks and notes."""
    run = visible_run(request, session, run_id)
    store = store_of(request)
    size = request.app.state.settings.page_steps
    with store.engine.connect() as conn:
        # The version first, everything else after it: a change in between makes the next poll differ and swap
        # the page again, where a version read last could match a page rendered from older reads.
        version = q.live_version(conn, run.id)
    run = store.run(run.id)
    with store.engine.connect() as conn:
        total = q.step_count(conn, run.id)
        start, stop = ov.window_bounds(total, at, size)
        window = _window(conn, run, start, stop, total)
        bands = ov.map_bands(conn, run.id)
        forks = q.forks_of(conn, run.id)
        tags = vocabulary(conn)
        crumbs = ov.breadcrumb(conn, run)
    task = _task_of(request, run)
    notes = [e["detail"] | {"at": e["created_at"]} for e in store.events(run.id, "note")]
    from proctor.web._control import controls  # it reads runs through visible_run, defined here

    return {
        "run": run,
        "control": controls(run, session),
        "task": {"id": task["id"], "instructions": ov.instructions_of(run, task)},
        "subtask": bool(run.config.get("subtask")),
        "breadcrumb": crumbs,
        "config": run.config,
        "settings_shown": _settings(run.config),
        "map": bands,
        **window,
        "forks": forks,
        "held": store.pending_holds(run.id),
        "notes": notes,
        "version": version,
        "vocabulary": [t.name for t in tags],
        "can": _can(session, run),
    }


@router.get("/runs/{run_id}")
@router.get("/api/runs/{run_id}")
def run_page(request: Request, session: Viewer, run_id: str, at: int | None = None) -> Response:
    """A run's page: its head, configuration, map of the whole run, and a window of its steps (`at`: around that
    step; the page fetches more as you scroll or jump)."""
    return respond(request, "run.html", run_data(request, session, run_id, at))


@router.get("/runs/{run_id}/tree")
def run_fragment(request: Request, session: Viewer, run_id: str, at: int | None = None, part: str = "all") -> Response:
    """The run's page body alone (`part=top`: without its steps), which the page swaps in when the run changes."""
    data = run_data(request, session, run_id, at)
    return render(request, "run_top.html" if part == "top" else "run_body.html", data)


@router.get("/runs/{run_id}/steps")
@router.get("/api/runs/{run_id}/steps")
def steps_fragment(
    request: Request,
    session: Viewer,
    run_id: str,
    start: Annotated[int | None, Query(ge=0)] = None,
    stop: Annotated[int | None, Query(ge=0)] = None,
    at: Annotated[int | None, Query(ge=0)] = None,
    depth: Annotated[int, Query(ge=0, le=SUBTASK_DEPTH)] = 0,
    full: bool = False,
) -> Response:
    """A window of a run's steps as HTML (JSON under /api/): `start`–`stop`, or the window around `at`, or the
    first steps of a subtask (`depth` > 0: nested in its parent's page). `full` shows long text uncut. The
    window's bounds are in the `X-Steps-Start`, `X-Steps-Stop` and `X-Steps-Total` headers."""
    run = visible_run(request, session, run_id)
    size = request.app.state.settings.page_steps
    with store_of(request).engine.connect() as conn:
        total = q.step_count(conn, run.id)
        if start is None and at is None:
            begin, end = (0, size) if depth else ov.window_bounds(total, None, size)
        elif start is None:
            begin, end = ov.window_bounds(total, at, size)
        else:
            begin, end = start, min(stop if stop is not None else start + size, start + size)
        window = _window(conn, run, begin, end, total)
    data = {"run": run, **window, "depth": depth, "full": full, "can": _can(session, run)}
    response = respond(request, "steps_window.html", data)
    response.headers.update(
        {"X-Steps-Start": str(begin), "X-Steps-Stop": str(window["window"]["stop"]), "X-Steps-Total": str(total)}
    )
    return response


MESSAGES_PAGE = 100
"""Messages the model saw shown at once: the last ones first, earlier ones a page at a time on demand."""
MESSAGES_LIMIT = 1000


@router.get("/runs/{run_id}/steps/{index}/messages")
@router.get("/api/runs/{run_id}/steps/{index}/messages")
def step_messages(
    request: Request,
    session: Viewer,
    run_id: str,
    index: int,
    before: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=MESSAGES_LIMIT)] = MESSAGES_PAGE,
) -> Response:
    """The messages the model was sent at step `index`, rebuilt from the store by the run's agent: the last
    `limit` of them, or the `limit` before message `before` ("show earlier" fetches those)."""
    run = visible_run(request, session, run_id)
    task = _task_of(request, run)
    with store_of(request).engine.connect() as conn:
        if index < 0 or index >= q.step_count(conn, run.id):
            raise WebError(404, f"run {run.id[:8]} has no step {index}")
        try:
            messages = request.app.state.conversations.at(conn, run, task, index)
        except (ValueError, KeyError) as error:
            raise WebError(409, f"cannot rebuild the messages of step {index}: {error}") from error
    stop = len(messages) if before is None else min(before, len(messages))
    start = max(0, stop - limit)
    data = {
        "run": run,
        "index": index,
        "messages": messages[start:stop],
        "start": start,
        "stop": stop,
        "total": len(messages),
        "earlier": before is not None,
    }
    return respond(request, "messages.html", data)


@router.get("/api/runs/{run_id}/live")
def live(request: Request, session: Viewer, run_id: str) -> dict[str, Any]:
    """The small state a run page polls: status, completed steps, and a version that changes with the page."""
    run = visible_run(request, session, run_id)
    with store_of(request).engine.connect() as conn:
        version = q.live_version(conn, run.id)
    return {"id": run.id, "status": run.status.value, "steps_done": run.steps_done, "version": version}
