"""People deciding a run's held actions: approve, edit or reject an action an approval rule held, or answer the
agent's question. The decision is written into the store; the waiting runner reads it and goes on."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from proctor.store import HoldRecord, ops
from proctor.store._users import SessionRecord
from proctor.web._actions import _done
from proctor.web._app import WebError
from proctor.web._auth import Viewer, form_data, store_of
from proctor.web._forms import Decision, parse
from proctor.web._runs import visible_run

router = APIRouter()
VERDICTS = {"approve": "approved", "approved": "approved", "edit": "edited", "edited": "edited"}
VERDICTS |= {"reject": "rejected", "rejected": "rejected"}


def _pending(request: Request, session: SessionRecord, run_id: str, kind: str, data: dict[str, Any]) -> HoldRecord:
    """The run's hold waiting for a person (`hold_id`, or the one there is)."""
    run = visible_run(request, session, run_id)
    if run.status.final:
        raise WebError(409, f"run {run.id} is {run.status.value}: it holds nothing any more")
    wanted = parse(Decision, data).hold_id
    pending = [h for h in store_of(request).pending_holds(run.id) if h.kind == kind]
    found = next((h for h in pending if wanted is None or h.id == wanted), None)
    if found is None:
        what = "an action waiting for approval" if kind == "approval" else "a question waiting for an answer"
        raise WebError(409, f"run {run.id} has no {what} (someone decided already?): reload the page")
    return found


def _text(data: dict[str, Any]) -> str | None:
    value = parse(Decision, data).text
    return value.strip() or None if value is not None else None


def _step_anchor(request: Request, held: HoldRecord) -> str:
    return f"#step-{store_of(request).step(held.step_id).index}"


def _approve(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    held = _pending(request, session, run_id, "approval", data)
    verdict = VERDICTS.get(str(data.get("verdict") or "approve"))
    if verdict is None:
        raise WebError(422, "verdict must be approve, edit or reject")
    text = _text(data)
    edited = None
    if verdict == "edited":
        if text is None:
            raise WebError(422, f"write what runs instead of {held.subject!r}")
        edited, text = held.with_subject(text), None
    decided = store_of(request).write(ops.decide, held.id, verdict, session.user.name, edited=edited, text=text)
    if not decided:
        raise WebError(409, "someone decided on this action already: reload the page")
    return _done(request, run_id, _step_anchor(request, held), hold_id=held.id, verdict=verdict)


def _answer(request: Request, session: SessionRecord, run_id: str, data: dict[str, Any]) -> Response:
    held = _pending(request, session, run_id, "question", data)
    text = _text(data)
    if text is None:
        raise WebError(422, "write an answer to the question")
    if not store_of(request).write(ops.decide, held.id, "answered", session.user.name, text=text):
        raise WebError(409, "someone answered this question already: reload the page")
    return _done(request, run_id, _step_anchor(request, held), hold_id=held.id, verdict="answered")


@router.post("/runs/{run_id}/approve")
@router.post("/api/runs/{run_id}/approve")
async def approve(request: Request, session: Viewer, run_id: str) -> Response:
    """Decide the run's held action: `verdict` `approve`, `edit` (`text`: what runs instead — the command, code,
    path, …) or `reject` (`text`: the reason, optional); `hold_id` names the hold (default: the one waiting)."""
    return await run_in_threadpool(_approve, request, session, run_id, await form_data(request, session))


@router.post("/runs/{run_id}/answer")
@router.post("/api/runs/{run_id}/answer")
async def answer(request: Request, session: Viewer, run_id: str) -> Response:
    """Answer the agent's question (`text`; `hold_id` optional)."""
    return await run_in_threadpool(_answer, request, session, run_id, await form_data(request, session))
