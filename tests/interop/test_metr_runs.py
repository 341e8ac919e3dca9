"""METR-format runs in: `proctor import runs-jsonl FILE` stores each line as a run without steps, once; a bad line is
named, with its field, in one line, and then nothing is stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from interop_runs import proctor

from proctor.interop import InteropError, import_runs_jsonl
from proctor.store import RunStatus, Store

STARTED_MS = 1_718_000_000_000  # 2024-06-10, in milliseconds as METR's data has it
ROWS: list[dict[str, Any]] = [
    {
        "task_id": "hcast/acdc_bug/fix",
        "task_family": "hcast",
        "run_id": 1001,
        "alias": "Claude 3.7 Sonnet",
        "model": "claude-3-7-sonnet-20250219",
        "score_binarized": 1,
        "score_cont": 0.9,
        "human_minutes": 47.5,
        "human_source": "baseline",
        "task_source": "HCAST",
        "generation_cost": 1.25,
        "started_at": STARTED_MS,
        "completed_at": STARTED_MS + 600_000,
        "fatal_error_from": None,
    },
    {
        "task_id": "swaa/word_count",
        "run_id": "r-2",
        "alias": "GPT-4o",
        "score_binarized": 0.0,
        "score_cont": float("nan"),
        "human_minutes": 0.5,
        "started_at": 0,
    },
    {
        "task_id": "hcast/acdc_bug/fix",
        "task_family": "hcast",
        "run_id": "r-3",
        "alias": "GPT-4o",
        "score_binarized": False,
        "human_minutes": 47.5,
        "fatal_error_from": "usageLimits",
    },
]


def write(path: Path, rows: list[dict[str, Any]], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows) + extra)
    return path


def test_runs_jsonl_imports_runs_without_steps_once(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "runs.jsonl", ROWS, extra="\n")
    report = import_runs_jsonl(store, path)
    assert (report.files, report.runs, report.skipped) == (1, 3, 0)
    runs = {r.config["metr"]["run_id"]: r for r in store.runs(limit=10)}
    assert sorted(runs) == ["1001", "r-2", "r-3"]
    first = runs["1001"]
    assert (first.task_id, first.model, first.status, first.score, first.cost) == (
        "hcast/acdc_bug/fix",
        "claude-3-7-sonnet-20250219",
        RunStatus.DONE,
        1.0,
        1.25,
    )
    assert first.config["agent"] == "Claude 3.7 Sonnet"
    assert first.config["metr"]["human_minutes"] == 47.5 and first.config["metr"]["score_cont"] == 0.9
    assert first.config["metr"]["human_source"] == "baseline"  # every field of the line is kept
    assert first.created_at.replace(tzinfo=UTC) == datetime.fromtimestamp(STARTED_MS / 1000, UTC)
    assert first.active_seconds == 600.0 and store.steps(first.id) == []
    second = runs["r-2"]
    assert (second.model, second.score, second.config["metr"]["score_cont"]) == ("GPT-4o", 0.0, None)
    assert runs["r-3"].status is RunStatus.FAILED and runs["r-3"].error == "usageLimits"
    task = store.task("hcast/acdc_bug/fix")
    assert (task["family"], task["name"], task["format"]) == ("hcast", "acdc_bug/fix", "metr_runs")
    assert store.task("swaa/word_count")["family"] == "swaa"
    again = import_runs_jsonl(store, path)
    assert (again.runs, again.skipped) == (0, 3)
    assert store.count_runs() == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            {"run_id": "x", "alias": "A", "score_binarized": 1},
            "line 2: task_id: missing (every run needs task_id, run_id, alias and score_binarized)",
        ),
        (
            {"task_id": "t/a", "run_id": "x", "score_binarized": 1},
            "line 2: alias: missing (every run needs task_id, run_id, alias and score_binarized)",
        ),
        (
            {"task_id": "t/a", "run_id": "x", "alias": "A", "score_binarized": 2},
            "line 2: score_binarized: must be 0 or 1, got 2",
        ),
        (
            {"task_id": "t/a", "run_id": "x", "alias": "A", "score_binarized": 1, "score_cont": 1.5},
            "line 2: score_cont: Input should be less than or equal to 1 (got 1.5)",
        ),
        (
            {"task_id": "t/a", "run_id": "x", "alias": "A", "score_binarized": 1, "human_minutes": "soon"},
            "line 2: human_minutes: Input should be a valid number, unable to parse string as a number (got 'soon')",
        ),
        ("[1, 2]", "line 2: not a JSON object"),
        ("{not json", "line 2: not JSON (Expecting property name enclosed in double quotes)"),
    ],
)
def test_a_bad_line_is_named_with_its_field_and_nothing_is_stored(
    line: dict[str, Any] | str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n" + (line if isinstance(line, str) else json.dumps(line)) + "\n")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(InteropError) as raised:
        import_runs_jsonl(Store(db), path)
    assert str(raised.value) == f"{path} {message}"
    result = proctor("import", "runs-jsonl", str(path), db=db)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {path} {message}"]
    assert Store(db).count_runs() == 0


def test_the_cli_reports_what_it_stored(tmp_path: Path) -> None:
    path = write(tmp_path / "runs.jsonl", ROWS)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = proctor("import", "runs-jsonl", str(path), db=db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported 3 runs from 1 file"
    again = proctor("import", "runs-jsonl", str(path), "--json", db=db)
    assert json.loads(again.stdout) == {"files": 1, "runs": 0, "skipped": 3}
    missing = proctor("import", "runs-jsonl", str(tmp_path / "nope.jsonl"), db=db)
    assert missing.returncode == 2 and missing.stderr.startswith(f"error: {tmp_path / 'nope.jsonl'}: cannot be read")


def test_proctors_own_runs_jsonl_export_imports(tmp_path: Path) -> None:
    """`proctor export runs-jsonl` (METR's format, for METR's pipeline) read back by `proctor import runs-jsonl`."""
    source = f"sqlite:///{tmp_path / 'source.db'}"
    assert proctor("run", "examples", "--task", "find-secret", "--task", "fix-test", db=source).returncode == 0
    exported = proctor("export", "runs-jsonl", "-o", str(tmp_path / "runs.jsonl"), db=source)
    assert exported.returncode == 0, exported.stderr
    target = f"sqlite:///{tmp_path / 'target.db'}"
    result = proctor("import", "runs-jsonl", str(tmp_path / "runs.jsonl"), db=target)
    assert result.returncode == 0 and "imported 2 runs" in result.stdout, result.stderr
    before = {r.id: r for r in Store(source).runs()}
    for run in Store(target).runs():
        original = before[run.config["metr"]["run_id"]]
        assert (run.task_id, run.model) == (original.task_id, original.model) and original.score is not None
        assert run.score == (1.0 if original.score >= 1 else 0.0)  # METR's outcome: solved or not
        assert run.config["metr"]["score_cont"] == original.score
        assert run.config["agent"] == "tags" and run.config["metr"]["alias"] == "scripted/baseline (tags)"
        assert run.config["metr"]["human_minutes"] > 0
