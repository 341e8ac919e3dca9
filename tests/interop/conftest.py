"""Logs Inspect writes itself, for the interop tests: tasks written here are run by `inspect_ai.eval` with the
`openai` provider pointed at the loopback server — a `generate()` task over two epochs scored by `match`, and a
`react` agent with a `bash` tool in a local sandbox scored by `includes`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from inspect_ai import Task, eval, task
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.log import EvalLog
from inspect_ai.scorer import includes, match
from inspect_ai.solver import generate
from inspect_ai.tool import bash
from loopback_server import LoopbackServer, RecordedRequest, Reply


@task
def arithmetic() -> Task:
    samples = [Sample(input="What is 2+2?", target="4", id="add"), Sample(input="What is 3*3?", target="9", id="mul")]
    return Task(dataset=samples, solver=generate(), scorer=match(), epochs=2)


@task
def shell() -> Task:
    sample = Sample(input="Use bash to print 2+3, then submit it.", target="5", id="sum")
    return Task(dataset=[sample], solver=react(tools=[bash()]), scorer=includes(), sandbox="local")


def answer(request: RecordedRequest) -> Reply:
    """2+2 is answered right, 3*3 wrong; the agent runs `echo $((2+3))` and then submits what it printed."""
    messages = request.body["messages"]
    last = messages[-1]
    if last["role"] == "tool":
        return Reply(
            text="It printed 5.", tool_calls=[[{"id": "call_2", "name": "submit", "arguments": '{"answer": "5"}'}]]
        )
    if request.body.get("tools"):
        call = {"id": "call_1", "name": "bash", "arguments": '{"command": "echo $((2+3))"}'}
        return Reply(text="Let me compute it.", tool_calls=[[call]], usage=(120, 12))
    question = str(last["content"])
    return Reply(text="4" if "2+2" in question else "10", usage=(30, 1))


@pytest.fixture(scope="session")
def inspect_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[EvalLog]]:
    folder = tmp_path_factory.mktemp("inspect-logs")
    before = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "test"
    try:
        with LoopbackServer(default=answer) as server:
            logs = eval(
                [arithmetic(), shell()],
                model="openai/gpt-4o-mini",
                model_base_url=server.base_url,
                log_dir=str(folder),
                display="none",
            )
    finally:
        if before is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = before
    assert [log.status for log in logs] == ["success", "success"], [log.error for log in logs]
    yield logs
