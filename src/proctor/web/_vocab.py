"""The shared tag vocabulary: abilities a step shows and difficulties it runs into, plus every tag people added."""

from __future__ import annotations

import re

from pydantic import BaseModel
from sqlalchemy import Connection, func, select

from proctor.redteam import LABELS
from proctor.store import _schema as s

ABILITIES = ("search", "debugging", "planning", "tool-use", "verification", "reading-code", "math", "recovery")
DIFFICULTIES = (
    "gave-up",
    "looping",
    "misread-instructions",
    "hallucinated-output",
    "wrong-tool",
    "premature-submit",
    "unsafe-action",
)
TAG_NAME = re.compile(r"[a-z0-9][a-z0-9 _-]{0,39}")


class TagCount(BaseModel):
    """A tag of the vocabulary and how often it is used."""

    name: str
    """The tag."""
    kind: str
    """`ability`, `difficulty`, `label` (of a red-team run) or `added` (by a person)."""
    steps: int
    """Tagged steps."""


def check_tag(name: str) -> str:
    """A new tag's normalised name.

    Raises:
        ValueError: not 1–40 lowercase letters, digits, spaces, `-` or `_`.
    """
    name = name.strip().lower()
    if not TAG_NAME.fullmatch(name):
        raise ValueError(f"tag {name!r}: use 1–40 lowercase letters, digits, spaces, - or _ (e.g. gave-up)")
    return name


def vocabulary(conn: Connection) -> list[TagCount]:
    """The default abilities and difficulties, the labels of red-team and audit runs (success, failure, unclear),
    then tags people added, each with its count of tagged steps."""
    query = select(s.tags.c.name, func.count()).group_by(s.tags.c.name)
    counts: dict[str, int] = {name: int(count) for name, count in conn.execute(query)}
    tags = [TagCount(name=n, kind="ability", steps=counts.pop(n, 0)) for n in ABILITIES]
    tags += [TagCount(name=n, kind="difficulty", steps=counts.pop(n, 0)) for n in DIFFICULTIES]
    tags += [TagCount(name=n, kind="label", steps=counts.pop(n, 0)) for n in LABELS]
    tags += [TagCount(name=n, kind="added", steps=c) for n, c in sorted(counts.items())]
    return tags
