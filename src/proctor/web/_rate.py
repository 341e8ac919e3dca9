"""Ratings and preferences in the browser: rate an option (one current rating per person, a new one replaces the
old, kept as history), the ratings of an option (n, mean, spread, yours), alternatives added to a taken step (typed,
or sampled from a model through proctor's providers, never run), and pairwise comparisons of a step's options."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from proctor.agents import show_observation
from proctor.agents._context import start
from proctor.models import GenerateConfig, Message, ModelError, get_model
from proctor.runner import option_fields
from proctor.store import RatingRecord, StepRecord, ops, preferences
from proctor.store import _schema as s
from proctor.store._users import SessionRecord
from proctor.web import _queries as q
from proctor.web._actions import _option, _run_of, check_model
from proctor.web._app import WebError, render, respond, wants_json
from proctor.web._auth import STAFF, Viewer, form_data, require, store_of
from proctor.web._format import rating_summary
from proctor.web._forms import Alternative, Comparison, Rating, parse

router = APIRouter()
OBSERVATION_CHARS = 20_000
"""The most of an observation a model sampling an alternative is shown."""


def _done(request: Request, run_id: str, index: int, **extra: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, "run_id": run_id, **extra})
    return RedirectResponse(f"/runs/{run_id}#step-{index}", status_code=303)


def _step(request: Request, session: SessionRecord, step_id: int) -> tuple[str, StepRecord]:
    run_id, _ = _run_of(request, session, s.steps.c.id, step_id)
    return run_id, store_of(request).step(step_id)


def _rate(request: Request, session: SessionRecord, option_id: int, data: dict[str, Any]) -> Response:
    form = parse(Rating, data)
    run_id, index = _run_of(request, session, s.options.c.id, option_id)
    settings = request.app.state.settings
    if form.value not in settings.scale_values:
        raise WebError(422, f"value: rate on the scale {settings.scale} (a whole number)")
    rater = f"human:{session.user.name}"
    rating = {"rater": rater, "value": float(form.value), "scale": settings.scale, "method": "human"}
    store = store_of(request)
    store.write(ops.add_rating, option_id, rating | {"comment": form.comment})
    summary = _summary(request, option_id, rater)
    return _done(request, run_id, index, option_id=option_id, rating=form.value, **summary)


def _summary(request: Request, option_id: int, rater: str) -> dict[str, Any]:
    with store_of(request).engine.connect() as conn:
        rows = conn.execute(s.ratings.select().where(s.ratings.c.option_id == option_id, s.CURRENT_RATING))
        ratings = [RatingRecord.model_validate(r._asdict()) for r in rows]
    return rating_summary(ratings, rater)


@router.post("/options/{option_id}/rate")
@router.post("/api/options/{option_id}/rate")
async def rate(request: Request, session: Viewer, option_id: int) -> Response:
    """Rate an option (`value` on the scale, optional `comment`); it replaces your earlier rating of it."""
    return await run_in_threadpool(_rate, request, session, option_id, await form_data(request, session))


def _ratings(request: Request, session: SessionRecord, option_id: int) -> dict[str, Any]:
    _run_of(request, session, s.options.c.id, option_id)
    rater = f"human:{session.user.name}"
    with store_of(request).engine.connect() as conn:
        history = preferences.rating_history(conn, option_id, rater)
        rows = conn.execute(s.ratings.select().where(s.ratings.c.option_id == option_id, s.CURRENT_RATING))
        current = [RatingRecord.model_validate(r._asdict()) for r in rows]
    summary = rating_summary(current, rater)
    return {"option_id": option_id, "ratings": current, "yours": history, **summary}


@router.get("/api/options/{option_id}/ratings")
async def option_ratings(request: Request, session: Viewer, option_id: int) -> Response:
    """An option's current ratings (one per rater), n, mean and spread, your rating and your earlier ones."""
    data = await run_in_threadpool(_ratings, request, session, option_id)
    return JSONResponse(jsonable_encoder(data))


def prefs_data(request: Request, session: SessionRecord, step_id: int) -> dict[str, Any]:
    """What the preferences panel of a taken step shows: its options (alternatives marked) with their ratings,
    the current comparisons (yours marked), and the scale of strengths."""
    run_id, step = _step(request, session, step_id)
    rater = f"human:{session.user.name}"
    with store_of(request).engine.connect() as conn:
        compared = preferences.comparisons(conn, [step.id])
    options = [
        {
            "id": o.id,
            "index": o.index,
            "text": o.text,
            "action": o.action,
            "source": o.source,
            "added_by": o.added_by,
            "chosen": o.id == step.chosen_option_id,
            **rating_summary(o.ratings, rater),
        }
        for o in step.options
    ]
    return {
        "run_id": run_id,
        "step": {"id": step.id, "index": step.index, "taken": step.chosen_option_id is not None},
        "options": options,
        "comparisons": [c.model_dump() | {"mine": c.rater == rater} for c in compared],
        "strengths": preferences.STRENGTHS,
        "may_sample": session.user.role in STAFF,
    }


