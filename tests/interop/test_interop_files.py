"""Interop at its edges: proctor without the `inspect` extra, files that are not Inspect logs, and a large log
imported in bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from interop_runs import proctor

from proctor.interop import export_inspect, import_inspect
from proctor.interop._rows import RunRows, StepRows, store_runs
from proctor.store import Store

WITHOUT_INSPECT = """
import sys
sys.modules["inspect_ai"] = None  # as if the extra were not installed
from proctor.cli import main
main(sys.argv[1:])
"""


def without_inspect(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", WITHOUT_INSPECT, *args, "--db", db]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_core_install_does_not_import_inspect(tmp_path: Path) -> None:
    code = "import sys, proctor, proctor.cli, proctor.interop; print('inspect_ai' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    missing = "error: inspect-ai is not installed: install proctor[inspect] (pip install 'proctor[inspect]')"
    for args in (["export", "inspect", "-o", str(tmp_path / "logs")], ["import", "inspect", str(tmp_path)]):
        result = without_inspect(*args, db=db)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [missing]
    rows = tmp_path / "runs.jsonl"
    rows.write_text(json.dumps({"task_id": "f/t", "run_id": 1, "alias": "A", "score_binarized": 1}) + "\n")
    result = without_inspect("import", "runs-jsonl", str(rows), db=db)
    assert result.returncode == 0, result.stderr  # METR's format needs no extra


def test_files_that_are_not_inspect_logs_get_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    (tmp_path / "text.eval").write_text("not a log")
    (tmp_path / "other.json").write_text('{"hello": "world"}')
    with zipfile.ZipFile(tmp_path / "empty.eval", "w") as archive:
        archive.writestr("readme.txt", "no header here")
    (tmp_path / "cut.eval").write_bytes(b"PK\x03\x04 cut short")
    cases = {
        "text.eval": "not an Inspect eval log (neither an .eval archive nor a JSON log)",
        "other.json": "not an Inspect eval log (Unable to read version of log format.)",
        "empty.eval": "not an Inspect eval log (no header.json or _journal/start.json in it)",
        "cut.eval": "not an Inspect eval log (File is not a zip file)",
        "missing.eval": "no such file or folder",
    }
    for name, reason in cases.items():
        result = proctor("import", "inspect", str(tmp_path / name), db=db)
        assert result.returncode == 2, name
        assert result.stderr.splitlines() == [f"error: {tmp_path / name}: {reason}"]
    assert Store(db).count_runs() == 0


def test_a_bad_file_among_good_ones_stores_nothing(tmp_path: Path) -> None:
    source = Store(f"sqlite:///{tmp_path / 'source.db'}")
    source.write(store_runs, [big_run(0, 10)])
    good = export_inspect(source, source.runs(), tmp_path / "logs").logs[0]
    bad = tmp_path / "logs" / "bad.eval"
    bad.write_text("nope")
    db = f"sqlite:///{tmp_path / 'target.db'}"
    result = proctor("import", "inspect", good, str(bad), db=db)
    assert result.returncode == 2 and result.stderr.startswith(f"error: {bad}: not an Inspect eval log")
    assert Store(db).count_runs() == 0  # every header is read before anything is stored


def big_run(i: int, size: int) -> RunRows:
    """A one-step run whose command printed `size` characters."""
    output = (f"{i:08d} " * (size // 9 + 1))[:size]
    call = {"id": "c1", "tool": "bash", "arguments": '{"command": "cat big"}', "action": "bash"}
    call |= {"argument": {"command": "cat big"}, "error": None}
    result = {"kind": "bash", "output": output, "exit_code": 0, "failed": False, "id": "c1", "tool": "bash"}
    option = {"text": "Read it.", "action": "calls", "argument": {"calls": [call]}, "source": "model:m/m"}
    step = StepRows(
        index=0,
        options=[option],
        chosen=0,
        chooser="first",
        observation={"kind": "calls", "output": f"[bash] {output}", "calls": [result]},
    )
    created = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
    return RunRows(
        task={"id": f"big/t{i}", "family": "big", "name": f"t{i}", "format": "native", "instructions": "Read."},
        run={
            "id": f"{i:012x}",
            "task_id": f"big/t{i}",
            "status": "done",
            "model": "m/m",
            "config": {"agent": "react"},
            "created_at": created,
        },
        steps=[step],
        usage=[(0, {"model": "m/m", "role": "agent", "input_tokens": 10, "output_tokens": 5})],
    )


def import_peak(samples: int, size: int, folder: Path) -> tuple[int, int]:
    """The most memory an import of a log of `samples` runs with `size` characters of output each holds, and
    the log's unpacked size."""
    source = Store(f"sqlite:///{folder / 'source.db'}")
    for i in range(samples):
        source.write(store_runs, [big_run(i, size)])
    (log,) = export_inspect(source, source.runs(limit=samples), folder / "logs").logs
    with zipfile.ZipFile(log) as archive:
        unpacked = sum(info.file_size for info in archive.infolist() if info.filename.startswith("samples/"))
    target = Store(f"sqlite:///{folder / 'target.db'}")
    tracemalloc.start()
    try:
        report = import_inspect(target, [Path(log)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.runs == samples
    (step,) = target.steps(f"{samples - 1:012x}")
    assert step.observation is not None and len(step.observation.calls[0]["output"]) == size  # type: ignore[index]
    return peak, unpacked


def test_a_large_log_imports_in_bounded_memory(tmp_path: Path) -> None:
    """Samples of 1 MB of output (about 4 MB of JSON apiece in the log): an import holds a batch of runs and one
    sample at a time, so three times the samples take no more memory."""
    small, small_log = import_peak(25, 1_000_000, tmp_path / "small")
    large, large_log = import_peak(75, 1_000_000, tmp_path / "large")
    print(f"peak {small / 1e6:.0f} MB for {small_log / 1e6:.0f} MB, {large / 1e6:.0f} MB for {large_log / 1e6:.0f} MB")
    assert large_log > 3 * small_log * 0.95
    assert large < 1.25 * small
    assert large < large_log / 4
