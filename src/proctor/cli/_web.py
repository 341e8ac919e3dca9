"""`proctor view` (the web interface, with a worker) and `proctor users add|assign|list`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from proctor.cli._app import ConfigError, Db, app, console
from proctor.cli._processes import WORKER_PARENT_ENV, listening_socket, stop


@app.command()
def view(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not start `proctor worker` (run one yourself).")
    ] = False,
    scale: Annotated[str, typer.Option(envvar="PROCTOR_RATING_SCALE", help="Rating scale LOW-HIGH, e.g. 1-7.")] = "1-5",
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark cookies Secure (behind an HTTPS proxy).")
    ] = False,
    thresholds: Annotated[
        Path | None, typer.Option("--thresholds", help="If-then thresholds file the Reports page gives verdicts on.")
    ] = None,
    release_dates: Annotated[
        Path | None, typer.Option("--release-dates", help="Release dates (METR's YAML) for the trend of horizons.")
    ] = None,
    db: Db = None,
) -> None:
    """Serve the web interface on the same database as the CLI, with a worker that drives queued runs."""
    import uvicorn
    from pydantic import ValidationError

    from proctor.store import Store, users
    from proctor.web import WebSettings, create_app

    try:
        settings = WebSettings(
            scale=scale, secure_cookies=secure_cookies, thresholds=thresholds, release_dates=release_dates
        )
    except ValidationError as error:
        raise ConfigError(str(error.errors()[0]["msg"]).removeprefix("Value error, ")) from error
    if thresholds is not None:  # a file that cannot be used fails here, with the line naming what is wrong
        from proctor.analysis import AnalysisError, load_thresholds

        try:
            load_thresholds(thresholds)
        except AnalysisError as error:
            raise ConfigError(str(error)) from error
    store = Store(db)
    sock = listening_socket(host, port)  # a port in use fails here, before a worker starts or anything is said
    with store.engine.connect() as conn:
        if not users.list_users(conn):
            console.print("no users yet: add one with  proctor users add NAME --role admin", style="yellow")
    worker = None
    try:
        if not no_worker:
            command = [sys.executable, "-m", "proctor", "worker", "--db", store.url]
            worker = subprocess.Popen(command, env=os.environ | {WORKER_PARENT_ENV: str(os.getpid())})
            console.print(f"started a worker (pid {worker.pid}) on {store.url}")
        console.print(f"proctor on http://{host}:{port}  (database {store.url})")
        config = uvicorn.Config(create_app(store, settings), host=host, port=port, log_level="warning")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        if worker is not None:
            stop(worker)
        sock.close()


users_app = typer.Typer(help="Add users, assign runs to them, list them.", no_args_is_help=True)
app.add_typer(users_app, name="users")


RoleName = Literal["admin", "researcher", "rater"]
"""The roles of `proctor.store.Role`, spelled out here so the command line starts without loading the store."""


@users_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[RoleName, typer.Option(help="admin, researcher or rater.")] = "rater",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    db: Db = None,
) -> None:
    """Add a user (the password is read from standard input, or asked for)."""
    from proctor.store import Role, Store, UserError, users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    store = Store(db)
    try:
        store.write(users.add_user, name, Role(role), password)
    except UserError as error:
        raise ConfigError(str(error)) from error
    console.print(f"added {role} {name}")


@users_app.command("assign")
def assign(
    name: Annotated[str, typer.Argument(help="The user.")],
    runs: Annotated[list[str], typer.Argument(help="Run ids (or unique prefixes).")],
    db: Db = None,
) -> None:
    """Put runs in a user's queue."""
    from proctor.store import Store, UserError, users

    store = Store(db)
    full = [store.run(r).id for r in runs]
    try:
        added = store.write(users.assign, name, full, "cli")
    except UserError as error:
        raise ConfigError(str(error)) from error
    console.print(f"assigned {added} new runs to {name} ({len(full) - added} were assigned already)")


@users_app.command("list")
def list_users(db: Db = None) -> None:
    """List users with their roles and how many runs are assigned to them."""
    from proctor.store import Store, users

    store = Store(db)
    with store.engine.connect() as conn:
        listed = users.list_users(conn)
        assigned = users.assignments(conn)
    table = Table(title=f"{len(listed)} users", title_justify="left")
    for column in ("name", "role", "assigned runs", "added"):
        table.add_column(column)
    for user in listed:
        count = sum(1 for a in assigned if a.user == user.name)
        table.add_row(user.name, user.role.value, str(count), user.created_at.strftime("%Y-%m-%d"))
    console.print(table)
