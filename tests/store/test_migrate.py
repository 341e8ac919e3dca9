"""Opening a store: a new database gets the newest schema from the tables' metadata, which must be exactly the
schema Alembic's migrations build; a current one is left alone; an older one is upgraded by the migrations. On
SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from proctor.store import RunStatus, Store, ops
from proctor.store._migrate import alembic_config, head_revision
from proctor.store._schema import metadata

TASK = {"id": "s/t", "family": "s", "name": "t", "format": "native", "source": "/x", "instructions": "do"}


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two new, empty databases on one server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
        return
    make = request.getfixturevalue("postgres_databases")
    yield make(), make()


def plain(value: Any) -> Any:
    """`value` with SQL expressions and types as their text, and lists in a fixed order, to compare."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return sorted((plain(item) for item in value), key=json.dumps)
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def schema(engine: Engine) -> dict[str, Any]:
    """Everything the database says about its tables: columns (type, nullability, default, comment), primary and
    foreign keys, indexes, unique and check constraints, each with its name."""
    seen = inspect(engine)
    tables: dict[str, Any] = {}
    for name in seen.get_table_names():
        tables[name] = {
            "columns": {column["name"]: plain(column) for column in seen.get_columns(name)},
            "primary key": plain(seen.get_pk_constraint(name)),
            "foreign keys": plain(seen.get_foreign_keys(name)),
            "indexes": plain(seen.get_indexes(name)),
            "unique": plain(seen.get_unique_constraints(name)),
            "checks": plain(seen.get_check_constraints(name)),
            "comment": plain(seen.get_table_comment(name)) if engine.dialect.supports_comments else None,
        }
    return tables


def schema_diff(conn: Connection) -> list[Any]:
    """What autogenerate finds between the database and the tables' metadata, but for an index made on another
    database only (`Index.ddl_if(dialect=...)`), a condition autogenerate does not read."""
    dialect = conn.dialect.name
    elsewhere = {
        index.name
        for table in metadata.tables.values()
        for index in table.indexes
        if index._ddl_if is not None and index._ddl_if.dialect not in (None, dialect)
    }
    diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    return [change for change in diff if not (change[0] == "add_index" and change[1].name in elsewhere)]


def test_a_new_store_has_exactly_the_schema_the_migrations_build(urls: tuple[str, str]) -> None:
    migrated_url, created_url = urls
    migrated = create_engine(migrated_url)
    command.upgrade(alembic_config(migrated), "head")  # every migration, one by one
    created = Store(created_url)  # the schema at once from the metadata, stamped
    try:
        with created.engine.connect() as conn:
            stamped = MigrationContext.configure(conn).get_current_revision()
        with migrated.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == stamped
            assert schema_diff(conn) == []
        assert len(schema(created.engine)) == len(metadata.tables) + 1  # and alembic_version
        assert schema(created.engine) == schema(migrated)
    finally:
        created.close()
        migrated.dispose()


def test_the_newest_revision_is_read_from_the_migration_files() -> None:
    config = alembic_config(create_engine("sqlite://"))
    assert head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_a_created_store_downgrades_and_upgrades_with_the_migrations(store: Store) -> None:
    store.write(ops.upsert_task, TASK | {"permissions": []})
    run_id = store.write(ops.create_run, task_id="s/t", model="double/x", config={"model": "double/x"})
    config = alembic_config(store.engine)
    command.downgrade(config, "0001")
    command.upgrade(config, "head")
    with store.engine.connect() as conn:
        assert schema_diff(conn) == []
    assert store.run(run_id).status is RunStatus.QUEUED


def test_an_older_database_is_upgraded_by_the_migrations(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    command.upgrade(alembic_config(engine), "0006")
    with engine.begin() as conn:  # a task stored before tasks had tags
        conn.execute(
            text(
                "INSERT INTO tasks (id, family, name, format, source, instructions, permissions, created_at) "
                "VALUES ('s/t', 's', 't', 'native', '/x', 'do', '[]', '2026-01-01 00:00:00')"
            )
        )
    engine.dispose()
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()
            assert conn.execute(text("SELECT id, tags FROM tasks")).all() == [("s/t", None)]
        run_id = store.write(ops.create_run, task_id="s/t", model="double/x", config={"model": "double/x"})
        assert store.run(run_id).status is RunStatus.QUEUED
    finally:
        store.close()


def test_a_current_store_opens_without_alembic(tmp_path: Path) -> None:
    """Opening a new store, then opening it again, imports neither Alembic nor Mako (nor Argon2, for passwords)."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    code = f"""
        import sys
        from proctor.store import Store
        Store({url!r}).close()
        Store({url!r}).close()
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako", "argon2")))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    with Store(url).engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_stores_opened_at_once_on_a_new_database_all_open(urls: tuple[str, str]) -> None:
    """Processes opening one new database together: one creates the schema, the others wait and find it."""
    url, _ = urls
    code = f"from proctor.store import Store; Store({url!r}).close()"
    started = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(4)]
    errors = [process.communicate()[1] for process in started]
    assert [p.returncode for p in started] == [0] * 4, errors
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
        assert schema(store.engine)["runs"]["columns"]
    finally:
        store.close()
