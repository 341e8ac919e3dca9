"""Leases: how workers on many machines share one store's runs without two ever driving the same run.

A worker takes a run by writing its id and an expiry into the run (`lease_runs`), in a conditional UPDATE that
only one worker can win (PostgreSQL also skips rows another worker is claiming: `FOR UPDATE SKIP LOCKED`). While
it drives the run it renews the lease (`renew`, its heartbeat). A worker that dies stops renewing: once the
lease lapses, another worker takes the run and resumes it from its last committed step. A worker that finds its
lease taken (it stalled past the expiry) stops driving that run.

Expiries are written in UTC from the workers' clocks: keep the machines' clocks in step (NTP) to well within a
lease.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from proctor.store import _schema as s
from proctor.store._ops import now
from proctor.store._records import RunStatus

TAKEN_OVER = (RunStatus.RUNNING, RunStatus.WAITING_HUMAN, RunStatus.WAITING_APPROVAL, RunStatus.WAITING_ANSWER)
"""Statuses of a run whose lease lapsed that another worker takes over: its worker died while driving it."""


def _free(moment: Any) -> Any:
    """Runs a worker may take at `moment`: queued and not leased (or its lease lapsed), or taken over."""
    lapsed = and_(s.runs.c.lease_expires.is_not(None), s.runs.c.lease_expires < moment)
    queued = and_(
        s.runs.c.status == RunStatus.QUEUED.value,
        or_(s.runs.c.lease_expires.is_(None), s.runs.c.lease_expires < moment),
    )
    dead = and_(s.runs.c.status.in_([status.value for status in TAKEN_OVER]), lapsed)
    return and_(s.runs.c.parent_run_id.is_(None), or_(queued, dead))


def lease_runs(conn: Connection, /, worker: str, most: int, seconds: float, *, batch: str | None = None) -> list[str]:
    """Lease up to `most` free runs (queued, or left by a dead worker) to `worker` for `seconds`, oldest first;
    returns their ids. `batch` restricts the choice to one batch's runs (`runs.batch`). Delegated runs are never
    leased: their parent's worker drives them."""
    if most < 1:
        return []
    moment = now()
    wanted = select(s.runs.c.id).where(_free(moment)).order_by(s.runs.c.created_at, s.runs.c.id).limit(most)
    if batch is not None:
        wanted = wanted.where(s.runs.c.batch == batch)
    if conn.dialect.name == "postgresql":
        wanted = wanted.with_for_update(skip_locked=True)
    ids = list(conn.execute(wanted).scalars())
    if not ids:
        return []
    expires = moment + timedelta(seconds=seconds)
    # Conditional: a run another worker leased since the select (SQLite, which has no row locks) is not taken.
    claim = update(s.runs).where(s.runs.c.id.in_(ids), _free(moment))
    conn.execute(claim.values(lease_owner=worker, lease_expires=expires))
    won = select(s.runs.c.id).where(
        s.runs.c.id.in_(ids), s.runs.c.lease_owner == worker, s.runs.c.lease_expires == expires
    )
    taken = set(conn.execute(won).scalars())
    return [run_id for run_id in ids if run_id in taken]


def renew(conn: Connection, /, worker: str, run_ids: list[str], seconds: float) -> set[str]:
    """Extend `worker`'s leases on `run_ids` by `seconds` from now; returns the ids it still holds (a run missing
    was taken over by another worker after the lease lapsed)."""
    if not run_ids:
        return set()
    held = and_(s.runs.c.id.in_(run_ids), s.runs.c.lease_owner == worker)
    conn.execute(update(s.runs).where(held).values(lease_expires=now() + timedelta(seconds=seconds)))
    return set(conn.execute(select(s.runs.c.id).where(held)).scalars())


def release(conn: Connection, /, worker: str, run_ids: list[str]) -> None:
    """Give up `worker`'s leases on `run_ids` (it stops driving them; a queued one is free at once)."""
    if run_ids:
        held = and_(s.runs.c.id.in_(run_ids), s.runs.c.lease_owner == worker)
        conn.execute(update(s.runs).where(held).values(lease_expires=None))


def holds(conn: Connection, /, worker: str, run_id: str) -> bool:
    """Whether `worker` holds the lease on `run_id`."""
    query = select(func.count()).where(s.runs.c.id == run_id, s.runs.c.lease_owner == worker)
    return bool(conn.execute(query).scalar_one())
