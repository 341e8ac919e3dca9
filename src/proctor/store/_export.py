"""Exports: JSONL trajectories, preference pairs from ratings, and flat tables of runs, steps, options and ratings
as JSONL or Parquet.

A flat table's rows are the same in both formats: one row per record, scalar columns only. Columns holding JSON
(a run's config, an option's parsed arguments, a step's tool calls and tags) hold it as JSON text, so every row
has the same columns whatever the JSON holds; times are UTC, ISO 8601 text in JSONL and timestamps in Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Select, select

from proctor.store import _schema as s
from proctor.store._preferences import STRENGTHS, ComparisonRecord, comparisons
from proctor.store._records import OptionRecord, RunRecord, StepRecord
from proctor.store._store import Store

ColumnKind = Literal["str", "int", "float", "bool", "time", "json"]
Columns = list[tuple[str, ColumnKind]]
_CHUNK = 500  # run ids per query
_BATCH = 10_000  # rows per Parquet row group


class ExportError(ValueError):
    """An export cannot be written as asked; the message says what to do."""


def trajectory(store: Store, record: RunRecord) -> dict[str, Any]:
    """A run with its whole tree: every step's options (chosen marked, ratings), observation, tags; subtask runs
    nested under the step that delegated them; people's notes on the run."""
    steps = []
    for step in store.steps(record.id):
        item = step.model_dump(mode="json")
        if step.observation and step.observation.child_run_id:
            item["subtask"] = trajectory(store, store.run(step.observation.child_run_id))
        steps.append(item)
    notes = [e["detail"] | {"created_at": e["created_at"].isoformat()} for e in store.events(record.id, "note")]
    return record.model_dump(mode="json") | {"steps": steps, "notes": notes}


def trajectories(store: Store, records: list[RunRecord]) -> Iterator[dict[str, Any]]:
    """One trajectory per run."""
    for record in records:
        yield trajectory(store, record)


def _context(steps: list[StepRecord], upto: int) -> list[dict[str, str]]:
    """The chosen actions and observations before step `upto`, as the agent saw them."""
    turns = []
    for step in steps[:upto]:
        chosen = step.chosen
        if step.kind == "action" and chosen is not None and step.observation is not None:
            turns += [
                {"role": "assistant", "content": chosen.text},
                {"role": "user", "content": step.observation.output},
            ]
    return turns


def preference_pairs(store: Store, records: list[RunRecord]) -> Iterator[dict[str, Any]]:
    """For each step with two or more rated options, one pair per two options whose mean ratings differ: the
    higher-rated is `chosen`, the lower `rejected`."""
    for record in records:
        task = store.task(record.task_id)
        steps = store.steps(record.id)
        for position, step in enumerate(steps):
            rated = [(o, sum(r.value for r in o.ratings) / len(o.ratings)) for o in step.options if o.ratings]
            for (a, score_a), (b, score_b) in combinations(rated, 2):
                if score_a == score_b:
                    continue
                (best, best_score), (worst, worst_score) = sorted(
                    [(a, score_a), (b, score_b)], key=lambda pair: -pair[1]
                )
                yield {
                    "kind": "pair",
                    "run_id": record.id,
                    "task_id": record.task_id,
                    "step": step.index,
                    "instructions": task["instructions"],
                    "context": _context(steps, position),
                    "chosen": best.text,
                    "rejected": worst.text,
                    "chosen_rating": best_score,
                    "rejected_rating": worst_score,
                    "raters": sorted({r.rater for o in (best, worst) for r in o.ratings}),
                }


def preferences(store: Store, records: list[RunRecord]) -> Iterator[dict[str, Any]]:
    """Everything people (and model raters) said about options, to train a reward model on, one JSON object a line,
    each with the run, task, step, the task's instructions and the context before the step:

    - `pair`: two rated options whose mean current ratings differ (see `preference_pairs`);
    - `comparison`: a current pairwise judgment of options `a` and `b` of a step, `strength` from -3 (A much better)
      to 3 (B much better), with `preferred` (`a`, `b` or `tie`);
    - `rating`: a current rating of one option on its scale.

    Options carry their text, parsed action, source, whether they were taken, and `added_by` for alternatives added
    after the step (never run). Only each rater's current rating and comparison count; replaced ones are history."""
    for record in records:
        yield from preference_pairs(store, [record])
        task = store.task(record.task_id)
        steps = store.steps(record.id)
        with store.engine.connect() as conn:
            compared = comparisons(conn, [st.id for st in steps])
        by_step: dict[int, list[ComparisonRecord]] = {}
        for c in compared:
            by_step.setdefault(c.step_id, []).append(c)
        for position, step in enumerate(steps):
            base = {
                "run_id": record.id,
                "task_id": record.task_id,
                "step": step.index,
                "instructions": task["instructions"],
                "context": _context(steps, position),
            }
            options = {o.id: _option_line(o, step.chosen_option_id) for o in step.options}
            for c in by_step.get(step.id, []):
                preferred = "tie" if c.value == 0 else ("a" if c.value < 0 else "b")
                yield base | {
                    "kind": "comparison",
                    "a": options[c.option_a],
                    "b": options[c.option_b],
                    "strength": c.value,
                    "label": STRENGTHS[c.value],
                    "preferred": preferred,
                    "rater": c.rater,
                    "comment": c.comment,
                    "created_at": c.created_at.isoformat(),
                }
            for o in step.options:
                for r in o.ratings:
                    yield base | {
                        "kind": "rating",
                        "option": options[o.id],
                        "value": r.value,
                        "scale": r.scale,
                        "method": r.method,
                        "rater": r.rater,
                        "comment": r.comment,
                    }


