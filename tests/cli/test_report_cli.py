"""`proctor report`, `report compare` and `report thresholds` as a user runs them: real processes, on a store filled
by real runs of the example suite, and on stores of bulk-inserted synthetic runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from report_runs import Run, add_runs, add_tasks

from proctor.analysis import RunFilter, results_grid
from proctor.store import Store


def proctor(*args: str, db: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PROCTOR_DB": db, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def examples_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example suite run by the scripted baseline through two agents."""
    db = f"sqlite:///{tmp_path_factory.mktemp('report') / 'runs.db'}"
    result = proctor("run", "examples", "--agent", "tags", "--agent", "react", db=db)
    assert result.returncode == 0, result.stderr
    return db


def test_report_json_counts_every_finished_run_of_the_examples(examples_db: str) -> None:
    result = proctor("report", "--json", db=examples_db)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    runs = [r for r in Store(examples_db).runs() if r.status.value == "done" and r.score is not None]
    cells = {(c["task_id"], c["agent"]): c for c in report["grid"]["cells"]}
    expected = Counter((r.task_id, r.config["agent"]) for r in runs)
    assert {key: c["runs"] for key, c in cells.items()} == dict(expected)
    for run in runs:
        cell = cells[(run.task_id, run.config["agent"])]
        assert cell["solved"] == int(run.score == 1.0) and cell["model"] == "scripted/baseline"
        assert cell["success"]["low"] < cell["success"]["high"]  # one run each: still an interval
    assert {m["agent"] for m in report["grid"]["models"]} == {"tags", "react"}
    shell = [p for p in report["profile"] if p["tag"] == "shell" and p["kind"] == "task"]
    assert len(shell) == 2 and all(p["success"]["tasks"] >= 4 for p in shell)  # the examples tag tasks `shell`
    assert report["thresholds"] == []


def test_report_table_html_and_plots(examples_db: str, tmp_path: Path) -> None:
    table = proctor("report", "--suite", "examples", db=examples_db)
    assert table.returncode == 0, table.stderr
    for heading in ("models · suite=examples", "capability profile", "results grid"):
        assert heading in table.stdout
    assert "examples/find-secret" in table.stdout and "metr_arith/add" in table.stdout
    page, plots = tmp_path / "out" / "report.html", tmp_path / "plots"
    written = proctor("report", "--tag", "shell", "--html", str(page), "--plots", str(plots), db=examples_db)
    assert written.returncode == 0, written.stderr
    assert f"wrote {page}" in written.stdout
    assert sorted(p.name for p in plots.iterdir()) == ["grid.png", "models.png", "profile.png"]
    html = page.read_text()
    assert html.startswith("<!doctype html>") and html.count('src="data:image/png;base64,') == 3
    assert "examples/find-secret" in html and "examples/fix-test" not in html  # fix-test is tagged python, not shell
    quiet = proctor("report", "--json", "--plots", str(tmp_path / "more"), db=examples_db)
    json.loads(quiet.stdout)  # under --json, "wrote" lines go to standard error
    assert "wrote" in quiet.stderr


