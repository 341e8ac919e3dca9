"""Swiss tournaments of debaters (as llm_debate's `swiss_tournament`, Khan et al. 2024): with many debaters, playing
every ordered pair is too dear, so debaters meet opponents of a similar score instead.

Each round: order the debaters by points (ties by their order in the config), pair each with the next one it has
not met (a debater left without one gets a bye, worth a point), and play each pair as a match: every question in
both answer orders, each debater once on each side. The match's winner, the one that won more of the decided
debates, gets a point (a tie gives half a point each). After ceil(log2(debaters)) rounds (or `swiss_rounds`), the
ratings come from every cross-play debate played, as in a round robin.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

Match = Callable[[str, str, int], Awaitable[list[dict[str, Any] | None]]]
"""Plays one match in a round: (debater, opponent, round) -> the stored verdict of each debate (None: failed)."""


class Pairing(BaseModel):
    """One pairing of a Swiss round."""

    round: int
    """The round, from 1."""
    player: str
    """The debater."""
    opponent: str | None
    """Its opponent, None for a bye."""
    points: float
    """Points `player` took from the match (1 win, 0.5 tie, 0 loss; 1 for a bye)."""


def swiss_pairs(players: list[str], points: dict[str, float], met: set[frozenset[str]]) -> list[tuple[str, str | None]]:
    """The pairings of the next round: debaters ordered by points (stable in `players`' order), each paired with the
    next unpaired one it has not met; one with no such opponent has a bye."""
    order = sorted(players, key=lambda p: (-points[p], players.index(p)))
    pairs: list[tuple[str, str | None]] = []
    while order:
        player = order.pop(0)
        opponent = next((o for o in order if frozenset((player, o)) not in met), None)
        if opponent is not None:
            order.remove(opponent)
        pairs.append((player, opponent))
    return pairs


def winner_share(verdicts: list[dict[str, Any] | None], player: str) -> float | None:
    """The share of a match's decided debates that `player` won (the judge picked its answer); None when none was
    decided."""
    decided = [v for v in verdicts if v and v.get("answer") is not None and v.get("debaters")]
    if not decided:
        return None
    wins = sum(1 for v in decided if v["debaters"][v["answer"]] == player)
    return wins / len(decided)


async def swiss_tournament(players: list[str], play: Match, rounds: int | None = None) -> list[Pairing]:
    """Play a Swiss tournament of `players`; returns every pairing with the points it gave."""
    rounds = rounds or max(1, math.ceil(math.log2(len(players))))
    points = dict.fromkeys(players, 0.0)
    met: set[frozenset[str]] = set()
    played: list[Pairing] = []
    for round in range(1, rounds + 1):
        pairs = swiss_pairs(players, points, met)
        games = [(player, opponent) for player, opponent in pairs if opponent is not None]
        outcomes = await asyncio.gather(*(play(player, opponent, round) for player, opponent in games))
        for player, opponent in pairs:
            if opponent is None:
                points[player] += 1.0
                played.append(Pairing(round=round, player=player, opponent=None, points=1.0))
                continue
            met.add(frozenset((player, opponent)))
            share = winner_share(outcomes[games.index((player, opponent))], player)
            won = 0.5 if share is None or share == 0.5 else float(share > 0.5)
            points[player] += won
            points[opponent] += 1.0 - won
            played.append(Pairing(round=round, player=player, opponent=opponent, points=won))
    return played
