"""The oversight report against tables computed by hand, on judged cases written straight to the store."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from proctor.protocols import report
from proctor.protocols._experiment import _record_verdict, question_task
from proctor.protocols.datasets import Question
from proctor.store import RunStatus, Store, ops

EXPERIMENT = "e1"
_ids = count()


def judged(
    store: Store,
    protocol: str,
    judge: str,
    question: str,
    *,
    correct: int = 0,
    picked: int | None,
    debaters: tuple[str, str] = ("", ""),
    stopped: str | None = None,
) -> str:
    """A finished case of `protocol`: `judge` picked answer `picked` (None: unparseable) of a question whose
    correct answer is `correct`."""
    task = question_task("t", Question(id=question, question="?", answers=["x", "y"], correct=0))
    store.write(ops.upsert_task, task)
    case: dict[str, Any] = {"judge": judge, "question_id": question, "correct": correct, "debaters": list(debaters)}
    config = {"experiment": EXPERIMENT, "protocol": protocol, "case": case, "oversight": {"debater": "d/strong"}}
    run_id = store.write(
        ops.create_run,
        task_id=task["id"],
        model=judge,
        config=config,
        status=RunStatus.RUNNING,
        run_id=f"r{next(_ids)}",
    )
    right = picked == correct
    detail = {"answer": picked, "correct": right, "parsed": picked is not None}
    if stopped is not None:
        detail["stopped"] = stopped
    store.write(_record_verdict, run_id, detail, "", None if stopped else float(right), stopped)
    return run_id


def test_accuracy_rows_p_values_and_intervals_by_hand(sqlite_store: Store) -> None:
    """Ten questions, both answer orders. Debate is right on all 20 judgments; the naive judge is wrong on q0–q5
    and right on q6–q9. Per question, 6 of 10 differences are +1 and 4 are 0."""
    for q in range(10):
        for order in (0, 1):
            judged(sqlite_store, "debate", "j/weak", f"q{q}", correct=order, picked=order, debaters=("d", "d"))
            naive_right = q >= 6
            judged(sqlite_store, "naive", "j/weak", f"q{q}", correct=order, picked=order if naive_right else 1 - order)
    result = report(sqlite_store, EXPERIMENT)
    rows = {(r.protocol, r.play): r for r in result.rows}
    debate = rows[("debate", "self-play")]
    # All right: Wilson at the effective size, one judgment per question when no spread can be seen: 10/(10+z^2).
    assert debate.accuracy.value == 1.0 and debate.accuracy.high == 1.0
    assert debate.accuracy.low == pytest.approx(10 / (10 + 1.959964**2), abs=1e-5)
    assert debate.versus_naive is not None and debate.versus_naive.value == pytest.approx(0.6)
    # The exact two-sided sign test: 2 of the 2^6 sign patterns are as extreme.
    assert debate.versus_naive.p_value == pytest.approx(0.03125)
    naive = rows[("naive", None)]
    assert naive.accuracy.value == 0.4 and naive.accuracy.clusters == 10


def test_self_play_and_cross_play_apart_elo_per_judge_without_unparseable_verdicts(sqlite_store: Store) -> None:
    """Judge j/one sees `d/a` win 3 of 4 cross-play debates against `d/b`, with one more debate unparseable;
    judge j/two sees `d/b` win both. Self-play debates are rows of their own and play no part in the ratings."""
    one = [(("d/a", "d/b"), 0), (("d/a", "d/b"), 0), (("d/b", "d/a"), 1), (("d/b", "d/a"), 0), (("d/a", "d/b"), None)]
    for i, (pair, picked) in enumerate(one):
        judged(sqlite_store, "debate", "j/one", f"q{i}", picked=picked, debaters=pair)
    for i, (pair, picked) in enumerate([(("d/a", "d/b"), 1), (("d/b", "d/a"), 0)]):
        judged(sqlite_store, "debate", "j/two", f"q{i}", picked=picked, debaters=pair)
    for i in range(3):
        judged(sqlite_store, "debate", "j/one", f"q{i}", picked=0, debaters=("d/a", "d/a"))
    result = report(sqlite_store, EXPERIMENT)
    plays = {(r.judge, r.play): (r.accuracy.n, r.accuracy.value, r.unparseable) for r in result.rows}
    assert plays == {
        ("j/one", "cross-play"): (5, 3 / 5, 1),  # correct answer is A: right when A was picked
        ("j/one", "self-play"): (3, 1.0, 0),
        ("j/two", "cross-play"): (2, 0.5, 0),
    }
    assert set(result.elo) == {"j/one", "j/two"}
    first = {p.player: (p.games, p.wins, p.losses) for p in result.elo["j/one"].players}
    assert first == {"d/a": (4, 3, 1), "d/b": (4, 1, 3)}  # the unparseable debate is nobody's loss
    assert result.elo["j/one"].players[0].player == "d/a"
    second = {p.player: (p.games, p.wins) for p in result.elo["j/two"].players}
    assert second == {"d/a": (2, 0), "d/b": (2, 2)}


def test_cases_not_judged_are_counted_apart(sqlite_store: Store) -> None:
    judged(sqlite_store, "open_debate", "j/weak", "q0", picked=None, stopped="unparseable side")
    judged(sqlite_store, "open_debate", "j/weak", "q1", picked=0)
    result = report(sqlite_store, EXPERIMENT)
    (row,) = result.rows
    assert (row.accuracy.n, row.accuracy.value, row.unparseable, row.stopped) == (1, 1.0, 0, 1)
    assert result.not_judged == 1
