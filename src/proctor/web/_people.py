"""A user's queue of assigned runs, the tags page (tagged steps and success rates per model), and the admin
pages (users and assignments)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection, case, func, select
from starlette.concurrency import run_in_threadpool

from proctor.store import Role, RunStatus, StoreError, UserError, users
from proctor.store import _schema as s
from proctor.store._users import SessionRecord
from proctor.web._app import WebError, respond, wants_json
from proctor.web._auth import STAFF, Viewer, form_data, limits_of, require, store_of
from proctor.web._forms import Assignment, NewUser, Unassignment, parse
from proctor.web._queries import AGENT
from proctor.web._studies import queue_judgments
from proctor.web._vocab import vocabulary

router = APIRouter()
TAGGED_STEPS_SHOWN = 200


@router.get("/queue")
@router.get("/api/queue")
def queue(request: Request, session: Viewer) -> Response:
    """The runs and the judgments (of human judging studies) assigned to the logged-in user, oldest first."""
    query = (
        select(
            s.runs.c.id,
            s.runs.c.task_id,
            s.runs.c.model,
            s.runs.c.status,
            s.runs.c.score,
            s.runs.c.steps_done,
            AGENT,
            s.assignments.c.assigned_by,
            s.assignments.c.created_at.label("assigned_at"),
        )
        .join(s.assignments, s.assignments.c.run_id == s.runs.c.id)
        .where(s.assignments.c.user_id == session.user.id)
        .order_by(s.assignments.c.created_at, s.assignments.c.id)
    )
    rated = (
        select(s.steps.c.run_id)
        .join(s.options, s.options.c.step_id == s.steps.c.id)
        .join(s.ratings, s.ratings.c.option_id == s.options.c.id)
        .where(s.ratings.c.rater == f"human:{session.user.name}")
    )
    query = query.add_columns(s.runs.c.id.in_(rated).label("rated"))
    with store_of(request).engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(query)]
        subtasks = _subtasks_of(conn, [r["id"] for r in rows])
        judgments = queue_judgments(conn, session.user.id)
        answered = queue_judgments(conn, session.user.id, pending=False)
    for row in rows:
        row["subtasks"] = subtasks.get(row["id"], [])
        row["done"] = _finished(row)
    data = {
        "todo": [r for r in rows if not r["done"]],
        "done": [r for r in rows if r["done"]],
        "judgments": judgments,
        "answered": answered,
    }
    data["assignments"] = data["todo"] + data["done"]
    return respond(request, "queue.html", data)


def _finished(row: dict[str, Any]) -> bool:
    """An assigned run is done for its person once it has ended and, unless a person did it (their work is the
    run), they rated something in it."""
    ended = RunStatus(row["status"]).final or row["status"] == RunStatus.KILLED.value
    return ended and (row["agent"] == "human" or bool(row["rated"]))


def _subtasks_of(conn: Connection, run_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The subtask runs below each of these runs (at any depth), by top run, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    top = {r: r for r in run_ids}
    frontier = list(run_ids)
    for _ in range(50):  # deep enough for any delegation; a cycle (never stored) cannot loop
        if not frontier:
            break
        query = (
            select(s.runs.c.id, s.runs.c.parent_run_id, s.runs.c.task_id, s.runs.c.status, s.runs.c.score)
            .where(s.runs.c.parent_run_id.in_(frontier))
            .order_by(s.runs.c.created_at, s.runs.c.id)
        )
        children = [r._asdict() for r in conn.execute(query)]
        for child in children:
            top[child["id"]] = top[child["parent_run_id"]]
            found.setdefault(top[child["id"]], []).append(child)
        frontier = [c["id"] for c in children]
    return found


def tag_details(conn: Connection, name: str) -> dict[str, Any]:
    """Every step tagged `name` (newest first, at most 200) and, per model, the runs with such a step: how many,
    their mean score and the share solved."""
    tagged = (
        select(
            s.steps.c.run_id,
            s.steps.c.index,
            s.tags.c.author,
            s.tags.c.created_at,
            s.runs.c.task_id,
            s.runs.c.model,
            s.runs.c.score,
            s.runs.c.status,
        )
        .join(s.steps, s.steps.c.id == s.tags.c.step_id)
        .join(s.runs, s.runs.c.id == s.steps.c.run_id)
        .where(s.tags.c.name == name)
    )
    steps = [r._asdict() for r in conn.execute(tagged.order_by(s.tags.c.id.desc()).limit(TAGGED_STEPS_SHOWN))]
    total = conn.execute(select(func.count()).select_from(s.tags).where(s.tags.c.name == name)).scalar_one()
    run_ids = select(s.steps.c.run_id).join(s.tags, s.tags.c.step_id == s.steps.c.id).where(s.tags.c.name == name)
    per_model = (
        select(
            s.runs.c.model,
            func.count().label("runs"),
            func.count(s.runs.c.score).label("scored"),
            func.avg(s.runs.c.score).label("mean_score"),
            func.sum(case((s.runs.c.score >= 1.0, 1), else_=0)).label("solved"),
        )
        .where(s.runs.c.id.in_(run_ids))
        .group_by(s.runs.c.model)
        .order_by(s.runs.c.model)
    )
    models = []
    for r in conn.execute(per_model):
        share = (r.solved or 0) / r.scored if r.scored else None
        models.append({"model": r.model, "runs": r.runs, "mean_score": r.mean_score, "solved_share": share})
    return {"name": name, "tagged_steps": total, "steps": steps, "models": models}


@router.get("/tags")
@router.get("/api/tags")
def tags(request: Request, session: Viewer, name: str | None = None) -> Response:
    """The vocabulary with counts; with `name`, that tag's steps across runs and success rates per model."""
    require(session, *STAFF)
    with store_of(request).engine.connect() as conn:
        data: dict[str, Any] = {"vocabulary": vocabulary(conn), "tag": tag_details(conn, name) if name else None}
    return respond(request, "tags.html", data)


