"""The human agent through the real step loop: a person's requests and clock, written to the store as the web
interface writes them, become steps by `human:<user>`; time the clock does not run is not active time; stopping
the clock gives up; a killed run resumes without repeating a request; its config needs no model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from runner_tasks import write_task

from proctor.agents import HumanAgent, clock_of, request_detail
from proctor.agents._human import CLOCK, LIST_COMMAND, REQUEST
from proctor.runner import RunConfig, Runner, StuckConfig
from proctor.runner._config import with_task_limits
from proctor.store import RunRecord, RunStatus, Store, ops
from proctor.tasks import Task, load_tasks

PERSON = RunConfig(agent="human", agent_options={"poll_seconds": 0.05})


class Person:
    """Writes what the web interface writes for a person doing a run."""

    def __init__(self, store: Store, run_id: str, name: str = "ada") -> None:
        self.store, self.run_id, self.name = store, run_id, name

    def clock(self, move: str) -> None:
        self.store.write(ops.add_event, self.run_id, CLOCK, {"state": move, "by": self.name})

    def ask(self, kind: str, value: str = "") -> int:
        return self.store.write(ops.add_event, self.run_id, REQUEST, request_detail(kind, value, self.name))

    async def done(self, steps: int) -> None:
        """Wait until the run has completed `steps` steps."""
        await until(lambda: self.store.run(self.run_id).steps_done >= steps)


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def with_person(store: Store, task: Task, work: Callable[[Person], Any], config: RunConfig = PERSON) -> str:
    """Create a run of the human agent and drive it while `work(person)` acts; returns the run id."""
    async with Runner(store) as runner:
        run_id = await runner.create(task, config)
        await asyncio.gather(runner.drive(run_id), work(Person(store, run_id)))
    return run_id


@pytest.fixture
def limited(reachable_tmp: Path) -> Task:
    """The `echo` task, suggesting a limit of 2 steps (a model's budget)."""
    folder = write_task(reachable_tmp / "tasks", name="limited")
    (folder / "task.yaml").write_text((folder / "task.yaml").read_text() + "limits:\n  steps: 2\n")
    return load_tasks(folder)[0]


def test_a_human_run_needs_no_model_takes_no_step_limit_and_is_never_asked_if_stuck(limited: Task) -> None:
    config = RunConfig(agent="human")
    assert config.model == "human/web" and config.limits.steps is None
    assert config.stuck.every == 0 and config.stuck.after_failures == 0
    assert with_task_limits(config, limited).limits.steps is None  # the task's 2 steps are a model's budget
    assert with_task_limits(RunConfig(agent="react"), limited).limits.steps == 2
    given = RunConfig(agent="human", model="human/ada", limits={"steps": 5}, stuck=StuckConfig(after_failures=2))
    assert (given.model, given.limits.steps, given.stuck.after_failures) == ("human/ada", 5, 2)
    stored = RunConfig.model_validate(config.model_dump(mode="json"))
    assert stored == config and stored.agent == "human"


def test_the_clock_counts_only_the_time_it_runs() -> None:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)

    def event(seconds: float, state: str, by: str = "ada") -> dict[str, Any]:
        return {"kind": CLOCK, "detail": {"state": state, "by": by}, "created_at": t0 + timedelta(seconds=seconds)}

    events = [event(10, "start"), event(70, "pause"), event(75, "pause"), event(100, "resume", "bob")]
    clock = clock_of(events, t0 + timedelta(seconds=130))
    assert clock.state == "running" and clock.by == "ada" and clock.active_seconds == 90.0  # the 2nd pause is void
    assert clock.running_between(t0, t0 + timedelta(seconds=20)) == 10.0
    assert clock.running_between(t0 + timedelta(seconds=60), t0 + timedelta(seconds=110)) == 20.0
    assert clock.allows("pause") and clock.allows("stop") and not clock.allows("start")
    stopped = clock_of([*events, event(140, "stop")], t0 + timedelta(seconds=999))
    assert stopped.state == "stopped" and stopped.active_seconds == 100.0 and not stopped.allows("resume")
    naive = [{**e, "created_at": e["created_at"].replace(tzinfo=None)} for e in events]  # as SQLite gives them
    assert clock_of(naive, t0 + timedelta(seconds=130)).active_seconds == 90.0
    assert clock_of([], t0).state == "not started" and clock_of([], t0).active_seconds == 0.0


