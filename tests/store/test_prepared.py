"""Statements run on the driver's cursor (`Prepared`) store exactly what SQLAlchemy's `conn.execute` stores, on
SQLite and on PostgreSQL: the same columns, defaults, JSON (a JSON null apart from SQL NULL), dates, literals,
row counts and new ids, and a driver's error raised as SQLAlchemy's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, Connection, Integer, Table, Text, cast, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from proctor.store import RunStatus, Store, Writer, ops
from proctor.store import _schema as s
from proctor.store._ops import _ADD_TOTALS, _COUNT_STEP, _FINISH_RUN, _UPDATE_RUN, _UPSERT_TASK, _claim_statement
from proctor.store._prepared import Prepared

STAMP = datetime(2026, 12, 1, 5, 6, 7, 123456, tzinfo=UTC)
TASK = {
    "family": "suite",
    "name": "t",
    "format": "native",
    "source": "/x",
    "instructions": "do it",
    "permissions": ["full_internet"],
    "tags": None,
    "created_at": STAMP,
}


def stored(conn: Connection, table: Table, where: Any) -> list[dict[str, Any]]:
    """Rows as stored: JSON columns as their text (so a JSON null differs from SQL NULL), ids left out."""
    columns = [cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in table.c if c.name != "id"]
    return [dict(row._mapping) for row in conn.execute(select(*columns).where(where).order_by(*table.primary_key))]


def both_ways(conn: Connection, table: Table, row: dict[str, Any], unique: dict[str, Any]) -> list[dict[str, Any]]:
    """Insert `row` through SQLAlchemy, and through `Prepared` with its unique columns set to `unique`; both rows
    as stored, `unique`'s columns set back. Checks the new row's id is the one SQLAlchemy would give."""
    (by_sqlalchemy,) = conn.execute(table.insert(), row).inserted_primary_key or [None]
    prepared = Prepared(table.insert())
    if isinstance(table.c.id.type, Integer):
        by_prepared = prepared.insert(conn, row | unique)
        assert by_prepared == by_sqlalchemy + 1
    else:  # a run: its id is given
        assert prepared.execute(conn, row | unique) == 1
        by_prepared = unique["id"]
    first, second = stored(conn, table, table.c.id.in_([by_sqlalchemy, by_prepared]))
    return [first, second | {name: row.get(name) for name in unique if name in second}]


def test_inserts_store_the_same_rows(store: Store) -> None:
    with store.engine.begin() as conn:
        _UPSERT_TASK[conn.dialect.name].execute(conn, {"id": "suite/t", **TASK})
        # Left-out columns with defaults (steps_done, cost, pause_requested…) and without (workspace).
        run = {"id": "r0", "task_id": "suite/t", "model": "m", "config": {"a": [1, None]}, "status": "queued"}
        first, second = both_ways(conn, s.runs, run | {"created_at": STAMP}, {"id": "r1"})
        assert first == second and second["steps_done"] == 0 and second["pause_requested"] is False
        step = {"run_id": "r0", "index": 0, "kind": "action", "summary": None, "created_at": STAMP}
        first, second = both_ways(conn, s.steps, step, {"index": 1})
        assert first == second
        step_ids = conn.execute(select(s.steps.c.id).order_by(s.steps.c.id)).scalars().all()
        cases: list[tuple[Table, dict[str, Any], dict[str, Any]]] = [
            (s.events, {"run_id": "r0", "kind": "status", "detail": {"status": "running", "error": None}}, {}),
            (s.events, {"run_id": "r0", "kind": "setup", "detail": {}}, {}),
            (s.usage, {"run_id": "r0", "step_id": step_ids[0], "model": "m", "role": "agent", "error": "x"}, {}),
            (s.usage, {"run_id": "r0", "step_id": None, "model": "m", "role": "agent", "cost": 0.5}, {}),
            (s.options, {"step_id": step_ids[0], "index": 0, "text": "t", "argument": None, "source": "m"}, {}),
            (s.options, {"step_id": step_ids[0], "index": 1, "text": "é", "argument": {"a": "ls"}, "source": "m"}, {}),
            (s.observations, {"step_id": step_ids[0], "kind": "submit", "output": "4"}, {"step_id": step_ids[1]}),
            (s.choices, {"step_id": step_ids[0], "option_id": 1, "chooser": "first"}, {"step_id": step_ids[1]}),
        ]
        for table, row, unique in cases:
            row |= {"created_at": STAMP}
            if not unique:  # rows told apart by their ids only
                unique = {"run_id": "r1"} if "run_id" in row else {"step_id": step_ids[1]}
            if table is s.choices:
                row["option_id"] = conn.execute(select(s.options.c.id).limit(1)).scalar_one()
            first, second = both_ways(conn, table, row, unique)
            assert first == second, table.name
        # A JSON null is stored as JSON text, as SQLAlchemy stores it; a left-out column as SQL NULL.
        options = stored(conn, s.options, s.options.c.index == 0)
        assert [o["argument"] for o in options] == ["null", "null"] and options[0]["parse_error"] is None
        observation = stored(conn, s.observations, s.observations.c.step_id == step_ids[1])[0]
        assert observation["stderr"] == "" and observation["failed"] is False and observation["calls"] is None


def test_updates_store_count_and_return_as_sqlalchemy_does(store: Store) -> None:
    with store.engine.begin() as conn:
        _UPSERT_TASK[conn.dialect.name].execute(conn, {"id": "suite/t", **TASK})
        for run_id in ("a", "b"):
            ops.create_run(conn, task_id="suite/t", model="m", config={}, run_id=run_id, created_at=STAMP)
        updates: list[tuple[Prepared, dict[str, Any]]] = [
            (_ADD_TOTALS, {"_input": 7, "_output": 3, "_cost": 0.25}),
            (_UPDATE_RUN, {"workspace": "/w", "finished_at": STAMP, "error": None, "status": "done"}),
            (_COUNT_STEP, {"_active": 1.5}),  # with a literal of its own: steps_done + 1
        ]
        for prepared, values in updates:
            conn.execute(prepared.statement, values | {"_by_id": "a"})
            assert prepared.execute(conn, values | {"_by_id": "b"}) == 1
        a, b = (stored(conn, s.runs, s.runs.c.id == run_id)[0] for run_id in ("a", "b"))
        assert a == b and (b["input_tokens"], b["steps_done"], b["status"]) == (7, 1, "done")
        assert _COUNT_STEP.one(conn, {"_by_id": "a", "_active": 2.0}) == {"pause_requested": False}
        ops.request_pause(conn, "a", "ada")
        assert _COUNT_STEP.one(conn, {"_by_id": "a", "_active": 2.0}) == {"pause_requested": True}
        # A returned row is read as SQLAlchemy reads it: dates, JSON, booleans.
        finish = {"status": "done", "score": 1.0, "finished_at": STAMP, "config": {"n": [1, None], "s": "é"}}
        by_sqlalchemy = conn.execute(_FINISH_RUN.statement, finish | {"_by_id": "b"}).one()._asdict()
        by_prepared = _FINISH_RUN.one(conn, finish | {"_by_id": "a"})
        assert by_prepared == by_sqlalchemy | {
            "id": "a",
            "steps_done": 3,
            "pause_requested": True,
            "active_seconds": 2.0,
        }
        finished = by_prepared["finished_at"]  # naive from SQLite, as SQLAlchemy reads it
        assert finished.replace(tzinfo=finished.tzinfo or UTC) == STAMP and by_prepared["config"] == finish["config"]
        with pytest.raises(LookupError):
            _FINISH_RUN.one(conn, finish | {"_by_id": "none"})
        claim = _claim_statement((RunStatus.DONE, RunStatus.PAUSED))
        running = {"status": "running", "error": None, "_by_id": "a"}
        assert claim.execute(conn, running) == 1 and claim.execute(conn, running) == 0  # no longer done
        assert claim.execute(conn, running | {"_by_id": "none"}) == 0


def test_a_driver_error_is_sqlalchemys_and_the_store_goes_on(store: Store) -> None:
    store.write(ops.upsert_task, {"id": "suite/t", **TASK})
    run_id = store.write(ops.create_run, task_id="suite/t", model="m", config={})
    step_id, (option_id,) = store.write(ops.start_step, run_id, 0, "action", [{"text": "t", "source": "m"}])
    store.write(ops.add_choice, step_id, option_id, "first")
    with pytest.raises(IntegrityError):
        store.write(ops.add_choice, step_id, option_id, "again")  # one choice a step
    assert store.choice(step_id) == (option_id, "first")
    store.write(ops.add_event, run_id, "after", {"n": 1})
    assert [e["detail"] for e in store.events(run_id, "after")] == [{"n": 1}]


def end_other_connections(store: Store) -> None:
    """The server ends every other connection to the store's database (a restart, a proxy's timeout)."""
    with store.engine.connect() as admin:
        others = "datname = current_database() AND pid <> pg_backend_pid()"
        admin.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {others}"))


async def test_a_lost_postgresql_connection_is_invalidated_and_replaced(postgres_store: Store) -> None:
    store = postgres_store
    store.write(ops.upsert_task, {"id": "suite/t", **TASK})
    run_id = store.write(ops.create_run, task_id="suite/t", model="m", config={})
    with store.engine.connect() as conn:
        conn.begin()
        ops.add_event(conn, run_id, "uncommitted", {})
        end_other_connections(store)
        with pytest.raises(DBAPIError) as lost:
            ops.add_event(conn, run_id, "lost", {})
        assert lost.value.connection_invalidated and conn.invalidated  # as SQLAlchemy marks a lost connection
    async with Writer(store) as writer:
        await writer.write(ops.add_event, run_id, "before", {})
        end_other_connections(store)
        with pytest.raises(DBAPIError):
            await writer.write(ops.add_event, run_id, "lost", {})
        await writer.write(ops.add_event, run_id, "after", {})  # on a new connection
    assert [e["kind"] for e in store.events(run_id)] == ["before", "after"]


def test_a_run_finished_with_its_known_config_reads_back_as_stored(store: Store) -> None:
    store.write(ops.upsert_task, {"id": "suite/t", **TASK})
    config = {"model": "m", "limits": {"steps": 3, "cost": 0.5}, "options": [1, None, "é"]}
    first, second = (store.write(ops.create_run, task_id="suite/t", model="m", config=config) for _ in range(2))
    read = store.write(ops.finish_run, first, RunStatus.DONE, score=1.0)
    known = store.write(ops.finish_run, second, RunStatus.DONE, score=1.0, stored_config=config)
    assert known == store.run(second) and read == store.run(first)
    assert known.model_dump(exclude={"id", "created_at", "finished_at"}) == read.model_dump(
        exclude={"id", "created_at", "finished_at"}
    )
