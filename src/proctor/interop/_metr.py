"""METR data in: runs in METR's `runs.jsonl` format (one run a line, as in METR's time-horizon data) stored as
runs without steps, for reports.

The file is checked whole before anything is stored: the first bad line is named, with its field, in one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from proctor.interop._common import InteropError
from proctor.interop._rows import RunRows, stable_run_id
from proctor.store import RunStatus


class MetrRun(BaseModel):
    """One line of a METR `runs.jsonl`: a run of a model (or a person) on a task. Other fields are kept as
    they are."""

    model_config = ConfigDict(extra="allow")

    task_id: str = Field(min_length=1)
    """The task, e.g. `hcast/acdc_bug/fix_bug`."""
    run_id: str = Field(min_length=1)
    """The run's id in METR's data (numbers are read as text)."""
    alias: str = Field(min_length=1)
    """The agent's display name, e.g. `Claude 3.7 Sonnet`."""
    score_binarized: int = Field(ge=0, le=1)
    """1 if the run succeeded, else 0: the run's score."""
    task_family: str | None = None
    """The task's family (default: the task id before its first `/`)."""
    model: str | None = None
    """The model (default: the alias)."""
    score_cont: float | None = Field(default=None, ge=0, le=1)
    """The continuous score, if any."""
    human_minutes: float | None = Field(default=None, ge=0)
    """Minutes a person takes to do the task (time horizons are measured against it)."""
    started_at: float | None = None
    """When the run started: milliseconds (or seconds) since 1970, or relative (then not used as a time)."""
    completed_at: float | None = None
    """When it ended, in the same unit."""
    generation_cost: float | None = Field(default=None, ge=0)
    """US dollars the model's calls cost."""
    fatal_error_from: str | None = None
    """Why the run failed, if it did."""

    @field_validator("run_id", mode="before")
    @classmethod
    def _run_id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("score_binarized", mode="before")
    @classmethod
    def _zero_or_one(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, float) and value in (0.0, 1.0):
            return int(value)
        if isinstance(value, int) and value in (0, 1):
            return value
        raise ValueError(f"must be 0 or 1, got {value!r}")


def _no_nan(row: dict[str, Any]) -> dict[str, Any]:
    """NaN (pandas' missing value, which its JSON writer emits) as a missing value."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def read_rows(path: Path) -> Iterator[tuple[int, MetrRun]]:
    """The file's runs with their line numbers, one at a time.

    Raises:
        InteropError: a line that is not a JSON object, or lacks or has a bad field: `FILE line N: FIELD: why`.
    """
    try:
        file = path.open(encoding="utf-8")
    except OSError as error:
        raise InteropError(f"{path}: cannot be read ({error.strerror or error})") from error
    with file:
        for number, line in enumerate(file, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise InteropError(f"{path} line {number}: not JSON ({error.msg})") from error
            if not isinstance(data, dict):
                raise InteropError(f"{path} line {number}: not a JSON object")
            try:
                yield number, MetrRun.model_validate(_no_nan(data))
            except ValidationError as error:
                raise InteropError(f"{path} line {number}: {_problem(error)}") from error


def _problem(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "the line"
    if first["type"] == "missing":
        return f"{field}: missing (every run needs task_id, run_id, alias and score_binarized)"
    message = first["msg"].removeprefix("Value error, ")
    got = first.get("input")
    return f"{field}: {message}" + ("" if "got" in message else f" (got {got!r})")


def _moment(value: float | None) -> datetime | None:
    """A time given in milliseconds or seconds since 1970; None for a relative one (e.g. a person's 0)."""
    if value is None or value < 1e9:
        return None
    seconds = value / 1000 if value > 1e11 else value
    return datetime.fromtimestamp(seconds, UTC)


def run_rows(path: Path, number: int, row: MetrRun) -> RunRows:
    """The run a line becomes: task `task_id`, model `model` (or the alias), agent `scaffold` (or the alias),
    score `score_binarized`, the whole line kept in the run's config under `metr`."""
    key = f"metr:{row.run_id}"
    family = row.task_family or row.task_id.split("/")[0]
    name = row.task_id.removeprefix(f"{family}/") if row.task_id.startswith(f"{family}/") else row.task_id
    started, completed = _moment(row.started_at), _moment(row.completed_at)
    seconds = (completed - started).total_seconds() if started and completed and completed >= started else 0.0
    failed = bool(row.fatal_error_from)
    model = row.model or row.alias
    scaffold = (row.model_extra or {}).get("scaffold")  # proctor's own export names the agent apart
    agent = scaffold if isinstance(scaffold, str) and scaffold else row.alias
    line = row.model_dump(mode="json")
    return RunRows(
        task={
            "id": row.task_id,
            "family": family,
            "name": name,
            "format": "metr_runs",
            "source": str(path),
            "instructions": "",
            "permissions": [],
        },
        run={
            "id": stable_run_id(key),
            "task_id": row.task_id,
            "status": RunStatus.FAILED if failed else RunStatus.DONE,
            "model": model,
            "config": {"model": model, "agent": agent, "metr": line},
            "score": float(row.score_binarized),
            "error": row.fatal_error_from or None,
            "cost": row.generation_cost or 0.0,
            "active_seconds": seconds,
            "created_at": started,
            "finished_at": completed or started,
        },
        events=[("imported", {"from": "runs-jsonl", "key": key, "file": str(path), "line": number}, None)],
    )
