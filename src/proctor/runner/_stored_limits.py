"""Model concurrency limits kept in the store, for every `proctor worker` process sharing it.

The store holds, per provider and base URL, the adapted limit (AIMD, as `proctor.models.Aimd`: halved on an
overload answer, raised by 1/limit per success) and the slots each worker holds of it (`limit_grants`), each
under a lease like a run's. A worker asks for a block of slots at once — what its runs want now — and hands back
what it no longer uses, so a model request takes a slot locally, without a database round trip; the worker syncs
with the store about twice a second while it makes requests (reporting successes and overloads, renewing its
slots, learning cuts and fair shares), at once when it runs short of slots or hears an overload answer.

Invariants: a worker never has more requests in flight than its slots; slots are only raised while the sum of
every live worker's slots stays within the limit; a worker's slots never fall below its requests in flight, so
after a cut the grants exceed the new limit only by requests already sent, and no slot is granted until they are
under it (as the Ray keeper does). A worker that dies holding slots stops renewing them: they lapse with its lease
and are shared out again. Every sync is one short transaction that locks the limit's row first (`SELECT ... FOR
UPDATE` on PostgreSQL; on SQLite its first statement is a write, which takes the file's write lock), and touches
only the limit tables, never a run's row: it cannot deadlock with the worker's own writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from proctor.models import Aimd
from proctor.store import Store
from proctor.store import _schema as s
from proctor.store._ops import now

logger = logging.getLogger(__name__)

SYNC_EVERY = 0.5
"""Seconds between a busy worker's syncs with the store (sooner when it runs short of slots or hears an overload)."""
WAIT_FOR_SHARE = 0.1
"""Seconds between the syncs of a worker waiting for its fair share while other workers hand slots back."""
PROBE_GAP = 0.5
"""Seconds the effective limit stays put before it may rise by one (the probe): successes reported in a burst raise
it one step at a time, the probe's answers coming back between steps."""
IDLE_RESET = 600.0
"""Seconds after which a limit nobody holds slots of starts again at its ceiling (yesterday's cuts are forgotten)."""
_INSERT_LIMIT = {
    name: dialect_insert(s.model_limits).on_conflict_do_nothing(index_elements=["key"])
    for name, dialect_insert in (("sqlite", sqlite.insert), ("postgresql", postgresql.insert))
}


class Grant(BaseModel):
    """What a sync with the store gives a worker for one limit."""

    limit: int
    """The effective limit over every worker."""
    epoch: int
    """The limit's epoch (cuts so far, see `Aimd`)."""
    share: int
    """The worker's fair share of the limit, for what it wants."""
    usable: int
    """Slots the worker may have in flight from now on (its share, within what the other workers leave)."""
    slots: int
    """Slots recorded as the worker's: at least `usable`, and at least what it held when it asked."""
    contended: bool
    """Some worker wants more slots than it holds: slots freed should be handed back soon."""


def fair_shares(limit: int, wants: list[tuple[str, int]]) -> dict[str, int]:
    """Split `limit` slots among workers wanting `wants` (worker, slots), max-min fair: no worker gets more than it
    wants, and slots one leaves go to the others; a remainder goes to the workers listed first.

    Example:
        fair_shares(5, [("a", 8), ("b", 1), ("c", 8)])  # {"a": 2, "b": 1, "c": 2}
    """
    # The water level: the most slots every worker may have (up to what it wants) within the limit.
    low, high = 0, max((n for _, n in wants), default=0)
    while low < high:
        level = (low + high + 1) // 2
        if sum(min(n, level) for _, n in wants) <= limit:
            low = level
        else:
            high = level - 1
    shares = {worker: min(n, low) for worker, n in wants}
    left = limit - sum(shares.values())
    for worker, n in wants:  # fewer left than the workers wanting more: one each, in order
        if left > 0 and shares[worker] < n:
            shares[worker] += 1
            left -= 1
    return shares


