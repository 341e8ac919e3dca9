"""Statements the runner writes for every step, run on the database driver's cursor itself.

For a one-row INSERT or UPDATE, SQLAlchemy's per-call work (the statement's cache key, an execution context, a
result object) costs about three times SQLite's own. A `Prepared` statement is compiled by SQLAlchemy once per
dialect and set of parameter names, and its values go through the columns' own bind processors (JSON, dates) and
scalar defaults, so a row is stored exactly as `conn.execute(statement, params)` stores it; a driver's error is
raised as SQLAlchemy's (an `IntegrityError` stays one), and a lost connection is invalidated as SQLAlchemy does.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnDefault, ColumnElement, Connection, Dialect, Insert, Update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    """The parameters' names in the compiled SQL (escaped where the driver needs it), in order."""
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    """Their values, in order, from the caller's values merged over `constants`."""
    constants: dict[str, Any]
    """Values the caller does not give: the statement's own literals, and left-out columns' defaults."""
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]
    """The bind processors (JSON to text, a date to SQLite's text) of the values that have one, by position."""
    positional: bool
    returning: tuple[tuple[str, TypeEngine[Any]], ...]
    """The columns the statement returns, by name and type (its own RETURNING, or the new row's id on PostgreSQL)."""
    readers: dict[tuple[Any, ...], list[Callable[[Any], Any] | None]] = field(default_factory=dict)
    """The returned columns' result processors, by the driver's types of them."""


class Prepared:
    """An INSERT or UPDATE built once and run with one row's values at a time (see the module's docstring).

    Example:
        ADD_EVENT = Prepared(insert(events))
        event_id = ADD_EVENT.insert(conn, {"run_id": ..., "kind": "setup", "detail": {}, "created_at": now()})
    """

    def __init__(self, statement: Insert | Update) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}

    def insert(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Insert one row into a table with an integer id; returns the new id (SQLite's last row id, or what
        PostgreSQL returned)."""
        cursor, plan = self._execute(conn, params)
        try:
            if plan.returning:
                return int(cursor.fetchall()[0][0])
            return int(cursor.lastrowid)
        finally:
            cursor.close()

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run the statement; returns how many rows it matched."""
        cursor, plan = self._execute(conn, params)
        try:
            if plan.returning:
                cursor.fetchall()  # SQLite counts the rows of an UPDATE … RETURNING once they are read
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def one(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any]:
        """Run a statement with a RETURNING clause that matches one row; returns that row by column name, its
        values read through the columns' result processors (JSON, dates, booleans) as SQLAlchemy reads them.

        Raises:
            LookupError: the statement matched no row, or several.
        """
        cursor, plan = self._execute(conn, params)
        try:
            rows = cursor.fetchall()
            types = tuple(column[1] for column in cursor.description)
        finally:
            cursor.close()
        if len(rows) != 1:
            raise LookupError(f"expected one row from {self.statement}, got {len(rows)}")
        readers = plan.readers.get(types)
        if readers is None:
            dialect = conn.dialect
            readers = plan.readers[types] = [
                column_type.dialect_impl(dialect).result_processor(dialect, type_code)
                for (_, column_type), type_code in zip(plan.returning, types, strict=True)
            ]
        return {
            name: value if read is None else read(value)
            for (name, _), read, value in zip(plan.returning, readers, rows[0], strict=True)
        }

    def _execute(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, _Plan]:
        dialect = conn.dialect
        key = (dialect.name, tuple(params))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _plan(self.statement, dialect, key[1])
        values = plan.values({**plan.constants, **params} if plan.constants else params)
        if plan.processors:
            processed = list(values)
            for position, process in plan.processors:
                processed[position] = process(processed[position])
            values = tuple(processed)
        sent: Any = values if plan.positional else dict(zip(plan.names, values, strict=True))
        if not conn.in_transaction():
            conn.begin()  # as SQLAlchemy's own execute does: the caller commits
        dbapi_connection = conn.connection.dbapi_connection
        assert dbapi_connection is not None  # an open connection has one
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, sent)
        except dialect.loaded_dbapi.Error as error:
            cursor.close()
            lost = dialect.is_disconnect(error, dbapi_connection, cursor)
            if lost:
                conn.invalidate(error)
            raise DBAPIError.instance(
                plan.sql, sent, error, dialect.loaded_dbapi.Error, connection_invalidated=lost, dialect=dialect
            ) from error
        return cursor, plan


def _plan(statement: Insert | Update, dialect: Dialect, keys: tuple[str, ...]) -> _Plan:
    """Compile `statement` as SQLAlchemy does for a call with these parameter names, and note where each of its
    parameters' values comes from."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    assert isinstance(compiled, SQLCompiler)
    if compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError(f"{statement} has parameters expanded on each call: run it with conn.execute")
    # A column left out of an INSERT gets its default, as SQLAlchemy fills it in on each call.
    defaults: dict[str, Any] = {}
    for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
        default = column.default if compiled.insert_prefetch else column.onupdate
        if not isinstance(default, ColumnDefault) or not default.is_scalar:
            raise ValueError(f"{column} has a default computed on each call: run {statement} with conn.execute")
        defaults[column.key] = default.arg
    # Every parameter's value as SQLAlchemy builds it (a literal's own value; it raises for a missing one).
    built = compiled.construct_params(dict.fromkeys(keys), escape_names=False)
    assert built is not None
    names = list(compiled.positiontup or ()) if compiled.positional else list(built)
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    processors = []
    for position, name in enumerate(names):
        process = by_name[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors.append((position, process))
    constants = {name: defaults.get(name, built[name]) for name in names if name not in keys or name in defaults}
    escaped = compiled.escaped_bind_names
    return _Plan(
        sql=compiled.string,
        names=tuple(escaped.get(name, name) for name in names),
        values=_getter(names),
        constants=constants,
        processors=tuple(processors),
        positional=bool(compiled.positional),
        returning=tuple((_name(column), column.type) for column in compiled.effective_returning or ()),
    )


def _getter(names: list[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of `names` from a mapping, as a tuple (in C: `itemgetter`)."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    return lambda values: tuple(values[name] for name in names)


def _name(column: ColumnElement[Any]) -> str:
    if not isinstance(column, Column):
        raise ValueError(f"{column} is not a table's column: return columns only")
    return column.key
