"""Running many tasks at once, and the synchronous entry points."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection

from proctor.agents._actions import option_fields
from proctor.runner._config import RunConfig
from proctor.runner._loop import Runner
from proctor.runner._workers import WorkerConfig
from proctor.runner._workers import work as work_leased
from proctor.store import RunRecord, RunStatus, Store, ops
from proctor.tasks import Task

Progress = Callable[[RunRecord], None]


async def run_tasks_async(
    tasks: Sequence[Task],
    config: RunConfig,
    store: Store,
    *,
    concurrency: int = 8,
    workspaces: Path | None = None,
    on_done: Progress | None = None,
) -> list[RunRecord]:
    """Run every task once with `config`, at most `concurrency` at a time; returns the stored runs in task order.

    Call `preflight_async(config)` first to fail at once, storing nothing, when the runs cannot work. Stopped
    (cancelled, or by an error), the batch stores its runs in flight and those it had not started as killed.

    Example:
        records = await run_tasks_async(load_tasks("examples"), RunConfig(), Store())

    Raises:
        SettingError: `concurrency` is less than 1.
    """
    limit = asyncio.Semaphore(at_least_one("concurrency", concurrency))
    async with Runner(store, workspaces=workspaces) as runner:
        run_ids = await runner.create_many(tasks, config)

        async def one(run_id: str) -> RunRecord:
            async with limit:
                record = await runner.drive(run_id)
            if on_done is not None:
                on_done(record)
            return record

        try:
            async with asyncio.TaskGroup() as group:
                jobs = [group.create_task(one(run_id)) for run_id in run_ids]
        except BaseException as error:  # cancelled (Ctrl-C) or failed: runs not started yet must not stay queued
            reason = "cancelled before it started" if isinstance(error, asyncio.CancelledError) else str(error)
            await runner.writer.write(_end_unstarted, run_ids, f"the batch stopped: {reason}")
            raise
    return [job.result() for job in jobs]


class SettingError(ValueError):
    """A setting out of range (a concurrency of 0, a negative poll interval); the message says what works."""


def at_least_one(name: str, value: int) -> int:
    """`value`, when it is at least 1.

    Raises:
        SettingError: it is less.
    """
    if value < 1:
        raise SettingError(f"{name} must be at least 1, got {value}")
    return value


def _end_unstarted(conn: Connection, run_ids: list[str], reason: str) -> None:
    """Mark the runs of a stopped batch that are still queued as killed, so no worker takes them up later."""
    for run_id in run_ids:
        ops.end_if(conn, run_id, (RunStatus.QUEUED,), RunStatus.KILLED, reason)


def run_tasks(tasks: Sequence[Task], config: RunConfig, store: Store, *, concurrency: int = 8) -> list[RunRecord]:
    """Synchronous twin of `run_tasks_async`."""
    return asyncio.run(run_tasks_async(tasks, config, store, concurrency=concurrency))


RESUMABLE = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.PAUSED,
    RunStatus.OVER_LIMIT,
    RunStatus.KILLED,
    RunStatus.FAILED,
    RunStatus.WAITING_HUMAN,
    RunStatus.WAITING_APPROVAL,
    RunStatus.WAITING_ANSWER,
)
"""What `resume` takes over: everything but a finished run. A run still `running` (or waiting) is one whose runner
died."""


async def resume_async(store: Store, run_id: str, *, limits: dict[str, object] | None = None) -> RunRecord:
    """Continue a run from its last completed step; `limits` overrides entries of its `limits` config
    (to let a run that stopped at a limit go on)."""
    record = store.run(run_id)
    async with Runner(store) as runner:
        if limits:
            config = RunConfig.model_validate(record.config)
            config.limits = config.limits.model_copy(update=limits)
            await runner.writer.write(ops.update_run, record.id, config=config.model_dump(mode="json"))
            await runner.writer.write(ops.add_event, record.id, "limits", {"limits": limits})
        return await runner.drive(record.id, claim=RESUMABLE)


def resume(store: Store, run_id: str, *, limits: dict[str, object] | None = None) -> RunRecord:
    """Synchronous twin of `resume_async`."""
    return asyncio.run(resume_async(store, run_id, limits=limits))


async def fork_async(
    store: Store,
    run_id: str,
    step: int,
    *,
    model: str | None = None,
    option: str | None = None,
    user: str = "cli",
    drive: bool = True,
) -> RunRecord:
    """Fork `run_id` at `step` (see `Store.fork`; `option` is a person's option text) and, with `drive`, run it."""
    fields = option_fields(option, f"human:{user}") if option is not None else None
    new_id = await asyncio.to_thread(store.fork, run_id, step, model=model, option=fields, user=user)
    if not drive:
        return store.run(new_id)
    async with Runner(store) as runner:
        return await runner.drive(new_id)


def fork(store: Store, run_id: str, step: int, *, model: str | None = None, option: str | None = None) -> RunRecord:
    """Synchronous twin of `fork_async`: fork and run the fork."""
    return asyncio.run(fork_async(store, run_id, step, model=model, option=option))


async def work(
    store: Store,
    *,
    concurrency: int = 4,
    poll: float = 1.0,
    once: bool = False,
    lease: float = 30.0,
    limits: Literal["store", "process"] = "store",
) -> int:
    """Drive queued runs (new, forked, resumed or intervened in the web interface) as they appear, at most
    `concurrency` at a time, under leases (see `proctor.runner.WorkerConfig`), taking over the runs of workers
    that died; with `once`, stop when none is left. Model concurrency limits are kept in the store for every
    worker on it (`limits="store"`) or by each worker (`"process"`). Returns how many runs were driven."""
    at_least_one("concurrency", concurrency)
    if poll <= 0:
        raise SettingError(f"poll must be more than 0 seconds, got {poll}")
    if lease <= 0:
        raise SettingError(f"lease must be more than 0 seconds, got {lease}")
    config = WorkerConfig(concurrency=concurrency, poll=poll, once=once, lease=lease, limits=limits)
    return await work_leased(store, config)
