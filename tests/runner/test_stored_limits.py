"""Model concurrency limits kept in the store (SQLite and PostgreSQL): fair shares, grants within the adapted limit,
AIMD over every worker, lapsed grants shared out again, and the client's slots held within its grant."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
from loopback_server import LoopbackServer, Reply
from sqlalchemy import Connection, func, select

from proctor.models import share_limits
from proctor.models._limits import concurrency_slot
from proctor.runner import RunConfig, Runner, StoredLimits, work
from proctor.runner._stored_limits import PROBE_GAP, Grant, fair_shares, fleet_key, release_grants, sync_grant
from proctor.store import Store
from proctor.store import _schema as schema
from proctor.tasks import Task

KEY = "openai https://api.example.com/v1"


def test_fair_shares_split_within_the_limit() -> None:
    assert fair_shares(5, [("a", 8), ("b", 1), ("c", 8)]) == {"a": 2, "b": 1, "c": 2}
    assert fair_shares(3, [("a", 8), ("b", 8)]) == {"a": 2, "b": 1}
    assert fair_shares(1, [("b", 4), ("a", 4), ("c", 4)]) == {"b": 1, "a": 0, "c": 0}
    assert fair_shares(10, [("a", 2), ("b", 3)]) == {"a": 2, "b": 3}
    assert fair_shares(4, [("a", 0), ("b", 9)]) == {"a": 0, "b": 4}


def sync(store: Store, worker: str, **kwargs: object) -> Grant:
    options: dict[str, object] = {"ceiling": 4, "hold": 0, "wants": 0} | kwargs
    return store.write(sync_grant, worker, KEY, **options)  # type: ignore[arg-type]


def stored(store: Store) -> tuple[float, int, dict[str, int]]:
    with store.engine.connect() as conn:
        row = conn.execute(select(schema.model_limits)).one()
        grants = dict(conn.execute(select(schema.limit_grants.c.worker, schema.limit_grants.c.slots)).all())
    return row.value, row.epoch, grants


def test_grants_stay_within_the_limit_and_are_shared_fairly(store: Store) -> None:
    assert sync(store, "a", wants=3).usable == 3
    second = sync(store, "b", wants=3)
    assert (second.usable, second.slots, second.contended) == (1, 1, True)  # what a leaves, not its fair share yet
    # a learns b wants more: its share is 2, and it keeps the slot it may still be using until it says otherwise.
    first = sync(store, "a", hold=3, wants=3)
    assert (first.usable, first.slots, first.contended) == (2, 3, True)
    assert sync(store, "b", hold=1, wants=3).usable == 1  # a has not handed its slot back yet
    sync(store, "a", hold=2, wants=3)
    assert sync(store, "b", hold=1, wants=3).usable == 2
    assert sum(stored(store)[2].values()) == 4


def test_overloads_cut_once_per_epoch_and_successes_raise(store: Store) -> None:
    grant = sync(store, "a", ceiling=16, wants=16)
    assert (grant.limit, grant.epoch) == (16, 0)
    grant = sync(store, "a", ceiling=16, hold=16, wants=16, overloads=(0,))
    assert (grant.limit, grant.epoch, grant.usable, grant.slots) == (8, 1, 8, 16)
    # b's request was sent before the cut (epoch 0): it does not cut again.
    assert sync(store, "b", ceiling=16, wants=1, overloads=(0,)).limit == 8
    assert sync(store, "b", ceiling=16, wants=1, overloads=(1,)).limit == 4
    # Successes (about +1/4 each) raise it a step only once the cut has had its answers (`PROBE_GAP`)...
    assert sync(store, "a", ceiling=16, hold=8, wants=16, successes=5).limit == 4
    time.sleep(PROBE_GAP)
    grant = sync(store, "a", ceiling=16, hold=8, wants=16, successes=5)
    assert (grant.limit, grant.epoch) == (5, 2)
    # ...and one step at a time, however many successes come at once.
    time.sleep(PROBE_GAP)
    assert sync(store, "a", ceiling=16, hold=8, wants=16, successes=100).limit == 6
    assert sync(store, "a", ceiling=16, hold=8, wants=16, successes=100).limit == 6
    value, epoch, _ = stored(store)
    assert epoch == 2 and 6.0 <= value < 7.0


def test_a_lapsed_grant_is_shared_out_again(store: Store) -> None:
    sync(store, "dead", wants=4, seconds=0.2)
    assert sync(store, "alive", wants=4).usable == 0
    time.sleep(0.3)
    assert sync(store, "alive", wants=4).usable == 4
    assert stored(store)[2] == {"alive": 4}  # the dead worker's row is gone
    store.write(release_grants, "alive")
    assert stored(store)[2] == {}


def test_a_changed_ceiling_applies(store: Store) -> None:
    assert sync(store, "a", ceiling=4, wants=8).usable == 4
    assert sync(store, "a", ceiling=6, hold=4, wants=8).usable == 6
    assert sync(store, "a", ceiling=2, hold=6, wants=8).usable == 2


def test_concurrent_syncs_never_grant_past_the_limit(store: Store) -> None:
    """Eight workers syncing at random from their own threads: every grant raised leaves the live grants' sum
    within the limit, checked inside the granting transaction (on PostgreSQL, racing transactions)."""
    over: list[tuple[int, int]] = []

    def checked(conn: Connection, worker: str, **kwargs: object) -> Grant:
        grant = sync_grant(conn, worker, KEY, **kwargs)  # type: ignore[arg-type]
        total = conn.execute(select(func.sum(schema.limit_grants.c.slots))).scalar_one()
        if grant.slots > kwargs["hold"] and total > grant.limit:  # type: ignore[operator]
            over.append((total, grant.limit))
        return grant

    def worker(name: str) -> None:
        held = 0
        for _ in range(25):
            wants = random.randint(0, 5)
            grant = store.write(checked, name, ceiling=6, hold=held, wants=wants, seconds=30.0)
            held = min(grant.slots, max(grant.usable, random.randint(0, held)))  # some requests still in flight

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert over == []
    assert len(stored(store)[2]) == 8


def test_loopback_limits_are_kept_per_machine() -> None:
    assert fleet_key(KEY) == KEY
    assert fleet_key("openai http://127.0.0.1:8000/v1").startswith("openai http://127.0.0.1:8000/v1 @")
    assert fleet_key("openai http://localhost:8000/v1") != "openai http://localhost:8000/v1"
    assert fleet_key("anthropic") == "anthropic"


def test_two_workers_slots_stay_within_the_limit(store: Store) -> None:
    """Two workers' clients in one process, twelve requests each at once against a limit of 3: never more than 3
    in flight over both, every request made, the slots handed back when they stop."""
    in_flight = 0
    peak = 0
    limits_seen: set[int] = set()

    async def request(limits: StoredLimits) -> None:
        nonlocal in_flight, peak
        limit, epoch = await limits.acquire(KEY, 3)
        limits_seen.add(limit)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        await limits.release(KEY, False, epoch)

    async def main() -> int:
        workers = [StoredLimits(store, "a", lease=5.0), StoredLimits(store, "b", lease=5.0)]
        try:
            await asyncio.gather(*(request(limits) for limits in workers for _ in range(12)))
            return sum(held.syncs for limits in workers for held in limits.held.values())
        finally:
            for limits in workers:
                await limits.close()

    syncs = asyncio.run(main())
    assert peak == 3 and limits_seen == {3}
    assert syncs >= 2
    assert stored(store)[2] == {}


def test_model_calls_take_their_slots_from_the_store(store: Store) -> None:
    """`share_limits(StoredLimits(...))`: a model call's slot (`concurrency_slot`) comes from the store, and an
    overload answer cuts the stored limit."""

    async def main() -> None:
        limits = StoredLimits(store, "a", lease=5.0)
        share_limits(limits)
        try:
            async with concurrency_slot(KEY) as slot:
                assert slot.limit == 64  # no max_concurrency set: the default
                slot.overloaded = True
            for _ in range(50):  # the overload is reported at once, in the background
                if stored(store)[1] == 1:
                    break
                await asyncio.sleep(0.02)
        finally:
            share_limits(None)
            await limits.close()

    asyncio.run(main())
    value, epoch, _ = stored(store)
    assert (value, epoch) == (32.0, 1)


@pytest.mark.parametrize("kept", ["store", "process"])
def test_a_worker_keeps_its_model_limits_where_it_is_told(
    kept: str, store: Store, task: Task, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`work(limits="store")`: the run's model calls take their slots from the store's limit (its row, under the
    loopback server's key for this machine; the worker's slots given back as it stops); `"process"`: the store holds
    no limit. Either way each call's usage keeps the effective limit."""
    monkeypatch.setenv("OPENAI_API_KEY", "test")  # stored configs hold no key: a worker takes it from the environment
    with LoopbackServer(default=lambda request: Reply(text="<submit>42</submit>")) as server:
        options = {"base_url": server.base_url, "api_key": "test", "max_concurrency": 5}
        config = RunConfig.model_validate({"model": "openai/loopback", "model_options": options})

        async def drive() -> int:
            async with Runner(store) as runner:
                await runner.create(task, config)
            return await work(store, poll=0.05, once=True, limits=kept)  # type: ignore[arg-type]

        assert asyncio.run(drive()) == 1
    with store.engine.connect() as conn:
        limits = conn.execute(select(schema.model_limits.c.key, schema.model_limits.c.ceiling)).all()
        grants = conn.execute(select(schema.limit_grants)).all()
        used = list(conn.execute(select(schema.usage.c.concurrency_limit)).scalars())
        status = conn.execute(select(schema.runs.c.status)).scalar_one()
    assert status == "done" and used == [5]
    assert grants == []
    if kept == "store":
        assert [(key.startswith(f"openai {server.base_url} @"), ceiling) for key, ceiling in limits] == [(True, 5)]
    else:
        assert limits == []
