"""Test doubles for human judging studies: scripted debaters and a judge, and an oversight experiment made with
them by the real `run_experiment` (for tests only)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from doubles import script

from proctor.models import GenerateConfig, Message
from proctor.protocols import OversightConfig, run_experiment
from proctor.protocols.datasets import Question
from proctor.store import Store

SOURCE = "The lighthouse keeper counted exactly forty-two ships in the storm of 1889, and logged each by name."
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1;alert(1)">'


@script("study-debater")
def _debater(messages: list[Message], config: GenerateConfig) -> list[str]:
    """Argues for 42 with a genuine quote; for anything else with an invented quote and an XSS payload."""
    prompt = messages[-1].content
    if ': 42"' in prompt:
        text = "The log says <quote>exactly forty-two ships</quote>, plainly."
    else:
        text = f"It was <quote>seventeen ships in all</quote>, trust me. {XSS}"
    return [text] * config.n


@script("study-judge")
def _judge(messages: list[Message], config: GenerateConfig) -> list[str]:
    return ["Answer: A\nConfidence: 60%"] * config.n


def questions(n: int) -> list[Question]:
    """`n` two-answer questions about the same source; the correct answer is "42"."""
    return [
        Question(
            id=f"q{i:02d}",
            question=f"How many ships did the keeper count? (#{i})",
            answers=["42", "17"],
            correct=0,
            source=SOURCE,
        )
        for i in range(n)
    ]


def make_experiment(
    store: Store, n: int, protocols: tuple[str, ...] = ("debate",), *, cross_examination: bool = False
) -> str:
    """An oversight experiment on `n` questions, both answer orders, one debate round; returns its id."""
    config = OversightConfig(
        protocols=list(protocols),
        debater="double/study-debater",
        judges=["double/study-judge"],
        rounds=1,
        cross_examination=cross_examination,
    )
    # In a thread of its own: Playwright's synchronous API keeps an event loop running in a browser test's thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run_experiment(questions(n), config, store, dataset="ships")).result()
