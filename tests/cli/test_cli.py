"""The `proctor` command as a user runs it: a real process, a real store, the bundled examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from proctor.store import Store


def proctor(*args: str, db: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PROCTOR_DB": db, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def suite_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example suite run once with the scripted baseline."""
    db = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'runs.db'}"
    result = proctor("run", "examples", db=db)
    assert result.returncode == 0, result.stderr
    return db


def test_run_examples_prints_a_results_table_and_says_the_baseline_is_scripted(suite_db: str) -> None:
    store = Store(suite_db)
    runs = store.runs()
    assert len(runs) >= 12
    solved = [r for r in runs if r.score == 1.0]
    failed = [r for r in runs if r.score is not None and r.score < 1.0]
    assert solved and failed  # the baseline solves some tasks and fails others
    assert {r.status.value for r in runs} <= {"done", "needs_manual_score"}
    again = proctor("runs", "--json", db=suite_db)
    listed = json.loads(again.stdout)
    assert {r["id"] for r in listed} == {r.id for r in runs}


def test_run_output(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'one.db'}"
    result = proctor("run", "examples", "--task", "find-secret", "--task", "fix-test", db=db)
    assert result.returncode == 0, result.stderr
    assert "not a language model" in result.stderr  # a note: standard output holds only results
    assert "examples/find-secret" in result.stdout and "examples/fix-test" in result.stdout
    assert "solved 1/2" in result.stdout


def test_runs_filters_and_show_draws_the_tree(suite_db: str) -> None:
    done = json.loads(proctor("runs", "--json", "--task", "find-secret", db=suite_db).stdout)
    assert len(done) == 1 and done[0]["score"] == 1.0
    shown = proctor("show", done[0]["id"][:6], db=suite_db)
    assert shown.returncode == 0
    assert f"run {done[0]['id']}" in shown.stdout and "step 0" in shown.stdout and "✔ option 0" in shown.stdout
    assert "submitted: 7f3a9c2e41b8" in shown.stdout
    manual = json.loads(proctor("runs", "--json", "--status", "needs_manual_score", db=suite_db).stdout)
    assert [r["task_id"] for r in manual] == ["metr_assets/poem"]


def test_export_trajectories(suite_db: str, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    result = proctor("export", "trajectories", "--task", "find-secret", "-o", str(out), db=suite_db)
    assert result.returncode == 0, result.stderr
    (line,) = out.read_text().splitlines()
    row = json.loads(line)
    assert row["task_id"] == "examples/find-secret" and row["steps"][-1]["observation"]["kind"] == "submit"
    assert row["config"]["model"] == "scripted/baseline"


def test_fork_from_a_step_with_a_persons_option(suite_db: str) -> None:
    (run,) = json.loads(proctor("runs", "--json", "--task", "delegate-count", db=suite_db).stdout)
    result = proctor("fork", run["id"], "--step", "1", "--option", "<submit>wrong on purpose</submit>", db=suite_db)
    assert result.returncode == 0, result.stderr
    store = Store(suite_db)
    fork = store.runs(task="delegate-count")[0]
    assert fork.forked_from_run_id == run["id"] and fork.forked_from_step == 1
    steps = store.steps(fork.id)
    original = store.steps(run["id"])
    assert steps[0].chosen is not None and original[0].chosen is not None
    assert steps[0].chosen.text == original[0].chosen.text
    assert steps[1].chooser == "human:cli" and fork.submission == "wrong on purpose"
    assert store.events(fork.id, "fork")[0]["detail"]["from"] == run["id"]
    assert store.events(fork.id, "setup")[0]["detail"]["replayed"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "examples", "--model", "nosuch/model"], "unknown model provider 'nosuch'"),
        (["run", "examples", "--model", "gpt4"], "not of the form provider/model"),
        (["run", "/no/such/tasks"], "/no/such/tasks"),
        (["run", "examples", "--modle", "x/y"], "No such option: --modle"),
        (["run", "examples", "--chooser", "vibes"], "unknown chooser 'vibes'"),
        (["runs", "--status", "sleeping"], "unknown status 'sleeping'"),
        (["show", "ffffffffff"], "no run 'ffffffffff'"),
        (["fork", "ffffffffff", "--step", "1"], "no run 'ffffffffff'"),
        (["worker", "--once", "--limits", "cluster"], "--limits 'cluster': use `store`"),
    ],
)
def test_mistakes_get_one_line_and_exit_code_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = proctor(*args, db=f"sqlite:///{tmp_path / 'e.db'}")
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bad_database_url_gets_one_line(tmp_path: Path) -> None:
    result = proctor("runs", db="postgres-ish://what")
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_config_file_gets_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: scripted/baseline\noptions: many\n")
    result = proctor("run", "examples", "--config", str(config), db=f"sqlite:///{tmp_path / 'e.db'}")
    assert result.returncode == 2 and "invalid config" in result.stderr and str(config) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tasks_list_and_validate(tmp_path: Path) -> None:
    listed = proctor("tasks", "list", db="sqlite://")
    assert listed.returncode == 0 and "examples/find-secret" in listed.stdout and "full_internet" in listed.stdout
    assert proctor("tasks", "validate", "examples", db="sqlite://").returncode == 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "task.yaml").write_text("name: broken\nscorer: {expected_submission: x}\ncolour: blue\n")
    result = proctor("tasks", "validate", str(broken), db="sqlite://")
    assert result.returncode == 1 and "task.yaml" in result.stdout and "colour" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_human_choice_from_the_command_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    env = os.environ | {"PROCTOR_DB": db}
    waiting = subprocess.Popen(
        [sys.executable, "-m", "proctor", "run", "examples", "--task", "find-secret", "--chooser", "human"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    store = Store(db)
    import time

    deadline = time.monotonic() + 60
    while not store.runs(status="waiting_human") and time.monotonic() < deadline:
        time.sleep(0.1)
    (run,) = store.runs(status="waiting_human")
    chosen = proctor("choose", run.id, "--text", "<submit>7f3a9c2e41b8</submit>", "--user", "ada", db=db)
    assert chosen.returncode == 0, chosen.stderr
    _, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    final = store.run(run.id)
    assert final.score == 1.0 and store.steps(run.id)[0].chooser == "human:ada"


def test_a_database_of_another_schema_gets_one_line(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN pause_requested")
    result = proctor("run", "examples", "--task", "find-secret", db=f"sqlite:///{path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = result.stderr.splitlines()[-1]  # after the note that the baseline is scripted
    assert error.startswith("error: database:") and "pause_requested" in error


def test_stuck_reports_checks_and_the_effect_of_restarting(reachable_tmp: Path) -> None:
    from stuck_runs import stuck_runs

    db = f"sqlite:///{reachable_tmp / 'stuck.db'}"
    stuck_runs(Store(db), reachable_tmp, restarted=2, recorded=2)

    table = proctor("stuck", db=db)
    assert table.returncode == 0, table.stderr
    assert "double/stuck-then-solves" in table.stdout and "restart" in table.stdout and "record" in table.stdout
    assert "changed the solved share by +100.0 points" in table.stdout
    report = json.loads(proctor("stuck", "--json", "--model", "stuck-then", db=db).stdout)
    assert [(r["restart"], r["found_stuck"], r["solved_when_stuck"]["value"]) for r in report["rows"]] == [
        (False, 2, 0.0),
        (True, 2, 1.0),
    ]
    assert "no finished runs" in proctor("stuck", "--task", "other", db=db).stdout
