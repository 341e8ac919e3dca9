"""`rebuild`, the conversation after a run's steps (a resumed run's, the web's "messages the model saw"): the same
as folding `advance` over the steps, step by step as the runner does, for every built-in agent and for an agent
that only has `observe`; on a long run stored in SQLite with truncations, a summary, a restart, stuck checks,
tool calls and an unfinished last step."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proctor.agents import AgentRun, advance, get_agent, rebuild
from proctor.agents._tags import TagsAgent
from proctor.models import GenerateConfig, Message
from proctor.store import ObservationRecord, OptionRecord, RunStatus, StepRecord, Store, ops

STEPS = 3000
TRUNCATED = {500: 40, 900: 12, 2600: 30}
"""Steps that dropped the oldest messages (truncation): index → messages kept after the task."""
SUMMARIZED, RESTARTED, STUCK = 1500, 2200, range(100, STEPS, 250)


def option(i: int) -> dict[str, Any]:
    """Step i's chosen option: every third one two tool calls, the others a bash command in text tags."""
    if i % 3:
        return {"text": f"Step {i}.\n<bash>echo {i}</bash>", "action": "bash", "argument": {"command": f"echo {i}"}}
    calls = [
        {"id": f"c{i}-{n}", "tool": "bash", "arguments": json.dumps({"command": f"echo {i}{n}"})} for n in range(2)
    ]
    return {"text": f"Step {i}: two calls.", "action": "calls", "argument": {"calls": calls}}


def observation(i: int) -> dict[str, Any]:
    """Step i's observation; a call step's second call was not run every other time (the run ended there)."""
    output = f"{i}\n" * (1 + i % 7)
    if i % 3:
        return {"kind": "bash", "output": output, "stderr": "warning" if i % 11 == 0 else "", "exit_code": i % 2}
    ran = [{"kind": "bash", "output": f"{i}{n}\n", "exit_code": 0} for n in range(2 - (i // 3) % 2)]
    return {"kind": "calls", "output": output, "calls": ran}


def long_run(store: Store) -> list[StepRecord]:
    """A run of STEPS steps written with the store's own operations, its last step not finished."""
    with store.engine.begin() as conn:
        task = {"id": "t/long", "family": "t", "name": "long", "format": "native", "source": "/nowhere"}
        ops.upsert_task(conn, task | {"instructions": "Do the long task.", "permissions": [], "tags": []})
        run_id = ops.create_run(conn, task_id="t/long", model="double/long", config={})
        for i in range(STEPS):
            if i in TRUNCATED:
                keep = {"text": "dropped", "action": None, "argument": {"keep": TRUNCATED[i]}, "source": "compaction"}
                step_id, (chosen,) = ops.start_step(conn, run_id, i, "compaction", [keep])
                ops.add_choice(conn, step_id, chosen, "compaction")
                ops.finish_step(conn, run_id, step_id, {"kind": "compaction", "output": "dropped"}, 0.0)
            elif i in (SUMMARIZED, RESTARTED):
                kind = "compaction" if i == SUMMARIZED else "restart"
                step_id, _ = ops.start_step(conn, run_id, i, kind, [], summary=f"summary at {i}")
                ops.finish_step(conn, run_id, step_id, {"kind": kind, "output": f"summary at {i}"}, 0.0)
            elif i in STUCK:
                step_id, _ = ops.start_step(
                    conn, run_id, i, "stuck_check", [{"text": "NO", "action": None, "source": "m"}]
                )
                ops.finish_step(conn, run_id, step_id, {"kind": "stuck_check", "output": "NO"}, 0.0)
            else:
                step_id, (chosen,) = ops.start_step(conn, run_id, i, "action", [option(i) | {"source": "m"}])
                ops.add_choice(conn, step_id, chosen, "first")
                if i < STEPS - 1:  # the last step was cut off mid-way: no observation
                    ops.finish_step(conn, run_id, step_id, observation(i), 0.0)
        ops.set_status(conn, run_id, RunStatus.KILLED)
    return store.steps(run_id)


SHARED_START = [Message(role="system", content="shared"), Message(role="user", content="the task")]


class ObserveOnly(TagsAgent):
    """A test double of an agent from outside proctor: `observe` only (it numbers the observations it is shown),
    and a start it returns from one shared list, which `rebuild` must not change."""

    step_messages = None  # type: ignore[assignment]

    def start(self, run: AgentRun) -> list[Message]:
        return SHARED_START

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        shown = f"[{len(messages)}] {observation.output}"
        return [*messages, Message(role="assistant", content=option.text), Message(role="user", content=shown)]


def folded(agent: Any, run: AgentRun, steps: list[StepRecord]) -> list[Message]:
    """The conversation as the step loop builds it: `advance` (the agent's `observe`) after each completed step."""
    messages = agent.start(run)
    for step in steps:
        if step.done:
            messages = advance(agent, run, messages, step)
    return list(messages)


@pytest.mark.parametrize("name", ["tags", "react", "answer", "human", "triframe", "inspect", "observe-only"])
def test_rebuild_is_the_step_loops_conversation_at_every_point_of_a_long_run(sqlite_store: Store, name: str) -> None:
    steps = long_run(sqlite_store)
    assert len(steps) == STEPS and not steps[-1].done
    agent = ObserveOnly() if name == "observe-only" else get_agent(name)
    run = AgentRun(instructions="Do the long task.", options=1, generate=GenerateConfig(), observation_chars=9)
    for n in (0, 1, 499, 500, 501, 901, SUMMARIZED + 1, 2000, RESTARTED + 1, 2601, STEPS):
        rebuilt = rebuild(agent, run, steps[:n])
        assert rebuilt == folded(agent, run, steps[:n]), (name, n)
    # Where the conversation starts over, and where the oldest messages were dropped.
    summarized = rebuild(agent, run, steps[: SUMMARIZED + 1])
    assert name == "observe-only" or any(m.content.endswith("Your summary:\nsummary at 1500") for m in summarized)
    assert len(rebuild(agent, run, steps[:901])) == 2 + 12
    assert len(rebuilt) > 2 + 30 + 350  # the last: the task, what the last truncation kept, and the steps since
    assert [Message(role="system", content="shared"), Message(role="user", content="the task")] == SHARED_START


def test_a_human_agents_rebuild_remembers_the_last_request_it_took() -> None:
    """`step_messages` keeps `observe`'s side effect: the person's agent must not take a request twice."""
    agent = get_agent("human")
    run = AgentRun(instructions="Do it.", options=1, generate=GenerateConfig())
    steps = [
        StepRecord(
            id=i,
            index=i,
            kind="action",
            options=[
                OptionRecord(
                    id=i,
                    index=0,
                    text="<bash>ls</bash>",
                    action="bash",
                    argument={"request": 10 * i},
                    parse_error=None,
                    source="human:pat",
                )
            ],
            chosen_option_id=i,
            observation=ObservationRecord(kind="bash", output="ok"),
        )
        for i in range(1, 4)
    ]
    rebuild(agent, run, steps)
    assert agent.seen == 30  # type: ignore[attr-defined]
