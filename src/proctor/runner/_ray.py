"""The Ray executor: a batch's runs stored first, then driven by Ray actors spread over a cluster.

Each actor is a worker (see `proctor.runner._workers`): an asyncio runner that leases many runs from the shared
store and drives them, renewing its leases as it goes. An actor that dies (killed, or its node lost) is restarted
by Ray, elsewhere if need be, under a new worker id; the runs it held are taken over once their leases lapse and
go on from their last committed step. Model concurrency limits are kept cluster-wide by one named keeper actor,
adapting to overload answers (AIMD, see `proctor.models.Aimd`).

Ray is an optional extra (`pip install 'proctor[ray]'`), imported only when this executor is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import math
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, func, select

from proctor.models import Aimd
from proctor.runner._config import RunConfig, default_workspaces
from proctor.runner._loop import Runner
from proctor.runner._workers import OPEN, WorkerConfig, work, worker_id
from proctor.store import RunRecord, RunStatus, Store, ops
from proctor.store import _schema as schema
from proctor.tasks import Task

logger = logging.getLogger(__name__)

NAMESPACE = "proctor"
"""The Ray namespace of proctor's actors."""
KEEPER = "proctor-limits"
"""The name of the actor keeping model concurrency limits for the whole cluster."""


class RayError(Exception):
    """The Ray executor cannot run: Ray is missing, the cluster cannot be reached, or the store cannot be shared."""


class RayConfig(BaseModel):
    """Where and how the Ray executor runs a batch."""

    address: str | None = None
    """The cluster: `auto` (the one this machine joined), `ray://HOST:PORT` (a remote head), or None to start a
    Ray instance on this machine for the batch."""
    actors: int | None = Field(default=None, ge=1)
    """Runner actors (None: one per `cpus` CPUs in the cluster, no more than the runs need)."""
    concurrency: int = Field(default=16, ge=1)
    """Runs each actor drives at once."""
    cpus: float = Field(default=1.0, gt=0)
    """CPUs reserved per actor: its sandboxed commands run on them."""
    memory: int = Field(default=512 * 2**20, ge=0)
    """Bytes of memory reserved per actor (0: none reserved)."""
    lease: float = Field(default=30.0, gt=0)
    """Seconds a run's lease lasts unrenewed: a dead actor's runs are taken over this long after it died."""
    max_restarts: int = Field(default=3, ge=0)
    """Times Ray restarts a dead actor (each restart goes on with the batch)."""


def _ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise RayError("the Ray executor needs Ray: pip install 'proctor[ray]'") from None
    module: ModuleType = ray
    return module


def connect(address: str | None, store: Store) -> int:
    """Join the Ray cluster at `address` (None: start one on this machine), unless already joined; returns how
    many machines it spans.

    Raises:
        RayError: the cluster spans several machines and the store is SQLite (a file on one of them).
    """
    ray = _ray()
    if not ray.is_initialized():
        # Ray installs its own SIGTERM handler (exit at once): keep the command's, which stops a batch as Ctrl-C does.
        handler = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
        try:
            if address is None:
                ray.init(namespace=NAMESPACE, include_dashboard=False, logging_level="warning")
            else:
                ray.init(address=address, namespace=NAMESPACE, logging_level="warning")
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise RayError(f"cannot reach the Ray cluster at {address}: {str(error).splitlines()[0]}") from None
        finally:
            if handler is not None:
                signal.signal(signal.SIGTERM, handler)
    machines = len({node["NodeManagerAddress"] for node in ray.nodes() if node["Alive"]})
    if machines > 1 and store.engine.dialect.name == "sqlite":
        raise RayError(
            f"the Ray cluster spans {machines} machines, and SQLite is a file on one of them: "
            "give a PostgreSQL store every machine reaches (--db postgresql://…)"
        )
    return machines


