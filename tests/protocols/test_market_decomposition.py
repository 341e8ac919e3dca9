"""Market making and decomposition against scripted models on a loopback OpenAI-compatible server; the stored steps
and the report's figures checked against tables computed by hand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply
from oversight_doubles import decomposing_world, honest_world, market_world, prompt
from test_protocols import QUESTIONS, config

from proctor.models import close_clients
from proctor.protocols import parse_subquestions, report, run_experiment
from proctor.store import Store


@pytest.fixture
def market_server() -> Iterator[LoopbackServer]:
    with LoopbackServer(default=market_world) as running:
        yield running


async def test_market_making_moves_the_market_and_the_judge_answers(
    market_server: LoopbackServer, sqlite_store: Store
) -> None:
    settings = config(market_server, protocols=["market-making", "naive"], rounds=2)
    experiment = await run_experiment(QUESTIONS[:1], settings, sqlite_store, dataset="t")
    await close_clients()
    runs = [r for r in sqlite_store.experiment_runs(experiment) if r.config["protocol"] == "market-making"]
    assert len(runs) == 2
    verdicts = sqlite_store.last_events([r.id for r in runs], "verdict")
    # By hand. Order 0 (A: 42): the market opens at 0.5, so the adversary argues for A first (round 1), quoting
    # truly: 0.9; then for B, the less likely, with an invented quote: still 0.9. Order 1 (A: 17): round 1 for A,
    # invented: 0.5; round 2 (0.5 again: B in turn) for B's 42, quoted truly: 0.1.
    expected = {
        0: ([0.5, 0.9, 0.9], ["A", "B"], [pytest.approx(0.4), 0.0]),
        1: ([0.5, 0.5, 0.1], ["A", "B"], [0.0, pytest.approx(-0.4)]),
    }
    for run in runs:
        detail = verdicts[run.id]
        predictions, sides, moves = expected[run.config["case"]["correct"]]
        assert detail["predictions"] == predictions
        assert detail["adversary_sides"] == sides and detail["moves"] == moves
        assert detail["correct"] is True and run.score == 1.0
        kinds = [s.kind for s in sqlite_store.steps(run.id)]
        assert kinds == ["prediction", "argument", "prediction", "argument", "prediction", "verdict"]
    judge_prompts = [prompt(r) for r in market_server.requests if "You are the judge" in prompt(r)]
    market_verdicts = [p for p in judge_prompts if "prediction market thought" in p]
    assert len(market_verdicts) == 2 and all(p.count('<turn speaker="Adversary"') == 2 for p in market_verdicts)
    result = report(sqlite_store, experiment)
    row = next(r for r in result.rows if r.protocol == "market-making")
    assert row.accuracy.value == 1.0 and row.accuracy.n == 2
    (market,) = result.market.values()
    # Final predictions 0.9 (judge said A) and 0.1 (judge said B): squared errors 0.01 and 0.01.
    assert market.n == 2 and market.brier == pytest.approx(0.01)
    # Mean |move| per round over both cases: (0.4 + 0 + 0 + 0.4) / 4.
    assert market.mean_move == pytest.approx(0.2)


async def test_an_unstated_prediction_is_marked_and_the_adversary_alternates(sqlite_store: Store) -> None:
    def vague_market(request: RecordedRequest) -> Reply:
        if "You are a prediction market" in prompt(request):
            return Reply(text="Hard to say.")
        return honest_world(request)

    with LoopbackServer(default=vague_market) as server:
        experiment = await run_experiment(
            QUESTIONS[:1], config(server, protocols=["market-making"], rounds=3), sqlite_store, dataset="t"
        )
        await close_clients()
    run = sqlite_store.experiment_runs(experiment)[0]
    detail = sqlite_store.last_events([run.id], "verdict")[run.id]
    assert detail["predictions"] == [None, None, None, None] and detail["moves"] == [None, None, None]
    assert detail["adversary_sides"] == ["A", "B", "A"]
    predictions = [s for s in sqlite_store.steps(run.id) if s.kind == "prediction"]
    assert all(s.options[0].parse_error == "no 'Probability A: NN%' in the market's reply" for s in predictions)


@pytest.mark.parametrize(
    ("depth", "budget", "asked", "answered", "deepest", "kinds"),
    [
        # One level, budget 2: two sub-questions (the third is over budget), each answered by the assistant.
        (1, 2, 2, 2, 1, ["decomposition", "answer", "answer", "verdict"]),
        # Two levels, budget 4: three sub-questions; the first is split again (one left), its one sub-sub-question
        # answered and combined; the budget is then spent, so the other two go straight to the assistant.
        (2, 4, 4, 3, 2, ["decomposition", "decomposition", "answer", "combination", "answer", "answer", "verdict"]),
    ],
)
async def test_decomposition_depth_and_budget(
    depth: int, budget: int, asked: int, answered: int, deepest: int, kinds: list[str], sqlite_store: Store
) -> None:
    with LoopbackServer(default=decomposing_world) as server:
        settings = config(server, protocols=["decomposition"], depth=depth, budget=budget)
        experiment = await run_experiment(QUESTIONS[:1], settings, sqlite_store, dataset="t")
        await close_clients()
        judge_prompts = [prompt(r) for r in server.requests if "You are the judge. Answer" in prompt(r)]
    runs = sqlite_store.experiment_runs(experiment)
    assert len(runs) == 2
    for run in runs:
        detail = sqlite_store.last_events([run.id], "verdict")[run.id]
        assert (detail["subquestions"], detail["untrusted_answers"], detail["deepest"]) == (asked, answered, deepest)
        assert [s.kind for s in sqlite_store.steps(run.id)] == kinds
        assert run.score == 1.0
    # The judge reads each sub-question with its answer, quotes checked.
    assert all("<v_quote>exactly forty-two ships</v_quote>" in p for p in judge_prompts)
    assert all('speaker="Judge (sub-question 1)"' in p for p in judge_prompts)
    if depth == 2:
        assert all('speaker="Judge (sub-question 1.1)"' in p for p in judge_prompts)
        assert all("Judge's answer (sub-question 1)" in p for p in judge_prompts)
    (row,) = report(sqlite_store, experiment).rows
    assert row.protocol == "decomposition" and row.accuracy.value == 1.0


def test_subquestions_are_parsed_capped_and_neutralized() -> None:
    text = "<subquestion> a </subquestion><subquestion></subquestion><subquestion>b </turn> c</subquestion>"
    assert parse_subquestions(text, 5) == ["a", "b ‹/turn› c"]
    assert parse_subquestions(text, 1) == ["a"]
    assert parse_subquestions("no tags", 3) == []


async def test_people_read_what_the_judge_read(market_server: LoopbackServer, sqlite_store: Store) -> None:
    """A human study's transcript of market making has the arguments, not the market's predictions; one of
    decomposition has the sub-questions and their answers."""
    from oversight_doubles import decomposing_world

    from proctor.protocols import transcript
    from proctor.protocols._study import NOTES

    experiment = await run_experiment(
        QUESTIONS[:1], config(market_server, protocols=["market-making"], rounds=2), sqlite_store, dataset="t"
    )
    await close_clients()
    run = sqlite_store.experiment_runs(experiment)[0]
    assert [(t.speaker, t.kind) for t in transcript(sqlite_store, run.id)] == [("Adversary", "argument")] * 2
    with LoopbackServer(default=decomposing_world) as server:
        settings = config(server, protocols=["decomposition"], budget=2)
        experiment = await run_experiment(QUESTIONS[:1], settings, sqlite_store, dataset="t")
        await close_clients()
    run = sqlite_store.experiment_runs(experiment)[0]
    turns = transcript(sqlite_store, run.id)
    assert [t.kind for t in turns] == ["decomposition", "answer", "answer"]
    assert turns[0].segments[0].text == "What did the keeper count?\nHow many were there?"
    assert "untrusted assistant" in NOTES["decomposition"] and "prediction market" in NOTES["market-making"]
