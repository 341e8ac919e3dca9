"""Approval rules and asking a person: what a rule matches, what a config refuses, and a run that does not allow
asking (the prompt and the tools leave it out; an agent that asks anyway is told, and nothing waits)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from background import Background, wait_until
from doubles import sequence
from pydantic import ValidationError

from proctor.agents import AgentRun, TagsAgent
from proctor.agents._react import tools_for
from proctor.models import GenerateConfig
from proctor.runner import ApprovalConfig, RunConfig, Runner, StuckConfig, option_fields, resume_async
from proctor.sandbox import open_workspace
from proctor.store import RunStatus, Store, ops
from proctor.tasks import Task

RULES = ApprovalConfig(
    rules={
        "bash": ["rm -rf *", "re:\\bcurl\\b|\\bwget\\b"],
        "write_file": ["/etc/*", "*.cfg"],
        "python": ["re:import\\s+shutil"],
        "*": ["*sudo *"],
    }
)


@pytest.mark.parametrize(
    ("action", "argument", "rule"),
    [
        ("bash", {"command": "rm -rf build"}, "bash: rm -rf *"),
        ("bash", {"command": "cd x && rm -rf build"}, None),  # a glob matches the whole command
        ("bash", {"command": "ls\ncurl -s http://x"}, "bash: re:\\bcurl\\b|\\bwget\\b"),  # a regex anywhere
        ("bash", {"command": "echo curly"}, None),
        ("write", {"path": "/etc/passwd", "content": "x"}, "write_file: /etc/*"),  # a tool name is its action
        ("write", {"path": "conf/app.cfg", "content": "x"}, "write_file: *.cfg"),
        ("write", {"path": "etc/passwd", "content": "/etc/x"}, None),  # the path is matched, not the content
        ("edit", {"path": "/etc/hosts", "old": "a", "new": "b"}, None),  # write rules do not hold edits
        ("python", {"code": "import shutil\nshutil.rmtree('.')"}, "python: re:import\\s+shutil"),
        ("delegate", {"instructions": "run sudo make install"}, "*: *sudo *"),  # `*` holds any action
        ("submit", {"answer": "42"}, None),
    ],
)
def test_what_a_rule_holds(action: str, argument: dict[str, str], rule: str | None) -> None:
    assert RULES.rule_for(action, argument) == rule


def test_a_config_with_a_mistyped_rule_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"approval rule for 'shell'.*bash"):
        RunConfig.model_validate({"approval": {"rules": {"shell": ["rm *"]}}})
    with pytest.raises(ValidationError, match=r"'re:\(' is not a regular expression"):
        RunConfig.model_validate({"approval": {"rules": {"bash": ["re:("]}}})
    saved = RunConfig(approval=RULES, ask_human=True).model_dump(mode="json")
    assert RunConfig.model_validate(saved).approval.rules == RULES.rules  # saved with the run, as written


def test_asking_is_offered_only_when_the_run_allows_it() -> None:
    allowed = AgentRun(instructions="do it", options=1, generate=GenerateConfig(), ask_human=True)
    closed = AgentRun(instructions="do it", options=1, generate=GenerateConfig())
    assert "<ask>" in TagsAgent().start(allowed)[0].content and "<ask>" not in TagsAgent().start(closed)[0].content
    assert "ask_human" in [t.name for t in tools_for(allowed)]
    assert "ask_human" not in [t.name for t in tools_for(closed)]


sequence("uninvited-asker", ["<ask>What is the answer?</ask>", "<submit>42</submit>"])


async def test_an_agent_that_asks_uninvited_is_told_and_nothing_waits(sqlite_store: Store, task: Task) -> None:
    config = RunConfig(model="double/uninvited-asker", stuck=StuckConfig(after_failures=0))
    async with Runner(sqlite_store) as runner:
        record = await runner.drive(await runner.create(task, config))
    assert record.status is RunStatus.DONE
    asked = sqlite_store.steps(record.id)[0]
    assert asked.holds == [] and asked.observation is not None and asked.observation.failed
    assert asked.observation.output == "asking a person is not enabled in this run: decide on your own"
    assert "waiting_answer" not in [e["detail"]["status"] for e in sqlite_store.events(record.id, "status")]


sequence(
    "forked-cautious",
    [
        "<bash>echo 0 >> log.txt</bash>",
        "<bash>rm -rf nothing; echo 1 >> log.txt</bash>",  # rejected
        "<bash>rm -rf nothing; echo 2 >> log.txt</bash>",  # edited
        "<submit>41</submit>",
    ],
)


def test_a_fork_replays_the_decisions(sqlite_store: Store, task: Task) -> None:
    config = RunConfig(
        model="double/forked-cautious",
        approval=ApprovalConfig(rules={"bash": ["rm -rf *"]}, poll_seconds=0.05),
        stuck=StuckConfig(after_failures=0),
    )
    run = Background(sqlite_store, task, config)
    for verdict, edited in (("rejected", None), ("edited", {"command": "echo edited >> log.txt"})):
        wait_until(lambda: sqlite_store.pending_holds(run.run_id), f"the action to be {verdict}")
        (hold,) = sqlite_store.pending_holds(run.run_id)
        assert sqlite_store.write(ops.decide, hold.id, verdict, "ada", edited=edited)
    assert run.finish().score == 0.0

    fork_id = sqlite_store.fork(run.run_id, 3, option=option_fields("<submit>42</submit>", "human:ada"), user="ada")
    assert [len(s.holds) for s in sqlite_store.steps(fork_id)] == [0, 1, 1, 0]  # the decisions came with the steps
    fork = asyncio.run(resume_async(sqlite_store, fork_id))
    assert fork.status is RunStatus.DONE and fork.score == 1.0
    assert sqlite_store.events(fork_id, "setup")[0]["detail"]["replayed"] == 2  # the rejected command left out
    for record in (sqlite_store.run(run.run_id), fork):
        with open_workspace(Path(record.workspace or "")) as workspace:
            assert (workspace / "log.txt").read_text() == "0\nedited\n"
