"""Runs for web tests: a task, people, and the real runner driving test-double models."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doubles import script, sequence, turns
from fastapi.testclient import TestClient

from proctor.models import Completion, GenerateConfig, Message, ToolCall
from proctor.runner import RunConfig, Runner, StuckConfig
from proctor.store import RunStatus, Store
from proctor.tasks import Task, load_tasks

Login = Callable[..., tuple[TestClient, str]]
"""The `login` fixture: log a person in and get their client and CSRF token."""

PASSWORD = "correct-horse-1"
PEOPLE = {"ada": "admin", "rob": "researcher", "rae": "rater", "ray": "rater"}

sequence("writer", ['<write path="notes/a.txt">first</write>', "<bash>cat notes/a.txt</bash>", "<submit>41</submit>"])
sequence("web-solver", ["<bash>cat note.txt</bash>", "<submit>42</submit>"])


def call(name: str, arguments: str | dict[str, str], id: str) -> ToolCall:
    """A tool call with these arguments (a dict as JSON, a string as written)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(id=id, name=name, arguments=raw)


XSS = "<script>window.__xss=1</script>"
"""Untrusted text a model writes, that every page must escape."""


TOOL_CALLS = [
    Completion(
        text=f"Look first. {XSS}",
        tool_calls=[
            call("bash", {"command": f"printf '%s' '{XSS}'; cat note.txt"}, "t1"),
            call("write_file", {"path": "a.txt", "content": "x=1\n<b>bold</b>\n"}, "t2"),
        ],
    ),
    Completion(text="", tool_calls=[call("bash", '{"command": "ls', "t3"), call("browse", {"url": XSS}, "t4")]),
    Completion(
        text="",
        tool_calls=[
            call("edit_file", {"path": "a.txt", "old": "x=1", "new": "x=42"}, "t5"),
            call("python", {"code": "print(open('a.txt').read().splitlines()[0])"}, "t6"),
            call("read_file", {"path": "a.txt"}, "t7"),
        ],
    ),
    Completion(text="", tool_calls=[call("submit", {"answer": "42"}, "t8"), call("bash", {"command": "ls"}, "t9")]),
]
REACT = RunConfig(model="double/web-tools", agent="react", stuck=StuckConfig(after_failures=0))
"""A react run: tool calls with their results, two mistakes, edits, a call after the submission."""


@script("web-tools")
def _web_tools(messages: list[Message], config: GenerateConfig) -> list[Completion]:
    return [TOOL_CALLS[min(turns(messages), len(TOOL_CALLS) - 1)]] * config.n


def write_task(folder: Path, name: str = "echo", instructions: str = "Read note.txt and submit the answer.\n") -> Task:
    """A native task: read note.txt, submit 42 (scored by exact match)."""
    task = folder / name
    (task / "files").mkdir(parents=True)
    (task / "files" / "note.txt").write_text("the answer is 42\n")
    (task / "instructions.md").write_text(instructions)
    (task / "task.yaml").write_text(f"name: {name}\npermissions: []\nscorer:\n  expected_submission: '42'\n")
    return load_tasks(task)[0]


def drive(store: Store, task: Task, config: RunConfig) -> str:
    """Create and drive a run until it stops (or waits for a person) with the real runner; returns its id. A worker
    running beside the test may claim the run first: then this waits for the worker to stop it."""

    async def go() -> str:
        async with Runner(store) as runner:
            run_id = await runner.create(task, config)
            record = await runner.drive(run_id)
        deadline = time.monotonic() + 30
        while record.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.SCORING):
            assert time.monotonic() < deadline, f"run {run_id} is still {record.status.value}"
            await asyncio.sleep(0.05)
            record = store.run(run_id)
        return run_id

    # In a thread of its own: Playwright's synchronous API keeps an event loop running in the test's thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result()
