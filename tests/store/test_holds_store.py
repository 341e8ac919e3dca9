"""Holds in the store, on SQLite and PostgreSQL: holding sets the run waiting, a decision is taken once, and the
holds come back with their steps (and with a fork's copied steps)."""

from __future__ import annotations

from proctor.store import RunStatus, Store, ops

TASK = {
    "id": "suite/t",
    "family": "suite",
    "name": "t",
    "format": "native",
    "source": "/x",
    "instructions": "do it",
    "permissions": [],
}
OPTION = {"text": "<bash>rm -rf x</bash>", "action": "bash", "argument": {"command": "rm -rf x"}}


def test_a_hold_waits_is_decided_once_and_comes_back_with_its_step(store: Store) -> None:
    store.write(ops.upsert_task, TASK)
    run_id = store.write(ops.create_run, task_id="suite/t", model="double/x", config={"model": "double/x"})
    step_id, (option_id,) = store.write(
        ops.start_step, run_id, 0, "action", [OPTION | {"parse_error": None, "source": "model:double/x"}]
    )
    store.write(ops.add_choice, step_id, option_id, "first")
    fields = {"call": 0, "kind": "approval", "action": "bash", "argument": OPTION["argument"], "rule": "bash: rm *"}
    hold_id = store.write(ops.hold, run_id, step_id, fields)
    assert store.run(run_id).status is RunStatus.WAITING_APPROVAL
    (pending,) = store.pending_holds(run_id)
    assert (pending.id, pending.subject, pending.verdict, pending.call) == (hold_id, "rm -rf x", None, 0)
    assert store.held(step_id, 0) == pending and store.held(step_id, 1) is None

    edited = pending.with_subject("rm -r x/cache")
    assert store.write(ops.decide, hold_id, "edited", "ada", edited=edited)
    assert not store.write(ops.decide, hold_id, "rejected", "bob", text="too late")  # decided already
    store.write(ops.hold_ran, hold_id, {"kind": "bash", "output": "", "exit_code": 0})
    store.write(ops.finish_step, run_id, step_id, {"kind": "bash", "output": "", "exit_code": 0}, 0.0)
    assert store.pending_holds(run_id) == []
    (decided,) = store.steps(run_id)[0].holds
    assert (decided.verdict, decided.decided_by, decided.text) == ("edited", "ada", None)
    assert decided.edited == {"command": "rm -r x/cache"} and decided.replacement == "rm -r x/cache"
    assert decided.decided_at is not None and decided.result == {"kind": "bash", "output": "", "exit_code": 0}
    assert [e["detail"]["by"] for e in store.events(run_id, "decided")] == ["ada"]

    fork_id = store.fork(run_id, 1)
    (copied,) = store.steps(fork_id)[0].holds
    assert copied.model_dump(exclude={"id", "step_id"}) == decided.model_dump(exclude={"id", "step_id"})
