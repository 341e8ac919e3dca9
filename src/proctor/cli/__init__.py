"""The `proctor` command line."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from pydantic import ValidationError
from typer.exceptions import TyperException

from proctor.cli import (
    _holds,  # noqa: F401  (registers approve and answer)
    _interop,  # noqa: F401  (registers import)
    _lab,  # noqa: F401  (registers lab)
    _more,  # noqa: F401  (registers export and tasks)
    _redteam,  # noqa: F401  (registers redteam)
    _report,  # noqa: F401  (registers report)
    _report_horizon,  # noqa: F401  (registers report horizon and report trend)
    _report_raters,  # noqa: F401  (registers report raters)
    _web,  # noqa: F401  (registers view and users)
)
from proctor.cli._app import ConfigError, app
from proctor.cli._checks import describe
from proctor.cli._processes import ListenError, end_process, sigterm_as_interrupt


def user_errors() -> tuple[type[Exception], ...]:
    """The errors that mean a mistake in the command, reported in one line. Imported when one is caught, since
    their modules (the runner, the store, the analysis) are too slow to load for `proctor --help`."""
    from proctor.analysis import AnalysisError
    from proctor.interop import InteropError
    from proctor.lab import LabError
    from proctor.models import ModelError
    from proctor.protocols import ExperimentError
    from proctor.protocols.datasets import DatasetError
    from proctor.redteam import RedTeamError
    from proctor.runner import SettingError, UnknownChooserError
    from proctor.runner._ray import RayError
    from proctor.sandbox import SandboxError
    from proctor.store import StoreError
    from proctor.store._export import ExportError
    from proctor.tasks import TaskError

    return (
        AnalysisError,
        ConfigError,
        DatasetError,
        ExperimentError,
        ExportError,
        InteropError,
        LabError,
        ListenError,
        ModelError,
        RayError,
        RedTeamError,
        SandboxError,
        SettingError,
        StoreError,
        TaskError,
        UnknownChooserError,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: a mistake in the command (a mistyped option, model, task path, database URL) gets one line
    on standard error and exit code 2, never a traceback. SIGTERM stops a command as Ctrl-C does.

    Run as the program (`proctor`, `python -m proctor`: no `argv`), the process ends as soon as the command is done,
    skipping the interpreter's teardown (see `end_process`); given `argv`, it raises `SystemExit` as `sys.exit`
    does."""
    if argv is not None:
        with sigterm_as_interrupt():
            _main(argv)
    try:
        with sigterm_as_interrupt():
            _main(None)
    except SystemExit as done:
        end_process(done.code)


def _main(argv: list[str] | None) -> NoReturn:
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except TyperException as error:  # a usage error: unknown option, missing argument, bad value
        format_message = getattr(error, "format_message", None)  # Click's errors name the option there
        message = str(format_message() if format_message is not None else error)
        print(f"error: {message.splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as error:
        print(f"error: {describe(error)}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        line = user_error_line(error)
        if line is None:
            raise  # not a user's mistake: the traceback is a bug report
        print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)


def user_error_line(error: Exception) -> str | None:
    """The one line for a user's mistake (a bad option, model, task path, database URL); None for anything else."""
    from sqlalchemy.exc import SQLAlchemyError  # the store has loaded it when it raises one

    if isinstance(error, SQLAlchemyError):  # e.g. a database another version of proctor wrote
        return "database: " + str(getattr(error, "orig", None) or error).splitlines()[0]
    if isinstance(error, user_errors()):
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


__all__ = ["app", "main"]
