"""Tasks, a stepping model server and checks shared by the scale tests."""

from __future__ import annotations

import threading
import time
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


class Refusing:
    """A loopback server's answer: 429 above `threshold` requests in flight, else `stepping(2)`'s; it notes
    (when, in flight on arrival, refused) for each request. Set `server` once the server is made."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.server: LoopbackServer | None = None
        self.seen: list[tuple[float, int, bool]] = []
        self._lock = threading.Lock()

    def __call__(self, request: RecordedRequest) -> Reply:
        assert self.server is not None
        with self._lock:
            refused = self.server.in_flight > self.threshold
            self.seen.append((time.monotonic(), self.server.in_flight, refused))
        return Reply.error(429) if refused else stepping(2)(request)

    def check_backed_off(self, settle: float) -> None:
        """The fleet went over the threshold at first; `settle` seconds after the first refusal it stays within it
        but for one over for AIMD's additive probe and one for a request the server answered but has not yet
        counted out, and fewer than a quarter of its requests are refused."""
        seen = self.seen
        first_refusal = next(n for n, (_, _, refused) in enumerate(seen) if refused)
        assert max(flight for _, flight, _ in seen[: first_refusal + 1]) > self.threshold  # the fleet did go over
        settled = [each for each in seen if each[0] > seen[first_refusal][0] + settle]
        assert len(settled) > 40
        assert max(flight for _, flight, _ in settled) <= self.threshold + 2
        refused = sum(1 for _, _, r in settled if r)
        assert refused < len(settled) / 4, f"{refused} of {len(settled)} refused after the backoff"
