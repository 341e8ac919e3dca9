"""The model interface: one `Model` protocol over every provider, and the registry of providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class ModelError(Exception):
    """A model call failed for good (after retries, or for a reason retrying cannot fix)."""


class UnknownModelError(ModelError):
    """A model name that names no registered provider, or is not of the form `provider/model`."""


class Tool(BaseModel):
    """A tool a model may call (native tool calling: OpenAI functions, Anthropic tool use, chat templates)."""

    name: str
    """The tool's name, as the model calls it."""
    description: str
    """What it does, for the model."""
    parameters: dict[str, Any]
    """Its arguments, as a JSON Schema object."""


class ToolCall(BaseModel):
    """One call of a tool, as the model made it."""

    id: str
    """The provider's id of the call; a tool message answers it by this id."""
    name: str
    """The tool called (it may name no tool there is)."""
    arguments: str
    """The arguments exactly as the model wrote them: JSON text, perhaps malformed."""


class Message(BaseModel):
    """One message of a conversation sent to a model."""

    role: Literal["system", "user", "assistant", "tool"]
    """Who speaks: the system prompt, the user (task, observations), the assistant (the model itself), or a
    tool's result."""
    content: str
    """The text of the message."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """An assistant message's tool calls."""
    tool_call_id: str | None = None
    """A tool message: the call it answers."""


class GenerateConfig(BaseModel):
    """Sampling settings for one call."""

    n: int = Field(default=1, ge=1)
    """How many completions to sample."""
    temperature: float | None = Field(default=None, ge=0)
    """Sampling temperature; None leaves the provider's default."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling mass; None leaves the provider's default."""
    max_tokens: int = Field(default=1024, ge=1)
    """Most tokens per completion."""
    stop: list[str] | None = None
    """Strings that end a completion."""
    logprobs: bool = False
    """Ask for the log-probabilities of the top tokens at each position, where the provider returns them."""
    top_logprobs: int = Field(default=0, ge=0)
    """How many alternatives per position when `logprobs` is set."""
    seed: int | None = None
    """Sampling seed, where the provider supports one."""
    tools: list[Tool] | None = None
    """Tools the model may call (set by an agent for each request, not in a saved config)."""


class Usage(BaseModel):
    """What one call consumed."""

    input_tokens: int = 0
    """Tokens in the prompt."""
    output_tokens: int = 0
    """Tokens generated, over all completions."""
    cost: float | None = None
    """Cost in US dollars, when the model's price is known."""

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None and other.cost is None else (self.cost or 0.0) + (other.cost or 0.0)
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cost=cost,
        )


class TokenLogprob(BaseModel):
    """The alternatives a model weighed at one output position."""

    token: str
    """The token that was generated."""
    top: dict[str, float] = Field(default_factory=dict)
    """Alternative tokens and their log-probabilities."""


class Completion(BaseModel):
    """One sampled completion."""

    text: str
    """The generated text."""
    logprobs: list[TokenLogprob] | None = None
    """Per-position log-probabilities, when asked for and returned."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """The tools it called, in order (when `tools` were offered)."""


class Generation(BaseModel):
    """The result of one call: `n` completions and their usage."""

    model: str
    """The full model name, `provider/model`."""
    completions: list[Completion]
    """The sampled completions, in order."""
    usage: Usage = Field(default_factory=Usage)
    """Tokens and cost of the call."""
    latency: float = 0.0
    """Seconds from request to answer, retries included."""
    attempts: int = 1
    """How many requests the call took."""
    concurrency_limit: int | None = None
    """The provider's effective concurrency limit when the call was made (lowered after overload answers)."""


@runtime_checkable
class Model(Protocol):
    """A model: anything that turns messages into completions."""

    name: str
    """The full name, `provider/model`."""

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        """Sample `config.n` completions for `messages`."""
        ...


CHECK_TIMEOUT = 5.0
"""Seconds a model's server has to answer the check made before a command stores any run."""


@runtime_checkable
class Checkable(Protocol):
    """A model that can say, before any run is stored, whether it can be used: the hook a provider adds to its
    models when they need something (a key, a server that answers, a local folder). Models without it (the
    scripted and human ones) need nothing."""

    async def check(self, timeout: float) -> None:
        """Check what can be checked cheaply — the key or base URL is there, the server answers one cheap request
        within `timeout` seconds, the local files exist.

        Raises:
            ModelError: what is missing, with how to fix it.
        """
        ...


async def check_model(model: Model, *, timeout: float = CHECK_TIMEOUT) -> None:
    """Check that `model` can be used (see `Checkable`); nothing to do for a model without the hook.

    Example:
        await check_model(get_model("openai/gpt-4o-mini"))  # ModelError: ... no API key: set OPENAI_API_KEY ...

    Raises:
        ModelError: what is missing, with how to fix it.
    """
    if isinstance(model, Checkable):
        await model.check(timeout)


ProviderFactory = Callable[..., Model]
_providers: dict[str, ProviderFactory] = {}


def provider(name: str) -> Callable[[ProviderFactory], ProviderFactory]:
    """Register a model provider under `name`, so `get_model("name/model")` builds it.

    The factory is called with the model part of the name and keyword options.

    Example:
        @provider("echo")
        def echo(model: str, **options: Any) -> Model:
            return EchoModel(f"echo/{model}")
    """

    def register(factory: ProviderFactory) -> ProviderFactory:
        _providers[name] = factory
        return factory

    return register


def providers() -> list[str]:
    """The names of the registered providers."""
    return sorted(_providers)


def get_model(name: str, **options: Any) -> Model:
    """Build the model named `provider/model`.

    Raises:
        UnknownModelError: the name has no provider part or names no registered provider.
    """
    provider_name, sep, model = name.partition("/")
    if not sep or not model:
        raise UnknownModelError(
            f"model name {name!r} is not of the form provider/model (providers: {', '.join(providers())})"
        )
    factory = _providers.get(provider_name)
    if factory is None:
        raise UnknownModelError(
            f"unknown model provider {provider_name!r} in {name!r} (providers: {', '.join(providers())})"
        )
    return factory(model, **options)