async def test_a_person_does_a_task_on_the_clock(sqlite_store: Store, limited: Task) -> None:
    started = time.monotonic()
    asked: list[int] = []

    async def work(person: Person) -> None:
        await until(lambda: sqlite_store.run(person.run_id).status is RunStatus.WAITING_HUMAN)
        await asyncio.sleep(0.8)  # reading the instructions, before the clock starts: not counted
        person.clock("start")
        asked.append(person.ask("files"))
        person.ask("read", "note.txt")
        person.ask("bash", "sleep 0.5; echo tick")
        await person.done(3)
        person.clock("pause")
        await asyncio.sleep(1.5)
        person.clock("resume")
        person.ask("bash", "sleep 0.3; false")
        await person.done(4)
        person.ask("submit", " 42 ")

    run_id = await with_person(sqlite_store, limited, work)
    wall = time.monotonic() - started
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.submission == "42" and run.model == "human/web"
    steps = sqlite_store.steps(run_id)
    assert [s.chosen.action for s in steps if s.chosen] == ["bash", "read", "bash", "bash", "submit"]  # past 2 steps
    assert {s.chosen.source for s in steps if s.chosen} == {"human:ada"} and {s.chooser for s in steps} == {"human:ada"}
    listing, read, tick, failed, _ = steps
    assert listing.chosen and listing.chosen.argument == {"command": LIST_COMMAND, "view": "files", "request": asked[0]}
    assert listing.observation and listing.observation.output.split() == ["note.txt"]
    assert read.observation and read.observation.output == "the answer is 42\n"
    assert tick.observation and tick.observation.output == "tick\n"
    assert failed.observation and failed.observation.failed and failed.observation.exit_code == 1
    # Active time is the clock's: the commands' 0.8 s, neither the 0.8 s before it started nor the 1.5 s pause.
    clock = clock_of(sqlite_store.events(run_id))
    assert clock.state == "running" and 0.8 < run.active_seconds < wall - 2.3
    assert abs(run.active_seconds - clock.active_seconds) < 0.5, (run.active_seconds, clock.active_seconds)
    statuses = [e["detail"]["status"] for e in sqlite_store.events(run_id, "status")]
    assert statuses.count("waiting_human") == 5 and statuses[-1] == "done"


async def test_stopping_the_clock_gives_up(sqlite_store: Store, limited: Task) -> None:
    async def work(person: Person) -> None:
        person.clock("start")
        person.ask("bash", "ls")
        await person.done(1)
        person.clock("stop")

    run_id = await with_person(sqlite_store, limited, work)
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 0.0 and run.submission == ""
    last = sqlite_store.steps(run_id)[-1].chosen
    assert last is not None and last.action == "submit" and last.argument and last.argument["gave_up"] is True


async def test_a_killed_human_run_resumes_without_repeating_a_request(sqlite_store: Store, limited: Task) -> None:
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(limited, PERSON)
        person = Person(sqlite_store, run_id)
        person.clock("start")
        person.ask("bash", "echo one >> log.txt")
        driving = asyncio.create_task(runner.drive(run_id))
        await person.done(1)
        await until(lambda: sqlite_store.run(run_id).status is RunStatus.WAITING_HUMAN)
        driving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await driving
    assert sqlite_store.run(run_id).status is RunStatus.KILLED
    person.ask("bash", "echo two >> log.txt; cat log.txt")
    person.ask("submit", "42")
    async with Runner(sqlite_store) as runner:
        record: RunRecord = await runner.drive(run_id, claim=(RunStatus.KILLED,))
    assert record.status is RunStatus.DONE and record.score == 1.0
    steps = sqlite_store.steps(run_id)
    assert len(steps) == 3 and steps[1].observation and steps[1].observation.output == "one\ntwo\n"


def test_the_agent_remembers_the_requests_it_took() -> None:
    agent = HumanAgent()
    event = {"id": 7, "kind": REQUEST, "detail": request_detail("read", "a.txt", "ada")}
    assert agent._next([event]) == event
    agent.seen = 7
    assert agent._next([event]) is None
