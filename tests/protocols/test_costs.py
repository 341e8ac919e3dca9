"""Cost per protocol in the report: tokens and dollars of the runs, people's judging time from the studies."""

from __future__ import annotations

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply
from oversight_doubles import honest_world
from test_protocols import QUESTIONS, config

from proctor.models import close_clients
from proctor.protocols import create_study, report, run_experiment
from proctor.store import Store, users
from proctor.store import _studies as studies


def costed_world(request: RecordedRequest) -> Reply:
    """`honest_world`, every call reported as 10 prompt and 5 generated tokens."""
    reply = honest_world(request)
    reply.usage = (10, 5)
    return reply


async def test_cost_per_protocol_in_tokens_dollars_and_judging_time(sqlite_store: Store) -> None:
    with LoopbackServer(default=costed_world) as server:
        settings = config(server, protocols=["naive", "debate"], rounds=1)
        # $1 per prompt token and $2 per generated token: a call costs 10 + 2 × 5 = $20.
        settings.model_options = {
            m: o | {"price": [1_000_000.0, 2_000_000.0]} for m, o in settings.model_options.items()
        }
        experiment = await run_experiment(QUESTIONS[:2], settings, sqlite_store, dataset="t")
        await close_clients()
    for name in ("ada", "bob"):
        sqlite_store.write(users.add_user, name, "rater", "a long enough password")
    study = create_study(sqlite_store, experiment, "debate", ["ada", "bob"], seed=0)
    with sqlite_store.engine.connect() as conn:
        judged = studies.judgments(conn, study_id=study.id)
    timing = {"assisted": [30.0, 50.0, 70.0], "unassisted": [20.0, 40.0]}
    for j in judged:
        taken = timing[j.condition].pop(0) if timing[j.condition] else None
        sqlite_store.write(studies.answer, j.id, j.user_id, verdict=j.correct, confidence=0.9, seconds=taken)
    costs = {c.protocol: c for c in report(sqlite_store, experiment).costs}
    assert list(costs) == ["naive", "debate"]
    # By hand: naive is 2 questions × 2 orders = 4 cases of one call; debate 4 cases of 3 calls (2 debaters, judge).
    naive, debate = costs["naive"], costs["debate"]
    assert (naive.cases, naive.input_tokens, naive.output_tokens) == (4, 40, 20)
    assert naive.dollars == pytest.approx(80.0) and naive.dollars_per_case == pytest.approx(20.0)
    assert (debate.cases, debate.input_tokens, debate.output_tokens) == (4, 120, 60)
    assert debate.dollars == pytest.approx(240.0) and debate.tokens_per_case == 45.0
    # 2 people × 2 questions, each person assisted on one: 2 assisted (debate) and 2 unassisted (naive) judgments.
    assert (debate.human_judgments, naive.human_judgments) == (2, 2)
    assert (debate.human_median_seconds, naive.human_median_seconds) == (40.0, 30.0)  # of 30 and 50; of 20 and 40
