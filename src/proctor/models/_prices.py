"""Facts of well-known models: prices, to put a cost on each call's usage, and context windows."""

from __future__ import annotations

from collections.abc import Mapping

from proctor.models._base import Usage

# USD per million (input, output) tokens, from the providers' public price lists.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o3-pro": (20.00, 80.00),
    "o4-mini": (1.10, 4.40),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-opus": (15.00, 75.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-haiku-4-5": (1.00, 5.00),
}


# Tokens of context, from the providers' model pages.
CONTEXT_WINDOWS: dict[str, int] = {
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "gpt-4-turbo": 128_000,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o1-mini": 128_000,
    "o3": 200_000,
    "o3-mini": 200_000,
    "o3-pro": 200_000,
    "o4-mini": 200_000,
    "claude": 200_000,
}


def _listed(model: str, table: Mapping[str, object]) -> str | None:
    """The longest listed name that `model` is, or extends with a dated or suffixed name (`gpt-4o-2024-08-06`,
    `claude-3-5-sonnet-latest`)."""
    found = [name for name in table if model == name or model.startswith(name + "-")]
    return max(found, key=len, default=None)


def price_of(model: str) -> tuple[float, float] | None:
    """USD per million (input, output) tokens for `model` (the part after `provider/`), or None if unknown."""
    name = _listed(model, PRICES)
    return PRICES[name] if name is not None else None


def context_window_of(model: str) -> int | None:
    """Tokens of context of `model` (`provider/model` or the bare name), or None if unknown."""
    name = _listed(model.partition("/")[2] or model, CONTEXT_WINDOWS)
    return CONTEXT_WINDOWS[name] if name is not None else None


def priced_usage(input_tokens: int, output_tokens: int, price: tuple[float, float] | None) -> Usage:
    """A `Usage` whose cost follows from `price` (USD per million input, output tokens); None if unpriced."""
    cost = None
    if price is not None:
        cost = (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens, cost=cost)
