"""Failing fast and in one line: settings explained by the flag that sets them, checks before any run is stored,
and one `error:` line when every run of a command failed."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError
from rich.console import Console

if TYPE_CHECKING:
    from proctor.store import RunRecord


notes = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
"""Notes and warnings: standard error, so standard output holds only results (`--json` stays parseable)."""

RUN_FLAGS = {
    "options": "--options",
    "generate.temperature": "--temperature",
    "limits.steps": "--max-steps",
    "limits.tokens": "--max-tokens",
    "limits.cost": "--max-cost",
    "limits.seconds": "--max-seconds",
    "checkpoint.steps": "--checkpoint-steps",
    "checkpoint.cost": "--checkpoint-cost",
    "stuck.every": "--stuck-every",
    "stuck.after_failures": "--stuck-after",
    "command_limits": "--command-timeout",
}
"""The `proctor run` flag that sets each RunConfig field, to name in errors."""


def describe(error: ValidationError, flags: Mapping[str, str] | None = None) -> str:
    """The first problem of a validation error in one line, naming the setting (by its flag when `flags` has it)
    and the values that work, e.g. `--options must be at least 1, got 0`."""
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    name = (flags or {}).get(where, where)
    context = first.get("ctx") or {}
    bounds = {
        "greater_than_equal": f"must be at least {context.get('ge')}",
        "greater_than": f"must be more than {context.get('gt')}",
        "less_than_equal": f"must be at most {context.get('le')}",
        "less_than": f"must be less than {context.get('lt')}",
    }
    if first["type"] in bounds:
        return f"{name} {bounds[first['type']]}, got {first['input']!r}"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{name}: {message}" if name else message


def exit_if_all_failed(records: Sequence[RunRecord]) -> None:
    """After a command's runs: each reason runs failed for is printed once, in full (the table cuts it); when every
    run failed, the last line is `error: ...` and the command exits 1."""
    from proctor.store import RunStatus

    failed = Counter(r.error or "no reason recorded" for r in records if r.status is RunStatus.FAILED)
    if not records or sum(failed.values()) < len(records):
        for reason, count in failed.items():  # echoed, not printed with Rich: a long reason stays on one line
            typer.echo(f"{count} of {len(records)} runs failed: {reason}", err=True)
        return
    which = "the run" if len(records) == 1 else f"all {len(records)} runs"
    if len(failed) == 1:
        typer.echo(f"error: {which} failed: {next(iter(failed))}", err=True)
    else:
        for reason, count in failed.items():
            typer.echo(f"{count} runs failed: {reason}", err=True)
        typer.echo(f"error: {which} failed, for the {len(failed)} reasons above", err=True)
    raise typer.Exit(1)