def _utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite gives it back naive)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def sync_grant(
    conn: Connection,
    /,
    worker: str,
    key: str,
    *,
    ceiling: int,
    hold: int,
    wants: int,
    successes: int = 0,
    overloads: tuple[int, ...] = (),
    seconds: float = 30.0,
) -> Grant:
    """Sync `worker`'s slots of the limit under `key` (one transaction): apply its `successes` and the `overloads`
    (the epochs of requests that got an overload answer), then grant it up to its fair share of `wants` within what
    the other live workers leave, never less than `hold` (the slots it may be using), for `seconds`."""
    moment = now()
    limits, grants = s.model_limits, s.limit_grants
    # The first statement writes: on SQLite it takes the file's write lock, so what follows reads and writes as one.
    fresh = {"key": key, "ceiling": ceiling, "value": float(ceiling), "epoch": 0, "changed_at": moment}
    fresh["updated_at"] = moment
    conn.execute(_INSERT_LIMIT[conn.dialect.name], fresh)
    query = select(limits).where(limits.c.key == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).one()
    mine = grants.c.key == key, grants.c.worker == worker
    conn.execute(delete(grants).where(grants.c.key == key, grants.c.worker != worker, grants.c.expires < moment))
    others = conn.execute(select(grants).where(grants.c.key == key, grants.c.worker != worker)).all()
    held = conn.execute(select(grants).where(*mine)).one_or_none()
    aimd = Aimd(row.ceiling)
    aimd.epoch, aimd.value = row.epoch, row.value
    was = aimd.limit
    if not others and held is None and moment - _utc(row.updated_at) > timedelta(seconds=IDLE_RESET):
        aimd.value = float(row.ceiling)  # nobody has used it for a while: start afresh
    aimd.set_ceiling(ceiling)
    before = aimd.limit
    for _ in range(successes):
        aimd.succeeded()
    if aimd.limit > before:  # one step up at most, and not until the last change has had its answers
        settled = moment - _utc(row.changed_at) >= timedelta(seconds=PROBE_GAP)
        aimd.value = min(aimd.value, before + (1.0 if settled else 0.99))
    for epoch in sorted(set(overloads)):
        aimd.overloaded(epoch)
    limit = aimd.limit
    # Remainders go to the workers whose slots were raised longest ago: with fewer slots than workers, in turn.
    since = _utc(held.since) if held is not None else moment
    queue = sorted([(_utc(o.since), o.worker, o.wants) for o in others] + [(since, worker, wants)])
    share = fair_shares(limit, [(who, n) for _, who, n in queue])[worker]
    room = limit - sum(o.slots for o in others)
    usable = max(0, min(wants, share, room))
    slots = max(hold, usable)
    values = {"slots": slots, "wants": wants, "expires": moment + timedelta(seconds=seconds)}
    if held is None:
        conn.execute(grants.insert().values(key=key, worker=worker, since=moment, **values))
    else:
        raised = {"since": moment} if slots > held.slots else {}
        conn.execute(update(grants).where(*mine).values(**values, **raised))
    changed = {"changed_at": moment} if limit != was else {}
    conn.execute(
        update(limits)
        .where(limits.c.key == key)
        .values(ceiling=aimd.ceiling, value=aimd.value, epoch=aimd.epoch, updated_at=moment, **changed)
    )
    contended = wants > usable or any(o.wants > o.slots for o in others)
    return Grant(limit=limit, epoch=aimd.epoch, share=share, usable=usable, slots=slots, contended=contended)


def release_grants(conn: Connection, /, worker: str) -> None:
    """Give back every slot `worker` holds (it stops)."""
    conn.execute(delete(s.limit_grants).where(s.limit_grants.c.worker == worker))


def fleet_key(key: str) -> str:
    """The key a limit is stored under: the model's limit key, plus this machine's name when its base URL is on
    loopback (`localhost`, `127.0.0.1`): each machine's own server, whose limit its workers share only with each
    other."""
    _, _, base_url = key.partition(" ")
    host = urlsplit(base_url).hostname if base_url else None
    if host is not None and (host == "localhost" or host.startswith("127.") or host == "::1"):
        return f"{key} @{socket.gethostname()}"
    return key


@dataclass
class _Held:
    """This worker's slots of one limit."""

    key: str
    ceiling: int
    limit: int
    epoch: int = 0
    granted: int = 0
    """Slots this worker may have in flight now: at least `in_flight`, at most `recorded`."""
    target: int = 0
    """Slots the last sync let it use: `granted` falls to it as requests end."""
    recorded: int = 0
    """Slots the store holds as this worker's."""
    in_flight: int = 0
    peak: int = 0
    """The most slots wanted at once since the last sync, or lately (see `_sync`)."""
    successes: int = 0
    overloads: set[int] = field(default_factory=set)
    valid_until: float = 0.0
    """`time.monotonic()` after which the slots may have lapsed in the store: none is taken until a sync."""
    synced_at: float = -math.inf
    starved: float = 0.0
    """Seconds to wait before asking again for slots the last sync could not grant: `WAIT_FOR_SHARE` while other
    workers hand back this worker's share, `SYNC_EVERY` when it has its share (0: it got all it wanted)."""
    contended: bool = False
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    syncs: int = 0

    def free(self) -> bool:
        return self.in_flight < self.granted and time.monotonic() < self.valid_until

    def demand(self) -> int:
        return self.in_flight + len(self.waiters)

    def wake_waiters(self) -> None:
        spare = self.granted - self.in_flight if time.monotonic() < self.valid_until else 0
        while self.waiters and spare > 0:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                spare -= 1


