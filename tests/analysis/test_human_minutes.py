"""Where horizons get a task's human minutes: task.yaml, then the METR runs file runs were imported from, then
people's successful runs (the `human` agent) — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from report_runs import Run, add_runs, add_tasks
from typer.testing import CliRunner

from proctor.analysis import AnalysisError, HorizonConfig, StoreSelection, store_runs, time_horizons
from proctor.analysis._horizon_data import human_minutes_from_people
from proctor.cli import app
from proctor.store import Store

runner = CliRunner()


def write_task(root: Path, task_id: str, minutes: float | None) -> None:
    folder = root / task_id
    folder.mkdir(parents=True)
    extra = f"human_minutes: {minutes}\n" if minutes is not None else ""
    name = task_id.split("/")[1]
    (folder / "task.yaml").write_text(f"name: {name}\ninstructions: do it\n{extra}scorer: {{expected_submission: x}}\n")


def model_runs(task_id: str, solved: int, failed: int, model: str = "lab/alpha") -> list[Run]:
    return [Run(task_id, model=model, score=1.0) for _ in range(solved)] + [
        Run(task_id, model=model, score=0.0) for _ in range(failed)
    ]


def minutes_by_task(store: Store, selection: StoreSelection | None = None) -> tuple[dict[str, float], list[str]]:
    runs, notes = store_runs(store, selection)
    found: dict[str, float] = {}
    for task, minutes in zip(runs.task_id, runs.human_minutes, strict=True):
        assert found.setdefault(task, float(minutes)) == float(minutes)  # one length per task
    return found, notes


def test_task_yaml_then_people_and_failed_or_untimed_people_runs_do_not_count(store: Store, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    write_task(suite, "lab/declared", 5.0)
    write_task(suite, "lab/timed", None)
    write_task(suite, "lab/untimed", None)
    add_tasks(store, {"lab/declared": [], "lab/timed": [], "lab/untimed": []}, source=str(suite))
    people = [
        Run("lab/declared", model="person", agent="human", active=3600.0),  # task.yaml wins over this
        Run("lab/timed", model="person", agent="human", active=120.0),
        Run("lab/timed", model="person", agent="human", active=480.0),  # geometric mean of 2 and 8 minutes: 4
        Run("lab/timed", model="person", agent="human", active=9000.0, score=0.0),  # gave up: not a length
        Run("lab/timed", model="person", agent="human", active=9000.0, status="failed", score=None),
        Run("lab/untimed", model="person", agent="human", active=0.0),  # the clock never ran
    ]
    add_runs(store, people)
    add_runs(store, model_runs("lab/declared", 3, 1) + model_runs("lab/timed", 1, 3) + model_runs("lab/untimed", 2, 2))

    found, notes = minutes_by_task(store)
    assert found == {"lab/declared": 5.0, "lab/timed": pytest.approx(4.0)}
    runs, _ = store_runs(store)
    assert set(runs.alias) == {"lab/alpha"} and len(runs) == 8  # people's runs time tasks; they are not fitted
    assert any("from people's runs" in n and "lab/timed" in n for n in notes)
    assert any("left out 4 runs of 1 tasks without human_minutes: lab/untimed" in n for n in notes)
    with store.engine.connect() as conn:
        assert human_minutes_from_people(conn) == {"lab/declared": pytest.approx(60.0), "lab/timed": pytest.approx(4.0)}

    report = time_horizons(runs, HorizonConfig(resamples=0))
    (model,) = report.models
    assert model.runs == 8 and model.tasks == 2
    assert sorted(p.minutes for p in model.task_points) == [pytest.approx(4.0), 5.0]


def test_imported_metr_runs_carry_their_minutes_before_peoples(store: Store, tmp_path: Path) -> None:
    rows = [
        {"task_id": "fam/a", "run_id": i, "alias": "Model A", "score_binarized": i % 2, "human_minutes": 30}
        for i in range(4)
    ]
    rows += [{"task_id": "fam/b", "run_id": 10 + i, "alias": "Model A", "score_binarized": 1} for i in range(2)]
    rows += [{"task_id": "fam/c", "run_id": 20, "alias": "Model A", "score_binarized": 0, "human_minutes": 240}]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = runner.invoke(app, ["import", "runs-jsonl", str(path), "--db", store.url])
    assert result.exit_code == 0, result.output
    add_runs(store, [Run("fam/a", model="person", agent="human", active=60.0)])  # the METR file wins
    add_runs(store, [Run("fam/b", model="person", agent="human", active=600.0)])  # fam/b has no minutes in it

    found, _ = minutes_by_task(store)
    assert found == {"fam/a": 30.0, "fam/b": pytest.approx(10.0), "fam/c": 240.0}
    runs, _ = store_runs(store)
    assert set(runs.alias) == {"Model A"} and len(runs) == 7
    assert math.isclose(float(runs.score.sum()), 4.0)

    result = runner.invoke(app, ["report", "horizon", "--db", store.url, "--json", "--resamples", "0"])
    assert result.exit_code == 0, result.output
    (model,) = json.loads(result.stdout)["models"]
    assert model["alias"] == "Model A" and model["runs"] == 7 and model["tasks"] == 3


def test_a_task_timed_by_nobody_is_left_out(store: Store, tmp_path: Path) -> None:
    write_task(tmp_path / "suite", "lab/untimed", None)
    add_tasks(store, {"lab/untimed": []}, source=str(tmp_path / "suite"))
    add_runs(store, [*model_runs("lab/untimed", 1, 1), Run("lab/untimed", agent="human", score=0.0, active=60.0)])
    with pytest.raises(AnalysisError, match="no runs to report"):
        store_runs(store)
    everything, _ = store_runs(store, StoreSelection(need_minutes=False))
    assert len(everything) == 2