@router.get("/admin")
@router.get("/api/admin")
def admin(request: Request, session: Viewer) -> Response:
    """Users with their roles, and every assignment (admins)."""
    require(session, Role.ADMIN)
    with store_of(request).engine.connect() as conn:
        listed = users.list_users(conn)
        assigned = users.assignments(conn)
    counts: dict[str, int] = {}
    for a in assigned:
        counts[a.user] = counts.get(a.user, 0) + 1
    people = [u.model_dump() | {"assigned": counts.get(u.name, 0)} for u in listed]
    return respond(request, "admin.html", {"users": people, "assignments": assigned, "roles": [r.value for r in Role]})


def _back(request: Request, **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, **extra})
    return RedirectResponse("/admin", status_code=303)


@router.post("/admin/users")
@router.post("/api/admin/users")
async def add_user(request: Request, session: Viewer) -> Response:
    """Add a user (`name`, `role`, `password`)."""
    require(session, Role.ADMIN)
    form = parse(NewUser, await form_data(request, session))
    name, role, password = form.name, form.role, form.password
    try:
        user_id = await limits_of(request)[1].run(store_of(request).write, users.add_user, name, role, password)
    except UserError as error:
        raise WebError(422, str(error)) from error
    return _back(request, user_id=user_id)


def _assign(request: Request, session: SessionRecord, data: dict[str, Any]) -> int:
    form = parse(Assignment, data)
    listed = form.runs if isinstance(form.runs, list) else re.split(r"[\s,]+", form.runs)
    run_ids = [r.strip() for r in listed if r.strip()]
    if not run_ids:
        raise WebError(422, "give one or more run ids")
    store = store_of(request)
    try:
        full = [store.run(r).id for r in run_ids]  # prefixes are fine, as on the command line
        return store.write(users.assign, form.user, full, session.user.name)
    except (UserError, StoreError) as error:
        raise WebError(422, str(error)) from error


@router.post("/admin/assignments")
@router.post("/api/admin/assignments")
async def assign(request: Request, session: Viewer) -> Response:
    """Assign runs (`runs`: ids separated by spaces or commas) to a user (`user`)."""
    require(session, Role.ADMIN)
    data = await form_data(request, session)
    added = await run_in_threadpool(_assign, request, session, data)
    return _back(request, assigned=added)


@router.post("/admin/unassign")
@router.post("/api/admin/unassign")
async def unassign(request: Request, session: Viewer) -> Response:
    """Take a run (`run`) off a user's (`user`) queue."""
    require(session, Role.ADMIN)
    form = parse(Unassignment, await form_data(request, session))
    removed = await run_in_threadpool(store_of(request).write, users.unassign, form.user, form.run)
    return _back(request, removed=removed)