class StoredLimits:
    """`SharedLimits` kept in the store for every worker sharing it (see the module's docstring).

    Example:
        limits = StoredLimits(Store(url), worker_id())
        share_limits(limits)  # every model call in this process takes its slot from the store's limit
        ...
        await limits.close()
    """

    def __init__(self, store: Store, worker: str, *, lease: float = 30.0) -> None:
        self.store = store
        self.worker = worker
        self.lease = lease
        self.held: dict[str, _Held] = {}
        self.keepers: dict[str, asyncio.Task[None]] = {}

    async def acquire(self, key: str, ceiling: int) -> tuple[int, int]:
        """Wait for a slot of the limit under `key` (its ceiling `ceiling` in this process); returns the effective
        limit over every worker and its epoch."""
        held = self._held(key, ceiling)
        while not held.free():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            held.waiters.append(waiter)
            held.peak = max(held.peak, held.demand())
            held.wake.set()
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in held.waiters:
                    held.waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    held.wake_waiters()  # we were woken but leave: pass the wake-up on
                raise
        held.in_flight += 1
        held.peak = max(held.peak, held.demand())
        return held.limit, held.epoch

    async def release(self, key: str, overloaded: bool, epoch: int) -> None:
        """Give back a slot taken in `epoch`; `overloaded`: the request got an overload answer (reported at once)."""
        held = self.held[key]
        held.in_flight -= 1
        if overloaded:  # no new request until the store has it (and the cut, if this request makes one)
            held.overloads.add(epoch)
            held.granted = held.in_flight
            held.wake.set()
        else:
            held.successes += 1
        if held.granted > max(held.target, held.in_flight):
            held.granted = max(held.target, held.in_flight)
            if held.contended:
                held.wake.set()  # another worker waits for slots: hand this one back now
        held.wake_waiters()

    def _held(self, key: str, ceiling: int) -> _Held:
        held = self.held.get(key)
        if held is None:
            held = self.held[key] = _Held(key=fleet_key(key), ceiling=ceiling, limit=ceiling)
            self.keepers[key] = asyncio.get_running_loop().create_task(self._keep(held))
        held.ceiling = ceiling
        return held

    async def _keep(self, held: _Held) -> None:
        """Sync `held` with the store whenever it is due, for as long as this worker lives."""
        while True:
            wait = self._due(held)
            if wait > 0:
                held.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(held.wake.wait(), None if math.isinf(wait) else wait)
                continue
            try:
                await self._sync(held)
            except Exception:  # the database is unreachable for now: the slots held stay usable until they lapse
                logger.exception("worker %s could not sync its model limit %s", self.worker, held.key)
                await asyncio.sleep(SYNC_EVERY)

    def _due(self, held: _Held) -> float:
        """Seconds until `held` should sync (0: now; inf: not until something happens)."""
        since = time.monotonic() - held.synced_at
        if held.overloads or (held.contended and held.granted < held.recorded):
            return 0.0
        if held.waiters and not held.free():
            return max(0.0, held.starved - since)
        if held.in_flight or held.waiters or held.successes or held.peak or held.granted < held.recorded:
            return max(0.0, SYNC_EVERY - since)  # busy, lately busy, or holding slots it no longer uses
        if held.recorded:
            return max(0.0, min(self.lease / 3, held.valid_until - time.monotonic()))
        return math.inf

    async def _sync(self, held: _Held) -> None:
        started = time.monotonic()
        successes, overloads = held.successes, tuple(held.overloads)
        held.successes, held.overloads = 0, set()
        held.peak = max(held.peak, held.demand())
        hold = held.granted if started < held.valid_until else held.in_flight
        held.granted = hold
        try:
            grant = await asyncio.to_thread(
                self.store.write,
                sync_grant,
                self.worker,
                held.key,
                ceiling=held.ceiling,
                hold=hold,
                wants=held.peak,
                successes=successes,
                overloads=overloads,
                seconds=self.lease,
            )
        except BaseException:
            held.successes += successes
            held.overloads.update(overloads)
            raise
        held.syncs += 1
        held.synced_at = started
        held.valid_until = started + self.lease * 0.9  # a margin for the clocks of this machine and the database's
        held.limit, held.epoch, held.contended = grant.limit, grant.epoch, grant.contended
        held.recorded = grant.slots
        held.target = grant.usable
        # An overload heard during the sync holds every slot back until the next one reports it.
        held.granted = held.in_flight if held.overloads else max(held.in_flight, min(grant.usable, grant.slots))
        held.starved = (
            0.0 if grant.usable >= held.peak else WAIT_FOR_SHARE if grant.usable < grant.share else SYNC_EVERY
        )
        # Under contention it asks for what it wanted since; else the peak is remembered a while (halved at each
        # sync), so a worker whose runs' calls come and go keeps its block without a sync per call.
        held.peak = held.demand() if grant.contended else max(held.demand(), held.peak // 2)
        held.wake_waiters()

    async def close(self) -> None:
        """Stop syncing and give back every slot this worker holds."""
        for task in self.keepers.values():
            task.cancel()
        await asyncio.gather(*self.keepers.values(), return_exceptions=True)
        self.keepers.clear()
        try:
            await asyncio.to_thread(self.store.write, release_grants, self.worker)
        except Exception:  # they lapse with the lease
            logger.exception("worker %s could not give back its model limits' slots", self.worker)