def _option_line(option: OptionRecord, chosen_id: int | None) -> dict[str, Any]:
    return {
        "id": option.id,
        "index": option.index,
        "text": option.text,
        "action": option.action,
        "source": option.source,
        "chosen": option.id == chosen_id,
        "added_by": option.added_by,
    }


# Flat tables

TABLES: dict[str, Columns] = {
    "runs": [
        ("id", "str"),
        ("task_id", "str"),
        ("task_family", "str"),
        ("status", "str"),
        ("model", "str"),
        ("agent", "str"),
        ("parent_run_id", "str"),
        ("parent_step_id", "int"),
        ("forked_from_run_id", "str"),
        ("forked_from_step", "int"),
        ("submission", "str"),
        ("score", "float"),
        ("error", "str"),
        ("steps_done", "int"),
        ("input_tokens", "int"),
        ("output_tokens", "int"),
        ("cost", "float"),
        ("active_seconds", "float"),
        ("created_at", "time"),
        ("finished_at", "time"),
        ("config", "json"),
    ],
    "steps": [
        ("id", "int"),
        ("run_id", "str"),
        ("index", "int"),
        ("kind", "str"),
        ("summary", "str"),
        ("chosen_option_id", "int"),
        ("chooser", "str"),
        ("observation_kind", "str"),
        ("output", "str"),
        ("stderr", "str"),
        ("exit_code", "int"),
        ("failed", "bool"),
        ("timed_out", "bool"),
        ("truncated", "bool"),
        ("duration", "float"),
        ("child_run_id", "str"),
        ("calls", "json"),
        ("tags", "json"),
        ("created_at", "time"),
    ],
    "options": [
        ("id", "int"),
        ("step_id", "int"),
        ("run_id", "str"),
        ("step_index", "int"),
        ("index", "int"),
        ("text", "str"),
        ("action", "str"),
        ("argument", "json"),
        ("parse_error", "str"),
        ("source", "str"),
        ("chosen", "bool"),
        ("created_at", "time"),
    ],
    "ratings": [
        ("id", "int"),
        ("option_id", "int"),
        ("step_id", "int"),
        ("run_id", "str"),
        ("rater", "str"),
        ("value", "float"),
        ("scale", "str"),
        ("method", "str"),
        ("comment", "str"),
        ("created_at", "time"),
    ],
}
"""The flat tables and their columns, in order."""


def with_subtasks(store: Store, run_ids: list[str]) -> list[str]:
    """The runs and, recursively, the runs they delegated to (subtasks, cross-examination forks), in that order."""
    found = dict.fromkeys(run_ids)
    frontier = list(found)
    with store.engine.connect() as conn:
        while frontier:
            children: list[str] = []
            for chunk in _chunks(frontier):
                query = select(s.runs.c.id).where(s.runs.c.parent_run_id.in_(chunk)).order_by(s.runs.c.created_at)
                children += [r.id for r in conn.execute(query) if r.id not in found]
            found.update(dict.fromkeys(children))
            frontier = children
    return list(found)


