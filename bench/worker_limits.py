"""Model limits kept in the store: what a model request pays for its slot when `proctor worker` processes share one
limit through the database, against a limit kept in the process.

- a free slot: microseconds to take and give back a slot with none waiting (the slot-keeping alone), from a
  process-local limit and from a stored limit whose block is held (`StoredLimits`).
- round trip: one sync transaction (`sync_grant`), the median of many: what each request would pay twice (take and
  give back) if every slot were taken from the database.
- requests: `--requests` requests (each holding its slot `--delay` seconds), `--at-once` at a time, under a limit of
  `--limit` (below the demand), kept in the process, then in the store for one client and for `--workers` clients
  (as many workers would hold, here in one process) sharing it in fair shares: requests a second, and the syncs
  with the database per 1,000 requests.
- workers (`--runs N`): one-step runs driven by two `proctor worker` processes against the loopback server in its own
  process, with the limit kept in the store and then in each process (a limit high enough not to bind): the run
  rate with each, so the sync traffic's cost shows beside the runs' own writes.

Both PostgreSQL (a fresh database on the test server) and SQLite (a file in a temporary folder) are measured.

Usage: python bench/worker_limits.py [--requests 20000] [--workers 2] [--at-once 32] [--limit 16] [--delay 0.002]
    [--runs 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from proctor.models._limits import concurrency_slot, set_concurrency, share_limits
from proctor.runner import Runner, StoredLimits
from proctor.runner._stored_limits import sync_grant
from proctor.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_server import spawn_loopback_server
from scale import check, config_for, fresh_database, write_samples

KEY = "openai https://bench.example/v1"


def load() -> str:
    return os.getloadavg().__repr__()


async def make_requests(count: int, at_once: int, delay: float, take: object) -> None:
    """`count` requests, `at_once` at a time, each holding a slot from `take` for `delay` seconds."""
    left = count

    async def client() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with take() as slot:  # type: ignore[operator]
                await asyncio.sleep(delay)
                slot.overloaded = False

    await asyncio.gather(*(client() for _ in range(at_once)))


async def local_slots(requests: int, at_once: int, limit: int, delay: float) -> float:
    set_concurrency("openai", limit, base_url="https://bench.example/v1")
    started = time.perf_counter()
    await make_requests(requests, at_once, delay, lambda: concurrency_slot(KEY))
    return time.perf_counter() - started


class _Limited:
    """One worker's slots: `concurrency_slot` with this worker's `StoredLimits` shared while it takes a slot."""

    def __init__(self, limits: StoredLimits, ceiling: int) -> None:
        self.limits = limits
        self.ceiling = ceiling

    def slot(self) -> object:
        return _Slot(self)


class _Slot:
    def __init__(self, owner: _Limited) -> None:
        self.owner = owner
        self.epoch = 0
        self.overloaded = False

    async def __aenter__(self) -> _Slot:
        _, self.epoch = await self.owner.limits.acquire(KEY, self.owner.ceiling)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.owner.limits.release(KEY, self.overloaded, self.epoch)


async def stored_slots(
    store: Store, requests: int, workers: int, per_worker: int, limit: int, delay: float
) -> tuple[float, int]:
    """Seconds for the requests over `workers` clients of one stored limit, and the syncs they made."""
    clients = [StoredLimits(store, f"bench-{n}", lease=30.0) for n in range(workers)]
    started = time.perf_counter()
    try:
        await asyncio.gather(
            *(make_requests(requests // workers, per_worker, delay, _Limited(c, limit).slot) for c in clients)
        )
        seconds = time.perf_counter() - started
        return seconds, sum(held.syncs for c in clients for held in c.held.values())
    finally:
        for c in clients:
            await c.close()


def round_trip(store: Store, repeats: int = 200) -> float:
    """Median seconds of one sync transaction."""
    times = []
    for n in range(repeats):
        started = time.perf_counter()
        store.write(sync_grant, "bench-rt", "openai https://rt.example/v1", ceiling=8, hold=n % 4, wants=4)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def slot_cost(take: object, repeats: int = 20000) -> float:
    """Microseconds to take and give back one free slot (one client, no request: the slot-keeping alone)."""
    async with take() as slot:  # type: ignore[operator]  # the first takes the block (a sync)
        slot.overloaded = False
    started = time.perf_counter()
    for _ in range(repeats):
        async with take():  # type: ignore[operator]
            pass
    return (time.perf_counter() - started) / repeats * 1e6


async def stored_slot_cost(store: Store) -> tuple[float, int]:
    limits = StoredLimits(store, "bench-cost", lease=30.0)
    share_limits(limits)  # as `proctor worker` does: every model call's slot comes from the store's limit
    try:
        cost = await slot_cost(lambda: concurrency_slot(KEY))
        return cost, sum(held.syncs for held in limits.held.values())
    finally:
        share_limits(None)
        await limits.close()


def slot_figures(name: str, url: str, args: argparse.Namespace) -> None:
    store = Store(url)
    set_concurrency("openai", 16, base_url="https://bench.example/v1")
    local_cost = asyncio.run(slot_cost(lambda: concurrency_slot(KEY)))
    stored_cost, syncs = asyncio.run(stored_slot_cost(store))
    print(f"  a free slot: {local_cost:.1f} µs process-local, {stored_cost:.1f} µs stored ({name}, {syncs} syncs)")
    sync = round_trip(store)
    print(f"  one sync transaction ({name}): {sync * 1000:.2f} ms (median)  load {load()}")
    rows = [("process-local limit", asyncio.run(local_slots(args.requests, args.at_once, args.limit, args.delay)))]
    for workers in sorted({1, args.workers}):
        seconds, syncs = asyncio.run(
            stored_slots(store, args.requests, workers, args.at_once // workers, args.limit, args.delay)
        )
        rows.append((f"stored, {workers} worker{'s' if workers > 1 else ''}", seconds))
        print(f"  {rows[-1][0]}: {syncs} syncs, {1000 * syncs / args.requests:.2f} per 1,000 requests")
    for label, seconds in rows:
        print(f"  {label:22} {args.requests / seconds:7.0f} requests/s  load {load()}")
    store.close()


def worker_run_rate(url: str, runs: int, limits: str, folder: Path, base_url: str) -> float:
    """Runs a second for two `proctor worker --limits LIMITS` processes driving `runs` one-step runs."""
    store = Store(url)
    tasks = write_samples(folder / f"tasks-{limits}", runs)
    config = config_for(base_url, 64)

    async def create() -> None:
        async with Runner(store) as runner:
            for task in tasks:
                await runner.create(task, config)

    asyncio.run(create())
    command = [sys.executable, "-m", "proctor", "worker", "--store", url, "--concurrency", "16", "--once"]
    command += ["--poll", "0.2", "--limits", limits]
    env = os.environ | {"OPENAI_API_KEY": "unused"}
    started = time.perf_counter()
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(2)]
    for process in processes:
        if process.wait() != 0:
            raise SystemExit(f"a worker failed ({limits})")
    seconds = time.perf_counter() - started
    check(store, runs)
    store.close()
    return runs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2, help="clients of the stored limit (workers)")
    parser.add_argument("--at-once", type=int, default=32, help="requests made at once, over every worker")
    parser.add_argument("--limit", type=int, default=16, help="the limit, over every worker")
    parser.add_argument("--delay", type=float, default=0.002, help="seconds each request holds its slot")
    parser.add_argument("--runs", type=int, default=400, help="one-step runs for the workers' run rate (0: skip)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-limits-", dir="/tmp"))
    folder.chmod(0o711)  # the sandbox's unprivileged host user reaches workspaces through it
    os.environ["PROCTOR_WORKSPACES"] = str(folder / "workspaces")
    try:
        shape = (
            f"{args.at_once} at once over 1 and {args.workers} workers, limit {args.limit}, {args.delay * 1000:g} ms"
        )
        print(f"slots: {args.requests} requests, {shape} each")
        with fresh_database() as url:
            slot_figures("PostgreSQL", url, args)
        slot_figures("SQLite", f"sqlite:///{folder}/limits.db", args)
        if args.runs:
            print(f"workers: {args.runs} one-step runs, two `proctor worker` processes × 16 runs at once")
            respond = f"{Path(__file__).resolve().parent / 'scale.py'}:respond"
            with spawn_loopback_server(delay=0.05, default=respond) as url:
                for limits in ("process", "store", "process", "store"):
                    with fresh_database() as db:
                        rate = worker_run_rate(db, args.runs, limits, folder / uuid.uuid4().hex[:6], f"{url}/v1")
                    print(f"  --limits {limits:8} {rate:6.1f} runs/s  load {load()}", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
