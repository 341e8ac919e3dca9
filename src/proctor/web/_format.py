"""How pages write numbers and what people gave: counts with thousands separators and the right plural, and a
summary of an option's current ratings (n, mean, spread, yours)."""

from __future__ import annotations

import statistics
from typing import Any

from proctor.store import RatingRecord

_IRREGULAR = {"person": "people", "is": "are", "was": "were", "this": "these", "reply": "replies", "study": "studies"}


def number(value: float | int | None) -> str:
    """A count with thousands separators: `12,345`; other numbers keep up to two decimals; None is `—`."""
    if value is None:
        return "—"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def plural(count: int | None, noun: str, many: str | None = None) -> str:
    """`1 run`, `2 runs`, `1,200 steps`, `0 people` (`many` names an irregular plural)."""
    n = count or 0
    word = noun if n == 1 else (many or _IRREGULAR.get(noun) or _plural_of(noun))
    return f"{number(n)} {word}"


def _plural_of(noun: str) -> str:
    if noun.endswith(("s", "x", "sh", "ch")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def rating_summary(ratings: list[RatingRecord], rater: str | None = None) -> dict[str, Any]:
    """An option's current ratings: how many (`n`), their `mean` and `spread` (standard deviation, 0 for one), and
    `rater`'s own value (`mine`) and comment if they rated it."""
    values = [r.value for r in ratings]
    mine = next((r for r in ratings if r.rater == rater), None)
    return {
        "n": len(values),
        "mean": statistics.fmean(values) if values else None,
        "spread": statistics.pstdev(values) if values else None,
        "mine": None if mine is None else mine.value,
        "my_comment": None if mine is None else mine.comment,
    }


def scale_labels(values: list[int]) -> dict[int, str]:
    """What each point of a rating scale says: a 1–5 scale is labelled point by point, a longer one at its ends
    and middle."""
    if values == [1, 2, 3, 4, 5]:
        return {1: "very poor", 2: "poor", 3: "fair", 4: "good", 5: "very good"}
    labels = {v: "" for v in values}
    labels[values[0]], labels[values[-1]] = "worst", "best"
    if len(values) % 2 == 1:
        labels[values[len(values) // 2]] = "middling"
    return labels