@router.get("/steps/{step_id}/prefs")
@router.get("/api/steps/{step_id}/prefs")
def prefs(request: Request, session: Viewer, step_id: int) -> Response:
    """A taken step's options, alternatives and comparisons (the page's panel, an HTML fragment; JSON under /api)."""
    data = prefs_data(request, session, step_id)
    if wants_json(request):
        return respond(request, "prefs.html", data)
    return render(request, "prefs.html", data)


def _context(request: Request, run_id: str, step: StepRecord) -> list[Message]:
    """The conversation before `step` as a tags agent sees it: the task, then each taken action and what it
    showed."""
    store = store_of(request)
    task = store.task(store.run(run_id).task_id)
    messages = start(task["instructions"])
    with store.engine.connect() as conn:
        before = q.steps_window(conn, run_id, 0, step.index)
    for earlier in before:
        if earlier.kind == "action" and earlier.chosen is not None and earlier.observation is not None:
            shown = show_observation(earlier.observation, OBSERVATION_CHARS)
            messages += [Message(role="assistant", content=earlier.chosen.text), Message(role="user", content=shown)]
    return messages


async def _sample(request: Request, run_id: str, step: StepRecord, model_name: str) -> dict[str, Any]:
    check_model(model_name)
    messages = await run_in_threadpool(_context, request, run_id, step)
    try:
        generation = await get_model(model_name).generate(messages, GenerateConfig(n=1))
    except ModelError as error:
        raise WebError(502, f"model {model_name} did not answer: {type(error).__name__}") from error
    if not generation.completions:
        raise WebError(502, f"model {model_name} gave no completion: try again")
    return option_fields(generation.completions[0].text, f"model:{model_name}")


@router.post("/steps/{step_id}/alternatives")
@router.post("/api/steps/{step_id}/alternatives")
async def alternative(request: Request, session: Viewer, step_id: int) -> Response:
    """Add an alternative option to a taken step, without running it: `text` typed, or `model` to sample it from
    (given the step's context; researchers and admins). Answers its `option_id`."""
    form = parse(Alternative, await form_data(request, session))
    run_id, step = await run_in_threadpool(_step, request, session, step_id)
    if step.chosen_option_id is None:
        raise WebError(409, f"step {step.index} is not taken yet: choose or write its option instead")
    if form.text is not None:
        fields = _option(form.text, session)
    elif form.model is not None:
        require(session, *STAFF)
        fields = await _sample(request, run_id, step, form.model)
    else:
        raise WebError(422, "text: type an alternative option, or give a model to sample one from")
    store = store_of(request)
    try:
        option_id = await run_in_threadpool(
            store.write, preferences.add_alternative, step.id, fields, session.user.name
        )
    except preferences.PreferenceError as error:
        raise WebError(409, str(error)) from error
    return _done(request, run_id, step.index, option_id=option_id, text=fields["text"], source=fields["source"])


def _compare(request: Request, session: SessionRecord, step_id: int, data: dict[str, Any]) -> Response:
    form = parse(Comparison, data)
    run_id, step = _step(request, session, step_id)
    ids = {o.id for o in step.options}
    if form.a not in ids or form.b not in ids:
        raise WebError(422, f"a, b: compare two options of step {step.index}")
    rater = f"human:{session.user.name}"
    try:
        comparison_id = store_of(request).write(
            preferences.add_comparison, form.a, form.b, rater, form.value, form.comment
        )
    except preferences.PreferenceError as error:
        raise WebError(422, str(error)) from error
    return _done(request, run_id, step.index, comparison_id=comparison_id, value=form.value)


@router.post("/steps/{step_id}/compare")
@router.post("/api/steps/{step_id}/compare")
async def compare(request: Request, session: Viewer, step_id: int) -> Response:
    """Compare two options of a step: `a`, `b` (option ids), `value` from -3 (A much better) to 3 (B much
    better), optional `comment`; it replaces your earlier comparison of the pair."""
    return await run_in_threadpool(_compare, request, session, step_id, await form_data(request, session))
