"""Which runs a report reads: filters written `key=value`, turned into SQL, and what a run's outcome is.

A filter is a list of terms joined by commas, `model=openai/gpt-4o,agent=react,tag=shell`; every term must hold.
One term may list alternatives with `|` (`model=a|b`: either) and use `*` as a wildcard (`model=openai/*`).

Reports read agent runs (the runs of `proctor run`, forks, resumes and imported runs); the judged cases of oversight
experiments only when the filter names their experiment (`experiment=ID`), with their protocol in place of the agent.

A run *counts* towards success rates when it is a top-level run (not a delegated subtask) that reached an outcome:
`done` with a score, or `over_limit` (a failure: score 0 unless it was scored). `failed` runs (a model or a task
set-up failed for good) are left out of rates and counted apart; queued, running, paused and killed runs are left out.
A counted run is *solved* when its score is at least `solved_at` (default 1.0).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Float, String, and_, case, cast, exists, func, literal, or_, select

from proctor.analysis._stats import AnalysisError
from proctor.store import RunStatus
from proctor.store import _schema as s

KEYS = {
    "model": "the agent's model, e.g. model=openai/gpt-4o-mini or model=openai/*",
    "agent": "the agent (scaffold): tags, react, triframe, …",
    "task": "the task id, family/name",
    "family": "the task family (a suite's folder name, or a METR family)",
    "suite": "the folder tasks were loaded from: a name (examples) or a path",
    "tag": "a tag of the task (task.yaml's tags)",
    "step-tag": "a tag on one of the run's steps",
    "experiment": "the oversight experiment id",
    "since": "created on or after this date or time (2026-01-31, or ISO 8601 with a time; UTC)",
    "until": "created on or before this date (the whole day) or time",
    "fork": "yes: only forks; no: only runs that are not forks",
    "config.PATH": "a value in the stored run config, e.g. config.options=4 or config.chooser.name=rating",
}
"""Filter keys and what they match; shown when a key is unknown."""

SINGLE = {"since", "until", "fork"}
"""Keys that take one value, not alternatives."""

COUNTED = (RunStatus.DONE.value, RunStatus.OVER_LIMIT.value)
"""Statuses of runs that count towards success rates (a `done` run only with a score)."""


class FilterTerm(BaseModel):
    """One `key=value` term of a filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    """What is matched: one of `KEYS` (`config.PATH` for a config value)."""
    values: tuple[str, ...]
    """Alternatives: the term holds when any of them matches."""

    def __str__(self) -> str:
        return f"{self.key}={'|'.join(self.values)}"


class RunFilter(BaseModel):
    """Which runs to read: every term must hold. The empty filter keeps every run.

    Example:
        >>> str(RunFilter.parse("model=openai/*,tag=shell|python"))
        'model=openai/*,tag=shell|python'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    terms: tuple[FilterTerm, ...] = Field(default_factory=tuple)
    """The terms, all of which must hold."""

    @classmethod
    def parse(cls, *texts: str) -> RunFilter:
        """Read filters written `key=value,key=value`; several texts are joined (all their terms must hold).

        Raises:
            AnalysisError: A term without `=`, an unknown key, an empty value, or a date that does not parse.
        """
        terms = []
        for text in texts:
            for part in (p.strip() for p in text.split(",")):
                if part:
                    terms.append(_term(part))
        return cls(terms=tuple(terms))

    def __and__(self, other: RunFilter) -> RunFilter:
        return RunFilter(terms=self.terms + other.terms)

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def _term(text: str) -> FilterTerm:
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep:
        raise AnalysisError(f"filter term {text!r} has no '=': write key=value, e.g. model=openai/gpt-4o")
    if key not in KEYS and not (key.startswith("config.") and len(key) > len("config.")):
        known = ", ".join(k for k in KEYS)
        raise AnalysisError(f"unknown filter key {key!r} in {text!r}: use one of {known}")
    values = tuple(v.strip() for v in value.split("|")) if key not in SINGLE else (value.strip(),)
    if not all(values):
        raise AnalysisError(f"filter term {text!r} has an empty value: write {key}=VALUE")
    if key in ("since", "until"):
        _moment(values[0], key)
    if key == "fork" and values[0] not in ("yes", "no"):
        raise AnalysisError(f"filter term {text!r}: fork takes yes or no")
    return FilterTerm(key=key, values=values)


def _moment(text: str, key: str) -> datetime:
    """The instant a `since`/`until` value names (a bare date: its start for since, its end for until; UTC)."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime.combine(day, time(), tzinfo=UTC)
            return start if key == "since" else start + timedelta(days=1) - timedelta(microseconds=1)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise AnalysisError(f"{key}={text}: not a date: write YYYY-MM-DD or an ISO 8601 time") from None
    # Stored times are UTC (SQLite keeps them without a zone): compare in UTC.
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def agent_column() -> ColumnElement[str]:
    """The run's agent; for an oversight run (which has none), its protocol."""
    return func.coalesce(s.runs.c.agent, s.runs.c.config["protocol"].as_string(), literal("tags"))


