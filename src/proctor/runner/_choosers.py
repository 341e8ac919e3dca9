"""Choosers: who picks among a step's options — the first one, a rating model, or a person."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from pydantic import BaseModel

from proctor.agents import describe_option, transcript
from proctor.models import GenerateConfig, Generation, Message, Model, get_model
from proctor.runner._config import ChooserConfig, stop_if_killed
from proctor.store import OptionRecord, RunStatus, Store, Writer, ops


class ChoiceRequest(BaseModel):
    """What a chooser is given."""

    run_id: str
    """The run."""
    step_id: int
    """The step whose options are chosen among."""
    messages: list[Message]
    """The agent's conversation so far."""
    options: list[OptionRecord]
    """The stored options, in order."""


class Choice(BaseModel):
    """What a chooser decided."""

    option_id: int
    """The chosen option."""
    chooser: str
    """Who chose: `first`, `rating:<model>`, `human:<user>`."""
    stored: bool = False
    """The choice is already in the store (a person wrote it)."""
    waited: float = 0.0
    """Seconds spent waiting for a person (not counted as run time)."""


class ChooserServices(BaseModel, arbitrary_types_allowed=True):
    """What a chooser may use: the store, its writer, and a hook to record model usage."""

    store: Store
    """The store (for reading a person's choice)."""
    writer: Writer
    """The writer (for ratings and status)."""
    record_usage: Callable[[Generation | None, str, str, str | None], Awaitable[None]]
    """`record_usage(generation, model, role, error)` stores one call's usage for the step."""


class Chooser(Protocol):
    """Picks one of a step's options."""

    async def choose(self, request: ChoiceRequest, services: ChooserServices) -> Choice:
        """Pick an option; ratings it makes are stored through `services.writer`."""
        ...


ChooserFactory = Callable[[ChooserConfig, Model], Chooser]
_choosers: dict[str, ChooserFactory] = {}


class UnknownChooserError(ValueError):
    """No chooser of that name is registered."""


def chooser(name: str) -> Callable[[ChooserFactory], ChooserFactory]:
    """Register a chooser factory `factory(config, agent_model) -> Chooser` under `name`."""

    def register(factory: ChooserFactory) -> ChooserFactory:
        _choosers[name] = factory
        return factory

    return register


def get_chooser(config: ChooserConfig, agent_model: Model) -> Chooser:
    """Build the chooser `config.name`."""
    factory = _choosers.get(config.name)
    if factory is None:
        raise UnknownChooserError(f"unknown chooser {config.name!r} (choosers: {', '.join(sorted(_choosers))})")
    return factory(config, agent_model)


class First:
    """Takes the first option."""

    async def choose(self, request: ChoiceRequest, services: ChooserServices) -> Choice:
        return Choice(option_id=request.options[0].id, chooser="first")


@chooser("first")
def _first(config: ChooserConfig, agent_model: Model) -> Chooser:
    return First()


RATING_PROMPT = """You judge an agent's proposed next action for a task. The task and the agent's recent work:

{context}

Proposed next action:
{option}

How good is this next action for finishing the task correctly? Rate it from 1 (useless or harmful) to 5
(the best possible next action). Answer with a single digit."""

_DIGITS = {str(d): d for d in range(1, 6)}


def expected_rating(generation: Generation) -> float | None:
    """The expected 1–5 rating from the first token's log-probabilities, or None if no digit is among them."""
    completion = generation.completions[0]
    if not completion.logprobs:
        return None
    top = completion.logprobs[0].top or {completion.logprobs[0].token: 0.0}
    weights = {_DIGITS[t.strip()]: math.exp(lp) for t, lp in top.items() if t.strip() in _DIGITS}
    total = sum(weights.values())
    return sum(d * w for d, w in weights.items()) / total if total > 0 else None


def sampled_rating(generation: Generation) -> float | None:
    """The mean of the first 1–5 digit in each sampled completion, or None if none has one."""
    values = [int(m.group()) for c in generation.completions if (m := re.search(r"[1-5]", c.text))]
    return sum(values) / len(values) if values else None


