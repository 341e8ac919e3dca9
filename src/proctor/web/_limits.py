"""Limits on logging in: wrong logins counted per address and per user name in a sliding window (then 429 with
Retry-After), and password checks (Argon2id, about 64 MiB and tens of milliseconds each) run a few at a time in
threads of their own, so a burst of logins waits its turn instead of starving every other page."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")


class LoginLimits:
    """Wrong logins per key (`address:…`, `name:…`) within the last `window` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and found[0] <= now - self.window:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after(self, limits: dict[str, int]) -> int | None:
        """Seconds until a login for these keys (each with its most wrong logins) may be tried, or None now."""
        now = time.monotonic()
        waits = []
        for key, most in limits.items():
            recent = self._recent(key, now)
            if len(recent) >= most:
                waits.append(recent[len(recent) - most] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *keys: str) -> None:
        """Count a wrong login against each key."""
        now = time.monotonic()
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 100_000:  # many names tried: forget the oldest rather than grow without end
                self._failures.pop(next(iter(self._failures)))

    def succeeded(self, key: str) -> None:
        """Forget the wrong logins of a key (a name that logged in)."""
        self._failures.pop(key, None)


class HashPool:
    """Runs password hashing and checks `workers` at a time, each in a thread."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._limiter: CapacityLimiter | None = None

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """`function(*args)` in a thread once one of the pool's places is free."""
        if self._limiter is None:  # made in the event loop that uses it
            self._limiter = CapacityLimiter(self.workers)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)