def test_compare_agents_on_the_examples(examples_db: str, tmp_path: Path) -> None:
    result = proctor(
        "report",
        "compare",
        "--a",
        "agent=react",
        "--b",
        "agent=tags",
        "--json",
        "--plots",
        str(tmp_path),
        db=examples_db,
    )
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)
    assert comparison["a"] == "agent=react" and comparison["b"] == "agent=tags"
    assert len(comparison["tasks"]) == 11  # both agents ran every task that got a score
    assert comparison["mcnemar"]["pairs"] == 11
    assert comparison["difference"]["low"] <= comparison["difference"]["value"] <= comparison["difference"]["high"]
    assert (tmp_path / "compare.png").read_bytes().startswith(b"\x89PNG")
    table = proctor(
        "report", "compare", "--a", "agent=react", "--b", "agent=tags", "--where", "tag=shell", db=examples_db
    )
    assert table.returncode == 0, table.stderr
    assert "McNemar" in table.stdout and "examples/find-secret" in table.stdout and "fix-test" not in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--where", "modle=x"], "error: unknown filter key 'modle' in 'modle=x'"),
        (["report", "--since", "tomorrow"], "error: since=tomorrow: not a date"),
        (["report", "compare", "--a", "model=nobody", "--b", "agent=tags"], "error: group A (model=nobody) has no"),
        (["report", "compare", "--a", "agent=tags", "--b", "agent=tags"], "runs are in both groups"),
        (["report", "compare", "--a", "agent=tags", "--b", "agent=react", "--measure", "iq"], "--measure 'iq'"),
        (["report", "thresholds", "/nonexistent.yaml"], "error: /nonexistent.yaml: cannot read"),
    ],
)
def test_mistakes_get_one_line_and_exit_code_2(examples_db: str, args: list[str], message: str) -> None:
    result = proctor(*args, db=examples_db)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_thresholds_exit_3_when_crossed(examples_db: str, tmp_path: Path) -> None:
    crossed = tmp_path / "crossed.yaml"
    crossed.write_text(
        "thresholds:\n"
        "  - {name: arithmetic, measure: task_success, where: {family: metr_arith}, level: 0.2, precaution: stop}\n"
        "  - {name: shell, where: {tag: shell}, level: 0.99, precaution: review}\n"
    )
    result = proctor("report", "thresholds", str(crossed), db=examples_db)
    assert result.returncode == 3, result.stderr
    assert "crossed: arithmetic" in result.stderr and "inconclusive" in result.stdout and "stop" in result.stdout
    verdicts = json.loads(proctor("report", "thresholds", str(crossed), "--json", db=examples_db).stdout)
    assert [v["verdict"] for v in verdicts[0]["models"]] == ["crossed"]
    below = tmp_path / "below.yaml"
    below.write_text("thresholds:\n  - {name: network, where: {tag: network}, level: 0.9, precaution: p}\n")
    assert proctor("report", "thresholds", str(below), db=examples_db).returncode == 0
    assert proctor("report", "--thresholds", str(crossed), db=examples_db).returncode == 3
    malformed = tmp_path / "bad.yaml"
    malformed.write_text("thresholds:\n  - {name: x, level: lots, precaution: p}\n")
    bad = proctor("report", "thresholds", str(malformed), db=examples_db)
    assert bad.returncode == 2 and f"error: {malformed}: thresholds[0] (x).level:" in bad.stderr


def synthetic(store: Store) -> None:
    """Two models on 30 tasks in 5 families, 10 runs each, known success probabilities; dates over March."""
    rng = random.Random(2)
    tasks = {f"fam{t % 5}/t{t}": (["shell"] if t % 2 else ["python"]) for t in range(30)}
    add_tasks(store, tasks)
    runs = []
    for t, task in enumerate(sorted(tasks)):
        for k in range(10):
            for model, p in (("lab/alpha", 0.8), ("lab/beta", 0.5)):
                when = Run(task).created_at.replace(day=1 + (t + k) % 28)
                runs.append(Run(task, model=model, score=float(rng.random() < p), created_at=when))
    add_runs(store, runs)


@pytest.fixture
def synthetic_db(store: Store) -> str:
    """A store of synthetic runs (SQLite and PostgreSQL: the `store` fixture's two databases), by URL."""
    synthetic(store)
    return store.url


def test_report_and_compare_on_bulk_synthetic_runs(synthetic_db: str) -> None:
    result = proctor(
        "report", "--json", "--tag", "shell", "--since", "2026-03-05", "--until", "2026-03-20", db=synthetic_db
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    store = Store(synthetic_db)
    expected = results_grid(store, RunFilter.parse("tag=shell,since=2026-03-05,until=2026-03-20"))
    assert report["grid"]["cells"] == expected.model_dump(mode="json")["cells"]
    assert report["filter"] == "tag=shell,since=2026-03-05,until=2026-03-20"
    alpha, beta = (m["success"] for m in report["grid"]["models"])
    assert alpha["low"] < 0.8 < alpha["high"] and beta["low"] < 0.5 < beta["high"]
    compared = json.loads(
        proctor(
            "report", "compare", "--a", "model=lab/alpha", "--b", "model=lab/beta", "--json", db=synthetic_db
        ).stdout
    )
    assert compared["difference"]["clusters"] == 5 and len(compared["tasks"]) == 30
    assert compared["difference"]["low"] < 0.3 < compared["difference"]["high"] and compared["difference"]["low"] > 0
    assert compared["mcnemar"]["pairs"] == 300 and compared["mcnemar"]["p_value"] < 0.001


def test_a_large_grid_is_shown_as_tasks_by_models(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'large.db'}")
    tasks = {f"fam/t{t:03d}": [] for t in range(120)}
    add_tasks(store, tasks)
    add_runs(store, [Run(task, model=model, score=1.0) for task in tasks for model in ("lab/alpha", "lab/beta")])
    result = proctor("report", db=store.url)
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())
    assert "results grid · 120 tasks × 2 models and agents" in words
    line = next(line for line in result.stdout.splitlines() if "fam/t007" in line)
    assert line.count("100% (1)") == 2  # one line per task, a cell per model
    assert "intervals, scores, tokens and times per cell: --json or --html" in words
