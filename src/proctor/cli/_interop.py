"""`proctor import inspect|runs-jsonl`, and the writing of `proctor export inspect`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from proctor.cli._app import Db, Json, app, console
from proctor.cli._checks import notes

if TYPE_CHECKING:
    from proctor.interop import ImportReport
    from proctor.store import Store


import_app = typer.Typer(help="Import runs: Inspect eval logs, METR-format runs.", no_args_is_help=True)
app.add_typer(import_app, name="import")


def export_inspect_logs(
    store: Store, output: Path | None, *, runs: list[str] | None, task: str | None, model: str | None, limit: int
) -> None:
    """`proctor export inspect -o DIR`: the runs (these, or the top-level runs of tasks and models whose names
    contain `task` and `model`) as Inspect eval logs in DIR, one per task family × agent × model."""
    from proctor.interop import InteropError, export_inspect

    if output is None:
        raise InteropError("export inspect writes a folder of logs: give it with -o DIR")
    if output.exists() and not output.is_dir():
        raise InteropError(f"{output} is a file: export inspect writes a folder of logs (-o DIR)")
    records = [store.run(r) for r in runs] if runs else store.runs(task=task, model=model, top_level=True, limit=limit)
    report = export_inspect(store, records, output)
    console.print(f"wrote {report.runs} runs as {len(report.logs)} Inspect logs to {output}", highlight=False)
    for log in report.logs:
        console.print(f"  {log}", highlight=False)


@import_app.command("inspect")
def import_inspect_logs(
    logs: Annotated[list[Path], typer.Argument(help="Inspect logs (.eval or .json), or folders of them.")],
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Store the samples of Inspect eval logs as runs (a sample imported before is left as it is)."""
    from proctor.interop import import_inspect
    from proctor.store import Store

    store = Store(db)
    with notes.status("importing") as status:
        report = import_inspect(store, logs, progress=lambda n: status.update(f"importing: {n} samples read"))
    _print(report, "Inspect logs", json_out)


@import_app.command("runs-jsonl")
def import_metr_runs(
    file: Annotated[Path, typer.Argument(help="A METR-format runs.jsonl: one run a line.")],
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Store METR-format runs (task_id, run_id, alias, score_binarized, human_minutes, …) as runs without steps."""
    from proctor.interop import import_runs_jsonl
    from proctor.store import Store

    report = import_runs_jsonl(Store(db), file)
    _print(report, "file", json_out)


def _print(report: ImportReport, what: str, json_out: bool) -> None:
    if json_out:
        print(report.model_dump_json())
        return
    files = f"{report.files} {what}" if what != "file" else "1 file"
    again = f" ({report.skipped} already stored)" if report.skipped else ""
    console.print(f"imported {report.runs} runs from {files}{again}", highlight=False)