# --- the cluster-wide limits ---------------------------------------------------------------------------
#
# A model's limit holds for the whole cluster, yet most requests never leave their actor: each worker holds a
# *share* of the limit (permits granted by the keeper) and takes a request's slot from its share. Workers sync with
# the keeper in bulk — every `SYNC_EVERY` seconds while the limit is contended or adapting (else every `SYNC_IDLE`
# seconds while they hold permits), at once when a request waits for one or
# when a server said it was overloaded — reporting their demand, their successes and overload answers (AIMD is
# kept in the keeper) and the permits they gave back. The keeper grants permits only out of the limit not held by
# any worker, and splits the limit between workers by their demand (max-min fair): a worker holding more than its
# share gives the surplus back as its requests end. So the requests in flight over the cluster never exceed the
# limit the keeper last granted under; after a cut, workers learn the lower limit at their next sync.
#
# A share is a lease: a worker that has not synced for `SHARE_LEASE` seconds stops using it (it may be stalled, or
# the keeper unreachable), and the keeper takes back the share of a worker silent for that long (it died).

SYNC_EVERY = 0.05
"""Seconds between a worker's syncs with the keeper while the limit is contended (the workers want more than it)
or below its ceiling (adapting to overload answers)."""
SYNC_IDLE = 1.0
"""Seconds between a worker's syncs while it holds permits otherwise."""
SHARE_LEASE = 10.0
"""Seconds a worker's share lasts without a sync."""
GRANT_WAIT = 0.5
"""Seconds the keeper holds a sync that asks for permits while none is free (the worker then asks again)."""


@dataclass
class _Limit:
    aimd: Aimd
    held: dict[str, int] = field(default_factory=dict)
    """Permits each worker holds (as it last said, plus grants since)."""
    demand: dict[str, int] = field(default_factory=dict)
    """Each worker's most requests wanting a slot at once since its previous sync."""
    synced: dict[str, float] = field(default_factory=dict)
    peak: int = 0
    cuts: int = 0
    syncs: int = 0
    turn: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def expire(self, moment: float) -> None:
        for worker, when in list(self.synced.items()):
            if moment - when > SHARE_LEASE:
                self.forget(worker)

    def forget(self, worker: str) -> None:
        self.held.pop(worker, None)
        self.demand.pop(worker, None)
        self.synced.pop(worker, None)
        self.wake.set()

    def targets(self) -> dict[str, int]:
        """Each worker's fair share of the limit by its demand (max-min); the remainder of an uneven split goes to
        workers in a turn that moves every second, so a limit smaller than the workers wanting it is shared in
        time."""
        targets = dict.fromkeys(self.demand, 0)
        left = self.aimd.limit
        short = sorted(worker for worker, demand in self.demand.items() if demand > 0)
        while short and left >= len(short):  # an equal part each, but no more than it wants
            part = left // len(short)
            for worker in short:
                given = min(part, self.demand[worker] - targets[worker])
                targets[worker] += given
                left -= given
            short = [worker for worker in short if targets[worker] < self.demand[worker]]
        for n in range(min(left, len(short))):
            targets[short[(self.turn + n) % len(short)]] += 1
        return targets


