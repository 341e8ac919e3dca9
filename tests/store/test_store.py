"""The store on SQLite and on a real PostgreSQL server: schema, migrations, reads, the batched writer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from proctor.store import RunStatus, Store, StoreError, Writer, ops
from proctor.store._migrate import alembic_config

TASK = {
    "id": "suite/t",
    "family": "suite",
    "name": "t",
    "format": "native",
    "source": "/x",
    "instructions": "do it",
    "permissions": [],
}


def make_run(store: Store) -> str:
    store.write(ops.upsert_task, TASK)
    return store.write(ops.create_run, task_id="suite/t", model="double/x", config={"model": "double/x"})


def test_step_done_survives_a_downgrade_and_upgrade(store: Store) -> None:
    run_id = make_run(store)
    option = {"text": "x", "action": None, "argument": None, "parse_error": "no", "source": "model:double/x"}
    finished, _ = store.write(ops.start_step, run_id, 0, "action", [option])
    store.write(ops.finish_step, run_id, finished, {"kind": "error", "output": "no"}, 0.0)
    pending, _ = store.write(ops.start_step, run_id, 1, "action", [option])
    config = alembic_config(store.engine)

    command.downgrade(config, "0003")  # steps.done comes back, filled from the observations
    with store.engine.connect() as conn:
        done = {row.id: bool(row.done) for row in conn.execute(text("SELECT id, done FROM steps"))}
    command.upgrade(config, "head")

    assert done == {finished: True, pending: False}
    assert [s.done for s in store.steps(run_id)] == [True, False]


def test_sqlite_uses_wal(sqlite_store: Store) -> None:
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_tree_round_trips(store: Store) -> None:
    run_id = make_run(store)
    option = {
        "text": "<bash>ls</bash>",
        "action": "bash",
        "argument": {"command": "ls"},
        "parse_error": None,
        "source": "model:double/x",
    }
    step_id, (_, second) = store.write(ops.start_step, run_id, 0, "action", [option, option | {"text": "b"}])
    store.write(ops.add_rating, second, {"rater": "human:ada", "value": 4.0, "scale": "1-5", "method": "human"})
    store.write(ops.add_choice, step_id, second, "human:ada")
    store.write(ops.add_tag, step_id, "search", "ada")
    store.write(
        ops.add_usage,
        run_id,
        step_id,
        {"model": "double/x", "role": "agent", "input_tokens": 7, "output_tokens": 3, "cost": 0.5},
    )
    store.write(ops.finish_step, run_id, step_id, {"kind": "bash", "output": "a.txt", "exit_code": 0}, 1.5)
    store.write(ops.set_status, run_id, RunStatus.DONE)
    (step,) = store.steps(run_id)
    assert step.done and step.tags == ["search"] and step.chooser == "human:ada"
    assert step.chosen is not None and step.chosen.id == second and step.chosen.ratings[0].value == 4.0
    assert step.observation is not None and step.observation.output == "a.txt"
    run = store.run(run_id)
    assert (run.steps_done, run.input_tokens, run.output_tokens, run.cost, run.active_seconds) == (1, 7, 3, 0.5, 1.5)
    assert run.status is RunStatus.DONE and run.finished_at is not None
    assert store.choice(step_id) == (second, "human:ada")


def test_run_lookup_by_prefix_and_clear_errors(sqlite_store: Store) -> None:
    run_id = make_run(sqlite_store)
    assert sqlite_store.run(run_id[:6]).id == run_id
    with pytest.raises(StoreError, match="no run 'zzzz'"):
        sqlite_store.run("zzzz")
    with pytest.raises(StoreError, match="ambiguous"):
        make_run(sqlite_store)
        sqlite_store.run("")


def test_filters(sqlite_store: Store) -> None:
    first, second = make_run(sqlite_store), make_run(sqlite_store)
    sqlite_store.write(ops.set_status, first, RunStatus.FAILED, "boom")
    assert [r.id for r in sqlite_store.runs(status="failed")] == [first]
    assert {r.id for r in sqlite_store.runs(task="suite")} == {first, second}
    assert sqlite_store.runs(model="nothing") == []


@pytest.mark.parametrize("url", ["nonsense://", "sqlite+nodriver:///x.db", "mysql://u@localhost/x"])
def test_bad_database_urls_say_what_to_do(url: str) -> None:
    with pytest.raises(StoreError, match=r"database URL|cannot open"):
        Store(url)


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open database"):
        Store("postgresql://nobody@127.0.0.1:1/none")


async def test_writer_commits_each_write_and_isolates_failures(store: Store) -> None:
    run_id = make_run(store)
    async with Writer(store) as writer:
        ids = await asyncio.gather(*(writer.write(ops.add_step, run_id, i, "action") for i in range(50)))
        with pytest.raises(Exception, match=r"UNIQUE|unique|duplicate"):
            await writer.write(ops.add_step, run_id, 3, "action")  # the same index twice
        await writer.write(ops.add_event, run_id, "after", {})
    assert len(set(ids)) == 50 and len(store.steps(run_id)) == 50
    assert len(store.events(run_id, "after")) == 1


def test_sqlite_folder_is_created(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'deep' / 'er' / 'p.db'}")
    assert store.count_runs() == 0 and (tmp_path / "deep" / "er" / "p.db").exists()
