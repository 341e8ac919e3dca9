"""Automated interpretability: the synthetic language, the scripted interpreter's answers, the scores against
direct computations, unreadable replies, and `proctor lab autointerp` end to end at a tiny size."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from proctor.lab import AutoInterpConfig, LabError, run_autointerp
from proctor.lab._autointerp import (
    CATEGORIES,
    FEATURES,
    TRANSITIONS,
    WORDS,
    corpus,
    detect_prompt,
    explain_prompt,
    fuzz_prompt,
    named,
    read_numbers,
    read_yes_no,
    simulate_prompt,
)
from proctor.models import GenerateConfig, Generation, Message, get_model, provider
from proctor.models._base import Completion

ROOT = Path(__file__).resolve().parents[2]


def ask(prompt: str) -> str:
    model = get_model("scripted/interpreter")
    generation = asyncio.run(model.generate([Message(role="user", content=prompt)], GenerateConfig()))
    return generation.completions[0].text


def test_the_corpus_follows_its_markov_chain() -> None:
    words, categories = corpus(4000, 12, np.random.default_rng(0))
    assert words.shape == categories.shape == (4000, 12)
    for category in range(len(CATEGORIES)):
        after = categories[:, 1:][categories[:, :-1] == category]
        observed = np.bincount(after, minlength=len(CATEGORIES)) / len(after)
        assert observed == pytest.approx(TRANSITIONS[category], abs=0.03)
    for k, feature in enumerate(FEATURES, start=1):
        assert {WORDS[w] for w in words[categories == k]} == set(FEATURES[feature])


def test_the_scripted_interpreter_answers_each_prompt() -> None:
    examples = ["the <<cat>> saw a <<dog>>", "a <<cat>> and <<cow>>", "<<cat>> on <<dog>>"]
    explanation = ask(explain_prompt(examples))
    assert explanation == "Explanation: words like cat, dog, cow"
    said = "words like cat, dog, cow"
    assert read_numbers(ask(simulate_prompt(said, ["the", "cat", "is", "red"])), 4) == [0, 10, 0, 0]
    assert read_yes_no(ask(detect_prompt(said, ["a", "dog"]))) is True
    assert read_yes_no(ask(detect_prompt(said, ["a", "lake"]))) is False
    assert read_yes_no(ask(fuzz_prompt(said, "the <<cat>> saw a dog"))) is True
    assert read_yes_no(ask(fuzz_prompt(said, "<<the>> cat saw a dog"))) is False


def test_naming_the_planted_feature() -> None:
    assert named("fires on animals", "animals") and named("an animal word", "animals")
    assert named("the words cat, dog, cow", "animals")
    assert not named("the words cat, dog", "animals")  # two of six
    assert named("colors", "colours") and not named("numbers", "colours")


class GarbageDouble:
    """A test double for a model whose replies cannot be read."""

    name = "garbage-double/x"

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        return Generation(model=self.name, completions=[Completion(text="I would rather not say.")])


@provider("garbage-double")
def _garbage(model: str, **options: Any) -> GarbageDouble:
    return GarbageDouble()


def test_an_unreadable_reply_is_one_error_naming_the_model() -> None:
    config = AutoInterpConfig.tiny().model_copy(update={"seeds": 1, "features": 1, "simulator": "garbage-double/x"})
    with pytest.raises(LabError, match=r"^garbage-double/x: unit \d+: expected 12 numbers, found 0 in the reply"):
        run_autointerp(config)


def test_the_cli_interprets_units(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "autointerp", "--tiny", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (Path(result["folder"]) / "scores.png").read_bytes()[:4] == b"\x89PNG"
    config = AutoInterpConfig.tiny()
    assert len(result["rows"]) == config.seeds * config.features
    for row in result["rows"]:
        assert row["explanation"].startswith("words like ") and "this" not in row["explanation"]
        assert row["named"] == float(named(row["explanation"], row["feature"]))
        assert 0 <= row["detection"] <= 1 and 0 <= row["fuzzing"] <= 1 and -1 <= row["simulation"] <= 1
    for name in ("simulation", "detection", "fuzzing", "named"):
        assert result["summary"][name]["value"] == pytest.approx(np.mean([r[name] for r in result["rows"]]))
    assert result["summary"]["simulation"]["value"] > 0.2  # word-list explanations predict the units


def test_an_unknown_explainer_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "autointerp", "--tiny", "--explainer", "nowhere/x"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: unknown model provider 'nowhere'")
    assert done.stderr.count("\n") == 1


def test_real_models_over_http_give_what_the_scripted_interpreter_gives() -> None:
    """The explainer and simulator through the OpenAI SDK against the loopback server, which answers as the
    scripted interpreter does: the same explanations and scores as calling it directly."""
    from loopback_server import LoopbackServer, RecordedRequest, Reply

    from proctor.models._interpreter import ScriptedInterpreter

    interpreter = ScriptedInterpreter()

    def answer(request: RecordedRequest) -> Reply:
        return Reply(text=interpreter.respond(request.body["messages"][-1]["content"]))

    config = AutoInterpConfig.tiny().model_copy(update={"seeds": 1, "features": 2})
    direct = run_autointerp(config)
    with LoopbackServer(default=answer) as server:
        options = {"base_url": server.base_url, "api_key": "test-key"}
        remote = config.model_copy(
            update={
                "explainer": "openai/explainer",
                "simulator": "openai/simulator",
                "model_options": {"openai/explainer": options, "openai/simulator": options},
            }
        )
        over_http = run_autointerp(remote)
        calls = [r for r in server.requests if r.path.endswith("/chat/completions")]
    assert over_http.rows == direct.rows
    assert {r.body["model"] for r in calls} == {"explainer", "simulator"}
    assert sum(r.body["model"] == "explainer" for r in calls) == 2  # one explanation per unit
