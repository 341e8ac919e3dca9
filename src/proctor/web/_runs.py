"""The runs list, a run's page (its tree, map and forms), the tree fragment, and the live state it polls."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from proctor.store import Role, RunRecord, RunStatus, StepRecord, StoreError
from proctor.store._users import SessionRecord
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
        page = q.list_runs(conn, query, session.user)
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


def _subtasks(conn: Connection, request: Request, steps: list[StepRecord], depth: int) -> dict[str, Any]:
    """The subtask runs delegated by `steps`, each with its own steps and subtasks, by run id."""
    found: dict[str, Any] = {}
    if depth >= SUBTASK_DEPTH:
        return found
    for step in steps:
        child = step.observation.child_run_id if step.observation else None
        if child is None:
            continue
        record = store_of(request).run(child)
        child_steps = q.steps_window(conn, child, 0, 10**9)
        found[child] = {
            "run": record,
            "steps": child_steps,
            "usage": q.step_usage(conn, child, 0, 10**9),
            "subtasks": _subtasks(conn, request, child_steps, depth + 1),
        }
    return found


def run_data(request: Request, session: SessionRecord, run_id: str, at: int | None) -> dict[str, Any]:
    """Everything a run's page shows: the run, its task, the map, a window of steps, subtasks, forks and notes."""
    run = visible_run(request, session, run_id)
    store = store_of(request)
    per_page = request.app.state.settings.page_steps
    with store.engine.connect() as conn:
        # The version first, everything else after it: a change in between makes the next poll differ and swap
        # the page again, where a version read last could match a page rendered from older reads.
        version = q.live_version(conn, run.id)
    run = store.run(run.id)
    with store.engine.connect() as conn:
        cells = q.step_map(conn, run.id)
        total = len(cells)
        last_page = max(0, (total - 1) // per_page) * per_page
        start = last_page if at is None else max(0, min(at, total - 1)) // per_page * per_page
        steps = q.steps_window(conn, run.id, start, start + per_page)
        subtasks = _subtasks(conn, request, steps, 0)
        usage = q.step_usage(conn, run.id, start, start + per_page)
        forks = q.forks_of(conn, run.id)
        tags = vocabulary(conn)
    try:
        task = store.task(run.task_id)
    except StoreError:
        task = {"id": run.task_id, "instructions": ""}
    waiting = None
    if run.status is RunStatus.WAITING_HUMAN:
        waiting = next((s.id for s in reversed(steps) if not s.done and s.chosen_option_id is None), None)
    staff = session.user.role is not Role.RATER
    running = (RunStatus.RUNNING, RunStatus.WAITING_HUMAN, RunStatus.WAITING_APPROVAL, RunStatus.WAITING_ANSWER)
    notes = [e["detail"] | {"at": e["created_at"]} for e in store.events(run.id, "note")]
    from proctor.web._control import controls  # it reads runs through visible_run, defined here

    return {
        "run": run,
        "control": controls(run, session),
        "task": {"id": task["id"], "instructions": task["instructions"]},
        "map": cells,
        "steps": steps,
        "window": {"start": start, "stop": min(total, start + per_page), "total": total, "per_page": per_page},
        "subtasks": subtasks,
        "usage": usage,
        "forks": forks,
        "waiting_step_id": waiting,
        "held": store.pending_holds(run.id),
        "notes": notes,
        "version": version,
        "vocabulary": [t.name for t in tags],
        "can": {
            "pause": staff and run.status in running and not run.pause_requested,
            "intervene": staff and run.status is RunStatus.PAUSED,
            "fork": True,
            "person": staff and run.parent_run_id is None and "subtask" in run.config,
        },
    }


@router.get("/runs/{run_id}")
@router.get("/api/runs/{run_id}")
def run_page(request: Request, session: Viewer, run_id: str, at: int | None = None) -> Response:
    """A run's tree: steps in order, options, choices, observations, subtasks, and the map of the whole run."""
    return respond(request, "run.html", run_data(request, session, run_id, at))


@router.get("/runs/{run_id}/tree")
def run_fragment(request: Request, session: Viewer, run_id: str, at: int | None = None) -> Response:
    """The run's page body alone, which the page swaps in when the run changes."""
    return render(request, "run_body.html", run_data(request, session, run_id, at))


@router.get("/api/runs/{run_id}/live")
def live(request: Request, session: Viewer, run_id: str) -> dict[str, Any]:
    """The small state a run page polls: status, completed steps, and a version that changes with the page."""
    run = visible_run(request, session, run_id)
    with store_of(request).engine.connect() as conn:
        version = q.live_version(conn, run.id)
    return {"id": run.id, "status": run.status.value, "steps_done": run.steps_done, "version": version}
