"""Interop: Inspect tasks run as proctor tasks, stored runs out as Inspect eval logs, Inspect eval logs in as runs,
and METR-format runs in.

Inspect's parts need the `inspect` extra (`pip install 'proctor[inspect]'`); it is imported only when they run.

Example:
    store = Store("sqlite:///runs.db")
    export_inspect(store, store.runs(top_level=True), Path("logs"))
    import_inspect(Store("sqlite:///copy.db"), [Path("logs")])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proctor.interop._common import (
    ExportReport,
    ImportReport,
    InteropError,
    is_inspect_spec,
    parse_task_args,
    require_inspect,
)
from proctor.interop._inspect_agent import InspectSolverAgent  # registers the `inspect` agent
from proctor.interop._rows import RunRows, store_runs
from proctor.store import RunRecord, Store

if TYPE_CHECKING:
    from proctor.interop._inspect_tasks import InspectTask

BATCH = 200
"""Runs written (or read) per transaction."""
BATCH_CHARACTERS = 16_000_000
"""Characters of text an import holds before it writes them (fewer runs a transaction when runs are large)."""


def load_inspect_tasks(spec: str, args: dict[str, Any] | None = None, *, map_solvers: bool = True) -> list[InspectTask]:
    """The samples of the Inspect tasks `spec` names — `FILE.py` (every `@task`), `FILE.py@name`, or an installed
    package's task (`pkg/task_name`) — created with the task arguments `args`, each sample a proctor task of format
    `inspect` (see docs/interop.md for what maps to what). With `map_solvers` False (runs given their agent), the
    tasks' solvers are not mapped, nor refused.

    Example:
        tasks = load_inspect_tasks("evals.py@arithmetic", {"level": 2})
        run_tasks(tasks, RunConfig(model="openai/gpt-4o-mini", agent=tasks[0].agent), Store())

    Raises:
        InteropError: inspect-ai is not installed, the tasks cannot be loaded, or a solver, tool or sandbox has no
            counterpart in proctor (one line naming it).
    """
    require_inspect()
    from proctor.interop._inspect_tasks import load_inspect_tasks as load

    return load(spec, args, map_solvers=map_solvers)


def export_inspect(store: Store, records: Sequence[RunRecord], directory: Path) -> ExportReport:
    """Write `records` as Inspect eval logs (`.eval`) into `directory`: one log per task family × agent × model,
    one sample per run, each read with `inspect_ai.log.read_eval_log` as status `success`.

    Raises:
        InteropError: inspect-ai is not installed, or the folder cannot be written.
    """
    require_inspect()
    from proctor.interop._inspect_out import write_logs

    try:
        paths = write_logs(store, records, directory, batch=BATCH) if records else []
    except OSError as error:
        raise InteropError(f"{directory}: cannot write the logs ({error.strerror or error})") from error
    return ExportReport(logs=[str(p) for p in paths], runs=len(records))


def import_inspect(
    store: Store, paths: Sequence[Path], *, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Store the samples of Inspect logs (`.eval` or `.json` files, or folders of them) as runs, read a sample at
    a time and written `BATCH` runs (or `BATCH_CHARACTERS` of text) a transaction, so memory stays bounded
    whatever the log's size. A sample imported before is skipped. Every file's header is checked before anything
    is stored; `progress` is called with the number of samples read so far.

    Raises:
        InteropError: inspect-ai is not installed, or a file is not an Inspect log (one line naming it).
    """
    require_inspect()
    from proctor.interop._inspect_in import InspectLog, log_files, run_of

    logs = [InspectLog(path) for path in log_files(list(paths))]
    report = ImportReport(files=len(logs))
    read = 0
    for log in logs:
        batch: list[RunRows] = []
        held = 0
        for sample in log.samples():
            batch.append(run_of(sample, log.header, log.path))
            held += batch[-1].weight()
            read += 1
            if len(batch) >= BATCH or held >= BATCH_CHARACTERS:
                _store(store, batch, report)
                batch, held = [], 0
                if progress is not None:
                    progress(read)
        _store(store, batch, report)
    if progress is not None:
        progress(read)
    return report


def import_runs_jsonl(store: Store, path: Path) -> ImportReport:
    """Store the runs of a METR-format `runs.jsonl` (fields `task_id`, `run_id`, `alias`, `score_binarized`, and
    optionally `task_family`, `model`, `score_cont`, `human_minutes`, times, cost, …) as runs without steps. The
    whole file is checked first; a run imported before is skipped.

    Raises:
        InteropError: the file cannot be read, or a line is bad (`FILE line N: FIELD: why`).
    """
    from proctor.interop._metr import read_rows, run_rows

    for _ in read_rows(path):  # every line is checked before any is stored
        pass
    report = ImportReport(files=1)
    batch: list[RunRows] = []
    for number, row in read_rows(path):
        batch.append(run_rows(path, number, row))
        if len(batch) >= BATCH:
            _store(store, batch, report)
            batch = []
    _store(store, batch, report)
    return report


def _store(store: Store, batch: list[RunRows], report: ImportReport) -> None:
    if not batch:
        return
    stored = store.write(store_runs, batch)
    report.runs += stored
    report.skipped += len(batch) - stored


__all__ = [
    "ExportReport",
    "ImportReport",
    "InspectSolverAgent",
    "InteropError",
    "export_inspect",
    "import_inspect",
    "import_runs_jsonl",
    "is_inspect_spec",
    "load_inspect_tasks",
    "parse_task_args",
]
