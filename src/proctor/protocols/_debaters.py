"""Debaters in an oversight experiment's report (Khan et al. 2024): Elo from cross-play, win rates arguing the correct
and the incorrect answer, judge accuracy against Elo; and open protocols split by the agent's own choice (Kenton et
al. 2024)."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, computed_field

from proctor.analysis import Estimate, Ratings, accuracy_ci, bradley_terry
from proctor.protocols._cases import Case


class SideRecord(BaseModel):
    """One debater's cross-play record for one judge, arguing the correct answer and arguing the incorrect one."""

    player: str
    """The debater model."""
    correct_games: int
    """Decided debates in which it argued the correct answer."""
    correct_wins: int
    """Of those, the ones the judge decided for it."""
    incorrect_games: int
    """Decided debates in which it argued the incorrect answer."""
    incorrect_wins: int
    """Of those, the ones the judge decided for it (it persuaded the judge of a wrong answer)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def correct_win_rate(self) -> float | None:
        """Win rate arguing the correct answer."""
        return self.correct_wins / self.correct_games if self.correct_games else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def incorrect_win_rate(self) -> float | None:
        """Win rate arguing the incorrect answer."""
        return self.incorrect_wins / self.incorrect_games if self.incorrect_games else None


class EloPoint(BaseModel):
    """Judge accuracy against debater strength (Khan et al. 2024, fig. 1): self-play debates of one debater against
    its rating, or cross-play debates of one pairing against the correct side's rating minus the incorrect side's."""

    judge: str
    """The judge (whose cross-play debates gave the ratings)."""
    play: str
    """`self-play` or `cross-play`."""
    correct: str
    """The debater arguing the correct answer."""
    incorrect: str
    """The debater arguing the incorrect answer (self-play: the same)."""
    elo: float
    """Self-play: the debater's rating; cross-play: the correct side's rating minus the incorrect side's."""
    accuracy: Estimate
    """Judge accuracy in these debates (Wilson, clustered by question)."""


class OpenSplit(BaseModel):
    """An open protocol (Kenton et al. 2024): judge accuracy split by whether the agent chose the correct answer,
    beside the agent's own accuracy when it answers directly (the side it chose)."""

    protocol: str
    """`open_consultancy` or `open_debate`."""
    judge: str
    """The judge model."""
    agent_accuracy: Estimate
    """How often the agent's chosen answer, its direct answer, was correct."""
    chose_correct: Estimate | None
    """Judge accuracy when the agent chose the correct answer."""
    chose_incorrect: Estimate | None
    """Judge accuracy when the agent chose the incorrect answer."""


def _decided_cross_play(usable: list[Case]) -> list[Case]:
    return [
        c for c in usable if c.protocol == "debate" and c.play == "cross-play" and c.debaters and c.judged is not None
    ]


def elo(usable: list[Case]) -> dict[str, Ratings]:
    """Per judge, Bradley–Terry ratings of the debaters from the cross-play debates it judged: debater A wins when
    the judge picks answer A. A debate whose verdict could not be parsed has no winner and is left out."""
    matches: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for case in _decided_cross_play(usable):
        assert case.debaters is not None  # cross-play
        matches[case.judge].append((case.debaters[0], case.debaters[1], 1.0 if case.judged == 0 else 0.0))
    return {judge: bradley_terry(found) for judge, found in sorted(matches.items())}


def sides(usable: list[Case]) -> dict[str, list[SideRecord]]:
    """Per judge, each debater's decided cross-play debates and wins, arguing the correct and the incorrect answer."""
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for case in _decided_cross_play(usable):
        assert case.debaters is not None and case.judged is not None  # decided cross-play
        right, wrong = case.debaters[case.correct_index], case.debaters[1 - case.correct_index]
        tally[case.judge][right][0] += 1
        tally[case.judge][right][1] += case.judged == case.correct_index
        tally[case.judge][wrong][2] += 1
        tally[case.judge][wrong][3] += case.judged != case.correct_index
    return {
        judge: [
            SideRecord(player=p, correct_games=a, correct_wins=b, incorrect_games=c, incorrect_wins=d)
            for p, (a, b, c, d) in sorted(players.items())
        ]
        for judge, players in sorted(tally.items())
    }


def elo_accuracy(judged: list[Case], elo: dict[str, Ratings]) -> list[EloPoint]:
    """Judge accuracy in debates against the debaters' ratings from that judge's cross-play: self-play per debater,
    cross-play per (correct side, incorrect side) pairing against the rating difference."""
    groups: dict[tuple[str, str, str, str], list[Case]] = defaultdict(list)
    for case in judged:
        if case.protocol == "debate" and case.debaters and case.judge in elo:
            right, wrong = case.debaters[case.correct_index], case.debaters[1 - case.correct_index]
            groups[(case.judge, case.play or "", right, wrong)].append(case)
    points = []
    for (judge, play, right, wrong), group in sorted(groups.items()):
        rated = {p.player: p.rating for p in elo[judge].players}
        if right not in rated or wrong not in rated:
            continue
        value = rated[right] if play == "self-play" else rated[right] - rated[wrong]
        accuracy = accuracy_ci([c.correct for c in group], method="wilson", clusters=[c.question_id for c in group])
        points.append(EloPoint(judge=judge, play=play, correct=right, incorrect=wrong, elo=value, accuracy=accuracy))
    return points


def open_splits(judged: list[Case]) -> list[OpenSplit]:
    """Per open protocol and judge: the agent's accuracy in choosing, and judge accuracy by its choice."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in judged:
        if case.protocol in ("open_consultancy", "open_debate") and case.detail.get("chosen") is not None:
            groups[(case.protocol, case.judge)].append(case)

    def estimate(group: list[Case], values: list[bool]) -> Estimate | None:
        return accuracy_ci(values, method="wilson", clusters=[c.question_id for c in group]) if group else None

    splits = []
    for (protocol, judge), group in sorted(groups.items()):
        chose = [c.detail["chosen"] == c.correct_index for c in group]
        right = [c for c, ok in zip(group, chose, strict=True) if ok]
        wrong = [c for c, ok in zip(group, chose, strict=True) if not ok]
        agent = estimate(group, chose)
        assert agent is not None  # the group is not empty
        splits.append(
            OpenSplit(
                protocol=protocol,
                judge=judge,
                agent_accuracy=agent,
                chose_correct=estimate(right, [c.correct for c in right]),
                chose_incorrect=estimate(wrong, [c.correct for c in wrong]),
            )
        )
    return splits
