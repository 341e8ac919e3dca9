"""`proctor export`, `proctor stuck` and `proctor tasks list|validate`."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from proctor.cli import _experiments  # noqa: F401  (adds `oversee run` and `oversee report`)
from proctor.cli._app import ConfigError, Db, app, console
from proctor.cli._oversee import oversee_app
from proctor.cli._render import interval, percent


class ExportKind(StrEnum):
    """What `proctor export` writes."""

    TRAJECTORIES = "trajectories"
    PREFERENCES = "preferences"
    RUNS = "runs"
    STEPS = "steps"
    OPTIONS = "options"
    RATINGS = "ratings"
    RUNS_JSONL = "runs-jsonl"
    INSPECT = "inspect"


class ExportFormat(StrEnum):
    """How `proctor export` writes a flat table."""

    JSONL = "jsonl"
    PARQUET = "parquet"


class Alias(StrEnum):
    """How `proctor export runs-jsonl` names the agent measured."""

    MODEL_AGENT = "model-agent"
    MODEL = "model"


@app.command()
def export(
    kind: Annotated[
        ExportKind,
        typer.Argument(
            help="trajectories (one run a line), preferences (rated pairs, comparisons and ratings, with context), "
            "the flat tables runs, steps, options or "
            "ratings, runs-jsonl (METR's runs.jsonl format), or inspect (Inspect eval logs in the folder -o DIR)."
        ),
    ],
    run: Annotated[list[str] | None, typer.Option("--run", help="Only these runs (repeatable).")] = None,
    task: Annotated[str | None, typer.Option(help="Only tasks whose id contains this.")] = None,
    model: Annotated[str | None, typer.Option(help="Only models whose name contains this.")] = None,
    limit: Annotated[int, typer.Option(help="Most runs.", min=1)] = 100_000,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of standard output.")
    ] = None,
    file_format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl, or parquet for the flat tables (needs --output).")
    ] = ExportFormat.JSONL,
    alias: Annotated[
        Alias, typer.Option(help="runs-jsonl: the alias is `model (agent)` (model-agent) or the model alone.")
    ] = Alias.MODEL_AGENT,
    db: Db = None,
) -> None:
    """Export runs: trajectories or preference pairs as JSONL; runs, steps, options or ratings as flat tables in
    JSONL or Parquet; runs in METR's runs.jsonl format for METR's time-horizon pipeline; or Inspect eval logs."""
    from proctor.store import Store
    from proctor.store._export import (
        TABLES,
        preferences,
        table_rows,
        trajectories,
        with_subtasks,
        write_jsonl,
        write_parquet,
    )
    from proctor.store._export_metr import metr_runs

    if kind is ExportKind.INSPECT:
        from proctor.cli._interop import export_inspect_logs

        if file_format is not ExportFormat.JSONL:
            raise ConfigError("inspect writes Inspect's own .eval logs: leave out --format")
        export_inspect_logs(Store(db), output, runs=run, task=task, model=model, limit=limit)
        return
    tables = kind.value in TABLES
    if file_format is ExportFormat.PARQUET and not tables:
        raise ConfigError(
            f"{kind.value} is written as JSONL only: use --format jsonl, or export the flat tables runs, steps, "
            "options and ratings as Parquet"
        )
    if file_format is ExportFormat.PARQUET and output is None:
        raise ConfigError("Parquet is a binary file: give --output FILE")
    store = Store(db)
    records = [store.run(r) for r in run] if run else store.runs(task=task, model=model, top_level=True, limit=limit)
    rows: Iterable[dict[str, Any]]
    if tables:
        rows = table_rows(store, kind.value, with_subtasks(store, [r.id for r in records]))
    elif kind is ExportKind.RUNS_JSONL:
        metr = metr_runs(store, records, alias=alias.value)
        for line in metr.left_out:
            print(f"note: {line}", file=sys.stderr)
        rows = (line.model_dump(mode="json") for line in metr.runs)
    elif kind is ExportKind.TRAJECTORIES:
        rows = trajectories(store, records)
    else:
        rows = preferences(store, records)
    if output is None:
        write_jsonl(rows, sys.stdout)
        return
    if file_format is ExportFormat.PARQUET:
        count = write_parquet(rows, TABLES[kind.value], output)
    else:
        with output.open("w") as file:
            count = write_jsonl(rows, file)
    console.print(f"wrote {count} {kind.value} to {output}", highlight=False)


@app.command()
def stuck(
    task: Annotated[str | None, typer.Option(help="Only tasks whose id contains this.")] = None,
    model: Annotated[str | None, typer.Option(help="Only models whose name contains this.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    db: Db = None,
) -> None:
    """How stuck checks fired in finished runs, and whether restarting from a summary helped: per model, runs that
    restart when stuck against runs that only record it (`proctor run --no-restart`)."""
    from proctor.runner import stuck_report
    from proctor.store import Store

    report = stuck_report(Store(db), task=task, model=model)
    if json_out:
        print(report.model_dump_json(indent=2))
        return
    if not report.rows:
        console.print("no finished runs with stuck checks configured")
        return
    caption = "stuck: runs the model judged stuck at least once; solved if stuck: their share solved, 95% interval"
    table = Table(title="Stuck checks in finished runs", title_justify="left", caption=caption, caption_justify="left")
    table.add_column("model", no_wrap=True)
    table.add_column("when stuck")
    for column in ("runs", "checked", "checks", "stuck", "restarts", "solved"):
        table.add_column(column, justify="right")
    table.add_column("solved if stuck", justify="right", no_wrap=True)
    for row in report.rows:
        counts = (row.runs, row.checked, row.checks, row.found_stuck, row.restarts)
        setting = "restart" if row.restart else "record only"
        table.add_row(row.model, setting, *map(str, counts), percent(row.solved.value), interval(row.solved_when_stuck))
    console.print(table)
    for effect in report.effects:
        d = effect.difference
        console.print(
            f"{effect.model}: restarting when stuck changed the solved share by {100 * d.value:+.1f} points "
            f"[{100 * d.low:+.1f}, {100 * d.high:+.1f}], p = {d.p_value:.3g} ({d.n} runs found stuck)",
            highlight=False,
        )


app.add_typer(oversee_app, name="oversee")

tasks_app = typer.Typer(help="List and validate tasks.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


@tasks_app.command("list")
def list_tasks(
    path: Annotated[str, typer.Argument(help="A task folder, a suite folder, or 'examples'.")] = "examples",
) -> None:
    """List the tasks at PATH."""
    from proctor.tasks import load_tasks

    table = Table(title=f"tasks in {path}", title_justify="left")
    for column in ("id", "format", "permissions", "instructions"):
        table.add_column(column)
    for t in load_tasks(path):
        first = t.info.instructions.strip().splitlines()[0] if t.info.instructions.strip() else ""
        table.add_row(t.info.id, t.info.format, ", ".join(t.info.permissions) or "—", first[:70])
    console.print(table)


@tasks_app.command("validate")
def validate(path: Annotated[str, typer.Argument(help="A task folder or a suite folder.")]) -> None:
    """Check the tasks at PATH: one line per problem, naming the file; exit 1 if any."""
    from proctor.tasks import validate_tasks

    problems = validate_tasks(path)
    for problem in problems:
        typer.echo(problem)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{path}: ok")
