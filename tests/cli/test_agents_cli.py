"""`proctor agents` and `proctor run --agent` (repeatable): scaffolds listed, compared side by side, refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from test_fail_fast import proctor

from proctor.agents import request_detail
from proctor.store import Store, ops


def test_agents_are_listed_one_line_each(tmp_path: Path) -> None:
    listed = proctor("agents", db=f"sqlite:///{tmp_path / 'p.db'}")
    assert listed.returncode == 0
    lines = dict(line.split(maxsplit=1) for line in listed.stdout.splitlines())
    assert {"tags", "react"} <= set(lines) and "tool calls" in lines["react"]


def test_two_agents_run_each_task_side_by_side(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    only = ["--task", "find-secret", "--task", "log-analysis"]
    result = proctor("run", "examples", *only, "--agent", "tags", "--agent", "react", db=db)
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "task" in line and "tags" in line)
    assert header.index("tags") < header.index("react")
    assert "2/2 · 1.00" in result.stdout.split("solved · mean")[1].split("\n")[0]
    runs = Store(db).runs()
    assert sorted((run.task_id, run.config["agent"], run.score) for run in runs) == [
        ("examples/find-secret", "react", 1.0),
        ("examples/find-secret", "tags", 1.0),
        ("examples/log-analysis", "react", 1.0),
        ("examples/log-analysis", "tags", 1.0),
    ]
    react = next(run for run in runs if run.config["agent"] == "react")
    assert Store(db).steps(react.id)[0].options[0].action == "calls"  # it worked through tool calls
    as_json = proctor("run", "examples", "--task", "find-secret", "--agent", "react", "--json", db=db)
    assert json.loads(as_json.stdout)[0]["config"]["agent"] == "react"


def test_an_unknown_agent_is_one_line_and_stores_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    result = proctor("run", "examples", "--agent", "tags", "--agent", "nope", db=db)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "--agent" in result.stderr and "react" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p.db").exists() or Store(db).runs() == []


def test_a_human_run_needs_no_model_and_waits_for_the_person(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'p.db'}"
    command = [sys.executable, "-m", "proctor", "run", "examples", "--task", "find-secret", "--agent", "human"]
    env = os.environ | {"PROCTOR_DB": db}
    running = subprocess.Popen([*command, "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        store = Store(db)
        deadline = time.monotonic() + 60
        while not (runs := store.runs(status="waiting_human")):
            assert running.poll() is None and time.monotonic() < deadline, running.communicate()
            time.sleep(0.1)
        (run,) = runs
        store.write(ops.add_event, run.id, "clock", {"state": "start", "by": "ada"})
        store.write(ops.add_event, run.id, "human_request", request_detail("submit", "7f3a9c2e41b8", "ada"))
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 0, err
    (record,) = json.loads(out)
    assert record["status"] == "done" and record["score"] == 1.0 and record["model"] == "human/web"
    config = record["config"]
    assert config["agent"] == "human" and config["limits"]["steps"] is None and config["stuck"]["after_failures"] == 0
    assert "wait for a person" in err and "scripted baseline" not in err
