"""Retries with backoff and per-provider concurrency limits, shared by every model in the process.

A provider wraps each request in `call_with_retries`. The request raises `RetryableError` for faults that
may pass (HTTP 429 and 5xx, timeouts, dropped connections, malformed answers) and `ModelError` for faults
that will not (a bad key, a bad request). Each attempt holds one slot of the provider's concurrency limit, so
however many runs and models share the process, no more than the limit are in flight at once; waiting out a
backoff holds no slot.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel, Field

from proctor.models._base import ModelError

T = TypeVar("T")

DEFAULT_CONCURRENCY = 64
"""Requests in flight per provider and base URL when no limit was set."""


class RetryPolicy(BaseModel):
    """How a model call retries faults that may pass: exponential backoff with full jitter.

    The wait before retry k (k = 1, 2, ...) is drawn uniformly from
    [0, min(max_delay, base_delay * 2**(k-1))], and is at least the server's Retry-After (capped at
    `max_retry_after`) when the server sends one.
    """

    max_attempts: int = Field(default=6, ge=1)
    """Requests to make before giving up, the first included."""
    base_delay: float = Field(default=1.0, ge=0.0)
    """Seconds: the ceiling of the first backoff, doubled on each retry."""
    max_delay: float = Field(default=60.0, ge=0.0)
    """Seconds: the most any backoff waits (before honouring Retry-After)."""
    max_retry_after: float = Field(default=120.0, ge=0.0)
    """Seconds: the most a server's Retry-After header may make us wait."""

    def backoff(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        delay = random.uniform(0.0, ceiling)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.max_retry_after))
        return delay


class RetryableError(Exception):
    """A fault that may pass if the request is made again (rate limit, server error, timeout, bad answer)."""

    def __init__(self, message: str, *, retry_after: float | None = None, overloaded: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the server asked us to wait, from its Retry-After header."""
        self.overloaded = overloaded
        """The server said it has too much to do (429, 503, 529): the provider's concurrency limit is lowered."""


class RetriesExhaustedError(ModelError):
    """Every attempt of a model call failed with a fault that may pass; the last fault is in the message."""

    def __init__(self, model: str, attempts: int, last: RetryableError) -> None:
        super().__init__(
            f"{model}: gave up after {attempts} attempt{'s' if attempts != 1 else ''}; last error: {last}. "
            "Check that the server is up and the model name is right, or allow more attempts with "
            "the model option retry=RetryPolicy(max_attempts=...)."
        )
        self.attempts = attempts
        self.last = last


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date); None if absent."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / divisor)
        except ValueError:
            pass
        parsed = email.utils.parsedate_tz(value)
        if parsed is not None:
            return max(0.0, email.utils.mktime_tz(parsed) - time.time())
    return None


# --- concurrency limits ---------------------------------------------------------------------------------
#
# A provider's limit is the most requests in flight at once: its ceiling is the limit set (`set_concurrency`, a
# model's `max_concurrency`), and within it the limit adapts (AIMD, as TCP's congestion window): an answer saying
# the server is overloaded halves it, and each success raises it by 1/limit, about one per limit's worth of
# successes, back up to the ceiling. Only a request sent under the current limit can cut it: the overload answers
# to requests sent before the last cut (under the higher limit) are already answered by that cut. Within one
# process the limit is kept here; across a Ray cluster a shared keeper, and across `proctor worker` processes the
# store, keep it for every worker (see `share_limits`).


