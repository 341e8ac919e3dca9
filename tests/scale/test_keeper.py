"""The limit keeper's shares without Ray (the keeper is a plain class that Ray makes an actor): the limit split
between workers by demand, never granted past the limit, and given back by workers that leave or go silent."""

from __future__ import annotations

import asyncio

import pytest

from proctor.models import Aimd
from proctor.runner import _ray
from proctor.runner._ray import LimitKeeper, _Limit


def test_the_limit_is_split_by_demand_max_min() -> None:
    limit = _Limit(Aimd(10), demand={"a": 2, "b": 20, "c": 20})
    assert limit.targets() == {"a": 2, "b": 4, "c": 4}  # a wants less than its part: the rest share what it leaves
    limit = _Limit(Aimd(10), demand={"a": 3, "b": 3})
    assert limit.targets() == {"a": 3, "b": 3}  # they want less than the limit: each gets what it wants


def test_an_uneven_remainder_moves_between_workers() -> None:
    limit = _Limit(Aimd(3), demand={"a": 8, "b": 8})
    seen = []
    for turn in range(2):
        limit.turn = turn
        targets = limit.targets()
        assert sum(targets.values()) == 3
        seen.append(targets)
    assert seen[0] != seen[1]  # the one over moves: a limit of 3 is shared in time, not kept by one worker


def test_grants_never_pass_the_limit_and_shares_come_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ray, "GRANT_WAIT", 0.05)

    async def scenario() -> None:
        keeper = LimitKeeper()
        granted, share, limit, _, contended = await keeper.sync("k", 3, "a", 0, 8, 0)
        assert (granted, share, limit, contended) == (3, 3, 3, True)  # alone, it gets the whole limit
        granted, share, _, _, _ = await keeper.sync("k", 3, "b", 0, 8, 0)
        assert granted == 0 and share >= 1  # its part is held by a: nothing is free to grant
        # a hears of b and gives its surplus back; then b gets what is free, and no more than the limit is held.
        _, share_a, _, _, _ = await keeper.sync("k", 3, "a", 3, 8, 0)
        granted, _, _, _, _ = await keeper.sync("k", 3, "a", share_a, 8, 0)
        granted_b, _, _, _, _ = await keeper.sync("k", 3, "b", 0, 8, 0)
        assert granted_b == 3 - share_a and granted == 0
        assert (await keeper.report())["k"]["held"] == 3
        await keeper.leave("k", "a")
        held_b = granted_b
        granted_b, share_b, _, _, _ = await keeper.sync("k", 3, "b", held_b, 8, 0)
        assert granted_b == share_a and share_b == 3  # a's share came back to b, alone now
        await keeper.overloaded("k", 3, 0)  # an overload answer halves the limit, once per epoch
        await keeper.overloaded("k", 3, 0)
        report = (await keeper.report())["k"]
        assert report["limit"] == 1 and report["cuts"] == 1 and report["peak"] == 3

    asyncio.run(scenario())


def test_a_silent_workers_share_lapses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_ray, "GRANT_WAIT", 0.05)
    monkeypatch.setattr(_ray, "SHARE_LEASE", 0.2)

    async def scenario() -> None:
        keeper = LimitKeeper()
        assert (await keeper.sync("k", 2, "dead", 0, 2, 0))[0] == 2
        assert (await keeper.sync("k", 2, "alive", 0, 2, 0))[0] == 0
        await asyncio.sleep(0.3)  # the dead worker never syncs again
        assert (await keeper.sync("k", 2, "alive", 0, 2, 0))[0] == 2

    asyncio.run(scenario())
