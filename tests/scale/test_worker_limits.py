"""Model concurrency limits over several `proctor worker` processes sharing one store (the limit kept in the store):
`max_concurrency` holds over the fleet (PostgreSQL and SQLite), backs off on 429s, and the slots of a worker
SIGKILLed while holding them come back once its grant lapses (PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply
from scale_runs import Refusing, check_steps_once, config_for, stepping, write_tasks
from sqlalchemy import select

from proctor.runner import RunConfig, Runner
from proctor.store import Store
from proctor.store import _schema as schema

LEASE = 2.0


def start_worker(url: str, concurrency: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "proctor", "worker", "--store", url, "--lease", str(LEASE), "--poll", "0.2"]
    command += ["--concurrency", str(concurrency)]
    env = os.environ | {"OPENAI_API_KEY": "test"}  # stored configs hold no key: workers take it from the environment
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextmanager
def workers(url: str, count: int, concurrency: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = [start_worker(url, concurrency) for _ in range(count)]
    try:
        yield started
    finally:
        for worker in started:  # SIGTERM, as a user stops a worker: it gives its slots back
            worker.terminate()
        for worker in started:
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def create_runs(store: Store, tasks: list[Any], config: RunConfig) -> list[str]:
    async def create() -> list[str]:
        async with Runner(store) as runner:
            return [await runner.create(task, config) for task in tasks]

    return asyncio.run(create())


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 120) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def all_ended(store: Store, run_ids: list[str]) -> bool:
    """Every run ended and its worker let it go (it is done with it: stopping the worker now kills nothing)."""
    runs = [store.run(run_id) for run_id in run_ids]
    return all(run.status.final and run.lease_expires is None for run in runs)


def usage_limits(store: Store) -> list[int | None]:
    with store.engine.connect() as conn:
        query = select(schema.usage.c.concurrency_limit).order_by(schema.usage.c.id)
        return list(conn.execute(query).scalars())


def test_max_concurrency_holds_across_worker_processes(store: Store, reachable_tmp: Any) -> None:
    """Three workers driving 4 runs each at once share one limit of 3 requests in flight: on PostgreSQL, and on
    SQLite (workers on one machine sharing the file)."""
    tasks = write_tasks(reachable_tmp / "tasks", 12)
    with LoopbackServer(default=stepping(2), delay=0.2) as server:
        run_ids = create_runs(store, tasks, config_for(server, max_concurrency=3))
        with workers(store.url, 3, 4):
            wait_for(lambda: all_ended(store, run_ids), "the runs to end")
        peak = server.max_in_flight
    check_steps_once(store, run_ids)
    assert len({store.run(run_id).lease_owner for run_id in run_ids}) >= 2  # several workers drove runs
    assert 2 <= peak <= 3
    assert set(usage_limits(store)) == {3}


def test_workers_back_off_on_429_and_stay_under_the_threshold(postgres_store: Store, reachable_tmp: Any) -> None:
    """A server answering 429 above 4 requests in flight: the limit in the store (ceiling 16) is cut to fit it
    (AIMD), after which the three workers together stay within it but for the one request over that each additive
    probe sends; the effective limit is stored with each call's usage."""
    threshold = 4
    answer = Refusing(threshold)
    tasks = write_tasks(reachable_tmp / "tasks", 24)
    with LoopbackServer(default=answer, delay=0.2) as server:
        answer.server = server
        retry = {"max_attempts": 30, "base_delay": 0.2, "max_delay": 1.0}
        run_ids = create_runs(postgres_store, tasks, config_for(server, max_concurrency=16, retry=retry))
        with workers(postgres_store.url, 3, 8):
            wait_for(lambda: all_ended(postgres_store, run_ids), "the runs to end", 180)
    check_steps_once(postgres_store, run_ids)
    # After two rounds of cuts (16 to 8 to 4), each a round trip of 0.2 s and a sync, the limit fits the server.
    answer.check_backed_off(settle=1.5)
    limits = usage_limits(postgres_store)
    assert limits and all(limit is not None for limit in limits)
    assert min(limits) <= threshold and max(limits) <= 16  # type: ignore[type-var]
    with postgres_store.engine.connect() as conn:
        epoch = conn.execute(select(schema.model_limits.c.epoch)).scalar_one()
    assert epoch >= 2


def test_a_killed_workers_slots_come_back_after_its_grant_lapses(postgres_store: Store, reachable_tmp: Any) -> None:
    """A worker SIGKILLed holding all 3 slots of the limit: a worker started after it gets no slot until the
    killed worker's grant lapses, then gets them all and finishes every run (its own and the killed one's)."""
    arrivals: list[float] = []  # time.time() of each request

    def answer(request: RecordedRequest) -> Reply:
        arrivals.append(time.time())
        return stepping(3)(request)

    tasks = write_tasks(reachable_tmp / "tasks", 6)
    with LoopbackServer(default=answer, delay=1.0) as server:
        run_ids = create_runs(postgres_store, tasks, config_for(server, max_concurrency=3))
        first = start_worker(postgres_store.url, 3)
        killed = f"{socket.gethostname()}:{first.pid}:"
        try:

            def holding_all() -> bool:
                with postgres_store.engine.connect() as conn:
                    rows = conn.execute(select(schema.limit_grants)).all()
                return server.in_flight == 3 and any(r.worker.startswith(killed) and r.slots == 3 for r in rows)

            wait_for(holding_all, "the first worker to hold every slot")
            first.send_signal(signal.SIGKILL)
            first.wait()
            killed_at = time.time()
            with postgres_store.engine.connect() as conn:
                expires = conn.execute(select(schema.limit_grants.c.expires)).scalar_one()
            lapsed = expires.astimezone(UTC).timestamp()
            assert lapsed > killed_at  # the grant was still live when the worker died
            with workers(postgres_store.url, 1, 6):
                wait_for(lambda: all_ended(postgres_store, run_ids), "the runs to end")
        finally:
            first.kill()
            first.wait()
        peak = server.max_in_flight
    check_steps_once(postgres_store, run_ids)
    after_kill = [t for t in arrivals if t > killed_at]
    assert after_kill and min(after_kill) >= lapsed  # no request until the killed worker's slots lapsed
    assert peak <= 3
    with postgres_store.engine.connect() as conn:
        grants = conn.execute(select(schema.limit_grants)).all()
    assert grants == []  # the killed worker's lapsed grant was cleared, the other's given back as it stopped