class Aimd:
    """An adaptive concurrency limit: cut in half on overload, raised additively on success, within [1, ceiling].
    `epoch` counts the cuts: a request remembers the epoch it was sent in, and only one sent in the current epoch
    cuts the limit again.

    Example:
        limit = Aimd(16)
        limit.overloaded(limit.epoch)  # limit.limit == 8
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.value = float(ceiling)
        self.epoch = 0

    @property
    def limit(self) -> int:
        """The effective limit now."""
        return max(1, min(self.ceiling, int(self.value)))

    def set_ceiling(self, ceiling: int) -> None:
        """A new ceiling (the limit set changed): a limit at the old ceiling moves to the new one."""
        if ceiling != self.ceiling:
            self.value = float(ceiling) if self.value >= self.ceiling else min(self.value, ceiling)
            self.ceiling = ceiling

    def overloaded(self, epoch: int) -> bool:
        """A request sent in `epoch` got an overload answer; returns whether the limit was cut (not if a cut came
        since the request was sent)."""
        if epoch != self.epoch:
            return False
        self.value = max(1.0, self.value / 2)
        self.epoch += 1
        return True

    def succeeded(self) -> None:
        """A request succeeded (or failed for another reason): the limit creeps back up."""
        self.value = min(float(self.ceiling), self.value + 1.0 / max(self.value, 1.0))


class SharedLimits(Protocol):
    """Concurrency limits kept for many processes at once (the Ray executor's keeper actor, or the store for
    `proctor worker` processes)."""

    async def acquire(self, key: str, ceiling: int) -> tuple[int, int]:
        """Wait for a slot of the limit under `key` (whose ceiling this process sets); returns the effective limit
        and its epoch (see `Aimd`)."""

    async def release(self, key: str, overloaded: bool, epoch: int) -> None:
        """Give back a slot taken in `epoch`; `overloaded`: the request got an overload answer."""


_shared: SharedLimits | None = None


def share_limits(limits: SharedLimits | None) -> None:
    """Take every slot from `limits` (kept across processes) instead of from this process; None: back to local."""
    global _shared
    _shared = limits


def shared_limits() -> SharedLimits | None:
    """The limits this process takes its slots from, if they are kept across processes (see `share_limits`)."""
    return _shared


@dataclass
class Slot:
    """One slot of a concurrency limit, held for a request."""

    limit: int
    """The effective limit when the slot was granted."""
    epoch: int = 0
    """The limit's epoch then (see `Aimd`)."""
    overloaded: bool = False
    """Set when the request got an overload answer: the limit is cut as the slot is given back."""


def limit_key(provider: str, base_url: str | None = None) -> str:
    """The key a concurrency limit is kept under: the provider, plus the base URL when there is one."""
    return f"{provider} {base_url.rstrip('/')}" if base_url else provider


_limits: dict[str, int] = {}
_registry_lock = threading.Lock()


