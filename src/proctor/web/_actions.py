"""What people do to runs, written into the store as their intents: choose or write an option for a run waiting
for a person, pause a run, write the next option of a paused run (then queue it for the worker), fork from a step,
tag a step (ratings: see `_rate`). The live runner and `proctor worker` pick these up; the web never drives a run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from proctor.models import providers
from proctor.runner import option_fields
from proctor.store import Role, RunStatus, StoreError, ops, users
from proctor.store import _schema as s
from proctor.store._users import SessionRecord
from proctor.web._app import WebError, wants_json
from proctor.web._auth import STAFF, Viewer, form_data, require, store_of
from proctor.web._forms import Choice, Fork, Intervention, Tag, parse
from proctor.web._runs import visible_run
from proctor.web._vocab import check_tag

router = APIRouter()
WAITING = (RunStatus.WAITING_HUMAN, RunStatus.WAITING_APPROVAL, RunStatus.WAITING_ANSWER)


def _done(request: Request, run_id: str, anchor: str = "", **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, "run_id": run_id, **extra})
    return RedirectResponse(f"/runs/{run_id}{anchor}", status_code=303)


def check_model(model: str | None) -> None:
    """Refuse (422) a model name whose provider proctor does not know."""
    if model is not None and model.partition("/")[0] not in providers():
        raise WebError(422, f"model {model!r}: use provider/model with a provider among {', '.join(providers())}")


def _option(text: object, session: SessionRecord) -> dict[str, Any]:
    """The stored columns of a person's option text, refused (422) with the parse error if it holds no action."""
    if not isinstance(text, str) or not text.strip():
        raise WebError(422, "write an option, e.g. <bash>ls</bash> or <submit>42</submit>")
    fields = option_fields(text, f"human:{session.user.name}")
    if fields["parse_error"]:
        raise WebError(422, f"the option is not an action: {fields['parse_error']}")
    return fields


def _choose(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    form = parse(Choice, data)
    run = visible_run(request, session, run_id)
    store = store_of(request)
    step = next((st for st in store.steps(run.id) if st.id == form.step_id), None)
    if run.status is not RunStatus.WAITING_HUMAN or step is None or step.done or step.chosen_option_id is not None:
        raise WebError(409, f"run {run.id} is not waiting for a choice at that step: reload the page")
    try:
        if form.text is not None:
            store.write(ops.human_choice, step.id, session.user.name, option=_option(form.text, session))
        else:
            chosen = next((o for o in step.options if o.index == form.option), None)
            if chosen is None:
                raise WebError(422, f"step {step.index} has options 0..{len(step.options) - 1}: pick one of them")
            store.write(ops.human_choice, step.id, session.user.name, option_id=chosen.id)
    except IntegrityError as error:
        raise WebError(409, "someone chose at this step already: reload the page") from error
    return _done(request, run.id, f"#step-{step.index}")


def _pause(request: Request, session: SessionRecord, run_id: str) -> Response:
    require(session, *STAFF)
    run = visible_run(request, session, run_id)
    if run.status not in (RunStatus.RUNNING, RunStatus.QUEUED, *WAITING):
        raise WebError(409, f"run {run.id} is {run.status.value}: only a running run can be paused")
    store_of(request).write(ops.request_pause, run.id, session.user.name)
    return _done(request, run.id)


def _intervene(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    require(session, *STAFF)
    run = visible_run(request, session, run_id)
    if run.status is not RunStatus.PAUSED:
        raise WebError(409, f"run {run.id} is {run.status.value}: pause it first, then write its next option")
    fields = _option(parse(Intervention, data).text, session)
    store = store_of(request)
    index = len(store.steps(run.id))
    with store.engine.begin() as conn:
        ops.intervene(conn, run.id, index, fields, session.user.name)
        ops.queue_run(conn, run.id, session.user.name)
    return _done(request, run.id, f"#step-{index}", step=index)


def _fork(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    form = parse(Fork, data)
    run = visible_run(request, session, run_id)
    step, model = form.step, form.model
    check_model(model)
    fields = _option(form.text, session) if form.text is not None else None
    store = store_of(request)
    try:
        new_id = store.fork(run.id, step, model=model, option=fields, user=session.user.name)
    except StoreError as error:
        raise WebError(422, str(error)) from error
    if session.user.role is Role.RATER:
        store.write(users.assign, session.user.name, [new_id], session.user.name)
    if wants_json(request):
        return JSONResponse({"ok": True, "run_id": new_id, "forked_from": run.id, "step": step})
    return RedirectResponse(f"/runs/{new_id}", status_code=303)


def _run_of(request: Request, session: SessionRecord, column: Any, key: int) -> tuple[str, int]:
    """The run id and step index a step or option belongs to, if the user may see the run."""
    query = select(s.steps.c.run_id, s.steps.c.index, s.steps.c.id)
    if column is s.options.c.id:
        query = query.join(s.options, s.options.c.step_id == s.steps.c.id)
    with store_of(request).engine.connect() as conn:
        row = conn.execute(query.where(column == key)).first()
    if row is None:
        raise WebError(404, "no such step or option: reload the page")
    visible_run(request, session, row.run_id)
    return str(row.run_id), int(row._mapping["index"])


def _tag(request: Request, session: SessionRecord, step_id: int, data: dict[str, Any]) -> Response:
    run_id, index = _run_of(request, session, s.steps.c.id, step_id)
    try:
        name = check_tag(parse(Tag, data).name)
    except ValueError as error:
        raise WebError(422, str(error)) from error
    store_of(request).write(ops.add_tag, step_id, name, session.user.name)
    return _done(request, run_id, f"#step-{index}", tag=name)


@router.post("/runs/{run_id}/choose")
@router.post("/api/runs/{run_id}/choose")
async def choose(request: Request, session: Viewer, run_id: str) -> Response:
    """Choose an option of the waiting step (`step_id`, `option` index), or write one (`text`)."""
    return await run_in_threadpool(_choose, request, session, run_id, await form_data(request, session))


@router.post("/runs/{run_id}/pause")
@router.post("/api/runs/{run_id}/pause")
async def pause(request: Request, session: Viewer, run_id: str) -> Response:
    """Ask a running run to pause after its current step (researchers and admins)."""
    await form_data(request, session)
    return await run_in_threadpool(_pause, request, session, run_id)


@router.post("/runs/{run_id}/intervene")
@router.post("/api/runs/{run_id}/intervene")
async def intervene(request: Request, session: Viewer, run_id: str) -> Response:
    """Write the next option (`text`) of a paused run and queue it; the worker continues it."""
    return await run_in_threadpool(_intervene, request, session, run_id, await form_data(request, session))


@router.post("/runs/{run_id}/fork")
@router.post("/api/runs/{run_id}/fork")
async def fork(request: Request, session: Viewer, run_id: str) -> Response:
    """Fork from `step` (optional `model`, optional own option `text`); the fork is queued for the worker."""
    return await run_in_threadpool(_fork, request, session, run_id, await form_data(request, session))


@router.post("/steps/{step_id}/tag")
@router.post("/api/steps/{step_id}/tag")
async def tag(request: Request, session: Viewer, step_id: int) -> Response:
    """Tag a step (`name`, from the vocabulary or new)."""
    return await run_in_threadpool(_tag, request, session, step_id, await form_data(request, session))
