"""What each form and API call takes: one Pydantic model per input, read the same way from a form's fields and from
a JSON body, so the API accepts exactly what the pages' forms do. Typed text comes with Unix line endings (a
browser sends CRLF), and every text has a length limit."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from proctor.web._app import WebError


def unix_newlines(value: object) -> object:
    """Text with CRLF and lone CR line endings made LF (what a shell script, a file or a model expects)."""
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _blank_is_none(value: object) -> object:
    if isinstance(value, str) and not value.strip():
        return None
    return unix_newlines(value)


COMMENT_CHARS = 2000
TEXT_CHARS = 100_000
ANSWER_CHARS = 10_000

Typed = Annotated[str, BeforeValidator(unix_newlines)]
"""Typed text, with LF line endings."""


Comment = Annotated[
    Annotated[str, StringConstraints(max_length=COMMENT_CHARS, strip_whitespace=True)] | None,
    BeforeValidator(_blank_is_none),
]
"""An optional comment: at most 2,000 characters; empty means none."""
OptionText = Annotated[str, BeforeValidator(unix_newlines), StringConstraints(max_length=TEXT_CHARS)]
"""A person's option, e.g. `<bash>ls</bash>` (at most 100,000 characters)."""
OptionalText = Annotated[
    Annotated[str, StringConstraints(max_length=TEXT_CHARS)] | None, BeforeValidator(_blank_is_none)
]
"""Optional typed text (at most 100,000 characters); empty means none."""
Answer = Annotated[Annotated[str, StringConstraints(max_length=ANSWER_CHARS)] | None, BeforeValidator(_blank_is_none)]
"""An answer, reason, note or command (at most 10,000 characters); empty means none."""
ModelName = Annotated[
    Annotated[str, StringConstraints(max_length=200, strip_whitespace=True)] | None, BeforeValidator(_blank_is_none)
]
"""A model, `provider/model`."""


class Form(BaseModel):
    """An input: fields as a form or a JSON object sends them; unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")


class Rating(Form):
    """`POST /api/options/OPTION/rate`."""

    value: int
    """A whole number on the rating scale (the scale is checked by the caller)."""
    comment: Comment = None
    """Why."""


class Comparison(Form):
    """`POST /api/steps/STEP/compare`: which of two options of the step is better, and by how much."""

    a: int
    """The option shown as A (its id)."""
    b: int
    """The option shown as B (its id)."""
    value: int = Field(ge=-3, le=3)
    """-3 (A much better) … 0 (as good) … 3 (B much better)."""
    comment: Comment = None
    """Why."""


class Alternative(Form):
    """`POST /api/steps/STEP/alternatives`: an option added to a taken step, typed or sampled from a model."""

    text: OptionalText = None
    """The option, typed (e.g. `<bash>ls</bash>`)."""
    model: ModelName = None
    """Or a model to sample it from (`provider/model`), given the step's context."""


class Choice(Form):
    """`POST /api/runs/RUN/choose`: an option of the waiting step, by index, or a person's own (`text`)."""

    step_id: int
    """The waiting step."""
    option: int | None = None
    """The option's index."""
    text: OptionalText = None
    """Or a person's own option."""


class Intervention(Form):
    """`POST /api/runs/RUN/intervene`: the next option of a paused run."""

    text: OptionalText = None
    """The option."""


class Fork(Form):
    """`POST /api/runs/RUN/fork`."""

    step: int = Field(ge=0)
    """Keep the steps before this one."""
    model: ModelName = None
    """Continue with another model."""
    text: OptionalText = None
    """A person's own option for the step."""


class Tag(Form):
    """`POST /api/steps/STEP/tag`."""

    name: Annotated[str, StringConstraints(max_length=100)] = ""
    """The tag (checked against the vocabulary's rules by the caller)."""


class Decision(Form):
    """`POST /api/runs/RUN/approve` and `/answer`."""

    hold_id: int | None = None
    """The hold (default: the one waiting)."""
    verdict: Annotated[str, StringConstraints(max_length=20)] = "approve"
    """What to do with the held action: approve, edit or reject."""
    text: OptionalText = None
    """What runs instead, the reason, or the answer."""


class Note(Form):
    """`POST /api/runs/RUN/notes`."""

    text: Answer = None
    """The note."""


class WorkRequest(Form):
    """`POST /api/runs/RUN/work`: a person's next request while the clock runs."""

    action: Annotated[str, StringConstraints(max_length=20)] = ""
    """bash, files, read, score or submit."""
    command: Answer = None
    """The command (bash)."""
    path: Answer = None
    """The file (read)."""
    answer: Answer = None
    """The answer (submit)."""


class Score(Form):
    """`POST /api/runs/RUN/score`: a person's score for a run that needs one."""

    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    """From 0 (failed) to 1 (solved)."""
    comment: Comment = None
    """Why."""


class Judgment(Form):
    """`POST /api/judgments/ID`: the answer to a question of a judging study."""

    verdict: int | Annotated[str, StringConstraints(max_length=1)] | None = None
    """The answer's index, or its letter."""
    confidence: float | None = Field(default=None, allow_inf_nan=False)
    """0.5–1, or 50–100 as a percentage."""
    explanation: Answer = None
    """Why."""
    seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Seconds taken."""
    shown_at: float | None = Field(default=None, allow_inf_nan=False)
    """The page's timestamp, when `seconds` is not given."""


F = TypeVar("F", bound=Form)


def parse(model: type[F], data: dict[str, Any]) -> F:
    """`data` (a form's fields or a JSON object) as `model`.

    Raises:
        WebError: 422 naming the first field that is wrong and why.
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the input"
        raise WebError(422, f"{where}: {first.get('msg', 'invalid value')}") from None