class Rated(BaseModel):
    """A 1–5 rating from a model, how it was obtained, and the calls it took."""

    value: float | None
    """The rating, or None when no reply held a digit from 1 to 5."""
    method: str
    """`logprobs` (expected value at the first token) or `sampling` (mean of sampled digits)."""
    generations: list[Generation]
    """The model calls made, for their usage."""


async def rate_1_to_5(model: Model, prompt: str, *, logprobs: bool = True, samples: int = 5) -> Rated:
    """Ask `model` for a 1–5 rating: the expected rating from the first token's log-probabilities where the provider
    returns them (and `logprobs`), else the mean of `samples` sampled ratings."""
    messages = [Message(role="user", content=prompt)]
    generations = []
    if logprobs:
        config = GenerateConfig(n=1, max_tokens=1, temperature=0.0, logprobs=True, top_logprobs=10)
        generations.append(await model.generate(messages, config))
        if (value := expected_rating(generations[-1])) is not None:
            return Rated(value=value, method="logprobs", generations=generations)
    generations.append(await model.generate(messages, GenerateConfig(n=samples, max_tokens=4, temperature=1.0)))
    return Rated(value=sampled_rating(generations[-1]), method="sampling", generations=generations)


class Rating:
    """Rates every option 1–5 with a model, stores the ratings, and takes the best (the first on ties)."""

    def __init__(self, config: ChooserConfig, model: Model) -> None:
        self.config = config
        self.model = model

    async def rate(self, request: ChoiceRequest, option: OptionRecord, services: ChooserServices) -> float | None:
        prompt = RATING_PROMPT.format(context=transcript(request.messages, 6), option=describe_option(option))
        rated = await rate_1_to_5(self.model, prompt, logprobs=self.config.logprobs, samples=self.config.samples)
        for generation in rated.generations:
            await services.record_usage(generation, self.model.name, "rater", None)
        if rated.value is not None:
            rating = {"rater": f"model:{self.model.name}", "value": rated.value, "scale": "1-5", "method": rated.method}
            await services.writer.write(ops.add_rating, option.id, rating)
        return rated.value

    async def choose(self, request: ChoiceRequest, services: ChooserServices) -> Choice:
        values = await asyncio.gather(*(self.rate(request, o, services) for o in request.options))
        scored = [(-(v if v is not None else 0.0), i) for i, v in enumerate(values)]
        best = min(scored)[1]
        return Choice(option_id=request.options[best].id, chooser=f"rating:{self.model.name}")


@chooser("rating")
def _rating(config: ChooserConfig, agent_model: Model) -> Chooser:
    return Rating(config, get_model(config.model) if config.model else agent_model)


class Human:
    """Waits until a person chooses an option or writes one (in the web interface, or `proctor choose`)."""

    def __init__(self, config: ChooserConfig) -> None:
        self.config = config

    async def choose(self, request: ChoiceRequest, services: ChooserServices) -> Choice:
        started = time.monotonic()
        await services.writer.write(ops.set_status, request.run_id, RunStatus.WAITING_HUMAN)
        while (found := await asyncio.to_thread(services.store.choice, request.step_id)) is None:
            await stop_if_killed(services.store, request.run_id)
            await asyncio.sleep(self.config.poll_seconds)
        await services.writer.write(ops.set_status, request.run_id, RunStatus.RUNNING)
        option_id, who = found
        return Choice(option_id=option_id, chooser=who, stored=True, waited=time.monotonic() - started)


@chooser("human")
def _human(config: ChooserConfig, agent_model: Model) -> Chooser:
    return Human(config)


class Author:
    """Takes the first option, chosen by whoever proposed it: a person doing the task chooses their own action."""

    async def choose(self, request: ChoiceRequest, services: ChooserServices) -> Choice:
        first = request.options[0]
        return Choice(option_id=first.id, chooser=first.source)


@chooser("author")
def _author(config: ChooserConfig, agent_model: Model) -> Chooser:
    return Author()
