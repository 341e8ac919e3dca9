"""People in the store: users with roles and passwords, their login sessions, and the runs assigned to them.

Passwords are hashed with Argon2id; a session's token is kept only as its SHA-256, so a copy of the database
does not log anyone in.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel
from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from proctor.store import _schema as s
from proctor.store._ops import now

if TYPE_CHECKING:
    from argon2 import PasswordHasher

SESSION_LIFETIME = timedelta(days=14)


@functools.cache
def _hasher() -> PasswordHasher:
    """Argon2's hasher, made (and Argon2 imported) when a password is first hashed or checked: opening a store
    for runs never needs it."""
    from argon2 import PasswordHasher

    return PasswordHasher()


class Role(StrEnum):
    """What a user may do."""

    ADMIN = "admin"
    """Everything, and the admin pages (users, assignments)."""
    RESEARCHER = "researcher"
    """Sees every run; pauses, intervenes, forks."""
    RATER = "rater"
    """Sees the runs assigned to them (and their subtasks); chooses, rates, tags, forks them."""


class UserError(ValueError):
    """A user operation cannot be done; the message says why and what to do."""


class UserRecord(BaseModel):
    """A user as stored (without the password hash)."""

    id: int
    """User id."""
    name: str
    """Login name."""
    role: Role
    """What the user may do."""
    created_at: datetime
    """When the user was added."""


class SessionRecord(BaseModel):
    """A valid login session."""

    user: UserRecord
    """Who is logged in."""
    csrf: str
    """The token state-changing requests must carry."""
    expires_at: datetime
    """When the session ends."""


class AssignmentRecord(BaseModel):
    """A run assigned to a user."""

    run_id: str
    """The assigned run."""
    user: str
    """The user's name."""
    assigned_by: str
    """Who assigned it."""
    created_at: datetime
    """When it was assigned."""


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher().hash(password)


def token_hash(token: str) -> str:
    """The stored form of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row: object) -> UserRecord:
    return UserRecord.model_validate(row, from_attributes=True)


def add_user(conn: Connection, /, name: str, role: Role | str, password: str) -> int:
    """Add a user; returns the id.

    Raises:
        UserError: the name is taken, empty or too long, the role is unknown, or the password is short.
    """
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise UserError(f"user name {name!r} must be 1–100 characters without spaces")
    if role not in {r.value for r in Role}:
        raise UserError(f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}")
    if len(password) < 8:
        raise UserError("the password is too short: give at least 8 characters")
    try:
        with conn.begin_nested():
            result = conn.execute(
                insert(s.users)
                .values(name=name, role=Role(role).value, password_hash=hash_password(password), created_at=now())
                .returning(s.users.c.id)
            )
            return int(result.scalar_one())
    except IntegrityError as error:
        raise UserError(f"user {name!r} exists already: pick another name") from error


def user_by_name(conn: Connection, /, name: str) -> UserRecord | None:
    """The user called `name`, if any."""
    row = conn.execute(select(s.users).where(s.users.c.name == name)).first()
    return None if row is None else _user(row)


def list_users(conn: Connection, /) -> list[UserRecord]:
    """All users by name."""
    return [_user(r) for r in conn.execute(select(s.users).order_by(s.users.c.name))]


def check_password(conn: Connection, /, name: str, password: str) -> UserRecord | None:
    """The user if `password` is theirs, else None (the same answer, and work, for an unknown name)."""
    row = conn.execute(select(s.users).where(s.users.c.name == name)).first()
    stored = row.password_hash if row is not None else _dummy_hash()
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    return None if row is None else _user(row)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check unknown names against, made on first use (hashing is slow on purpose)."""
    return _hasher().hash(secrets.token_hex(16))


def start_session(conn: Connection, /, user_id: int) -> tuple[str, str]:
    """Open a session for a user; returns the cookie token and the CSRF token."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    started = now()
    conn.execute(
        insert(s.sessions).values(
            token_hash=token_hash(token),
            user_id=user_id,
            csrf=csrf,
            created_at=started,
            expires_at=started + SESSION_LIFETIME,
        )
    )
    return token, csrf


def session(conn: Connection, /, token: str) -> SessionRecord | None:
    """The live session of a cookie token, or None if unknown or expired."""
    query = (
        select(s.sessions.c.csrf, s.sessions.c.expires_at, s.users)
        .join(s.users, s.users.c.id == s.sessions.c.user_id)
        .where(s.sessions.c.token_hash == token_hash(token))
    )
    row = conn.execute(query).first()
    if row is None:
        return None
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now().tzinfo)
    if expires <= now():
        return None
    return SessionRecord(user=_user(row), csrf=row.csrf, expires_at=expires)


def end_session(conn: Connection, /, token: str) -> None:
    """Log a session out (and drop any expired sessions)."""
    conn.execute(delete(s.sessions).where(s.sessions.c.token_hash == token_hash(token)))
    conn.execute(delete(s.sessions).where(s.sessions.c.expires_at < now()))


def assign(conn: Connection, /, user: str, run_ids: list[str], by: str) -> int:
    """Assign runs to a user (already assigned ones are left as they are); returns how many were new.

    Raises:
        UserError: no such user or run.
    """
    found = user_by_name(conn, user)
    if found is None:
        raise UserError(f"no user {user!r}: add one with proctor users add {user} --role rater")
    existing = set(conn.execute(select(s.runs.c.id).where(s.runs.c.id.in_(run_ids))).scalars())
    missing = [r for r in run_ids if r not in existing]
    if missing:
        raise UserError(f"no run {missing[0]!r}: give full run ids (proctor runs lists them)")
    taken = set(
        conn.execute(
            select(s.assignments.c.run_id).where(
                s.assignments.c.user_id == found.id, s.assignments.c.run_id.in_(run_ids)
            )
        ).scalars()
    )
    fresh = [r for r in dict.fromkeys(run_ids) if r not in taken]
    for run_id in fresh:
        conn.execute(insert(s.assignments).values(user_id=found.id, run_id=run_id, assigned_by=by, created_at=now()))
    return len(fresh)


def unassign(conn: Connection, /, user: str, run_id: str) -> bool:
    """Take a run off a user's queue; returns whether it was assigned."""
    found = user_by_name(conn, user)
    if found is None:
        return False
    result = conn.execute(
        delete(s.assignments).where(s.assignments.c.user_id == found.id, s.assignments.c.run_id == run_id)
    )
    return result.rowcount > 0


def assignments(conn: Connection, /, user: str | None = None) -> list[AssignmentRecord]:
    """Assignments, oldest first; only `user`'s if given."""
    query = (
        select(
            s.assignments.c.run_id,
            s.users.c.name.label("user"),
            s.assignments.c.assigned_by,
            s.assignments.c.created_at,
        )
        .join(s.users, s.users.c.id == s.assignments.c.user_id)
        .order_by(s.assignments.c.created_at, s.assignments.c.id)
    )
    if user is not None:
        query = query.where(s.users.c.name == user)
    return [AssignmentRecord.model_validate(r._asdict()) for r in conn.execute(query)]
