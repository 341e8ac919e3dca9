"""Agents through the step loop: the react agent's native tool calls (parallel, malformed, unknown, missing),
each handled with an observation; resume rebuilds the very messages; the registry and RunConfig.agent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from doubles import DoubleModel, script, turns
from loopback_server import LoopbackServer, Reply
from sqlalchemy import select

from proctor.agents import AgentRun, ReactAgent, agents, get_agent, rebuild, tokens_of
from proctor.models import Completion, GenerateConfig, Message, ToolCall, close_clients
from proctor.runner import RunConfig, Runner, StuckConfig
from proctor.sandbox import open_workspace
from proctor.store import RunStatus, Store
from proctor.store._schema import usage
from proctor.tasks import Task


def call(name: str, arguments: str | dict[str, str], id: str = "") -> ToolCall:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(id=id or f"call-{name}", name=name, arguments=raw)


PLAN = [
    # Two calls in one reply, run in order: the second sees the first's file.
    Completion(
        text="Look, then note it.",
        tool_calls=[
            call("bash", {"command": "cat note.txt"}, "c1"),
            call("write_file", {"path": "a.txt", "content": "x=1\n"}, "c2"),
        ],
    ),
    Completion(text="", tool_calls=[call("bash", '{"command": "ls', "c3")]),  # malformed JSON
    Completion(text="", tool_calls=[call("browse", {"url": "x"}, "c4")]),  # no such tool
    Completion(text="I think I am done."),  # no call at all
    Completion(
        text="",
        tool_calls=[
            call("edit_file", {"path": "a.txt", "old": "x=1", "new": "x=42"}, "c5"),
            call("python", {"code": "print(open('a.txt').read().strip())"}, "c6"),
            call("read_file", {"path": "a.txt"}, "c7"),
        ],
    ),
    Completion(
        text="", tool_calls=[call("submit", {"answer": " 42 "}, "c8"), call("bash", {"command": "touch late"}, "c9")]
    ),
]


REACT = RunConfig(model="double/react-tool-user", agent="react", stuck=StuckConfig(after_failures=0))


@script("react-tool-user")
def _tool_user(messages: list[Message], config: GenerateConfig) -> list[Completion]:
    assert config.tools is not None and "submit" in [tool.name for tool in config.tools]
    return [PLAN[min(turns(messages), len(PLAN) - 1)]] * config.n


async def test_react_runs_tool_calls_and_answers_each_mistake(sqlite_store: Store, task: Task) -> None:
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, REACT)
        await runner.drive(run_id)
        model = runner.model("double/react-tool-user", {})
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.submission == "42"
    steps = sqlite_store.steps(run_id)
    first = steps[0].observation
    assert first is not None and first.calls is not None
    assert [c["id"] for c in first.calls] == ["c1", "c2"] and "the answer is 42" in first.calls[0]["output"]
    errors = [s.observation.output for s in steps[1:4] if s.observation]
    assert "not valid JSON" in errors[0] and "unknown tool 'browse'" in errors[1] and "no tool call" in errors[2]
    edits = steps[4].observation
    assert edits is not None and edits.calls is not None
    assert [c["output"].strip() for c in edits.calls[1:]] == ["x=42", "x=42"]
    last = steps[5].observation
    assert last is not None and last.kind == "submit" and [c["id"] for c in last.calls or []] == ["c8"]
    with open_workspace(Path(run.workspace or "")) as workspace:
        assert not (workspace / "late").exists()  # a call after submit never runs
    # What the model saw: its calls answered by tool messages with the same ids, in order.
    assert isinstance(model, DoubleModel)
    seen = model.calls[-1]
    assert [m.role for m in seen[2:5]] == ["assistant", "tool", "tool"]
    assert [m.tool_call_id for m in seen[3:5]] == ["c1", "c2"] and seen[2].tool_calls[1].name == "write_file"
    assert seen[5].tool_calls[0].arguments == '{"command": "ls'  # kept as the model wrote it
    assert "unknown tool" in seen[8].content


async def test_a_resumed_react_run_rebuilds_the_same_messages(sqlite_store: Store, task: Task) -> None:
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, REACT)
        await runner.drive(run_id)
        model = runner.model("double/react-tool-user", {})
    assert isinstance(model, DoubleModel)
    agent_run = AgentRun(instructions=model.calls[0][1].content, options=1, generate=REACT.generate)
    steps = sqlite_store.steps(run_id)
    for done in range(len(steps)):  # a run killed after any step continues from exactly what the model saw
        assert rebuild(ReactAgent(), agent_run, steps[:done]) == model.calls[done]


def test_the_registry_lists_and_refuses() -> None:
    assert {"tags", "react"} <= set(agents())
    with pytest.raises(ValueError, match=r"unknown agent 'nope'.*react"):
        RunConfig(agent="nope")
    assert RunConfig.model_validate(RunConfig(agent="react").model_dump(mode="json")).agent == "react"
    assert isinstance(get_agent("react"), ReactAgent)


@script("advisor")
def _advisor(messages: list[Message], config: GenerateConfig) -> list[str]:
    assert "You advise an agent" in messages[0].content and config.tools is None
    return ["Read note.txt before anything else." if "the answer is" not in messages[0].content else "Submit 42."]


@script("triframe-actor")
def _triframe_actor(messages: list[Message], config: GenerateConfig) -> list[Completion] | list[str]:
    if messages[0].content.startswith("You judge"):  # the rater: the good option 5, the other 1
        proposed = messages[0].content.split("Proposed next action:")[1]
        return ["5" if "cat note.txt" in proposed or '"42"' in proposed else "1"] * config.n
    if "answer is 42" not in str(messages):
        good, bad = call("bash", {"command": "cat note.txt"}), call("bash", {"command": "rm -rf ."})
    else:
        good, bad = call("submit", {"answer": "42"}), call("submit", {"answer": "41"})
    assert "Advice for your next step" in messages[-1].content
    return [Completion(text="", tool_calls=[bad]), Completion(text="", tool_calls=[good])][: config.n]


async def test_triframe_advises_proposes_and_runs_the_best_rated(sqlite_store: Store, task: Task) -> None:
    config = RunConfig(
        model="double/triframe-actor", agent="triframe", agent_options={"advisor": "double/advisor"}, options=2
    )
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, config)
        await runner.drive(run_id)
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0
    steps = sqlite_store.steps(run_id)
    assert [s.kind for s in steps] == ["advice", "action", "advice", "action"]
    assert (
        steps[0].options[0].text == "Read note.txt before anything else." and steps[2].options[0].text == "Submit 42."
    )
    for step in steps[1::2]:
        assert step.chooser == "rating:double/triframe-actor"
        assert [max(r.value for r in o.ratings) for o in step.options] == [1.0, 5.0]
        assert step.chosen is not None and step.chosen.index == 1  # the better-rated one ran
    with open_workspace(Path(run.workspace or "")) as workspace:
        assert (workspace / "note.txt").exists()  # `rm -rf .` was rated down and never ran
    with sqlite_store.engine.connect() as conn:
        rows = conn.execute(select(usage.c.role, usage.c.model).where(usage.c.run_id == run_id)).all()
    assert set(rows) == {("advisor", "double/advisor"), ("agent", config.model), ("rater", config.model)}


def tool_reply(*calls: tuple[str, str], text: str = "") -> Reply:
    """A reply of one completion whose tool calls are `(name, raw arguments)`."""
    return Reply(
        text=text,
        tool_calls=[[{"id": f"t{n}-{name}", "name": name, "arguments": raw} for n, (name, raw) in enumerate(calls)]],
    )


SERVER_SCRIPT = [
    tool_reply(("bash", '{"command": "cat note.txt"}'), ("bash", '{"command": "echo seen > seen.txt"}')),  # parallel
    tool_reply(("bash", '{"command": ')),  # malformed
    tool_reply(("fly", "{}")),  # unknown tool
    Reply(text="All done, I believe."),  # no call
    tool_reply(("submit", '{"answer": "42"}')),
]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_react_solves_a_task_against_a_tool_calling_server(
    sqlite_store: Store, task: Task, provider: str
) -> None:
    with LoopbackServer() as server:
        server.script(*SERVER_SCRIPT)
        base = server.base_url if provider == "openai" else server.url
        config = REACT.model_copy(
            update={"model": f"{provider}/m", "model_options": {"base_url": base, "api_key": "test"}}
        )
        async with Runner(sqlite_store) as runner:
            run_id = await runner.create(task, config)
            await runner.drive(run_id)
        sent = [r.body for r in server.requests if r.method == "POST"]
    await close_clients()
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0
    outputs = [s.observation.output for s in sqlite_store.steps(run_id) if s.observation]
    assert "not valid JSON" in outputs[1] and "unknown tool 'fly'" in outputs[2] and "no tool call" in outputs[3]
    assert len(sent) == 5 and all({t["name"] for t in _tools(provider, body)} >= {"bash", "submit"} for body in sent)
    # The last request carries every earlier call answered under its own id, in the provider's format.
    assert _answered_ids(provider, sent[-1]) == ["t0-bash", "t1-bash", "t0-bash", "t0-fly"]


def _tools(provider: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    return [t["function"] if provider == "openai" else t for t in body["tools"]]


def _answered_ids(provider: str, body: dict[str, Any]) -> list[str]:
    if provider == "openai":
        return [m["tool_call_id"] for m in body["messages"] if m["role"] == "tool"]
    blocks = [b for m in body["messages"] if isinstance(m["content"], list) for b in m["content"]]
    return [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]


async def test_triframe_solves_a_task_against_a_tool_calling_server(sqlite_store: Store, task: Task) -> None:
    step = [Reply(text="Read the note."), tool_reply(("bash", '{"command": "cat note.txt"}')), Reply(text="4")]
    last = [Reply(text="Submit it."), tool_reply(("submit", '{"answer": "42"}')), Reply(text="5")]
    with LoopbackServer() as server:
        # Per step: the advisor, the actor, then the rater (its rating read from log-probabilities).
        server.script(*step, *last)
        options = {"base_url": server.base_url, "api_key": "test"}
        config = RunConfig(model="openai/m", model_options=options, agent="triframe")
        async with Runner(sqlite_store) as runner:
            run_id = await runner.create(task, config)
            await runner.drive(run_id)
    await close_clients()
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0
    steps = sqlite_store.steps(run_id)
    assert [(s.kind, s.options[0].text) for s in steps[::2]] == [("advice", "Read the note."), ("advice", "Submit it.")]
    assert [s.options[0].ratings[0].value for s in steps[1::2]] == [4.0, 5.0]


@script("chatty")
def _chatty(messages: list[Message], config: GenerateConfig) -> list[str]:
    if "Your context is nearly full" in messages[-1].content:
        return ["SUMMARY: the note says 42; submit it."] * config.n
    done = sum(1 for m in messages if m.role == "assistant" and "<bash>" in m.content)
    compacted = "SUMMARY:" in messages[1].content or (len(messages) > 2 and "Step 0:" not in messages[2].content)
    if compacted or done >= 12:
        return ["<submit>42</submit>"] * config.n
    return [f"Step {done}: printing a long line.\n<bash>printf 'x%.0s' $(seq 300)</bash>"] * config.n


@pytest.mark.parametrize("how", ["truncate", "summary"])
async def test_a_long_run_is_compacted_to_fit_a_tiny_window(sqlite_store: Store, task: Task, how: str) -> None:
    config = RunConfig(model="double/chatty", context_window=400, compaction=how, stuck=StuckConfig(after_failures=0))
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, config)
        await runner.drive(run_id)
        model = runner.model("double/chatty", {})
    assert isinstance(model, DoubleModel)
    run = sqlite_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0
    steps = sqlite_store.steps(run_id)
    compactions = [s for s in steps if s.kind == "compaction"]
    assert compactions and len(sqlite_store.events(run_id, "compaction")) == len(compactions)
    proposals = [call for call in model.calls if "Your context is nearly full" not in call[-1].content]
    assert max(tokens_of(call) for call in proposals) <= 400  # every request fit the window
    assert run.input_tokens == 100 * len(model.calls)  # every call counted, compaction included
    if how == "summary":
        assert compactions[0].summary == "SUMMARY: the note says 42; submit it."
        assert "SUMMARY:" in proposals[-1][1].content
    else:
        assert compactions[0].summary is None and (compactions[0].options[0].argument or {})["keep"] > 0
    # A resumed run rebuilds the compacted conversation the model last saw.
    agent_run = AgentRun(instructions=proposals[0][1].content, options=1, generate=config.generate)
    assert rebuild(get_agent("tags"), agent_run, steps[:-1]) == proposals[-1]
