"""Runs for web tests: a task, people, and the real runner driving test-double models."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from doubles import sequence
from fastapi.testclient import TestClient

from proctor.runner import RunConfig, Runner
from proctor.store import RunStatus, Store
from proctor.tasks import Task, load_tasks

Login = Callable[..., tuple[TestClient, str]]
"""The `login` fixture: log a person in and get their client and CSRF token."""

PASSWORD = "correct-horse-1"
PEOPLE = {"ada": "admin", "rob": "researcher", "rae": "rater", "ray": "rater"}

sequence("writer", ['<write path="notes/a.txt">first</write>', "<bash>cat notes/a.txt</bash>", "<submit>41</submit>"])
sequence("web-solver", ["<bash>cat note.txt</bash>", "<submit>42</submit>"])


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