class LimitKeeper:
    """A Ray actor (async, named `KEEPER`) keeping each provider's concurrency limit for every worker at once: it
    grants each worker a share of permits, and adapts the limit to the successes and overload answers the workers
    report (see above)."""

    def __init__(self) -> None:
        self.limits: dict[str, _Limit] = {}

    async def sync(
        self, key: str, ceiling: int, worker: str, held: int, demand: int, successes: int
    ) -> tuple[int, int, int, int, bool]:
        """A worker's report: it holds `held` permits of `key`'s limit (whose ceiling it sets), wanted up to
        `demand` at once, and had `successes` requests end well. Grants it the permits it wants within its share,
        if any is free (waiting up to `GRANT_WAIT` for one); returns the permits granted, its share, the effective
        limit, the limit's epoch, and whether the workers want more than the limit."""
        limit = self._limit(key, ceiling)
        limit.syncs += 1
        moment = time.monotonic()
        limit.turn = int(moment)
        limit.expire(moment)
        limit.held[worker] = held
        limit.demand[worker] = demand
        limit.synced[worker] = moment
        if sum(limit.held.values()) >= limit.aimd.limit:  # only a limit in full use grows: probing past one the
            for _ in range(successes):  # workers do not fill yet would send the probes all at once, later
                limit.aimd.succeeded()
        limit.wake.set()  # another worker's share may have changed
        granted = 0
        deadline = moment + GRANT_WAIT
        while demand > held and worker in limit.held:
            share = limit.targets().get(worker, 0)
            free = limit.aimd.limit - sum(limit.held.values())
            granted = max(0, min(demand - held, share - held, free))
            if granted or time.monotonic() >= deadline:
                break
            limit.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(limit.wake.wait(), deadline - time.monotonic())
        if worker in limit.held:
            limit.held[worker] = held + granted
        limit.peak = max(limit.peak, sum(limit.held.values()))
        contended = sum(limit.demand.values()) > limit.aimd.limit
        return granted, limit.targets().get(worker, 0), limit.aimd.limit, limit.aimd.epoch, contended

    async def overloaded(self, key: str, ceiling: int, epoch: int) -> None:
        """A request sent in `epoch` got an overload answer: the limit is cut (once per epoch, see `Aimd`)."""
        limit = self._limit(key, ceiling)
        limit.cuts += limit.aimd.overloaded(epoch)
        limit.wake.set()

    def _limit(self, key: str, ceiling: int) -> _Limit:
        limit = self.limits.get(key)
        if limit is None:
            limit = self.limits[key] = _Limit(Aimd(ceiling))
        limit.aimd.set_ceiling(ceiling)
        return limit

    async def leave(self, key: str, worker: str) -> None:
        """The worker is done: its share goes back."""
        if key in self.limits:
            self.limits[key].forget(worker)

    async def report(self) -> dict[str, dict[str, float]]:
        """Each limit's key to its effective limit, ceiling, permits held, peak permits held, cuts and syncs."""
        return {
            key: {
                "limit": limit.aimd.limit,
                "ceiling": limit.aimd.ceiling,
                "held": sum(limit.held.values()),
                "peak": limit.peak,
                "cuts": limit.cuts,
                "syncs": limit.syncs,
            }
            for key, limit in self.limits.items()
        }


KEEPER_RETRIES = 8
"""Times a worker syncs again while the keeper restarts elsewhere (about 20 s in all) before a request fails."""


class _Share:
    """A worker's share of one limit: the permits it holds, those in use, and what it has to tell the keeper."""

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.held = 0
        self.in_use = 0
        self.waiting = 0
        self.target = 0
        self.limit = ceiling
        self.epoch = 0
        self.demand = 0
        self.successes = 0
        self.synced = -math.inf
        self.contended = False
        self.failure: BaseException | None = None
        self.failures = 0
        """Times syncing gave up (the requests then waiting failed with `failure`)."""
        self.kick = asyncio.Event()
        self.changed = asyncio.Event()
        self.syncer: asyncio.Task[None] | None = None

    def usable(self) -> bool:
        return self.in_use < self.held and time.monotonic() - self.synced < SHARE_LEASE

    def give_back_surplus(self) -> None:
        """Permits over the share, and not in use, go back (the keeper hears it at the next sync)."""
        self.held -= max(0, min(self.held - self.target, self.held - self.in_use))


