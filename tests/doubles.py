"""Test doubles: in-process models with scripted answers (for tests only; never a feature)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from proctor.models import Completion, GenerateConfig, Generation, Message, TokenLogprob, Usage, provider

Script = Callable[[list[Message], GenerateConfig], list[str] | list[Completion]]
_scripts: dict[str, Script] = {}


class DoubleModel:
    """A model double: answers come from a script registered under its name (`double/<name>`)."""

    def __init__(self, name: str, logprobs: dict[str, float] | None = None, delay: float = 0.0) -> None:
        self.name = f"double/{name}"
        self.script = _scripts[name]
        self.logprobs = logprobs
        self.delay = delay
        self.calls: list[list[Message]] = []
        self.configs: list[GenerateConfig] = []

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        self.calls.append(messages)
        self.configs.append(config)
        if self.delay:
            await asyncio.sleep(self.delay)
        texts = self.script(messages, config)
        logprobs = None
        if config.logprobs and self.logprobs is not None:
            logprobs = [TokenLogprob(token=max(self.logprobs, key=self.logprobs.__getitem__), top=self.logprobs)]
        completions = [t if isinstance(t, Completion) else Completion(text=t, logprobs=logprobs) for t in texts]
        return Generation(
            model=self.name, completions=completions, usage=Usage(input_tokens=100, output_tokens=10, cost=0.001)
        )


def script(name: str) -> Callable[[Script], Script]:
    """Register a script: `fn(messages, config) -> config.n texts (or completions, with tool calls)`."""

    def register(fn: Script) -> Script:
        if name in _scripts and getattr(_scripts[name], "actions", None) != getattr(fn, "actions", object()):
            raise ValueError(f"a double named {name!r} is registered already: test modules share the registry")
        _scripts[name] = fn
        return fn

    return register


def turns(messages: list[Message]) -> int:
    """How many actions the agent has taken in this conversation."""
    return sum(1 for m in messages if m.role == "assistant")


def sequence(name: str, actions: list[str]) -> None:
    """Register a script that plays `actions` in order (repeating the last), the same text for every option."""

    def play(messages: list[Message], config: GenerateConfig) -> list[str]:
        return [actions[min(turns(messages), len(actions) - 1)]] * config.n

    play.actions = list(actions)  # type: ignore[attr-defined]
    script(name)(play)


@provider("double")
def _double(model: str, **options: Any) -> DoubleModel:
    return DoubleModel(model, **options)
