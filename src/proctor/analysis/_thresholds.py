"""If-then thresholds: "if a model's success on these tasks reaches this level, then take this precaution".

A thresholds file (YAML) lists thresholds; each names a *measure* — a function registered with `@measure` that
returns, per model (and agent), a value with a confidence interval — the runs it is measured on, and a level.
Per model the verdict is:

- `crossed`: the whole interval is at or above the level;
- `below`: the whole interval is below it;
- `inconclusive`: the interval straddles it (more runs would tell).

A model measured through several agents gets its most severe verdict (crossed, then inconclusive, then below):
what a model can do is what its best elicitation shows.

```yaml
thresholds:
  - name: shell-autonomy
    measure: success          # a registered measure (default: success)
    where: {suite: examples, tag: shell}
    level: 0.8
    precaution: security review before the model is given network access
```
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proctor.analysis._filters import RunFilter
from proctor.analysis._grid import results_grid
from proctor.analysis._rates import pooled_rate
from proctor.analysis._stats import AnalysisError
from proctor.store import Store

Verdict = Literal["crossed", "inconclusive", "below"]
SEVERITY: dict[Verdict, int] = {"crossed": 2, "inconclusive": 1, "below": 0}


class Measurement(BaseModel):
    """What a measure found for one model (and agent)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """The model."""
    agent: str | None = None
    """The agent, when the measure tells agents apart."""
    value: float
    """The measured value."""
    low: float
    """Lower end of its confidence interval."""
    high: float
    """Upper end of its confidence interval."""
    evidence: str
    """What it rests on, in words: e.g. `12/40 runs solved on 8 tasks`."""


class Measure(Protocol):
    """A measure thresholds can name: per model (and agent), a value with an interval, from the runs `runs`
    selects. A measure finding no runs returns an empty list."""

    def __call__(self, store: Store, runs: RunFilter, *, confidence: float, solved_at: float) -> list[Measurement]:
        """Measure every model with runs in `runs`."""
        ...


_measures: dict[str, Measure] = {}


def measure(name: str) -> Callable[[Measure], Measure]:
    """Register a measure under `name`, for thresholds files to name.

    Example:
        @measure("horizon_p50")
        def horizon_p50(store, runs, *, confidence, solved_at):
            return [Measurement(model=m, value=v, low=lo, high=hi, evidence="…") for m, v, lo, hi in ...]
    """

    def register(function: Measure) -> Measure:
        _measures[name] = function
        return function

    return register


def measures() -> list[str]:
    """The registered measures' names."""
    return sorted(_measures)


def get_measure(name: str) -> Measure:
    """The measure registered as `name`.

    Raises:
        AnalysisError: No such measure.
    """
    try:
        return _measures[name]
    except KeyError:
        raise AnalysisError(f"unknown measure {name!r}: use one of {', '.join(measures())}") from None


@measure("success")
def success_measure(store: Store, runs: RunFilter, *, confidence: float, solved_at: float) -> list[Measurement]:
    """Solved over counted runs per model and agent, the interval clustered by task (see `pooled_rate`)."""
    grid = results_grid(store, runs, solved_at=solved_at, confidence=confidence)
    found = []
    for summary in grid.models:
        if summary.success is None:
            continue
        rate = summary.success
        found.append(
            Measurement(
                model=summary.model,
                agent=summary.agent,
                value=rate.value,
                low=rate.low,
                high=rate.high,
                evidence=f"{rate.successes}/{rate.runs} runs solved on {rate.tasks} task" + "s" * (rate.tasks != 1),
            )
        )
    return found


@measure("task_success")
def task_success_measure(store: Store, runs: RunFilter, *, confidence: float, solved_at: float) -> list[Measurement]:
    """Share of tasks solved in more than half of their runs, per model and agent, with the Wilson interval over
    tasks (each task one outcome)."""
    grid = results_grid(store, runs, solved_at=solved_at, confidence=confidence)
    per_model: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for cell in grid.cells:
        if cell.runs:
            per_model[(cell.model, cell.agent)].append(cell.solved * 2 > cell.runs)
    found = []
    for (model, agent), outcomes in sorted(per_model.items()):
        rate = pooled_rate([(int(o), 1) for o in outcomes], confidence=confidence)
        evidence = f"{sum(outcomes)}/{len(outcomes)} tasks solved in most of their runs"
        found.append(
            Measurement(model=model, agent=agent, value=rate.value, low=rate.low, high=rate.high, evidence=evidence)
        )
    return found


class Threshold(BaseModel):
    """One if-then threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    """What the threshold is called in verdicts."""
    measure: str = "success"
    """The registered measure (`success`, `task_success`, or one registered with `@measure`)."""
    where: dict[str, str | list[str]] = Field(default_factory=dict)
    """Which runs it is measured on: filter keys (see `RunFilter`) to a value or a list of alternatives, e.g.
    `{suite: examples, tag: [shell, python]}`."""
    level: float
    """The level: crossed when the whole interval is at or above it."""
    precaution: str = Field(min_length=1)
    """What crossing it calls for."""

    @field_validator("where", mode="before")
    @classmethod
    def _as_text(cls, where: Any) -> Any:
        # YAML reads 4, true and 2026-01-31 as a number, a boolean and a date: filters compare their text.
        if not isinstance(where, dict):
            return where
        return {
            key: [_text(v) for v in value] if isinstance(value, list) else _text(value) for key, value in where.items()
        }

    @field_validator("where")
    @classmethod
    def _known_keys(cls, where: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        RunFilter.parse(*_terms(where))
        return where

    def runs(self) -> RunFilter:
        """The threshold's runs as a filter."""
        return RunFilter.parse(*_terms(self.where))