class _Slots:
    """Counted slots with a limit read at each acquire, so a changed limit applies at once.

    One instance per event loop and key, used only from that loop.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.in_flight = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.aimd = Aimd(concurrency(key))

    @property
    def limit(self) -> int:
        self.aimd.set_ceiling(concurrency(self.key))
        return self.aimd.limit

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while self.in_flight >= self.limit:
            waiter: asyncio.Future[None] = loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self.wake_one()  # we were woken but leave: pass the wake-up on
                raise
        self.in_flight += 1

    def release(self, overloaded: bool = False, epoch: int = 0) -> None:
        self.in_flight -= 1
        if overloaded:
            self.aimd.overloaded(epoch)
        else:
            self.aimd.succeeded()
        self.wake_one()

    def wake_one(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def wake_all(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Slots]] = weakref.WeakKeyDictionary()


def set_concurrency(provider: str, limit: int, *, base_url: str | None = None) -> None:
    """Allow at most `limit` requests in flight to `provider` (at `base_url`, if given) in this process.

    The limit is shared by every run and model in the process (per event loop) and applies at once,
    also to calls already waiting.

    Example:
        set_concurrency("openai", 100)
        set_concurrency("vllm", 16, base_url="http://gpu-box:8000/v1")
    """
    if limit < 1:
        raise ValueError(f"concurrency limit must be at least 1, got {limit}")
    key = limit_key(provider, base_url)
    with _registry_lock:
        _limits[key] = limit
        tables = list(_slots.items())
    for loop, table in tables:
        slots = table.get(key)
        if slots is not None and not loop.is_closed():
            loop.call_soon_threadsafe(slots.wake_all)


def concurrency(provider_or_key: str, *, base_url: str | None = None) -> int:
    """The concurrency limit for `provider` (at `base_url`), or `DEFAULT_CONCURRENCY` if none was set."""
    key = limit_key(provider_or_key, base_url)
    return _limits.get(key, DEFAULT_CONCURRENCY)


def in_flight(provider: str, *, base_url: str | None = None) -> int:
    """Requests to `provider` (at `base_url`) in flight now on the running event loop."""
    table = _slots.get(asyncio.get_running_loop(), {})
    slots = table.get(limit_key(provider, base_url))
    return slots.in_flight if slots else 0


def effective_concurrency(provider: str, *, base_url: str | None = None) -> int:
    """The adapted limit for `provider` (at `base_url`) on the running event loop: the limit set, or less after
    overload answers."""
    key = limit_key(provider, base_url)
    slots = _slots.get(asyncio.get_running_loop(), {}).get(key)
    return slots.limit if slots else concurrency(key)


@asynccontextmanager
async def concurrency_slot(key: str) -> AsyncIterator[Slot]:
    """Hold one slot of the limit kept under `key` (see `limit_key`) for the duration of the block: from the
    shared keeper if there is one (see `share_limits`), else this process's. Set the slot's `overloaded` when the
    request got an overload answer."""
    shared = _shared
    if shared is not None:
        limit, epoch = await shared.acquire(key, concurrency(key))
        slot = Slot(limit=limit, epoch=epoch)
        try:
            yield slot
        finally:
            await shared.release(key, slot.overloaded, slot.epoch)
        return
    loop = asyncio.get_running_loop()
    with _registry_lock:
        table = _slots.setdefault(loop, {})
        slots = table.get(key)
        if slots is None:
            slots = table[key] = _Slots(key)
    await slots.acquire()
    slot = Slot(limit=slots.limit, epoch=slots.aimd.epoch)
    try:
        yield slot
    finally:
        slots.release(slot.overloaded, slot.epoch)


# --- retries --------------------------------------------------------------------------------------------


@dataclass
class Attempted(Generic[T]):
    """The value of a call that succeeded, and how many requests it took."""

    value: T
    attempts: int
    limit: int | None = None
    """The effective concurrency limit when the last attempt was made."""


async def call_with_retries(
    request: Callable[[], Awaitable[T]],
    *,
    model: str,
    key: str,
    policy: RetryPolicy,
) -> Attempted[T]:
    """Make `request` until it succeeds, retrying `RetryableError` with backoff, each attempt in a slot.

    Args:
        request: Makes one request; raises `RetryableError` for faults that may pass, `ModelError` otherwise.
        model: The model's full name, for error messages.
        key: The concurrency limit to hold a slot of (see `limit_key`).
        policy: How many attempts and how long to wait between them.

    Raises:
        RetriesExhaustedError: every one of `policy.max_attempts` attempts failed with a `RetryableError`.
        ModelError: the request failed with a fault retrying cannot fix.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            async with concurrency_slot(key) as slot:
                try:
                    value = await request()
                except RetryableError as error:
                    slot.overloaded = error.overloaded
                    raise
            return Attempted(value, attempt, slot.limit)
        except RetryableError as error:
            if attempt >= policy.max_attempts:
                raise RetriesExhaustedError(model, attempt, error) from error
            await asyncio.sleep(policy.backoff(attempt, error.retry_after))


async def gather_all(calls: list[Awaitable[T]]) -> list[T]:
    """Await `calls` concurrently in a task group; if one fails, cancel the rest and raise its error."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(call)) for call in calls]
    except BaseExceptionGroup as group_error:
        first = group_error.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None
    return [task.result() for task in tasks]


async def _awaited(call: Awaitable[T]) -> T:
    return await call
