"""The runs list reads pages from indexes on SQLite and PostgreSQL: no page (the first, the next, one ordered by
score, one of a status) sorts the whole runs table, so a page costs the same at 100,000 runs as at 100."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, insert

from proctor.store import Store, ops, users
from proctor.store import _schema as schema
from proctor.web._queries import RunQuery, list_runs

RUNS = 3000


def fill(store: Store) -> None:
    """`RUNS` runs over two tasks and every score, in one insert."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {
            "id": f"{i:012x}",
            "task_id": f"suite/t{i % 2}",
            "status": ["done", "failed", "running"][i % 3],
            "model": "double/x",
            "agent": "tags",
            "config": {},
            "score": [None, 0.0, 0.5, 1.0][i % 4],
            "steps_done": 1,
            "pause_requested": False,
            "input_tokens": 1,
            "output_tokens": 1,
            "cost": 0.0,
            "active_seconds": 0.0,
            "created_at": start + timedelta(seconds=i),
        }
        for i in range(RUNS)
    ]
    with store.engine.begin() as conn:
        for task in ("suite/t0", "suite/t1"):
            ops.upsert_task(
                conn,
                {
                    "id": task,
                    "family": "suite",
                    "name": task[6:],
                    "format": "native",
                    "source": "/x",
                    "instructions": "do",
                    "permissions": [],
                },
            )
        conn.execute(insert(schema.runs), rows)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE runs")


def page_statements(store: Store, query: RunQuery) -> tuple[list[tuple[str, Any]], list[str]]:
    """The SELECTs of the runs table behind a page of the list for a researcher, and the page's run ids."""
    with store.engine.connect() as conn:
        researcher = users.user_by_name(conn, "rob")
    assert researcher is not None
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM runs" in statement:
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.engine.connect() as conn:
            page = list_runs(conn, query, researcher)
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    return statements, [run.id for run in page.runs]


def plan(store: Store, statement: str, parameters: Any) -> str:
    """The query plan, as text. On PostgreSQL sequential scans and sorts are priced out (not forbidden), so the
    plan reads an index whenever one fits the query's order: a plan that still sorts has no index to use."""
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters))
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_sort = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters))


def sorts_the_table(text: str) -> bool:
    """Whether a plan orders the rows itself instead of reading them in order from an index (an incremental sort
    of rows read in the order's first key, as PostgreSQL does for ties, reads in order)."""
    return "TEMP B-TREE FOR ORDER BY" in text or bool(re.search(r"(^|-> +)Sort +\(", text, re.MULTILINE))


def test_every_page_of_the_runs_list_reads_an_index(store: Store) -> None:
    fill(store)
    store.write(users.add_user, "rob", "researcher", "a-long-password")
    checked = 0
    for filters in ({}, {"sort": "score", "order": "asc"}, {"sort": "score"}, {"status": "done"}):
        first_statements, first_ids = page_statements(store, RunQuery(**filters, limit=50))
        assert len(first_ids) == 50
        with store.engine.connect() as conn:
            researcher = users.user_by_name(conn, "rob")
            assert researcher is not None
            cursor = list_runs(conn, RunQuery(**filters, limit=50), researcher).next
        assert cursor is not None
        next_statements, next_ids = page_statements(store, RunQuery(**filters, limit=50, after=cursor))
        assert len(next_ids) == 50 and not set(next_ids) & set(first_ids)
        for statement, parameters in first_statements[:1] + next_statements[:1]:
            text = plan(store, statement, parameters)
            assert not sorts_the_table(text), f"{filters}: the page sorts the runs table:\n{text}\n{statement}"
            assert "ix_runs_" in text, f"{filters}: no index of runs read:\n{text}"
            checked += 1
    assert checked == 8


def test_pages_by_score_follow_the_score_order(store: Store) -> None:
    """The index's order is the list's: unscored runs first going up, then by score, ties by id."""
    fill(store)
    store.write(users.add_user, "rob", "researcher", "a-long-password")
    _, ids = page_statements(store, RunQuery(sort="score", order="asc", limit=500))
    scores = {run.id: run.score for run in store.runs(limit=RUNS)}
    keys = [(-1.0 if scores[run_id] is None else scores[run_id], run_id) for run_id in ids]
    assert keys == sorted(keys) and keys[0][0] == -1.0
