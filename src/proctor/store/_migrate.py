"""Bringing a database to the newest schema when a store is opened.

A database already at the newest revision is left alone, and an empty one gets the newest schema in one go, from
the tables' metadata, stamped with the newest revision: neither imports Alembic (with Mako, a quarter of a second)
nor replays every migration one by one. A database at an older revision is upgraded by Alembic's migrations. A
test (tests/store/test_store.py) checks that the schema created from the metadata is the one the migrations build,
on SQLite and on PostgreSQL, down to the names of constraints and indexes.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, Connection, Engine, MetaData, PrimaryKeyConstraint, String, Table, inspect, text

from proctor.store._schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"

VERSIONS = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
"""Alembic's own table of the revision a database is at, as Alembic creates it."""

_LOCK = 0x70726F63  # "proc": the PostgreSQL advisory lock held while an empty database gets its schema


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for this package's migrations on `engine`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision, read from the migration files' `revision` and `down_revision` lines without importing
    Alembic; None when they do not name exactly one newest revision (Alembic then decides)."""
    revisions: dict[str, str | None] = {}
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text()
        revision = re.search(r'^revision\s*=\s*"(\w+)"', source, re.MULTILINE)
        down = re.search(r'^down_revision\s*=\s*(?:"(\w+)"|None)\s*$', source, re.MULTILINE)
        if revision is None or down is None:
            return None
        revisions[revision.group(1)] = down.group(1)
    heads = set(revisions) - set(revisions.values())
    return heads.pop() if len(heads) == 1 else None


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at, or None if it has none (a new database)."""
    if not inspect(conn).has_table(VERSIONS.name):
        return None
    return conn.execute(VERSIONS.select()).scalar()


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema: nothing to do when it is current, the whole schema at once when it
    is empty, Alembic's migrations from its revision otherwise."""
    head = head_revision()
    if head is not None:
        with engine.connect() as conn:
            if current_revision(conn) == head or _create(conn, head):
                return
    upgrade(engine)


def upgrade(engine: Engine) -> None:
    """Upgrade the database to the newest revision with Alembic's migrations, one by one."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config(engine)
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current != head:
        command.upgrade(config, "head")


def _create(conn: Connection, head: str) -> bool:
    """Create the newest schema and stamp it `head`, if the database holds none of proctor's tables; in one
    transaction that holds the database (another process opening the same new database waits, then finds it
    current). False, doing nothing, when the database holds some of them (Alembic then upgrades it)."""
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        conn.commit()  # end the transaction the reads began: the next statement opens a writing one
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # pysqlite would run CREATE TABLE outside any transaction
    else:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    try:
        names = set(inspect(conn).get_table_names())
        if VERSIONS.name in names:
            done = conn.execute(VERSIONS.select()).scalar() == head  # created meanwhile by another process
            conn.rollback()
            return done
        if names & set(metadata.tables):
            conn.rollback()
            return False
        metadata.create_all(conn, checkfirst=False)
        VERSIONS.create(conn)
        conn.execute(VERSIONS.insert(), {"version_num": head})
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return True
