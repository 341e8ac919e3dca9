"""People's preferences between options, beyond the options a run proposed: alternatives added to a step after it
was taken (typed by a person or sampled from a model, never run), and pairwise comparisons of two options of a step
with a strength. Like ratings, a rater has one current comparison per pair; a new one replaces it (kept as history).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, and_, func, insert, or_, select, update

from proctor.store import _schema as s
from proctor.store._ops import add_option, now

STRENGTHS = {
    -3: "A much better",
    -2: "A better",
    -1: "A slightly better",
    0: "as good",
    1: "B slightly better",
    2: "B better",
    3: "B much better",
}
"""A comparison's value and what it says."""


class PreferenceError(ValueError):
    """A comparison or alternative the store refuses; the message says what to do."""


class ComparisonRecord(BaseModel):
    """A rater's judgment of which of two options of a step is better, and by how much."""

    id: int
    """Comparison id."""
    step_id: int
    """The step both options belong to."""
    option_a: int
    """The option shown as A."""
    option_b: int
    """The option shown as B."""
    rater: str
    """`human:<user>` or `model:<name>`."""
    value: int
    """-3 (A much better) … 0 (as good) … 3 (B much better)."""
    comment: str | None = None
    """The rater's comment."""
    created_at: datetime
    """When it was made."""
    replaced_at: datetime | None = None
    """When the rater compared the pair again (None: current)."""


def add_alternative(conn: Connection, /, step_id: int, option: dict[str, Any], by: str) -> int:
    """Add an option to a step that was taken (an alternative to rate and compare with the one taken; it is never
    run). `option` holds the stored columns (see `ops.add_option`). Returns the option's id.

    Raises:
        PreferenceError: the step has no choice yet (choose at a waiting step instead).
    """
    if conn.execute(select(s.choices.c.id).where(s.choices.c.step_id == step_id)).first() is None:
        raise PreferenceError(f"step {step_id} is not taken yet: choose or write its option instead")
    count = conn.execute(select(func.count()).select_from(s.options).where(s.options.c.step_id == step_id))
    option_id = add_option(conn, step_id, int(count.scalar_one()), option)
    conn.execute(update(s.options).where(s.options.c.id == option_id).values(added_by=by))
    return option_id


def add_comparison(
    conn: Connection, /, option_a: int, option_b: int, rater: str, value: int, comment: str | None = None
) -> int:
    """Compare two options of one step (`value`: -3, A much better … 3, B much better). It replaces the rater's
    current comparison of the same two options, in either order. Returns its id.

    Raises:
        PreferenceError: the options are the same, unknown, of different steps, or the value is off the scale.
    """
    if value not in STRENGTHS:
        raise PreferenceError(f"a comparison is from -3 (A much better) to 3 (B much better), not {value}")
    if option_a == option_b:
        raise PreferenceError("compare two different options")
    rows = conn.execute(select(s.options.c.id, s.options.c.step_id).where(s.options.c.id.in_([option_a, option_b])))
    steps = {r.id: r.step_id for r in rows}
    if len(steps) != 2 or steps[option_a] != steps[option_b]:
        raise PreferenceError(f"options {option_a} and {option_b} are not two options of one step")
    stamp = now()
    pair = or_(
        and_(s.comparisons.c.option_a == option_a, s.comparisons.c.option_b == option_b),
        and_(s.comparisons.c.option_a == option_b, s.comparisons.c.option_b == option_a),
    )
    mine = and_(pair, s.comparisons.c.rater == rater, s.CURRENT_COMPARISON)
    conn.execute(update(s.comparisons).where(mine).values(replaced_at=stamp))
    row = {
        "step_id": steps[option_a],
        "option_a": option_a,
        "option_b": option_b,
        "rater": rater,
        "value": value,
        "comment": comment,
        "created_at": stamp,
    }
    return int(conn.execute(insert(s.comparisons).values(**row).returning(s.comparisons.c.id)).scalar_one())


def comparisons(conn: Connection, /, step_ids: list[int], *, history: bool = False) -> list[ComparisonRecord]:
    """The current comparisons of options of these steps (with `history`, the replaced ones too), oldest first."""
    query = select(s.comparisons).where(s.comparisons.c.step_id.in_(step_ids)).order_by(s.comparisons.c.id)
    if not history:
        query = query.where(s.CURRENT_COMPARISON)
    return [ComparisonRecord.model_validate(r._asdict()) for r in conn.execute(query)]


def rating_history(conn: Connection, /, option_id: int, rater: str) -> list[dict[str, Any]]:
    """A rater's ratings of an option, the current one last."""
    query = (
        select(s.ratings.c.value, s.ratings.c.scale, s.ratings.c.comment)
        .add_columns(s.ratings.c.created_at, s.ratings.c.replaced_at)
        .where(s.ratings.c.option_id == option_id, s.ratings.c.rater == rater)
        .order_by(s.ratings.c.id)
    )
    return [r._asdict() for r in conn.execute(query)]
