"""A run driven in a thread of its own, as a runner beside the test's people (web clients, CLI commands) would be."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from proctor.runner import RunConfig, Runner, resume_async
from proctor.store import RunRecord, Store
from proctor.tasks import Task


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Poll `condition` until it holds; fail the test, saying `what` was awaited, after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Background:
    """Create a run of `task` with `config` (or resume the run `resume`) and drive it in a thread with its own event
    loop; `kill()` cancels it as Ctrl-C would, `finish()` waits for it."""

    def __init__(
        self, store: Store, task: Task | None = None, config: RunConfig | None = None, *, resume: str | None = None
    ) -> None:
        self.store = store
        self.run_id = resume or ""
        self.record: RunRecord | None = None
        self.error: BaseException | None = None
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._drive(task, config)), daemon=True)
        self._thread.start()
        assert self._started.wait(30), "the run was not created"

    async def _drive(self, task: Task | None, config: RunConfig | None) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        try:
            if self.run_id:
                self._started.set()
                self.record = await resume_async(self.store, self.run_id)
                return
            assert task is not None and config is not None
            async with Runner(self.store) as runner:
                self.run_id = await runner.create(task, config)
                self._started.set()
                self.record = await runner.drive(self.run_id)
        except asyncio.CancelledError:
            pass
        except BaseException as error:  # reported by finish()
            self.error = error
        finally:
            self._started.set()

    def kill(self) -> None:
        """Cancel the runner (the run is stored `killed`) and wait for it to stop."""
        assert self._loop is not None and self._task is not None
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)
        assert not self._thread.is_alive()

    def finish(self, timeout: float = 60) -> RunRecord:
        """Wait for the runner to stop; the run as it then is."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"run {self.run_id} is still being driven"
        if self.error is not None:
            raise self.error
        assert self.record is not None
        return self.record
