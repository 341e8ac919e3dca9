"""Human judging studies in the browser: a person's pending judgments (in their queue), the judging page (question,
answers and, when assisted, the protocol's transcript), answering it, and the study pages researchers read."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection, func, select
from starlette.concurrency import run_in_threadpool

from proctor.protocols import create_study, study_report, transcript
from proctor.protocols._session import LETTERS
from proctor.protocols._study import NOTES
from proctor.store import JudgmentRecord, StudyError, studies, users
from proctor.store import _schema as s
from proctor.store._users import SessionRecord
from proctor.web._app import WebError, respond, wants_json
from proctor.web._auth import STAFF, Viewer, form_data, require, store_of
from proctor.web._forms import Judgment, NewStudy, parse

router = APIRouter()
MAX_SECONDS = 7 * 24 * 3600.0  # a `shown_at` further back than this is not a plausible time taken


def queue_judgments(conn: Connection, user_id: int, *, pending: bool = True) -> list[dict[str, Any]]:
    """A person's pending (or, with `pending` False, answered) judgments for their queue, oldest assignment first,
    in their study order."""
    names = {r.id: r.name for r in conn.execute(select(s.studies.c.id, s.studies.c.name))}
    return [
        {
            "id": j.id,
            "study_id": j.study_id,
            "study": names.get(j.study_id, j.study_id),
            "position": j.position,
            "condition": j.condition,
            "question": j.question,
            "assigned_at": j.assigned_at,
            "answered_at": j.answered_at,
        }
        for j in studies.judgments(conn, user_id=user_id, pending=pending)
    ]


def _mine(request: Request, session: SessionRecord, judgment_id: int) -> JudgmentRecord:
    """The user's own judgment; anyone else's answers 404, like one that does not exist."""
    with store_of(request).engine.connect() as conn:
        found = studies.judgment(conn, judgment_id)
    if found is None or found.user_id != session.user.id:
        raise WebError(404, f"no judgment {judgment_id} of yours: open your queue")
    return found


def _next_pending(request: Request, session: SessionRecord, study_id: str) -> int | None:
    """The user's next pending judgment in the same study (the queue lists the other studies' ones)."""
    with store_of(request).engine.connect() as conn:
        pending = studies.judgments(conn, study_id=study_id, user_id=session.user.id, pending=True)
    return pending[0].id if pending else None


@router.get("/judgments/{judgment_id}")
@router.get("/api/judgments/{judgment_id}")
def judgment_page(request: Request, session: Viewer, judgment_id: int) -> Response:
    """The question to judge: answers, the transcript when assisted, and the form (or the answer once given).
    The correct answer is never sent."""
    judged = _mine(request, session, judgment_id)
    store = store_of(request)
    with store.engine.connect() as conn:
        study = studies.study(conn, judged.study_id)
        total = conn.execute(
            select(func.count())
            .select_from(s.judgments)
            .where(s.judgments.c.study_id == judged.study_id, s.judgments.c.user_id == session.user.id)
        ).scalar_one()
    turns = transcript(store, judged.run_id) if judged.run_id else []
    answered = None
    if judged.answered:
        answered = {
            "verdict": judged.verdict,
            "confidence": judged.confidence,
            "explanation": judged.explanation,
            "answered_at": judged.answered_at,
        }
    data = {
        "id": judged.id,
        "study": {"id": study.id, "name": study.name, "protocol": study.protocol},
        "position": judged.position,
        "total": total,
        "condition": judged.condition,
        "question": judged.question,
        "answers": [{"index": i, "letter": LETTERS[i], "text": a} for i, a in enumerate(judged.answers)],
        "transcript": [t.model_dump() for t in turns],
        "note": NOTES.get(study.protocol, "") if turns else "",
        "answered": answered,
        "shown_at": time.time(),
    }
    return respond(request, "judge.html", data)


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise WebError(422, f"{key} must be a number, not {value!r}") from error
    if not math.isfinite(number):
        raise WebError(422, f"{key} must be a finite number")
    return number


def _answer(request: Request, session: SessionRecord, judgment_id: int, data: dict[str, Any]) -> Response:
    form = parse(Judgment, data)
    judged = _mine(request, session, judgment_id)
    if judged.answered:
        raise WebError(409, f"judgment {judgment_id} is answered already: answers cannot be changed")
    raw = data.get("verdict")
    if isinstance(raw, str) and raw.strip().upper() in LETTERS[: len(judged.answers)]:
        verdict: float | None = LETTERS.index(raw.strip().upper())
    else:
        verdict = _number(data, "verdict")
    if verdict is None or verdict != int(verdict):
        raise WebError(422, "pick an answer: verdict is its index (0 for A, 1 for B)")
    confidence = _number(data, "confidence")
    if confidence is None:
        raise WebError(422, "give your confidence, from 50% to 100% (0.5 to 1)")
    confidence = confidence / 100 if confidence > 1 else confidence
    if not 0.5 <= confidence <= 1.0:
        raise WebError(422, f"confidence must be from 50% to 100% (0.5 to 1), not {confidence:g}")
    seconds = _number(data, "seconds")
    shown_at = _number(data, "shown_at")
    if seconds is None and shown_at is not None and 0 <= time.time() - shown_at <= MAX_SECONDS:
        seconds = round(time.time() - shown_at, 3)
    try:
        store_of(request).write(
            studies.answer,
            judged.id,
            session.user.id,
            verdict=int(verdict),
            confidence=confidence,
            explanation=form.explanation,
            seconds=seconds,
        )
    except StudyError as error:
        raise WebError(409 if "answered already" in str(error) else 422, str(error)) from error
    following = _next_pending(request, session, judged.study_id)
    if wants_json(request):
        return JSONResponse({"ok": True, "judgment": judged.id, "next": following})
    return RedirectResponse(f"/judgments/{following}" if following else "/queue", status_code=303)


@router.post("/judgments/{judgment_id}")
@router.post("/api/judgments/{judgment_id}")
async def answer(request: Request, session: Viewer, judgment_id: int) -> Response:
    """Answer one's own pending judgment: `verdict` (answer index, or its letter), `confidence` (0.5–1, or
    50–100 as a percentage), optional `explanation`, and `seconds` taken (or `shown_at`, the page's timestamp)."""
    data = await form_data(request, session)
    return await run_in_threadpool(_answer, request, session, judgment_id, data)


@router.get("/studies")
@router.get("/api/studies")
def studies_page(request: Request, session: Viewer) -> Response:
    """Every study with its progress (researchers and admins)."""
    require(session, *STAFF)
    with store_of(request).engine.connect() as conn:
        listed = studies.list_studies(conn)
        counts = conn.execute(
            select(
                s.judgments.c.study_id,
                func.count().label("assigned"),
                func.count(s.judgments.c.verdict).label("answered"),
                func.count(func.distinct(s.judgments.c.user_id)).label("people"),
            ).group_by(s.judgments.c.study_id)
        ).all()
        people = [{"name": u.name, "role": u.role.value} for u in users.list_users(conn)]
    progress = {r.study_id: {"assigned": r.assigned, "answered": r.answered, "people": r.people} for r in counts}
    empty = {"assigned": 0, "answered": 0, "people": 0}
    rows = [st.model_dump() | progress.get(st.id, empty) for st in listed]
    experiments: dict[str, dict[str, Any]] = {}  # newest first, each with its protocols' finished runs
    for row in store_of(request).experiments():
        first = {"experiment": row.experiment, "started": row.started, "protocols": {}}
        experiments.setdefault(row.experiment, first)["protocols"][row.protocol] = row.runs
    protocols = sorted({name for e in experiments.values() for name in e["protocols"]})
    data = {"studies": rows, "experiments": list(experiments.values()), "protocols": protocols, "people": people}
    return respond(request, "studies.html", data)


@router.post("/studies")
@router.post("/api/studies")
async def new_study(request: Request, session: Viewer) -> Response:
    """Create a study: `experiment`, `protocol`, `users` (names separated by spaces or commas, or a JSON list), and
    optionally `seed`, `per_person` and `name` (see `proctor oversee study create`). Goes to the study's page."""
    require(session, *STAFF)
    data = await form_data(request, session)
    return await run_in_threadpool(_new_study, request, session, data)


def _new_study(request: Request, session: SessionRecord, data: dict[str, Any]) -> Response:
    form = parse(NewStudy, data)
    names = form.users if isinstance(form.users, list) else re.split(r"[\s,]+", form.users)
    try:
        study = create_study(
            store_of(request),
            form.experiment,
            form.protocol,
            [n for n in names if n],
            form.seed,
            per_person=form.per_person,
            name=form.name,
            by=session.user.name,
        )
    except StudyError as error:
        raise WebError(422, str(error)) from error
    location = f"/studies/{study.id}"
    if wants_json(request):
        return JSONResponse({"ok": True, "study_id": study.id, "location": location})
    return RedirectResponse(location, status_code=303)


@router.get("/studies/{study_id}")
@router.get("/api/studies/{study_id}")
def study_page(request: Request, session: Viewer, study_id: str) -> Response:
    """A study's progress and report: accuracy per condition, the effect of the help, calibration, people."""
    require(session, *STAFF)
    try:
        result = study_report(store_of(request), study_id)
    except StudyError as error:
        raise WebError(404, str(error)) from error
    return respond(request, "study.html", {"report": result})
