"""Judges: prompt variants, few-shot examples, majority votes, verdicts from letter log-probabilities, and the
calibration of stated confidence; scripted models on a loopback server, figures checked by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply
from oversight_doubles import honest_world, prompt
from test_protocols import QUESTIONS, config

from proctor.models import close_clients
from proctor.protocols import plot, report, run_experiment
from proctor.protocols._report import calibration, cases
from proctor.store import Store


def voting_world(request: RecordedRequest) -> Reply:
    """Three sampled verdicts: B (60%), A (90%), B (70%)."""
    if "You are the judge" in prompt(request):
        return Reply(texts=["Answer: B\nConfidence: 60%", "Answer: A\nConfidence: 90%", "Answer: B\nConfidence: 70%"])
    return honest_world(request)


async def test_majority_vote_of_sampled_verdicts(sqlite_store: Store) -> None:
    with LoopbackServer(default=voting_world) as server:
        experiment = await run_experiment(QUESTIONS[:1], config(server, votes=3), sqlite_store, dataset="t")
        await close_clients()
        asked = [r.body for r in server.requests if "You are the judge" in prompt(r)]
    assert all(body["n"] == 3 and body["temperature"] == 1.0 for body in asked)
    for run in sqlite_store.experiment_runs(experiment):
        verdict = sqlite_store.steps(run.id)[-1]
        assert len(verdict.options) == 3 and verdict.chosen is not None and verdict.chosen.text.startswith("Answer: B")
        detail = sqlite_store.last_events([run.id], "verdict")[run.id]
        # Two of three say B: B, with confidence 2/3 (the votes' share, not a stated figure).
        assert detail["answer"] == 1 and detail["confidence"] == pytest.approx(2 / 3)
        assert detail["votes"] == ["B", "A", "B"]
        assert run.score == (1.0 if run.config["case"]["correct"] == 1 else 0.0)


def letter_world(request: RecordedRequest) -> Reply:
    """Asked for one letter, the judge says B."""
    text = prompt(request)
    if "You are the judge" in text and "Reply with the letter" in text:
        return Reply(text="B")
    return honest_world(request)


async def test_verdict_from_the_letters_log_probabilities(sqlite_store: Store) -> None:
    with LoopbackServer(default=letter_world) as server:
        settings = config(server, verdict_logprobs=True)
        experiment = await run_experiment(QUESTIONS[:1], settings, sqlite_store, dataset="t")
        await close_clients()
        asked = [r.body for r in server.requests if "You are the judge" in prompt(r)]
    # One call a case, asking for the first token's alternatives; the only letter among them is B.
    assert len(asked) == 2 and all(b["logprobs"] is True and b["max_tokens"] == 1 for b in asked)
    for run in sqlite_store.experiment_runs(experiment):
        detail = sqlite_store.last_events([run.id], "verdict")[run.id]
        assert (detail["answer"], detail["confidence"], detail["probability_a"]) == (1, 1.0, 0.0)
        assert detail["verdict_method"] == "logprobs"
        assert sqlite_store.steps(run.id)[-1].chooser == "judge:logprobs"


async def test_prompt_variants_and_few_shot_examples(sqlite_store: Store) -> None:
    with LoopbackServer(default=honest_world) as server:
        settings = config(server, protocols=["naive", "consultancy"], judge_prompt="skeptical", few_shot=2, rounds=1)
        await run_experiment(QUESTIONS, settings, sqlite_store, dataset="t")
        await close_clients()
        judged = [prompt(r) for r in server.requests if "You are the judge" in prompt(r)]
    assert len(judged) == 6 + 12
    for text in judged:
        assert "count only verified quotes as evidence" in text
        own = re.search(r"Question: How many ships did the keeper count\? \((\d)\)\n\nA:", text)
        assert own is not None
        shown = sorted(set(re.findall(r"<example>\nQuestion: How many ships did the keeper count\? \((\d)\)", text)))
        # The next two other questions, wrapping around: never the question itself.
        assert shown == sorted({"0", "1", "2"} - {own.group(1)})
        assert "Correct answer: A" in text
    with LoopbackServer(default=honest_world) as server:
        await run_experiment(QUESTIONS[:1], config(server, judge_prompt="brief"), sqlite_store, dataset="t")
        await close_clients()
        brief = [prompt(r) for r in server.requests if "You are the judge" in prompt(r)]
    assert brief and all("Do not explain." in text and "Think it through" not in text for text in brief)


def confident_world(request: RecordedRequest) -> Reply:
    """The naive judge always says A: 95% sure on question 0, 65% on the others."""
    text = prompt(request)
    if "You are the judge" in text:
        sure = 95 if "count? (0)" in text else 65
        return Reply(text=f"Answer: A\nConfidence: {sure}%")
    return honest_world(request)


async def test_calibration_ece_bins_and_reliability_plot(sqlite_store: Store, tmp_path: Path) -> None:
    with LoopbackServer(default=confident_world) as server:
        experiment = await run_experiment(QUESTIONS, config(server), sqlite_store, dataset="t")
        await close_clients()
    result = report(sqlite_store, experiment)
    (measured,) = result.calibration
    # By hand: A is right in one order of each question. Bin [0.9, 1]: q0's 2 verdicts at 0.95, 1 right;
    # bin [0.6, 0.7): 4 at 0.65, 2 right. ECE = 2/6 × |0.5 − 0.95| + 4/6 × |0.5 − 0.65| = 0.15 + 0.1.
    assert measured.ece == pytest.approx(0.25) and measured.n == 6
    assert [(b.low, b.high, b.n) for b in measured.bins] == [(0.6, 0.7, 4), (0.9, 1.0, 2)]
    assert [b.accuracy for b in measured.bins] == [0.5, 0.5]
    assert [b.confidence for b in measured.bins] == pytest.approx([0.65, 0.95])
    # Five bins instead of ten: 0.65 and 0.95 fall in [0.6, 0.8) and [0.8, 1].
    five = calibration(cases(sqlite_store, experiment), bins=5)
    assert five is not None and [(b.low, b.high) for b in five[1]] == [(0.6, 0.8), (0.8, 1.0)]
    written = plot(result, tmp_path)
    reliability = tmp_path / f"{experiment}-reliability.png"
    assert reliability in written and reliability.stat().st_size > 10_000