def where(runs: RunFilter, dialect: str) -> list[ColumnElement[bool]]:
    """SQL conditions on `runs` (and its task) for the filter's terms; `dialect` is `sqlite` or `postgresql`.

    Agent runs only, unless the filter names an oversight experiment: the judged cases of `proctor oversee run`
    are runs too, but their "task" is a question and their model a judge; `proctor oversee report` reads them."""
    conditions = [_condition(term, dialect) for term in runs.terms]
    if not any(term.key == "experiment" for term in runs.terms):
        conditions.append(s.runs.c.agent.is_not(None))
    return conditions


def _condition(term: FilterTerm, dialect: str) -> ColumnElement[bool]:
    key, values = term.key, term.values
    r, t = s.runs.c, s.tasks.c
    if key == "since":
        return r.created_at >= _moment(values[0], key)
    if key == "until":
        return r.created_at <= _moment(values[0], key)
    if key == "fork":
        return r.forked_from_run_id.is_not(None) if values[0] == "yes" else r.forked_from_run_id.is_(None)
    if key.startswith("config."):
        return or_(*(_config_equals(key.removeprefix("config.").split("."), v, dialect) for v in values))
    if key == "step-tag":
        tagged = (
            select(s.tags.c.id)
            .join(s.steps, s.steps.c.id == s.tags.c.step_id)
            .where(s.steps.c.run_id == r.id, _any_match(s.tags.c.name, values))
        )
        return exists(tagged)
    if key == "tag":
        tag = _task_tags(dialect)
        return exists(select(tag.c.value).select_from(tag).where(_any_match(tag.c.value, values)))
    if key == "suite":
        return or_(*(_suite(v) for v in values))
    column: ColumnElement[Any] = {
        "model": r.model,
        "agent": agent_column(),
        "task": r.task_id,
        "family": t.family,
        "experiment": r.config["experiment"].as_string(),
    }[key]
    return _any_match(column, values)


def _any_match(column: ColumnElement[Any], values: tuple[str, ...]) -> ColumnElement[bool]:
    """The column equals one of the values; a value with `*` is a wildcard pattern."""
    matches: list[ColumnElement[bool]] = []
    plain = [v for v in values if "*" not in v]
    if plain:
        matches.append(column.in_(plain))
    for pattern in (v for v in values if "*" in v):
        escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
        matches.append(column.like(escaped, escape="\\"))
    return or_(*matches)


def _suite(value: str) -> ColumnElement[bool]:
    """A suite named `examples` holds the tasks of family `examples` and those loaded from inside a folder named
    `examples`; a value with a `/` is a folder path, holding the tasks loaded from inside it."""
    t = s.tasks.c
    if "/" in value:
        folder = value.rstrip("/")
        return or_(t.source == folder, t.source.startswith(folder + "/", autoescape=True))
    return or_(t.family == value, t.source.contains(f"/{value}/", autoescape=True))


def _task_tags(dialect: str) -> Any:
    """The task's tags as a table of one column, `value` (correlated with `tasks`)."""
    if dialect == "postgresql":
        return func.json_array_elements_text(s.tasks.c.tags).table_valued("value")
    return func.json_each(s.tasks.c.tags).table_valued("value")


def _config_equals(path: list[str], value: str, dialect: str) -> ColumnElement[bool]:
    """The config value at `path` equals `value`, read as JSON when it parses (`4`, `true`, `null`), else as a
    string; compared as JSON text, so `config.options=4` matches the number 4 and not the string "4"."""
    try:
        wanted = json.loads(value)
    except ValueError:
        wanted = value
    text = json.dumps(wanted, separators=(",", ":"))
    if dialect == "postgresql":
        found: ColumnElement[Any] = cast(s.runs.c.config[tuple(path)], String)  # config #> '{a,b}', as JSON text
    else:
        json_path = "$" + "".join(f'."{p}"' for p in path)
        found = s.runs.c.config.op("->")(literal(json_path))
    if wanted is None:
        return or_(found.is_(None), found == "null")
    return found == text


def counted() -> ColumnElement[bool]:
    """The run counts towards success rates (see the module docstring)."""
    r = s.runs.c
    return and_(
        r.parent_run_id.is_(None),
        or_(r.status == RunStatus.OVER_LIMIT.value, and_(r.status == RunStatus.DONE.value, r.score.is_not(None))),
    )


def score_value() -> ColumnElement[float]:
    """A counted run's score: its score, or 0 for a run stopped at a limit before it was scored."""
    return func.coalesce(s.runs.c.score, 0.0)


def solved(solved_at: float) -> ColumnElement[int]:
    """1 when a counted run is solved (its score is at least `solved_at`), else 0."""
    return case((score_value() >= solved_at, 1), else_=0)


def wall_seconds(dialect: str) -> ColumnElement[float]:
    """Seconds from a run's creation to its end (queueing and pauses included); null while it has not ended."""
    r = s.runs.c
    if dialect == "postgresql":
        return cast(func.extract("epoch", r.finished_at - r.created_at), Float)
    return (func.julianday(r.finished_at) - func.julianday(r.created_at)) * 86400.0


def check_solved_at(solved_at: float) -> None:
    """`solved_at` must be a score in (0, 1]."""
    if not 0 < solved_at <= 1:
        raise AnalysisError(f"solved_at must be a score in (0, 1], e.g. 1.0 or 0.5; got {solved_at}")
