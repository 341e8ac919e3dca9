"""Opening the store (SQLite by default, PostgreSQL by URL), migrating it, writing and reading."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import platformdirs
from sqlalchemy import Connection, Engine, Select, bindparam, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from proctor.store import _ops as ops
from proctor.store import _schema as s
from proctor.store._records import (
    ExperimentRuns,
    HoldRecord,
    ObservationRecord,
    OptionRecord,
    RatingRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StuckRecord,
)

P = ParamSpec("P")
T = TypeVar("T")


class StoreError(Exception):
    """The database cannot be opened or a record is missing; the message says what to do."""


def default_url() -> str:
    """`PROCTOR_DB` if set, else SQLite in the user's data directory."""
    if url := os.environ.get("PROCTOR_DB"):
        return url
    folder = Path(platformdirs.user_data_dir("proctor"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'proctor.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"database URL {url!r} is malformed: use sqlite:///PATH or postgresql://…") from error
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as error:
        raise StoreError(f"database URL {url!r}: unsupported database (use sqlite or postgresql)") from error


# Statements the runner reads with at every start, built once so SQLAlchemy reuses their compiled SQL.
_RUN_BY_ID = select(s.runs).where(s.runs.c.id == bindparam("run_id"))
_STEPS_OF_RUN = select(s.steps).where(s.steps.c.run_id == bindparam("run_id")).order_by(s.steps.c.index)
_EVENTS = select(s.events).where(s.events.c.run_id == bindparam("run_id")).order_by(s.events.c.id)
_EVENTS_OF_KIND = _EVENTS.where(s.events.c.kind == bindparam("kind"))


class Store:
    """The store of tasks, runs and their trees.

    Example:
        store = Store("sqlite:///runs.db")
        run = store.run("3fa2")  # by id or unique prefix
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_url()
        self.engine = _engine(self.url)
        # Connections are closed when the store is, or at the latest when the process exits (which, for SQLite in
        # WAL mode, folds the write-ahead log into the database file and removes it).
        self._closer = weakref.finalize(self, self.engine.dispose)
        if not migrate:  # the opener knows the schema is current (a Ray actor of a batch its driver stored)
            return
        try:
            from proctor.store._migrate import migrate as upgrade

            upgrade(self.engine)
        except OperationalError as error:
            raise StoreError(f"cannot open database {self.url!r}: {error.orig}") from error

    def close(self) -> None:
        """Close all connections (the store opens new ones if it is used again)."""
        self.engine.dispose()

    def write(self, op: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a write operation from `proctor.store.ops` in its own transaction."""
        with self.engine.begin() as conn:
            return op(conn, *args, **kwargs)

    # Reads. Those given `conn` read on it: inside a write transaction (a write op), seeing its own writes.

    @contextmanager
    def _reading(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self.engine.connect() as new:
            yield new

    def run(self, run_id: str, *, conn: Connection | None = None) -> RunRecord:
        """The run with this id, or the one run whose id starts with it.

        Raises:
            StoreError: no run, or the prefix is ambiguous.
        """
        with self._reading(conn) as conn:
            # The exact id first: an indexed lookup, where a prefix (LIKE) scans the whole table.
            rows = conn.execute(_RUN_BY_ID, {"run_id": run_id}).all()
            if not rows:
                prefixed = select(s.runs).where(s.runs.c.id.startswith(run_id, autoescape=True)).limit(2)
                rows = conn.execute(prefixed).all()
        if not rows:
            raise StoreError(f"no run {run_id!r} in {self.url} (list runs with: proctor runs)")
        if len(rows) > 1:
            raise StoreError(f"run id prefix {run_id!r} is ambiguous: give more characters")
        return RunRecord.model_validate(rows[0]._asdict())

    def runs(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        model: str | None = None,
        parent: str | None = None,
        top_level: bool = False,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered by status, task id substring, model substring or parent run."""
        query = select(s.runs).order_by(s.runs.c.created_at.desc()).limit(limit)
        if status:
            query = query.where(s.runs.c.status == RunStatus(status).value)
        if task:
            query = query.where(s.runs.c.task_id.contains(task, autoescape=True))
        if model:
            query = query.where(s.runs.c.model.contains(model, autoescape=True))
        if parent:
            query = query.where(s.runs.c.parent_run_id == parent)
        if top_level:
            query = query.where(s.runs.c.parent_run_id.is_(None))
        with self.engine.connect() as conn:
            return [RunRecord.model_validate(r._asdict()) for r in conn.execute(query)]

    def steps(self, run_id: str, *, conn: Connection | None = None) -> list[StepRecord]:
        """The run's steps in order, each with options (and their ratings), choice, observation and tags."""
        return self._steps(_STEPS_OF_RUN, conn, {"run_id": run_id})

    def step(self, step_id: int, *, conn: Connection | None = None) -> StepRecord:
        """One step with its options, choice, observation and tags."""
        found = self._steps(select(s.steps).where(s.steps.c.id == step_id), conn)
        if not found:
            raise StoreError(f"no step {step_id}")
        return found[0]

    def _steps(
        self, query: Select[Any], conn: Connection | None, params: dict[str, Any] | None = None
    ) -> list[StepRecord]:
        with self._reading(conn) as conn:
            rows = conn.execute(query, params)
            steps = {r.id: StepRecord.model_validate(r._asdict()) for r in rows}
            if not steps:
                return []
            ids = list(steps)
            options: dict[int, OptionRecord] = {}
            for r in conn.execute(select(s.options).where(s.options.c.step_id.in_(ids)).order_by(s.options.c.index)):
                option = OptionRecord.model_validate(r._asdict())
                options[r.id] = option
                steps[r.step_id].options.append(option)
            if options:
                rating_query = select(s.ratings).where(s.ratings.c.option_id.in_(list(options)), s.CURRENT_RATING)
                for r in conn.execute(rating_query.order_by(s.ratings.c.id)):
                    options[r.option_id].ratings.append(RatingRecord.model_validate(r._asdict()))
            for r in conn.execute(select(s.choices).where(s.choices.c.step_id.in_(ids))):
                steps[r.step_id].chosen_option_id = r.option_id
                steps[r.step_id].chooser = r.chooser
            for r in conn.execute(select(s.observations).where(s.observations.c.step_id.in_(ids))):
                steps[r.step_id].observation = ObservationRecord.model_validate(r._asdict())
            for r in conn.execute(select(s.tags).where(s.tags.c.step_id.in_(ids)).order_by(s.tags.c.id)):
                steps[r.step_id].tags.append(r.name)
            for r in conn.execute(select(s.holds).where(s.holds.c.step_id.in_(ids)).order_by(s.holds.c.call)):
                steps[r.step_id].holds.append(HoldRecord.model_validate(r._asdict()))
        return list(steps.values())

    def held(self, step_id: int, call: int = 0) -> HoldRecord | None:
        """The hold of a step's action (`call`: which tool call of an option of calls), if it was held."""
        query = select(s.holds).where(s.holds.c.step_id == step_id, s.holds.c.call == call)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else HoldRecord.model_validate(row._asdict())

    def pending_holds(self, run_id: str) -> list[HoldRecord]:
        """The run's actions waiting for a person's decision or answer, oldest first."""
        query = (
            select(s.holds)
            .join(s.steps, s.steps.c.id == s.holds.c.step_id)
            .where(s.steps.c.run_id == run_id, s.holds.c.verdict.is_(None))
            .order_by(s.holds.c.id)
        )
        with self.engine.connect() as conn:
            return [HoldRecord.model_validate(r._asdict()) for r in conn.execute(query)]

    def task(self, task_id: str) -> dict[str, Any]:
        """A stored task's row: id, family, name, format, source, instructions, permissions."""
        with self.engine.connect() as conn:
            row = conn.execute(select(s.tasks).where(s.tasks.c.id == task_id)).first()
        if row is None:
            raise StoreError(f"no task {task_id!r} in the store")
        return row._asdict()

    def task_source(self, task_id: str) -> str:
        """The folder a stored task was loaded from."""
        return str(self.task(task_id)["source"])

    def fork(
        self,
        run_id: str,
        step: int,
        *,
        model: str | None = None,
        option: dict[str, Any] | None = None,
        user: str = "cli",
        status: RunStatus = RunStatus.QUEUED,
        config: dict[str, Any] | None = None,
        conn: Connection | None = None,
    ) -> str:
        """Create a queued run that has the first `step` completed steps of `run_id` and continues from there;
        returns its id. The runner sets the fork's task up in a fresh workspace and replays the copied steps'
        commands before going on. With `option` (stored option columns, see `ops.add_option`), step `step` is that
        option, written and chosen by `user`. With `model`, the fork continues with another model. A loop that
        drives the fork itself (a red-team retry, an audit's rollback) gives it `status` running, keys to change in
        its `config`, and its open write transaction as `conn`.

        Raises:
            StoreError: no such run, or `step` is past its completed steps.
        """
        if conn is None:
            with self.engine.begin() as new:
                return self.fork(
                    run_id, step, model=model, option=option, user=user, status=status, config=config, conn=new
                )
        source = self.run(run_id, conn=conn)
        steps = [s for s in self.steps(source.id, conn=conn) if s.done]
        if not 0 <= step <= len(steps):
            raise StoreError(f"run {source.id} has {len(steps)} completed steps: fork from a step in 0..{len(steps)}")
        settings = dict(source.config) | (config or {})
        if model is not None and model != settings.get("model"):
            settings |= {"model": model, "model_options": {}}
        new_id = ops.create_run(
            conn,
            task_id=source.task_id,
            model=str(settings.get("model", source.model)),
            config=settings,
            status=status,
            forked_from_run_id=source.id,
            forked_from_step=step,
        )
        for kept in steps[:step]:
            ops.copy_step(conn, new_id, kept)
        if option is not None:
            step_id, (option_id,) = ops.start_step(conn, new_id, step, "action", [option])
            ops.add_choice(conn, step_id, option_id, f"human:{user}")
        ops.add_event(conn, new_id, "fork", {"from": source.id, "step": step, "by": user})
        return new_id

    def choice(self, step_id: int) -> tuple[int, str] | None:
        """The chosen option's id and who chose it, once a step has a choice."""
        with self.engine.connect() as conn:
            row = conn.execute(select(s.choices).where(s.choices.c.step_id == step_id)).first()
        return None if row is None else (row.option_id, row.chooser)

    def events(self, run_id: str, kind: str | None = None, *, conn: Connection | None = None) -> list[dict[str, Any]]:
        """The run's events in order, as dicts with kind, detail and created_at."""
        query = _EVENTS_OF_KIND if kind else _EVENTS
        with self._reading(conn) as conn:
            return [r._asdict() for r in conn.execute(query, {"run_id": run_id, "kind": kind})]

    def count_runs(self) -> int:
        """How many runs are stored."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(s.runs)).scalar_one())

    def experiment_runs(self, experiment: str) -> list[RunRecord]:
        """The runs of an oversight experiment (`config.experiment`), oldest first."""
        query = (
            select(s.runs)
            .where(s.runs.c.config["experiment"].as_string() == experiment)
            .order_by(s.runs.c.created_at, s.runs.c.id)
        )
        with self.engine.connect() as conn:
            return [RunRecord.model_validate(r._asdict()) for r in conn.execute(query)]

    def config_runs(self, key: str, value: str) -> list[RunRecord]:
        """The runs whose config has `key` set to `value` (e.g. a red-team campaign's, `redteam`), oldest
        first."""
        query = (
            select(s.runs).where(s.runs.c.config[key].as_string() == value).order_by(s.runs.c.created_at, s.runs.c.id)
        )
        with self.engine.connect() as conn:
            return [RunRecord.model_validate(r._asdict()) for r in conn.execute(query)]

    def run_tags(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """The tags on the runs' steps, oldest first, as dicts with run_id, step (its index), name, author and
        created_at."""
        found: list[dict[str, Any]] = []
        columns = (s.steps.c.run_id, s.steps.c.index.label("step"), s.tags.c.name, s.tags.c.author, s.tags.c.created_at)
        with self.engine.connect() as conn:
            for start in range(0, len(run_ids), 500):
                query = (
                    select(*columns)
                    .join(s.steps, s.steps.c.id == s.tags.c.step_id)
                    .where(s.steps.c.run_id.in_(run_ids[start : start + 500]))
                    .order_by(s.tags.c.id)
                )
                found += [r._asdict() for r in conn.execute(query)]
        return found

    def stuck_checks(self, *, task: str | None = None, model: str | None = None) -> list[StuckRecord]:
        """Every finished top-level agent run (done, failed or over a limit) with its stuck checks, oldest first;
        `task` and `model` keep runs whose task id or model name contains them."""
        restart = s.runs.c.config["stuck"]["restart"].as_boolean()
        finished = [RunStatus.DONE.value, RunStatus.FAILED.value, RunStatus.OVER_LIMIT.value]
        wanted = [s.runs.c.parent_run_id.is_(None), s.runs.c.status.in_(finished), restart.is_not(None)]
        if task:
            wanted.append(s.runs.c.task_id.contains(task, autoescape=True))
        if model:
            wanted.append(s.runs.c.model.contains(model, autoescape=True))
        columns = (s.runs.c.id, s.runs.c.task_id, s.runs.c.model, s.runs.c.status, s.runs.c.score)
        runs = select(*columns, restart.label("restart")).where(*wanted).order_by(s.runs.c.created_at, s.runs.c.id)
        checks = (
            select(s.events.c.run_id, s.events.c.detail)
            .join(s.runs, s.runs.c.id == s.events.c.run_id)
            .where(s.events.c.kind == "stuck", *wanted)
        )
        with self.engine.connect() as conn:
            found = {r.id: r for r in conn.execute(runs)}
            fired: dict[str, list[dict[str, Any]]] = {run_id: [] for run_id in found}
            for r in conn.execute(checks):
                fired[r.run_id].append(r.detail)
        return [
            StuckRecord(
                run_id=run_id,
                task_id=r.task_id,
                model=r.model,
                status=r.status,
                score=r.score,
                restart=bool(r.restart),
                checks=len(fired[run_id]),
                stuck=sum(1 for d in fired[run_id] if d.get("stuck")),
                restarts=sum(1 for d in fired[run_id] if d.get("restart")),
            )
            for run_id, r in found.items()
        ]

    def experiments(self) -> list[ExperimentRuns]:
        """The oversight experiments' finished runs, counted per experiment and protocol, newest experiment
        first."""
        experiment = s.runs.c.config["experiment"].as_string()
        protocol = s.runs.c.config["protocol"].as_string()
        started = func.min(s.runs.c.created_at)
        query = (
            select(
                experiment.label("experiment"),
                protocol.label("protocol"),
                func.count().label("runs"),
                started.label("started"),
            )
            .where(experiment.is_not(None), s.runs.c.status == RunStatus.DONE.value)
            .group_by(experiment, protocol)
            .order_by(started.desc(), protocol)
        )
        with self.engine.connect() as conn:
            return [ExperimentRuns.model_validate(r._asdict()) for r in conn.execute(query)]

    def last_events(self, run_ids: list[str], kind: str) -> dict[str, dict[str, Any]]:
        """The latest event of `kind` of each run that has one: run id to its detail."""
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(run_ids), 500):
                chunk = run_ids[start : start + 500]
                query = select(s.events).where(s.events.c.run_id.in_(chunk), s.events.c.kind == kind)
                for row in conn.execute(query.order_by(s.events.c.id)):
                    found[row.run_id] = row.detail
        return found
