"""Fresh PostgreSQL databases on a local server, for tests and benchmarks (`bench/` imports this module too)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

POSTGRES = os.environ.get("PROCTOR_TEST_POSTGRES", "postgresql+psycopg:///postgres?host=/var/run/postgresql")
"""The server `make test` starts (scripts/system-deps.sh test; `pg_ctlcluster 15 main start` by hand)."""


@contextmanager
def fresh_database(server: str = POSTGRES, prefix: str = "proctor_test") -> Iterator[str]:
    """The URL of a new, empty database on `server`, dropped (its connections closed) afterwards."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
