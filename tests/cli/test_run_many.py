"""`proctor run` of a batch larger than its results table, against a scripted model server on loopback: the
progress bar counts done, failed and running runs, and the table shows the runs not solved first."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply

from proctor.cli import main
from proctor.cli._app import RESULTS_SHOWN
from proctor.store import Store

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def answer(request: RecordedRequest) -> Reply:
    """An echo of the instructions (so the agent submits what they say), or an error the task asks for."""
    last = str(request.body["messages"][-1]["content"])
    return Reply.error(400) if "<submit>fail</submit>" in last else Reply(text=f"echo: {last}")


def write_tasks(folder: Path, count: int) -> None:
    """`count` tasks: task 7 makes the server fail, tasks 20 and 40 expect another answer than the one given."""
    for i in range(count):
        task = folder / f"t{i:02d}"
        task.mkdir(parents=True)
        given = "fail" if i == 7 else str(i)
        expected = "other" if i in (20, 40) else given
        task.joinpath("task.yaml").write_text(
            f"name: t{i:02d}\ninstructions: 'Submit this: <submit>{given}</submit>'\n"
            f"scorer:\n  expected_submission: '{expected}'\n"
        )


def test_a_large_batch_shows_its_progress_and_the_runs_not_solved_first(tmp_path: Path) -> None:
    count = RESULTS_SHOWN + 10
    write_tasks(tmp_path / "suite", count)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=answer, delay=0.2) as server:  # six rounds of 0.2 s: the bar is redrawn meanwhile
        env = os.environ | {"PROCTOR_DB": db, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k"}
        env |= {"TTY_COMPATIBLE": "1", "COLUMNS": "200"}  # the progress bar drawn as on a terminal
        command = [sys.executable, "-m", "proctor", "run", str(tmp_path / "suite"), "--model", "openai/m"]
        result = subprocess.run([*command, "--concurrency", "10"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = ANSI.sub("", result.stdout)
    assert "openai/m · tags" in out and f"done {count - 1}/{count} · failed 1 · running 0" in out
    assert re.search(r"done \d+/60 · failed [01] · running 10 ", out)  # drawn while runs were running
    rows = [line for line in out.splitlines() if line.startswith("│") and "suite/t" in line]
    assert len(rows) == RESULTS_SHOWN
    assert [row.split("│")[2].strip() for row in rows[:3]] == ["suite/t07", "suite/t20", "suite/t40"]
    assert "failed" in rows[0] and "0.00" in rows[1] and "0.00" in rows[2]
    assert all("1.00" in row for row in rows[3:])
    assert f"{RESULTS_SHOWN} of {count} runs shown, those not solved first (done 59 · failed 1)" in out
    assert f"solved 57/{count}" in out
    assert "1 of 60 runs failed: ModelError: openai/m: HTTP 400" in result.stderr
    stored = Store(db).runs(limit=count + 1)
    assert len(stored) == count and sum(r.score == 1.0 for r in stored) == count - 3


def test_json_lists_every_run_of_a_large_batch(tmp_path: Path) -> None:
    count = RESULTS_SHOWN + 1
    write_tasks(tmp_path / "suite", count)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=answer) as server:
        env = os.environ | {"PROCTOR_DB": db, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "k"}
        command = [sys.executable, "-m", "proctor", "run", str(tmp_path / "suite"), "--model", "openai/m", "--json"]
        result = subprocess.run([*command, "--concurrency", "10"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [r["task_id"] for r in listed] == [f"suite/t{i:02d}" for i in range(count)]


def test_run_keeps_what_it_loaded_out_of_the_garbage_collectors_passes(tmp_path: Path) -> None:
    gc.unfreeze()
    with pytest.raises(SystemExit) as done:
        main(["run", "examples", "--task", "find-secret", "--db", f"sqlite:///{tmp_path / 'runs.db'}"])
    try:
        assert done.value.code == 0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
