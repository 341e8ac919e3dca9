"""The step loop end to end: real store, real bubblewrap sandbox, test-double models."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
import stuck_runs  # noqa: F401  (registers the double/stuck-then-solves model)
from doubles import script, sequence, turns

from proctor.models import GenerateConfig, Message
from proctor.runner import ChooserConfig, RunConfig, RunLimits, Runner, StuckConfig, resume_async
from proctor.sandbox import open_workspace
from proctor.sandbox._bwrap import BwrapSandbox
from proctor.store import RunStatus, Store, ops
from proctor.tasks import Task

sequence("solver", ["<bash>cat note.txt</bash>", '<write path="out/answer.txt">42</write>', "<submit>42</submit>"])
sequence("wrong", ["<bash>cat note.txt</bash>", "<submit>41</submit>"])
sequence("looper", ["<bash>echo again</bash>"])
sequence("babbler", ["I think I should look around first.", "<submit>42</submit>"])


async def drive(store: Store, task: Task, config: RunConfig, tmp_path: Path) -> str:
    async with Runner(store) as runner:
        run_id = await runner.create(task, config)
        await runner.drive(run_id)
    return run_id


async def test_solver_run_is_stored_step_by_step(store: Store, task: Task, tmp_path: Path) -> None:
    run_id = await drive(store, task, RunConfig(model="double/solver", options=3), tmp_path)
    run = store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.submission == "42"
    steps = store.steps(run_id)
    assert [s.index for s in steps] == [0, 1, 2]
    assert all(len(s.options) == 3 and s.done and s.chooser == "first" for s in steps)
    assert steps[0].observation is not None and "the answer is 42" in steps[0].observation.output
    assert steps[1].chosen is not None and steps[1].chosen.argument == {"path": "out/answer.txt", "content": "42"}
    with open_workspace(Path(run.workspace or "")) as workspace:  # the run's disk, mounted to read it
        assert (workspace / "out" / "answer.txt").read_text() == "42"
    assert run.input_tokens == 300 and run.output_tokens == 30 and abs(run.cost - 0.003) < 1e-9
    assert [e["detail"]["status"] for e in store.events(run_id, "status")] == ["running", "scoring", "done"]


async def test_wrong_answer_scores_zero(sqlite_store: Store, task: Task, tmp_path: Path) -> None:
    run_id = await drive(sqlite_store, task, RunConfig(model="double/wrong"), tmp_path)
    assert sqlite_store.run(run_id).score == 0.0


async def test_unparseable_output_is_an_observation_and_the_run_goes_on(
    sqlite_store: Store, task: Task, tmp_path: Path
) -> None:
    run_id = await drive(sqlite_store, task, RunConfig(model="double/babbler"), tmp_path)
    first = sqlite_store.steps(run_id)[0]
    assert first.options[0].action is None and "no action found" in (first.options[0].parse_error or "")
    assert first.observation is not None and first.observation.kind == "error" and first.observation.failed
    assert sqlite_store.run(run_id).score == 1.0


async def test_step_limit_stops_the_run_and_resume_with_a_higher_limit_goes_on(
    sqlite_store: Store, task: Task, tmp_path: Path
) -> None:
    config = RunConfig(model="double/looper", limits=RunLimits(steps=3), stuck=StuckConfig(after_failures=0))
    run_id = await drive(sqlite_store, task, config, tmp_path)
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.OVER_LIMIT and run.steps_done == 3 and "steps: 3 of 3" in (run.error or "")
    resumed = await resume_async(sqlite_store, run_id, limits={"steps": 5})
    assert resumed.status is RunStatus.OVER_LIMIT and resumed.steps_done == 5
    assert [s.index for s in sqlite_store.steps(run_id)] == [0, 1, 2, 3, 4]


async def test_token_and_cost_limits(sqlite_store: Store, task: Task, tmp_path: Path) -> None:
    by_tokens = RunConfig(model="double/looper", limits=RunLimits(steps=None, tokens=250))
    run_id = await drive(sqlite_store, task, by_tokens, tmp_path)
    assert sqlite_store.run(run_id).steps_done == 3  # 110 tokens a call: stops at 330 >= 250
    by_cost = RunConfig(model="double/looper", limits=RunLimits(steps=None, cost=0.0015))
    run_id = await drive(sqlite_store, task, by_cost, tmp_path)
    assert sqlite_store.run(run_id).steps_done == 2 and sqlite_store.run(run_id).status is RunStatus.OVER_LIMIT


async def test_checkpoint_pauses_until_resumed(sqlite_store: Store, task: Task, tmp_path: Path) -> None:
    config = RunConfig(model="double/looper", limits=RunLimits(steps=5), checkpoint=RunLimits(steps=2))
    run_id = await drive(sqlite_store, task, config, tmp_path)
    assert sqlite_store.run(run_id).status is RunStatus.PAUSED and sqlite_store.run(run_id).steps_done == 2
    again = await resume_async(sqlite_store, run_id)
    assert again.status is RunStatus.PAUSED and again.steps_done == 4
    final = await resume_async(sqlite_store, run_id)
    assert final.status is RunStatus.OVER_LIMIT and final.steps_done == 5


@script("rated")
def _rated(messages: list[Message], config: GenerateConfig) -> list[str]:
    if "Rate it from 1" in messages[-1].content:  # the rater's prompt
        return ["5" if "<submit>42</submit>" in messages[-1].content else "2"] * config.n
    return ["<submit>7</submit>", "<submit>42</submit>", "<bash>ls</bash>"][: config.n]


async def test_rating_chooser_by_sampling_stores_ratings_and_takes_the_best(
    sqlite_store: Store, task: Task, tmp_path: Path
) -> None:
    config = RunConfig(model="double/rated", options=3, chooser=ChooserConfig(name="rating", samples=3))
    run_id = await drive(sqlite_store, task, config, tmp_path)
    step = sqlite_store.steps(run_id)[0]
    assert [o.ratings[0].value for o in step.options] == [2.0, 5.0, 2.0]
    assert all(o.ratings[0].method == "sampling" for o in step.options)
    assert step.chosen is not None and step.chosen.index == 1 and step.chooser == "rating:double/rated"
    assert sqlite_store.run(run_id).score == 1.0


async def test_rating_chooser_uses_logprobs_when_returned(sqlite_store: Store, task: Task, tmp_path: Path) -> None:
    # Log-probabilities of 70% "4" and 30% "2": the expected rating is 3.4 for every option.
    logprobs = {"4": -0.35667494393873245, "2": -1.2039728043259361}
    config = RunConfig(
        model="double/rated",
        model_options={"logprobs": logprobs},
        options=2,
        chooser=ChooserConfig(name="rating"),
    )
    run_id = await drive(sqlite_store, task, config, tmp_path)
    ratings = [r for o in sqlite_store.steps(run_id)[0].options for r in o.ratings]
    assert [r.method for r in ratings] == ["logprobs", "logprobs"]
    assert all(abs(r.value - 3.4) < 1e-9 for r in ratings)


async def test_human_chooser_waits_for_a_persons_option(sqlite_store: Store, task: Task, tmp_path: Path) -> None:
    config = RunConfig(model="double/looper", options=2, chooser=ChooserConfig(name="human", poll_seconds=0.05))

    def person() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            waiting = sqlite_store.runs(status="waiting_human")
            if waiting:
                step = sqlite_store.steps(waiting[0].id)[-1]
                fields = {
                    "text": "<submit>42</submit>",
                    "action": "submit",
                    "argument": {"answer": "42"},
                    "parse_error": None,
                    "source": "human:ada",
                }
                sqlite_store.write(ops.human_choice, step.id, "ada", option=fields)
                return
            time.sleep(0.05)

    helper = threading.Thread(target=person)
    helper.start()
    run_id = await drive(sqlite_store, task, config, tmp_path)
    helper.join()
    step = sqlite_store.steps(run_id)[0]
    assert len(step.options) == 3 and step.chooser == "human:ada" and step.chosen is not None
    assert step.chosen.source == "human:ada"
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0
    assert [e["detail"]["status"] for e in sqlite_store.events(run_id, "status")][:3] == [
        "running",
        "waiting_human",
        "running",
    ]


async def test_stuck_check_fires_after_failures_and_restarts_from_a_summary(
    sqlite_store: Store, task: Task, tmp_path: Path
) -> None:
    config = RunConfig(model="double/stuck-then-solves", stuck=StuckConfig(after_failures=3))
    run_id = await drive(sqlite_store, task, config, tmp_path)
    steps = sqlite_store.steps(run_id)
    assert [s.kind for s in steps] == ["action"] * 3 + ["stuck_check", "restart", "action", "action"]
    assert steps[3].observation is not None and steps[3].observation.output == "stuck"
    assert steps[4].summary is not None and "read note.txt" in steps[4].summary
    assert [e["detail"]["stuck"] for e in sqlite_store.events(run_id, "stuck")] == [True]
    assert sqlite_store.run(run_id).score == 1.0


async def test_scheduled_stuck_check_without_restart_is_recorded(
    sqlite_store: Store, task: Task, tmp_path: Path
) -> None:
    sequence("steady", ["<bash>true</bash>", "<bash>true</bash>", "<bash>true</bash>", "NO", "<submit>42</submit>"])
    config = RunConfig(model="double/steady", stuck=StuckConfig(every=2, after_failures=0, restart=False))
    run_id = await drive(sqlite_store, task, config, tmp_path)
    kinds = [s.kind for s in sqlite_store.steps(run_id)]
    assert kinds[:3] == ["action", "action", "stuck_check"]
    assert len(sqlite_store.events(run_id, "stuck")) == kinds.count("stuck_check") >= 1


@script("delegator")
def _delegator(messages: list[Message], config: GenerateConfig) -> list[str]:
    if messages[1].content.startswith("Count"):  # the subtask
        return ["<bash>wc -l < note.txt</bash>" if turns(messages) == 0 else "<submit>1 line</submit>"]
    return ["<delegate>Count the lines of note.txt</delegate>" if turns(messages) == 0 else "<submit>42</submit>"]


async def test_delegate_runs_a_child_run_and_returns_its_result(store: Store, task: Task, tmp_path: Path) -> None:
    run_id = await drive(store, task, RunConfig(model="double/delegator"), tmp_path)
    step = store.steps(run_id)[0]
    assert step.observation is not None and step.observation.output == "subtask result: 1 line"
    child = store.run(step.observation.child_run_id or "")
    assert child.parent_run_id == run_id and child.parent_step_id == step.id and child.status is RunStatus.DONE
    assert child.config["subtask"] == "Count the lines of note.txt" and child.score is None
    assert [s.observation.output.strip() for s in store.steps(child.id) if s.observation] == ["1", "1 line"]
    assert store.run(run_id).input_tokens == 4 * 100  # the child's calls count in the parent


async def test_internet_is_refused_unless_allowed(sqlite_store: Store, reachable_tmp: Path) -> None:
    from runner_tasks import online_task

    sequence(
        "curious",
        [
            "<bash>python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"</bash>",
            "<submit>42</submit>",
        ],
    )
    task = online_task(reachable_tmp)
    run_id = await drive(sqlite_store, task, RunConfig(model="double/curious"), reachable_tmp)
    assert [e["detail"] for e in sqlite_store.events(run_id, "permission_refused")] == [{"permission": "full_internet"}]
    observation = sqlite_store.steps(run_id)[0].observation
    assert observation is not None and observation.exit_code != 0 and "unreachable" in observation.stderr.lower()


async def test_many_runs_share_one_writer(sqlite_store: Store, task: Task, tmp_path: Path) -> None:
    from proctor.runner import run_tasks_async

    records = await run_tasks_async([task] * 6, RunConfig(model="double/solver"), sqlite_store, concurrency=6)
    assert len({r.id for r in records}) == 6 and all(r.score == 1.0 for r in records)
    await asyncio.sleep(0)


async def test_a_tasks_suggested_limits_apply_when_tighter(sqlite_store: Store, reachable_tmp: Path) -> None:
    from runner_tasks import write_task

    from proctor.tasks import load_tasks

    folder = write_task(reachable_tmp / "limited", name="limited")
    (folder / "task.yaml").write_text((folder / "task.yaml").read_text() + "limits:\n  steps: 2\n")
    limited = load_tasks(folder)[0]
    run_id = await drive(
        sqlite_store, limited, RunConfig(model="double/looper", limits=RunLimits(steps=10)), reachable_tmp
    )
    assert sqlite_store.run(run_id).steps_done == 2
    config = RunConfig(model="double/looper", limits=RunLimits(steps=3), task_limits=False)
    run_id = await drive(sqlite_store, limited, config, reachable_tmp)
    assert sqlite_store.run(run_id).steps_done == 3


@pytest.mark.parametrize("fault", [asyncio.CancelledError, RuntimeError])
async def test_a_fault_after_a_run_is_stored_done_leaves_it_done(
    store: Store, task: Task, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: type[BaseException]
) -> None:
    """A runner cancelled (or failing) after a run's last write, while its sandbox closes, keeps the run's score."""
    close = BwrapSandbox.close

    async def close_then_fault(self: BwrapSandbox) -> None:
        await close(self)
        raise fault("after the last write")

    monkeypatch.setattr(BwrapSandbox, "close", close_then_fault)
    async with Runner(store) as runner:
        run_id = await runner.create(task, RunConfig(model="double/solver"))
        if fault is asyncio.CancelledError:
            with pytest.raises(asyncio.CancelledError):
                await runner.drive(run_id)
        else:
            await runner.drive(run_id)
    run = store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.error is None
    assert [e["detail"]["status"] for e in store.events(run_id, "status")] == ["running", "scoring", "done"]


async def test_abort_ends_only_a_run_its_driver_has_not_ended(store: Store, task: Task) -> None:
    async with Runner(store) as runner:
        ended, queued = [await runner.create(task, RunConfig(model="double/solver")) for _ in range(2)]
    with store.engine.begin() as conn:
        ops.set_status(conn, ended, RunStatus.DONE, score=1.0)
        assert not ops.abort(conn, ended, RunStatus.KILLED, "cancelled")
        assert ops.abort(conn, queued, RunStatus.FAILED, "RuntimeError: boom")
    assert store.run(ended).status is RunStatus.DONE and store.run(ended).error is None
    assert (store.run(queued).status, store.run(queued).error) == (RunStatus.FAILED, "RuntimeError: boom")
    assert [e["detail"]["status"] for e in store.events(ended, "status")] == ["done"]