def _text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _terms(where: dict[str, str | list[str]]) -> list[str]:
    return [f"{key}={'|'.join(value) if isinstance(value, list) else value}" for key, value in where.items()]


class ThresholdsFile(BaseModel):
    """A thresholds file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: list[Threshold] = Field(min_length=1)
    """The thresholds."""
    confidence: float = Field(default=0.95, gt=0, lt=1)
    """Confidence level of the intervals verdicts rest on."""
    solved_at: float = Field(default=1.0, gt=0, le=1)
    """A run is solved when its score is at least this."""


class ModelVerdict(BaseModel):
    """One model's verdict on one threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    """The model."""
    verdict: Verdict
    """Its most severe verdict over its agents."""
    measurements: list[Measurement]
    """The evidence: each agent's measurement (the first gave the verdict)."""


class ThresholdResult(BaseModel):
    """A threshold and every model's verdict on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: Threshold
    """The threshold."""
    filter: str
    """The runs it was measured on (its `where` and the report's filter)."""
    models: list[ModelVerdict]
    """Per model, most severe first; empty when none of the runs the report reads is the threshold's."""

    @property
    def crossed(self) -> bool:
        """Some model crossed it."""
        return any(m.verdict == "crossed" for m in self.models)


def verdict(low: float, high: float, level: float) -> Verdict:
    """`crossed` when low >= level, `below` when high < level, else `inconclusive`."""
    if low >= level:
        return "crossed"
    if high < level:
        return "below"
    return "inconclusive"


def load_thresholds(path: Path) -> ThresholdsFile:
    """Read a thresholds file.

    Raises:
        AnalysisError: One line naming the file, the entry and the field that is wrong.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AnalysisError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise AnalysisError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise AnalysisError(f"{path}: YAML syntax error{where}: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(data, dict):
        raise AnalysisError(f"{path}: must be a mapping with a 'thresholds' list (see docs/reports.md)")
    try:
        loaded = ThresholdsFile.model_validate(data)
    except ValidationError as error:
        raise AnalysisError(f"{path}: {_first_problem(error, data)}") from None
    for threshold in loaded.thresholds:
        if threshold.measure not in _measures:
            index = loaded.thresholds.index(threshold)
            raise AnalysisError(
                f"{path}: thresholds[{index}] ({threshold.name}): unknown measure {threshold.measure!r}; "
                f"use one of {', '.join(measures())}"
            )
    return loaded


def _first_problem(error: ValidationError, data: Any) -> str:
    item = error.errors()[0]
    location = item["loc"]
    parts: list[str] = []
    for part in location:
        parts.append(f"[{part}]" if isinstance(part, int) else (f".{part}" if parts else str(part)))
    key = "".join(parts) or "(top level)"
    named = ""
    if len(location) >= 2 and location[0] == "thresholds" and isinstance(location[1], int):
        entries = data.get("thresholds")
        entry = entries[location[1]] if isinstance(entries, list) and location[1] < len(entries) else None
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            named = f" ({entry['name']})"
        key = key.replace(f"thresholds[{location[1]}]", f"thresholds[{location[1]}]{named}", 1)
    if item["type"] == "extra_forbidden":
        return f"{key}: unknown key"
    if item["type"] == "missing":
        return f"{key}: missing"
    message = item["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{key}: {message} (got {item['input']!r})"


def evaluate_thresholds(
    store: Store, thresholds: ThresholdsFile, runs: RunFilter | None = None
) -> list[ThresholdResult]:
    """Every model's verdict on every threshold.

    Args:
        store: The store to read.
        thresholds: The thresholds (see `load_thresholds`).
        runs: A filter every threshold's runs must also match (e.g. a date range).

    Returns:
        One result per threshold; a threshold whose runs exist but none within `runs` has no models.

    Raises:
        AnalysisError: A threshold whose own runs match nothing (a mistyped tag or suite must not pass silently).
    """
    results = []
    for threshold in thresholds.thresholds:
        selected = threshold.runs() & (runs or RunFilter())
        settings = {"confidence": thresholds.confidence, "solved_at": thresholds.solved_at}
        found = get_measure(threshold.measure)(store, selected, **settings)
        if not found and (not runs or not get_measure(threshold.measure)(store, threshold.runs(), **settings)):
            raise AnalysisError(
                f"threshold {threshold.name!r}: no finished runs match {threshold.runs() or 'every run'}: "
                "check its where (a mistyped tag or suite matches nothing)"
            )
        per_model: dict[str, list[Measurement]] = defaultdict(list)
        for measurement in found:
            per_model[measurement.model].append(measurement)
        models = []
        for model, group in per_model.items():
            ranked = sorted(
                group,
                key=lambda m: (-SEVERITY[verdict(m.low, m.high, threshold.level)], -m.value, m.agent or ""),
            )
            models.append(
                ModelVerdict(
                    model=model, verdict=verdict(ranked[0].low, ranked[0].high, threshold.level), measurements=ranked
                )
            )
        models.sort(key=lambda v: (-SEVERITY[v.verdict], v.model))
        results.append(ThresholdResult(threshold=threshold, filter=str(selected), models=models))
    return results
