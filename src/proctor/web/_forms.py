"""What each form and API call takes: one Pydantic model per input, read the same way from a form's fields and from
a JSON body, so the API accepts exactly what the pages' forms do. Typed text comes with Unix line endings (a
browser sends CRLF), and every text has a length limit."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

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


def _not_a_bool(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a whole number, not true or false")
    return value


Whole = Annotated[int, BeforeValidator(_not_a_bool)]
"""A whole number (`3`, `"3"`, `3.0`), never 3.5 or true."""
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

    value: Whole
    """A whole number on the rating scale (the scale is checked by the caller)."""
    comment: Comment = None
    """Why."""


class Comparison(Form):
    """`POST /api/steps/STEP/compare`: which of two options of the step is better, and by how much."""

    a: Whole
    """The option shown as A (its id)."""
    b: Whole
    """The option shown as B (its id)."""
    value: Whole = Field(ge=-3, le=3)
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

    step_id: Whole
    """The waiting step."""
    option: Whole | None = None
    """The option's index."""
    text: OptionalText = None
    """Or a person's own option."""


class Intervention(Form):
    """`POST /api/runs/RUN/intervene`: the next option of a paused run."""

    text: OptionalText = None
    """The option."""


class Fork(Form):
    """`POST /api/runs/RUN/fork`."""

    step: Whole = Field(ge=0)
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

    hold_id: Whole | None = None
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

    verdict: Whole | Annotated[str, StringConstraints(max_length=1)] | None = None
    """The answer's index, or its letter."""
    confidence: float | None = Field(default=None, allow_inf_nan=False)
    """0.5–1, or 50–100 as a percentage."""
    explanation: Answer = None
    """Why."""
    seconds: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    """Seconds taken."""
    shown_at: float | None = Field(default=None, allow_inf_nan=False)
    """The page's timestamp, when `seconds` is not given."""


Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
"""A user's name."""


RunIds = Annotated[str, StringConstraints(max_length=100_000)] | list[Annotated[str, StringConstraints(max_length=40)]]
"""Run ids: separated by spaces or commas, or a JSON list."""


class ClockMove(Form):
    """`POST /api/runs/RUN/clock`."""

    state: Literal["start", "pause", "resume", "stop"]
    """How the clock of a person's run moves."""


class PersonRun(Form):
    """`POST /api/runs/RUN/person`."""

    user: Name = ""
    """Assign the new run to this user (optional)."""


class NewUser(Form):
    """`POST /api/admin/users`."""

    name: Name = ""
    """The login name."""
    role: Annotated[str, StringConstraints(max_length=20)] = ""
    """admin, researcher or rater."""
    password: Annotated[str, StringConstraints(max_length=1000)] = ""
    """At least 8 characters."""


class Assignment(Form):
    """`POST /api/admin/assignments`."""

    user: Name = ""
    """Who gets the runs."""
    runs: RunIds = ""
    """Run ids (or unique prefixes), separated by spaces or commas, or a JSON list."""


class Unassignment(Form):
    """`POST /api/admin/unassign`."""

    user: Name = ""
    """Whose queue."""
    run: Annotated[str, StringConstraints(max_length=40)] = ""
    """The run to take off it."""


class NewStudy(Form):
    """`POST /api/studies`."""

    experiment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    """The experiment whose finished runs the study uses."""
    protocol: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    """The protocol whose transcripts people read."""
    users: Annotated[str, StringConstraints(max_length=10_000)] | list[Name] = ""
    """The people: names separated by spaces or commas, or a JSON list."""
    seed: Whole = 0
    """The seed of the assignment."""
    per_person: Whole | None = Field(default=None, ge=1)
    """Questions per person (default: all)."""
    name: ModelName = None
    """The study's name."""


F = TypeVar("F", bound=Form)


def parse(model: type[F], data: dict[str, Any]) -> F:
    """`data` (a form's fields or a JSON object) as `model`; an empty field counts as absent (its default).

    Raises:
        WebError: 422 naming the first field that is wrong and why.
    """
    given = {k: v for k, v in data.items() if v != ""}  # an empty form field is a field not given
    try:
        return model.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the input"
        raise WebError(422, f"{where}: {first.get('msg', 'invalid value')}") from None
