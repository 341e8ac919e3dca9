"""Workers: processes (on one machine or many, against one store) that lease queued runs and drive them.

Each worker leases runs (`proctor.store.leases`), renews its leases while it drives them (its heartbeat), and
takes over the runs of a worker that died once their leases lapse, resuming each from its last committed step.
Its model calls take their slots from limits kept in the store for every worker (`StoredLimits`), unless a keeper
actor keeps them. `proctor worker` runs one; the Ray executor runs one in each of its actors.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, exists, func, select

from proctor.models import share_limits, shared_limits
from proctor.runner._config import RunConfig
from proctor.runner._loop import Runner
from proctor.runner._stored_limits import StoredLimits
from proctor.store import RunRecord, RunStatus, Store, leases
from proctor.store import _schema as schema
from proctor.tasks import Task

logger = logging.getLogger(__name__)

OPEN = (RunStatus.QUEUED, *leases.TAKEN_OVER)
"""Statuses of a run a worker may still have to drive: queued, or driven by a worker that may have died."""


class WorkerConfig(BaseModel):
    """How a worker takes runs."""

    concurrency: int = Field(default=4, ge=1)
    """Runs driven at once."""
    lease: float = Field(default=30.0, gt=0)
    """Seconds a lease lasts unrenewed: a dead worker's runs are taken over this long after its last heartbeat."""
    poll: float = Field(default=1.0, gt=0)
    """Seconds between looks for free runs when there are none."""
    once: bool = False
    """Stop when no run is free and none is driven (else wait for more)."""
    limits: Literal["store", "process"] = "store"
    """Where model concurrency limits are kept: `store`, one limit per provider and base URL for every worker on
    the store (see `proctor.runner.StoredLimits`); `process`, each worker its own. Under the Ray executor its keeper
    actor keeps them."""


def worker_id() -> str:
    """A new worker's id: `host:pid:nonce` (the nonce tells a restarted process's workers apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def work(
    store: Store,
    config: WorkerConfig | None = None,
    *,
    batch: str | None = None,
    worker: str | None = None,
    workspaces: Path | None = None,
    configs: Sequence[RunConfig] = (),
    tasks: dict[str, Task] | None = None,
) -> int:
    """Drive free runs as they appear, under leases; returns how many runs this worker drove.

    `configs`: the configs the runs were made with, secrets included (stored configs hold none); `tasks`: tasks
    already loaded, by id (others are loaded from the folder the store names).
    With `batch` (see `runs.batch`) the worker takes only that batch's runs, and stops once none of them is open
    (queued or still driven by someone): it stays to take over the runs of a worker that dies before the batch
    ends.

    Example:
        driven = await work(Store(url), WorkerConfig(concurrency=8, once=True))
    """
    config = config or WorkerConfig()
    me = worker or worker_id()
    limits = None
    if config.limits == "store" and shared_limits() is None:  # a keeper actor (the Ray executor) comes first
        limits = StoredLimits(store, me, lease=config.lease)
        share_limits(limits)
    try:
        return await _work(store, config, me, batch, Runner(store, workspaces=workspaces, configs=configs, tasks=tasks))
    finally:
        if limits is not None:
            share_limits(None)
            await limits.close()


async def _work(store: Store, config: WorkerConfig, me: str, batch: str | None, runner: Runner) -> int:
    driven = 0
    driving: dict[str, asyncio.Task[None]] = {}
    async with runner:

        async def one(run_id: str) -> None:
            nonlocal driven
            try:
                await runner.drive(run_id, claim=OPEN, owner=me)
                driven += 1
            finally:
                driving.pop(run_id, None)
                if run_id not in runner.lost:
                    await runner.writer.write(leases.release, me, [run_id])

        heart = asyncio.create_task(_heartbeat(me, config.lease, driving, runner))
        try:
            while True:
                free = config.concurrency - len(driving)
                taken: list[str] = []
                if free > 0:
                    taken, unread = await runner.writer.write(_lease, me, free, config.lease, batch=batch)
                    for record in unread:  # claimed without reading them back: nothing of them is stored yet
                        runner._fresh[record.id] = runner.config_of(record), record
                for run_id in taken:
                    driving[run_id] = asyncio.create_task(one(run_id))
                idle = not taken and not driving
                if idle and (config.once or (batch is not None and not await asyncio.to_thread(_open, store, batch))):
                    return driven
                if not taken:
                    await _wait(driving, config.poll)
        finally:
            heart.cancel()
            for task in list(driving.values()):
                task.cancel()
            await asyncio.gather(heart, *driving.values(), return_exceptions=True)


def _lease(
    conn: Connection, worker: str, most: int, seconds: float, *, batch: str | None
) -> tuple[list[str], list[RunRecord]]:
    """Lease runs (`leases.lease_runs`); and read, in the same statement for all, those never driven (queued, with
    no step and no event stored: a batch's new runs), whose claims then need not read them back."""
    taken = leases.lease_runs(conn, worker, most, seconds, batch=batch)
    if not taken:
        return taken, []
    runs = schema.runs.c
    untouched = select(schema.runs).where(
        runs.id.in_(taken),
        runs.status == RunStatus.QUEUED.value,
        ~exists().where(schema.steps.c.run_id == runs.id),
        ~exists().where(schema.events.c.run_id == runs.id),
    )
    return taken, [RunRecord.model_validate(row._asdict()) for row in conn.execute(untouched)]


async def _wait(tasks: dict[str, asyncio.Task[None]], seconds: float) -> None:
    """Wait `seconds`, or less if a run ends (a slot is free again)."""
    if tasks:
        await asyncio.wait(list(tasks.values()), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    else:
        await asyncio.sleep(seconds)


def _open(store: Store, batch: str) -> bool:
    """Whether any run of the batch may still need driving."""
    statuses = [status.value for status in OPEN]
    query = select(func.count()).where(schema.runs.c.batch == batch, schema.runs.c.status.in_(statuses))
    with store.engine.connect() as conn:
        return bool(conn.execute(query).scalar_one())


async def _heartbeat(me: str, lease: float, tasks: dict[str, asyncio.Task[None]], runner: Runner) -> None:
    """Renew this worker's leases every third of a lease; stop driving any run another worker took over.

    Every write of a worker goes through its runner's one writer (one connection): on PostgreSQL, two connections
    of one worker updating the same runs' rows could deadlock."""
    while True:
        await asyncio.sleep(lease / 3)
        driving = list(tasks)
        try:
            held = await runner.writer.write(leases.renew, me, driving, lease)
        except Exception:  # the database is unreachable for now: try again at the next beat
            logger.exception("worker %s could not renew its leases", me)
            continue
        for run_id in set(driving) - held:
            logger.warning("worker %s lost its lease on run %s: another worker has it", me, run_id)
            runner.lost.add(run_id)
            task = tasks.get(run_id)
            if task is not None:
                task.cancel()
