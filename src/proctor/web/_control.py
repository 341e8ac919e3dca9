"""Controlling a run from its page: resume it (the worker continues it from its last completed step, as
`proctor resume` does), kill it, or score by hand a run that needs a person's score. Researchers and admins only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from proctor.runner import RunConfig
from proctor.runner._batch import RESUMABLE as runner_resumable
from proctor.store import RunRecord, RunStatus, ops
from proctor.store._users import SessionRecord
from proctor.web._app import WebError, wants_json
from proctor.web._auth import STAFF, Viewer, form_data, require, store_of
from proctor.web._forms import Score, parse
from proctor.web._runs import visible_run

router = APIRouter()
RESUMABLE = tuple(status for status in runner_resumable if status not in ops.DRIVEN)
"""What Resume takes up: what `proctor resume` takes over, but for runs a runner drives (paused, over a limit,
killed, failed)."""


def controls(run: RunRecord, session: SessionRecord) -> dict[str, bool]:
    """Which of Resume, Kill and Score the user may use on `run` now."""
    staff = session.user.role in STAFF
    agent_run = "chooser" in run.config or "agent" in run.config
    return {
        "resume": staff and agent_run and run.status in RESUMABLE,
        "kill": staff and (run.status in ops.KILLABLE or run.status is RunStatus.RUNNING),
        "score": staff and run.status is RunStatus.NEEDS_MANUAL_SCORE,
    }


def _done(request: Request, run: RunRecord, **extra: Any) -> Response:
    if wants_json(request):
        status = store_of(request).run(run.id).status.value
        return JSONResponse({"ok": True, "run_id": run.id, "status": status, **extra})
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


def _resume(request: Request, session: SessionRecord, run_id: str) -> Response:
    require(session, *STAFF)
    run = visible_run(request, session, run_id)
    try:
        RunConfig.model_validate(run.config)
    except ValueError as error:
        raise WebError(409, f"run {run.id} was not made by the runner: only agent runs can be resumed") from error
    if not store_of(request).write(ops.requeue, run.id, RESUMABLE, session.user.name):
        raise WebError(409, f"run {run.id} is {run.status.value}: only a paused, killed, failed or stopped run resumes")
    return _done(request, run)


def _kill(request: Request, session: SessionRecord, run_id: str) -> Response:
    require(session, *STAFF)
    run = visible_run(request, session, run_id)
    if run.status not in ops.KILLABLE and run.status is not RunStatus.RUNNING:
        raise WebError(409, f"run {run.id} is {run.status.value}: it is not running")
    now = store_of(request).write(ops.kill, run.id, session.user.name)
    return _done(request, run, killed=now)


def _score(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    require(session, *STAFF)
    form = parse(Score, data)
    run = visible_run(request, session, run_id)
    if not store_of(request).write(ops.manual_score, run.id, form.score, session.user.name, form.comment):
        raise WebError(409, f"run {run.id} is {run.status.value}: only a run that needs a manual score is scored here")
    return _done(request, run, score=form.score)


@router.post("/runs/{run_id}/resume")
@router.post("/api/runs/{run_id}/resume")
async def resume(request: Request, session: Viewer, run_id: str) -> Response:
    """Queue a paused, killed, failed or stopped run; the worker continues it from its last completed step."""
    await form_data(request, session)
    return await run_in_threadpool(_resume, request, session, run_id)


@router.post("/runs/{run_id}/kill")
@router.post("/api/runs/{run_id}/kill")
async def kill(request: Request, session: Viewer, run_id: str) -> Response:
    """Kill a run: at once unless it is running, else after its current step."""
    await form_data(request, session)
    return await run_in_threadpool(_kill, request, session, run_id)


@router.post("/runs/{run_id}/score")
@router.post("/api/runs/{run_id}/score")
async def score(request: Request, session: Viewer, run_id: str) -> Response:
    """Score a run that needs a manual score (`score` from 0 to 1, optional `comment`): it becomes done."""
    return await run_in_threadpool(_score, request, session, run_id, await form_data(request, session))
