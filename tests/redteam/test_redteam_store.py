"""What red teaming adds to the store, on SQLite and PostgreSQL: runs by a config key, the tags of runs, and forks
that a loop drives itself (running at once, a changed config, inside the caller's transaction)."""

from __future__ import annotations

import pytest
from sqlalchemy import Connection

from proctor.store import RunStatus, Store, StoreError, ops


def _run_with_steps(store: Store, config: dict[str, object], steps: int) -> str:
    def write(conn: Connection) -> str:
        run_id = ops.create_run(conn, task_id="t/x", model="m/a", config=config, status=RunStatus.RUNNING)
        for index in range(steps):
            option = {"text": f"turn {index}", "action": "attack", "argument": {"turn": index}, "parse_error": None}
            ops.write_step(
                conn,
                run_id,
                index,
                "attack",
                [option | {"source": "model:red"}, option | {"text": f"other {index}", "source": "model:red"}],
                chosen=0,
                chooser="first",
                observation={"kind": "reply", "output": f"reply {index}"},
                usages=[],
            )
        return run_id

    return store.write(write)


@pytest.fixture
def task_store(store: Store) -> Store:
    row = {"id": "t/x", "family": "t", "name": "x", "format": "redteam", "source": "s", "instructions": "i"}
    store.write(ops.upsert_task, row | {"permissions": []})
    return store


def test_config_runs_and_run_tags(task_store: Store) -> None:
    first = _run_with_steps(task_store, {"redteam": "c1", "kind": "attack"}, 2)
    second = _run_with_steps(task_store, {"redteam": "c1", "kind": "attack"}, 1)
    _run_with_steps(task_store, {"redteam": "c2"}, 1)
    _run_with_steps(task_store, {"experiment": "c1"}, 1)
    assert [r.id for r in task_store.config_runs("redteam", "c1")] == [first, second]
    assert task_store.config_runs("redteam", "nope") == []
    steps = task_store.steps(first)
    task_store.write(ops.add_tag, steps[1].id, "success", "rae")
    task_store.write(ops.add_tag, steps[0].id, "failure", "rae")
    tags = task_store.run_tags([first, second])
    assert [(t["run_id"], t["step"], t["name"], t["author"]) for t in tags] == [
        (first, 1, "success", "rae"),
        (first, 0, "failure", "rae"),
    ]
    assert task_store.run_tags([]) == []


def test_a_fork_driven_by_its_own_loop(task_store: Store) -> None:
    source = _run_with_steps(task_store, {"redteam": "c1", "attempt": 3}, 3)

    def fork(conn: Connection) -> str:
        return task_store.fork(
            source,
            2,
            user="redteam",
            status=RunStatus.RUNNING,
            config={"retry": 1},
            conn=conn,
        )

    fork_id = task_store.write(fork)
    run = task_store.run(fork_id)
    assert run.status is RunStatus.RUNNING and run.model == "m/a"
    assert run.config == {"redteam": "c1", "attempt": 3, "retry": 1}
    assert (run.forked_from_run_id, run.forked_from_step, run.steps_done) == (source, 2, 2)
    original, copied = task_store.steps(source), task_store.steps(fork_id)
    assert len(copied) == 2
    for a, b in zip(original[:2], copied, strict=True):
        assert [(o.text, o.source, o.argument) for o in a.options] == [
            (o.text, o.source, o.argument) for o in b.options
        ]
        assert a.observation == b.observation and a.chooser == b.chooser
        assert b.chosen is not None and b.chosen.text == a.chosen.text  # type: ignore[union-attr]
    assert task_store.events(fork_id, "fork")[0]["detail"] == {"from": source, "step": 2, "by": "redteam"}
    # The default is unchanged: a queued fork, in its own transaction.
    queued = task_store.fork(source, 0)
    assert task_store.run(queued).status is RunStatus.QUEUED and task_store.steps(queued) == []
    with pytest.raises(StoreError, match=r"fork from a step in 0\.\.3"):
        task_store.fork(source, 4)