class _KeptLimits:
    """`SharedLimits` taken from shares of the keeper actor's limits (see above)."""

    def __init__(self, keeper: Any, worker: str) -> None:
        self.keeper = keeper
        self.worker = worker
        self.shares: dict[str, _Share] = {}

    async def acquire(self, key: str, ceiling: int) -> tuple[int, int]:
        """A slot of this worker's share of `key`'s limit, asking the keeper for more when none is free.

        Raises:
            ray.exceptions.RayActorError: the keeper stayed unreachable past `KEEPER_RETRIES` syncs.
        """
        share = self.shares.get(key)
        if share is None:
            share = self.shares[key] = _Share(ceiling)
            share.syncer = asyncio.get_running_loop().create_task(self._sync(key, share))
        share.ceiling = ceiling
        share.waiting += 1
        failures = share.failures
        try:
            while not share.usable():
                if share.failures != failures and share.failure is not None:
                    raise share.failure
                share.demand = max(share.demand, share.in_use + share.waiting)
                share.changed.clear()
                share.kick.set()
                await share.changed.wait()
        finally:
            share.waiting -= 1
        share.in_use += 1
        share.demand = max(share.demand, share.in_use + share.waiting)
        return share.limit, share.epoch

    async def release(self, key: str, overloaded: bool, epoch: int) -> None:
        share = self.shares[key]
        share.in_use -= 1
        if overloaded:  # told at once, not awaited: the cut applies to every worker's next sync
            self.keeper.overloaded.remote(key, share.ceiling, epoch)
            if epoch == share.epoch:  # and to this worker's share now, as the keeper cuts it (once an epoch)
                share.epoch += 1
                share.limit = max(1, share.limit // 2)
                share.target = max(min(share.target, 1), share.target // 2)
            share.kick.set()
        else:
            share.successes += 1
        if share.held > share.target:
            share.give_back_surplus()
            share.kick.set()
        share.changed.set()

    async def _sync(self, key: str, share: _Share) -> None:
        """Sync `share` with the keeper: at once when asked (`kick`), else every `SYNC_EVERY` or `SYNC_IDLE` s."""
        lost = _ray().exceptions.RayActorError
        failures = 0
        while True:
            with contextlib.suppress(TimeoutError):
                busy = share.contended or share.waiting or share.limit < share.ceiling
                await asyncio.wait_for(share.kick.wait(), SYNC_EVERY if busy else SYNC_IDLE)
            share.kick.clear()
            if not (share.held or share.waiting or share.successes):
                continue
            successes, share.successes = share.successes, 0
            demand = max(share.demand, share.in_use + share.waiting)
            sent = time.monotonic()
            try:
                granted, target, limit, epoch, contended = await self.keeper.sync.remote(
                    key, share.ceiling, self.worker, share.held, demand, successes
                )
            except Exception as error:  # the keeper restarts (its node lost): ask again, with backoff
                if not isinstance(error, lost):
                    logger.exception("worker %s could not sync its share of %s", self.worker, key)
                share.successes += successes
                failures += 1
                if failures > KEEPER_RETRIES:  # the requests waiting fail; later ones try again
                    share.failure, failures = error, 0
                    share.failures += 1
                    share.changed.set()
                await asyncio.sleep(min(0.25 * 2**failures, 5.0))
                share.kick.set()
                continue
            failures = 0
            share.held += granted
            share.target, share.limit, share.epoch, share.synced = target, limit, epoch, sent
            share.contended = contended
            share.demand = share.in_use + share.waiting
            share.give_back_surplus()
            share.changed.set()
            if share.waiting and not share.usable():
                share.kick.set()

    async def close(self) -> None:
        """Give every share back (the worker is done)."""
        for key, share in self.shares.items():
            if share.syncer is not None:
                share.syncer.cancel()
            await asyncio.gather(*(s for s in [share.syncer] if s is not None), return_exceptions=True)
            if share.held:
                self.keeper.leave.remote(key, self.worker)
        self.shares.clear()


# --- the runner actors ---------------------------------------------------------------------------------


class RunnerActor:
    """A Ray actor (async) driving a batch's runs as one worker: its id is new at each (re)start."""

    def __init__(self, store_url: str, workspaces: str, config: RunConfig | None = None, keeper: Any = None) -> None:
        # Started while the batch's runs are being created: what the first runs would otherwise wait for is done
        # now — the model's SDK imported (in a thread, beside the store's opening), the keeper reached.
        if config is not None:
            threading.Thread(target=_import_sdk, args=(config,), daemon=True).start()
        if keeper is not None:
            keeper.report.remote()
        self.store = Store(store_url, migrate=False)  # the driver opened it first, migrated
        self.workspaces = Path(workspaces)
        self.worker = worker_id()

    def worker_id(self) -> str:
        return self.worker

    async def work(
        self, batch: str, config: dict[str, Any], keeper: Any, run_config: RunConfig, tasks: list[Task]
    ) -> int:
        """Drive the batch's runs until none is open, with model limits from `keeper` (a `LimitKeeper`);
        `run_config` is the batch's config with its secrets (stored configs hold none), `tasks` its tasks, as
        loaded (a task taken over from elsewhere is loaded from its folder). Returns how many runs this actor
        drove."""
        from proctor.models import share_limits

        limits = _KeptLimits(keeper, self.worker)
        share_limits(limits)
        worker = WorkerConfig.model_validate(config)
        loaded = {task.info.id: task for task in tasks}
        try:
            return await work(
                self.store,
                worker,
                batch=batch,
                worker=self.worker,
                workspaces=self.workspaces,
                configs=[run_config],
                tasks=loaded,
            )
        finally:
            share_limits(None)
            await limits.close()


_SDKS = {"proctor.models._openai": "openai", "proctor.models._anthropic": "anthropic"}
"""The SDK each provider module imports at its first call (a second or so in a process busy starting)."""


def _import_sdk(config: RunConfig) -> None:
    """Import the SDK `config`'s model calls, if it is one proctor knows."""
    from proctor.models import get_model

    try:
        sdk = _SDKS.get(type(get_model(config.model, **config.model_options)).__module__)
        if sdk is not None:
            importlib.import_module(sdk)
    except Exception:  # the runs will say what is wrong with the model, each in its own error
        logger.debug("could not import the SDK of %s ahead of the runs", config.model, exc_info=True)


@functools.cache
def _remote(cls: type) -> Any:
    return _ray().remote(cls)


# --- a batch ---------------------------------------------------------------------------------------------


class BatchProgress(BaseModel):
    """How far a batch has got, over the whole cluster."""

    total: int
    """Runs in the batch."""
    done: int
    """Runs ended well: done, or scored by a person later."""
    failed: int
    """Runs ended otherwise: failed, killed, over a limit."""
    running: int
    """Runs being driven (or waiting for a person)."""
    queued: int
    """Runs no worker has started."""
    elapsed: float
    """Seconds since the batch started."""

    @property
    def eta(self) -> float | None:
        """Seconds until the batch ends at its pace so far; None before any run ended."""
        ended = self.done + self.failed
        if ended == 0:
            return None
        return self.elapsed / ended * (self.total - ended)

    def line(self) -> str:
        """One line: done, failed, running, queued and the ETA."""
        eta = "?" if self.eta is None else f"{self.eta:.0f}s"
        return (
            f"done {self.done} · failed {self.failed} · running {self.running} · queued {self.queued} "
            f"of {self.total} · {self.elapsed:.0f}s · ETA {eta}"
        )


DONE = {RunStatus.DONE.value, RunStatus.NEEDS_MANUAL_SCORE.value}
ENDED = {RunStatus.FAILED.value, RunStatus.KILLED.value, RunStatus.OVER_LIMIT.value, RunStatus.PAUSED.value}


def batch_progress(store: Store, batch: str, started: float) -> BatchProgress:
    """Count a batch's runs (`runs.batch`) by where they are (`started`: the batch's `time.monotonic()` at its
    start): one query, grouped by status."""
    query = (
        select(schema.runs.c.status, func.count()).where(schema.runs.c.batch == batch).group_by(schema.runs.c.status)
    )
    with store.engine.connect() as conn:
        counts: dict[str, int] = {status: count for status, count in conn.execute(query)}
    total = sum(counts.values())
    done = sum(n for s, n in counts.items() if s in DONE)
    failed = sum(n for s, n in counts.items() if s in ENDED)
    queued = counts.get(RunStatus.QUEUED.value, 0)
    running = total - done - failed - queued
    return BatchProgress(
        total=total,
        done=done,
        failed=failed,
        running=running,
        queued=queued,
        elapsed=time.monotonic() - started,
    )


_keepers: dict[str, Any] = {}
"""The keeper's handle by this process's node and Ray job: held as long as this process is connected, since Ray
ends an actor no handle refers to (a batch after the last would otherwise find a keeper on its way out)."""


def _keeper(ray: ModuleType) -> Any:
    """The cluster's limit keeper, started if none is (on this machine's node, which lives as long as the batch
    does; it restarts elsewhere if the node goes)."""
    context = ray.get_runtime_context()
    job = f"{context.get_node_id()} {context.get_job_id()}"  # job ids start again in a new cluster
    if job not in _keepers:
        keeper_options: dict[str, Any] = {"name": KEEPER, "namespace": NAMESPACE, "get_if_exists": True}
        here = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(context.get_node_id(), soft=True)
        keeper_options |= {"num_cpus": 0, "max_restarts": -1, "scheduling_strategy": here}
        _keepers[job] = _remote(LimitKeeper).options(**keeper_options).remote()
    return _keepers[job]


async def run_on_ray(
    tasks: Sequence[Task],
    config: RunConfig,
    store: Store,
    ray_config: RayConfig | None = None,
    *,
    on_progress: Callable[[BatchProgress], None] | None = None,
) -> list[RunRecord]:
    """Run every task once with `config` on Ray: the runs are stored queued, then driven by runner actors placed
    by CPU and memory over the cluster; returns the stored runs in task order. `on_progress` is called about
    every second with the batch's progress.

    Example:
        records = await run_on_ray(load_tasks("examples"), RunConfig(), Store(url), RayConfig(address="auto"))

    Raises:
        RayError: Ray is missing or unreachable, the store cannot be shared, or the actors died past their
            restarts with runs left open.
    """
    ray_config = ray_config or RayConfig()
    started = time.monotonic()
    connect(ray_config.address, store)  # in this thread: Ray sets signal handlers, only the main thread may
    ray = _ray()
    workspaces = default_workspaces()
    batch = uuid.uuid4().hex[:12]
    if not tasks:
        return []
    keeper = _keeper(ray)
    actors = ray_config.actors or _actors_for(ray, ray_config, len(tasks))
    options = {
        "num_cpus": ray_config.cpus,
        "memory": ray_config.memory or None,
        "max_restarts": ray_config.max_restarts,
        "max_task_retries": ray_config.max_restarts,
        "scheduling_strategy": "SPREAD",
        "namespace": NAMESPACE,
    }
    worker = WorkerConfig(concurrency=ray_config.concurrency, lease=ray_config.lease, poll=0.1)
    # The actors start (a process each, importing proctor) while the runs are being created; given the config
    # without its secrets (Ray keeps an actor's arguments to restart it), to import the model's SDK meanwhile.
    bare = RunConfig.model_validate(config.model_dump(mode="json"))
    handles = [
        _remote(RunnerActor)
        .options(name=f"proctor-runner-{batch}-{n}", **options)
        .remote(store.url, str(workspaces), bare, keeper)
        for n in range(actors)
    ]
    async with Runner(store, workspaces=workspaces) as runner:
        run_ids = await asyncio.gather(*(runner.create(task, config, batch=batch) for task in tasks))
    loaded = ray.put(list(tasks))  # sent to the object store once, read by every actor
    refs = [handle.work.remote(batch, worker.model_dump(), keeper, config, loaded) for handle in handles]
    pending = list(refs)
    try:
        while pending:
            _, pending = await asyncio.to_thread(ray.wait, pending, num_returns=len(pending), timeout=1.0)
            if on_progress is not None:
                on_progress(await asyncio.to_thread(batch_progress, store, batch, started))
    except BaseException as error:  # Ctrl-C, SIGTERM: as the local executor, leave no run queued or running
        for handle in handles:
            ray.kill(handle, no_restart=True)
        reason = "cancelled" if isinstance(error, asyncio.CancelledError | KeyboardInterrupt) else str(error)
        await asyncio.to_thread(store.write, _end_open, batch, f"the batch stopped: {reason}")
        raise
    errors = []
    for ref in refs:
        try:
            await asyncio.to_thread(ray.get, ref)
        except ray.exceptions.RayError as error:  # an actor died past its restarts
            errors.append(str(error).strip().splitlines()[-1])
    for handle in handles:
        ray.kill(handle)
    progress = await asyncio.to_thread(batch_progress, store, batch, started)
    if progress.queued or progress.running:
        detail = f": {errors[0]}" if errors else ""
        raise RayError(f"the runner actors stopped with {progress.queued + progress.running} runs open{detail}")
    stored = await asyncio.to_thread(_runs_of, store, batch)
    return [stored[run_id] for run_id in run_ids]


def _end_open(conn: Connection, batch: str, reason: str) -> None:
    """Store a stopped batch's open runs (queued, or driven by its actors, now killed) as killed."""
    query = select(schema.runs.c.id).where(schema.runs.c.batch == batch)
    for run_id in conn.execute(query).scalars():
        ops.end_if(conn, run_id, OPEN, RunStatus.KILLED, reason)


def _runs_of(store: Store, batch: str) -> dict[str, RunRecord]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(schema.runs).where(schema.runs.c.batch == batch))
        return {row.id: RunRecord.model_validate(row._asdict()) for row in rows}


def _actors_for(ray: ModuleType, config: RayConfig, runs: int) -> int:
    """One actor per `config.cpus` CPUs in the cluster, no more than the runs fill at `config.concurrency` each."""
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(1, min(int(cpus // config.cpus), math.ceil(runs / config.concurrency)))