def table_rows(store: Store, table: str, run_ids: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of a flat table (`TABLES`) for these runs, run by run in the order given (steps by index, options
    by step and index, ratings in the order given).

    Raises:
        ExportError: an unknown table.
    """
    if table not in TABLES:
        raise ExportError(f"unknown table {table!r}: one of {', '.join(TABLES)}")
    columns = TABLES[table]
    with store.engine.connect() as conn:
        for chunk in _chunks(run_ids):
            order = {run_id: i for i, run_id in enumerate(chunk)}
            key = "id" if table == "runs" else "run_id"
            # The query orders each run's rows; a stable sort puts the runs in the order given.
            rows = sorted(conn.execute(_QUERIES[table](chunk)).mappings().all(), key=lambda r: order[r[key]])
            tags = _tags(conn, [r["id"] for r in rows]) if table == "steps" else {}
            for row in rows:
                values = dict(row)
                if table == "runs":
                    values["agent"] = (row["config"] or {}).get("agent")
                if table == "steps":
                    values["tags"] = tags.get(row["id"], [])
                if table == "options":
                    values["chosen"] = row["chosen_option_id"] == row["id"]
                yield {name: _value(values.get(name), kind) for name, kind in columns}


def _runs_query(chunk: list[str]) -> Select[Any]:
    return (
        select(*s.runs.c, s.tasks.c.family.label("task_family"))
        .join(s.tasks, s.tasks.c.id == s.runs.c.task_id)
        .where(s.runs.c.id.in_(chunk))
    )


def _steps_query(chunk: list[str]) -> Select[Any]:
    o = s.observations.c
    return (
        select(
            *s.steps.c,
            s.choices.c.option_id.label("chosen_option_id"),
            s.choices.c.chooser,
            o.kind.label("observation_kind"),
            o.output,
            o.stderr,
            o.exit_code,
            o.failed,
            o.timed_out,
            o.truncated,
            o.duration,
            o.child_run_id,
            o.calls,
        )
        .outerjoin(s.choices, s.choices.c.step_id == s.steps.c.id)
        .outerjoin(s.observations, o.step_id == s.steps.c.id)
        .where(s.steps.c.run_id.in_(chunk))
        .order_by(s.steps.c.run_id, s.steps.c.index)
    )


def _options_query(chunk: list[str]) -> Select[Any]:
    return (
        select(
            *s.options.c,
            s.steps.c.run_id,
            s.steps.c.index.label("step_index"),
            s.choices.c.option_id.label("chosen_option_id"),
        )
        .join(s.steps, s.steps.c.id == s.options.c.step_id)
        .outerjoin(s.choices, s.choices.c.step_id == s.steps.c.id)
        .where(s.steps.c.run_id.in_(chunk))
        .order_by(s.steps.c.run_id, s.steps.c.index, s.options.c.index)
    )


def _ratings_query(chunk: list[str]) -> Select[Any]:
    return (
        select(*s.ratings.c, s.options.c.step_id, s.steps.c.run_id)
        .join(s.options, s.options.c.id == s.ratings.c.option_id)
        .join(s.steps, s.steps.c.id == s.options.c.step_id)
        .where(s.steps.c.run_id.in_(chunk), s.CURRENT_RATING)
        .order_by(s.steps.c.run_id, s.ratings.c.id)
    )


_QUERIES = {"runs": _runs_query, "steps": _steps_query, "options": _options_query, "ratings": _ratings_query}


def _tags(conn: Any, step_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for start in range(0, len(step_ids), _CHUNK):
        query = select(s.tags.c.step_id, s.tags.c.name).where(s.tags.c.step_id.in_(step_ids[start : start + _CHUNK]))
        for r in conn.execute(query.order_by(s.tags.c.id)):
            found.setdefault(r.step_id, []).append(r.name)
    return found


def _value(value: Any, kind: ColumnKind) -> Any:
    """A stored value as a flat table holds it."""
    if value is None:
        return None
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if kind == "time":
        return utc(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    return str(value)


def utc(value: datetime) -> datetime:
    """A stored time in UTC (SQLite hands back times without a zone; they were written in UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(ids: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# Writing


def write_jsonl(rows: Iterable[dict[str, Any]], out: IO[str]) -> int:
    """Write rows as JSON lines (times as ISO 8601 text); returns how many."""
    count = 0
    for row in rows:
        out.write(json.dumps(row, ensure_ascii=False, default=_json_default) + "\n")
        count += 1
    return count


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_parquet(rows: Iterable[dict[str, Any]], columns: Columns, path: Path) -> int:
    """Write rows to a Parquet file with the table's column types (in row groups of 10,000); returns how many.

    Raises:
        ExportError: pyarrow is not installed.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as error:
        raise ExportError("Parquet export needs pyarrow: pip install 'proctor[parquet]'") from error
    types = {
        "str": pa.string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "time": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),
    }
    schema = pa.schema([(name, types[kind]) for name, kind in columns])
    count = 0
    batch: list[dict[str, Any]] = []
    with pq.ParquetWriter(str(path), schema) as writer:
        for row in rows:
            batch.append(row)
            if len(batch) == _BATCH:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count
