"""Runs whose agent gets stuck, made by the real runner with a test-double model (for tests only): restarted from a
summary it solves the task; only recorded, it keeps failing until its step limit."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doubles import script, turns

from proctor.models import GenerateConfig, Message
from proctor.runner import RunConfig, RunLimits, Runner, StuckConfig
from proctor.store import Store
from proctor.tasks import load_tasks


@script("stuck-then-solves")
def _stuck_then_solves(messages: list[Message], config: GenerateConfig) -> list[str]:
    last = messages[-1].content
    if "Are you stuck" in last:
        return ["YES: the same command keeps failing."]
    if "Write a summary" in last:
        return ["`false` always fails. Next: read note.txt."]
    if "Your summary" in messages[1].content:  # restarted
        return ["<bash>cat note.txt</bash>" if turns(messages) == 0 else "<submit>42</submit>"]
    return ["<bash>false</bash>"]


def stuck_runs(store: Store, folder: Path, *, restarted: int, recorded: int) -> None:
    """`restarted` runs that restart when stuck and `recorded` runs that only record it, of a task whose answer is
    in note.txt; the model fails twice, says it is stuck, and solves the task only from a fresh context."""
    task = folder / "note-task"
    (task / "files").mkdir(parents=True)
    (task / "files" / "note.txt").write_text("the answer is 42\n")
    (task / "task.yaml").write_text(
        "name: note-task\ninstructions: Read note.txt and submit the answer.\nscorer:\n  expected_submission: '42'\n"
    )
    loaded = load_tasks(task)[0]

    def config(restart: bool) -> RunConfig:
        stuck = StuckConfig(after_failures=2, restart=restart)
        return RunConfig(model="double/stuck-then-solves", stuck=stuck, limits=RunLimits(steps=6))

    async def go() -> None:
        async with Runner(store, workspaces=folder / "workspaces") as runner:
            configs = [config(True)] * restarted + [config(False)] * recorded
            ids = [await runner.create(loaded, c) for c in configs]
            await asyncio.gather(*(runner.drive(run_id) for run_id in ids))

    with ThreadPoolExecutor(1) as pool:  # its own event loop, whatever the caller runs
        pool.submit(asyncio.run, go()).result()
