"""People stepping in: pause a run, write its next option, resume it; forks replayed by a worker; exports."""

from __future__ import annotations

import asyncio
from pathlib import Path

from doubles import sequence
from runner_tasks import write_task

from proctor.runner import RunConfig, Runner, option_fields, resume_async, work
from proctor.sandbox import open_workspace
from proctor.store import RunStatus, Store, ops
from proctor.store._export import preference_pairs
from proctor.tasks import Task, load_tasks

sequence("writer", ['<write path="notes/a.txt">first</write>', "<bash>cat notes/a.txt</bash>", "<submit>41</submit>"])


async def test_pause_request_then_a_persons_option_then_resume(sqlite_store: Store, task: Task) -> None:
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, RunConfig(model="double/writer"))
        sqlite_store.write(ops.request_pause, run_id, "ada")  # asked before the first step ends
        paused = await runner.drive(run_id)
    assert paused.status is RunStatus.PAUSED and paused.steps_done == 1 and not paused.pause_requested
    sqlite_store.write(ops.intervene, run_id, 1, option_fields("<submit>42</submit>", "human:ada"), "ada")
    final = await resume_async(sqlite_store, run_id)
    assert final.status is RunStatus.DONE and final.score == 1.0
    steps = sqlite_store.steps(run_id)
    assert [s.chooser for s in steps] == ["first", "human:ada"]
    assert [e["detail"]["by"] for e in sqlite_store.events(run_id, "intervened")] == ["ada"]


async def test_a_queued_fork_is_replayed_and_driven_by_a_worker(sqlite_store: Store, task: Task) -> None:
    async with Runner(sqlite_store) as runner:
        original = await runner.drive(await runner.create(task, RunConfig(model="double/writer")))
    assert original.score == 0.0
    fork_id = sqlite_store.fork(original.id, 2, option=option_fields("<submit>42</submit>", "human:ada"), user="ada")
    assert sqlite_store.run(fork_id).status is RunStatus.QUEUED
    assert await work(sqlite_store, poll=0.05, once=True) == 1
    fork = sqlite_store.run(fork_id)
    assert fork.status is RunStatus.DONE and fork.score == 1.0 and fork.workspace != original.workspace
    # The fork's fresh workspace had the original's first two actions replayed into it.
    with open_workspace(Path(fork.workspace or "")) as workspace:
        assert (workspace / "notes" / "a.txt").read_text() == "first"
    assert sqlite_store.events(fork_id, "setup")[0]["detail"]["replayed"] == 2
    assert [s.chooser for s in sqlite_store.steps(fork_id)] == ["first", "first", "human:ada"]


async def test_fork_with_another_model(sqlite_store: Store, task: Task) -> None:
    sequence("finisher", ["<submit>42</submit>"])
    async with Runner(sqlite_store) as runner:
        original = await runner.drive(await runner.create(task, RunConfig(model="double/writer")))
    fork_id = sqlite_store.fork(original.id, 1, model="double/finisher")
    async with Runner(sqlite_store) as runner:
        fork = await runner.drive(fork_id)
    assert fork.model == "double/finisher" and fork.config["model"] == "double/finisher" and fork.score == 1.0
    assert [s.options[0].source for s in sqlite_store.steps(fork_id)] == [
        "model:double/writer",
        "model:double/finisher",
    ]


async def test_two_runners_never_drive_one_run(sqlite_store: Store, task: Task) -> None:
    sequence("slow", ["<bash>sleep 0.2</bash>", "<submit>42</submit>"])
    async with Runner(sqlite_store) as first, Runner(sqlite_store) as second:
        run_id = await first.create(task, RunConfig(model="double/slow"))
        a, b = await asyncio.gather(first.drive(run_id), second.drive(run_id))
    assert sorted([a.status.value, b.status.value]) == ["done", "running"]
    assert [s.index for s in sqlite_store.steps(run_id)] == [0, 1]


async def test_task_folder_in_a_private_folder_is_staged_for_the_sandbox(sqlite_store: Store, tmp_path: Path) -> None:
    # pytest's tmp_path sits under a folder only root may enter; the sandbox's host user reaches a copy.
    private = load_tasks(write_task(tmp_path / "private"))[0]
    sequence("reader", ["<bash>cat note.txt</bash>", "<submit>42</submit>"])
    async with Runner(sqlite_store) as runner:
        run = await runner.drive(await runner.create(private, RunConfig(model="double/reader")))
    assert run.score == 1.0, run.error
    first = sqlite_store.steps(run.id)[0].observation
    assert first is not None and first.output == "the answer is 42\n"


async def test_preference_pairs_come_from_rated_options(sqlite_store: Store, task: Task) -> None:
    sequence("three", ["<bash>ls</bash>", "<submit>42</submit>"])
    async with Runner(sqlite_store) as runner:
        run = await runner.drive(await runner.create(task, RunConfig(model="double/three", options=3)))
    step = sqlite_store.steps(run.id)[1]
    for option, value in zip(step.options, [2.0, 5.0, 5.0], strict=True):
        sqlite_store.write(
            ops.add_rating, option.id, {"rater": "human:ada", "value": value, "scale": "1-5", "method": "human"}
        )
    pairs = list(preference_pairs(sqlite_store, [run]))
    assert len(pairs) == 2  # 5 vs 2 twice; the two 5s make no pair
    assert all(p["chosen_rating"] == 5.0 and p["rejected_rating"] == 2.0 for p in pairs)
    assert pairs[0]["context"][0]["content"] == "<bash>ls</bash>" and pairs[0]["instructions"].startswith("Read")
