"""Leases on runs: one worker wins a run, a lapsed lease frees it for another, a renewal finds what was lost."""

from __future__ import annotations

import time

from proctor.store import RunStatus, Store, leases, ops


def queued_run(store: Store) -> str:
    task = {"id": "f/t", "family": "f", "name": "t", "format": "native", "source": "/x", "instructions": "do"}
    store.write(ops.upsert_task, task | {"permissions": [], "tags": []})
    return store.write(ops.create_run, task_id="f/t", model="scripted/baseline", config={})


def test_one_worker_wins_and_a_lapsed_lease_is_taken_over(store: Store) -> None:
    first, second = queued_run(store), queued_run(store)
    assert store.write(leases.lease_runs, "a", 1, 60.0) == [first]  # oldest first
    assert store.write(leases.lease_runs, "b", 5, 60.0) == [second]  # a leased run is not leased twice
    assert store.write(leases.lease_runs, "c", 5, 60.0) == []
    assert store.write(ops.claim, first, (RunStatus.QUEUED,), "b") is False  # only under its own lease
    assert store.write(ops.claim, first, (RunStatus.QUEUED,), "a") is True

    assert store.write(leases.renew, "a", [first], 0.05) == {first}
    time.sleep(0.1)  # worker a died: its lease lapses
    assert store.write(leases.lease_runs, "c", 5, 60.0) == [first]  # running, lapsed: taken over
    assert store.write(leases.renew, "a", [first], 60.0) == set()  # a, back, finds it lost
    assert store.run(first).lease_owner == "c"
    assert store.write(ops.claim, first, (RunStatus.RUNNING,), "c") is True


def test_finished_and_unleased_running_runs_are_never_taken(store: Store) -> None:
    done, local = queued_run(store), queued_run(store)
    store.write(ops.claim, local, (RunStatus.QUEUED,))  # driven by `proctor run`, no lease: never taken over
    store.write(leases.lease_runs, "a", 1, 0.01)
    store.write(ops.claim, done, (RunStatus.QUEUED,), "a")
    store.write(ops.set_status, done, RunStatus.DONE)
    time.sleep(0.05)
    assert store.write(leases.lease_runs, "b", 5, 60.0) == []
    assert store.write(leases.lease_runs, "b", 5, 60.0, batch="other") == []


def test_a_batch_leases_only_its_own_runs(store: Store) -> None:
    outside = queued_run(store)  # also stores the task
    inside = store.write(ops.create_run, task_id="f/t", model="scripted/baseline", config={}, batch="b1")
    assert store.write(leases.lease_runs, "a", 5, 60.0, batch="b1") == [inside]
    assert store.write(leases.lease_runs, "a", 5, 60.0) == [outside]


def test_a_claim_without_a_lease_takes_the_run_from_its_worker(store: Store) -> None:
    run_id = queued_run(store)
    store.write(leases.lease_runs, "a", 1, 60.0)
    assert store.write(ops.claim, run_id, (RunStatus.QUEUED,)) is True  # `proctor run` got there first
    assert store.write(ops.claim, run_id, (RunStatus.QUEUED, RunStatus.RUNNING), "a") is False
    assert store.write(leases.renew, "a", [run_id], 60.0) == set()  # a's heartbeat finds it lost
