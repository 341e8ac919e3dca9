"""Tasks, a stepping model server and checks shared by the scale tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from loopback_server import LoopbackServer, RecordedRequest, Reply
from sqlalchemy import select

from proctor.runner import RunConfig
from proctor.store import Store
from proctor.store import _schema as schema
from proctor.tasks import Task, load_tasks


def write_tasks(folder: Path, count: int) -> list[Task]:
    """`count` native tasks: submit 42."""
    loaded = []
    for n in range(count):
        task = folder / f"echo{n}"
        (task / "files").mkdir(parents=True)
        (task / "files" / "note.txt").write_text("the answer is 42\n")
        (task / "instructions.md").write_text("Read note.txt and submit the answer.\n")
        (task / "task.yaml").write_text(f"name: echo{n}\npermissions: []\nscorer:\n  expected_submission: '42'\n")
        loaded += load_tasks(task)
    return loaded


def stepping(steps: int) -> Any:
    """An agent that takes `steps` steps (each a command in the sandbox), then submits 42."""

    def answer(request: RecordedRequest) -> Reply:
        done = sum(1 for m in request.body["messages"] if m["role"] == "assistant")
        return Reply(text="<submit>42</submit>" if done >= steps else f"<bash>echo {done} >> log.txt</bash>")

    return answer


def config_for(server: LoopbackServer, **options: Any) -> RunConfig:
    """A run config using the loopback server's model (no stuck checks: every call is an agent step)."""
    model_options = {"base_url": server.base_url, "api_key": "test"} | options
    return RunConfig.model_validate(
        {"model": "openai/loopback", "model_options": model_options, "stuck": {"every": 0, "after_failures": 0}}
    )


def check_steps_once(store: Store, run_ids: list[str]) -> None:
    """Every run is done, its steps are 0..n-1 each stored once and completed, and every model call made for a
    step was stored once (a step taken over is finished from what was stored, not proposed again)."""
    with store.engine.connect() as conn:
        for run_id in run_ids:
            run = store.run(run_id, conn=conn)
            assert run.status == "done", (run_id, run.status, run.error)
            steps = store.steps(run_id, conn=conn)
            assert [s.index for s in steps] == list(range(len(steps))), run_id
            assert all(s.done for s in steps) and run.steps_done == len(steps), run_id
            usage = conn.execute(select(schema.usage.c.step_id).where(schema.usage.c.run_id == run_id)).scalars()
            per_step = Counter(usage)
            assert per_step == {s.id: 1 for s in steps}, (run_id, per_step)
