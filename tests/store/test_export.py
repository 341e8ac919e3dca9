"""Exports: the flat tables in JSONL and Parquet hold the same rows, and runs in METR's runs.jsonl format read as
METR's pipeline reads them."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rated_runs import add_task, rated_run
from sklearn.linear_model import LogisticRegression

from proctor.cli import main
from proctor.store import RunStatus, Store, ops
from proctor.store._export import TABLES, ExportError, write_parquet
from proctor.store._export_metr import human_minutes, metr_runs

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def proctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


def jsonl(path: Path, table: str) -> list[dict[str, Any]]:
    """A flat table's JSONL rows, with times parsed."""
    times = [name for name, kind in TABLES[table] if kind == "time"]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:
        for name in times:
            row[name] = None if row[name] is None else datetime.fromisoformat(row[name])
    return rows


@pytest.fixture
def runs(store: Store) -> tuple[Store, str, str]:
    """A rated run with a tag, a tool-call observation and a subtask run; another run of another model."""
    parent = rated_run(
        store,
        [[{"human:ada": 4, "model:m": 3.6}, {"human:ada": 2}], [{"human:bob": 5}]],
        started=START,
        submit=True,
    )
    child = rated_run(store, [[{"human:ada": 1}]], parent=parent, started=START + timedelta(minutes=1))
    rated_run(store, [[{}]], model="m/b", score=0.0, started=START + timedelta(hours=1))
    step = store.steps(parent)[0]
    store.write(ops.add_tag, step.id, "shell", "human:ada")
    store.write(ops.add_tag, step.id, "søk ✓", "human:bob")
    calls = [{"id": "c1", "tool": "bash", "output": "héllo ✓", "failed": False}]
    with store.engine.begin() as conn:
        step_id, (option_id,) = ops.start_step(
            conn, child, 1, "action", [{"text": "héllo ✓", "action": "bash", "argument": {"calls": 1}, "source": "x"}]
        )
        ops.add_choice(conn, step_id, option_id, "human:ada")
        ops.finish_step(conn, child, step_id, {"kind": "bash", "output": "ok", "calls": calls}, 0.5)
    return store, parent, child


@pytest.mark.parametrize("table", list(TABLES))
def test_parquet_holds_the_jsonl_rows(
    runs: tuple[Store, str, str], table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, _, _ = runs
    db = ["--db", store.url]
    assert proctor(capsys, "export", table, "-o", str(tmp_path / "t.jsonl"), *db)[0] == 0
    code, out, _ = proctor(capsys, "export", table, "--format", "parquet", "-o", str(tmp_path / "t.parquet"), *db)
    assert code == 0 and out.startswith("wrote ")
    from_jsonl = jsonl(tmp_path / "t.jsonl", table)
    parquet = pq.read_table(tmp_path / "t.parquet")
    assert parquet.column_names == [name for name, _ in TABLES[table]]
    assert parquet.to_pylist() == from_jsonl and len(from_jsonl) > 0
    kinds = dict(TABLES[table])
    for field in parquet.schema:
        expected = {
            "str": pa.string(),
            "json": pa.string(),
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "time": pa.timestamp("us", tz="UTC"),
        }[kinds[field.name]]
        assert field.type == expected, field.name
    frame = pd.read_parquet(tmp_path / "t.parquet")
    assert len(frame) == len(from_jsonl) and str(frame["created_at"].dtype) == "datetime64[us, UTC]"


def test_the_tables_hold_what_the_store_holds(runs: tuple[Store, str, str], capsys: pytest.CaptureFixture[str]) -> None:
    store, parent, child = runs
    code, out, _ = proctor(capsys, "export", "runs", "--run", parent, "--db", store.url)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in rows] == [parent, child]  # the subtask comes along
    assert rows[1]["parent_run_id"] == parent and rows[0]["agent"] == "tags" and rows[0]["task_family"] == "demo"
    assert json.loads(rows[0]["config"]) == store.run(parent).config
    assert rows[0]["created_at"] == START.isoformat()
    _, out, _ = proctor(capsys, "export", "steps", "--run", parent, "--db", store.url)
    steps = [json.loads(line) for line in out.splitlines()]
    assert [(s["run_id"], s["index"]) for s in steps] == [(parent, 0), (parent, 1), (child, 0), (child, 1)]
    assert json.loads(steps[0]["tags"]) == ["shell", "søk ✓"] and steps[1]["observation_kind"] == "submit"
    assert json.loads(steps[3]["calls"])[0]["output"] == "héllo ✓" and steps[3]["chooser"] == "human:ada"
    _, out, _ = proctor(capsys, "export", "options", "--run", parent, "--db", store.url)
    options = [json.loads(line) for line in out.splitlines()]
    assert [o["chosen"] for o in options] == [True, False, True, True, True]
    assert options[-1]["text"] == "héllo ✓" and json.loads(options[-1]["argument"]) == {"calls": 1}
    _, out, _ = proctor(capsys, "export", "ratings", "--run", parent, "--db", store.url)
    ratings = [json.loads(line) for line in out.splitlines()]
    assert [(r["rater"], r["value"]) for r in ratings] == [
        ("human:ada", 4.0),
        ("model:m", 3.6),
        ("human:ada", 2.0),
        ("human:bob", 5.0),
        ("human:ada", 1.0),
    ]
    assert all(r["run_id"] in (parent, child) and r["scale"] == "1-5" for r in ratings)
    _, out, _ = proctor(capsys, "export", "runs", "--model", "m/b", "--db", store.url)
    assert len(out.splitlines()) == 1


def test_parquet_mistakes(runs: tuple[Store, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, _, _ = runs
    code, _, err = proctor(capsys, "export", "runs", "--format", "parquet", "--db", store.url)
    assert code == 2 and err == "error: Parquet is a binary file: give --output FILE\n"
    code, _, err = proctor(capsys, "export", "trajectories", "--format", "parquet", "-o", "x", "--db", store.url)
    assert code == 2 and "trajectories is written as JSONL only" in err
    code, _, err = proctor(capsys, "export", "runs-jsonl", "--format", "parquet", "-o", "x", "--db", store.url)
    assert code == 2 and "runs-jsonl is written as JSONL only" in err


def test_without_pyarrow_the_export_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(ExportError, match=r"^Parquet export needs pyarrow: pip install 'proctor\[parquet\]'$"):
        write_parquet(iter([]), TABLES["runs"], tmp_path / "x.parquet")


def test_an_empty_table_is_a_valid_parquet_file(tmp_path: Path) -> None:
    assert write_parquet(iter([]), TABLES["ratings"], tmp_path / "empty.parquet") == 0
    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.num_rows == 0 and table.column_names == [name for name, _ in TABLES["ratings"]]


# METR's runs.jsonl

MINUTES = {"hcast/a": 4, "hcast/b": 30, "hcast/c": 120, "swaa/d": 0.5}


@pytest.fixture
def metr_store(store: Store, tmp_path: Path) -> Store:
    """Tasks with human minutes in their task.yaml (three in one family, one in another, one without), and runs of
    two agents, some of which METR's format leaves out."""
    for task_id, minutes in [*MINUTES.items(), ("swaa/none", None)]:
        folder = tmp_path / "suite" / task_id.split("/")[1]
        folder.mkdir(parents=True)
        if minutes is not None:
            (folder / "task.yaml").write_text(f"name: x\nhuman_minutes: {minutes}\n")
        add_task(store, task_id, source=str(folder))

    def run(task: str, score: float | None, **options: Any) -> str:
        return rated_run(store, [[{}], [{}]], task_id=task, score=score, started=START, submit=True, **options)

    limited = {"config": {"limits": {"seconds": 900}}}
    for task, score in [("hcast/a", 1.0), ("hcast/a", 0.0), ("hcast/b", 1.0), ("swaa/d", 1.0), ("swaa/d", 0.5)]:
        run(task, score, **limited)
    run("swaa/d", 1.0)
    run("hcast/c", None, status=RunStatus.OVER_LIMIT)
    react = {"model": "m/b", "config": {"agent": "react"}}
    run("hcast/a", 0.0, **react)
    run("swaa/d", 1.0, **react)
    parent = run("hcast/a", None, status=RunStatus.FAILED)  # left out: failed
    run("hcast/b", None, status=RunStatus.RUNNING)  # left out: unfinished
    run("hcast/a", 1.0, parent=parent)  # left out: a subtask
    run("hcast/a", 1.0, config={"experiment": "e1"})  # left out: an oversight run
    run("swaa/none", 1.0)  # left out: no human minutes
    return store


def test_runs_jsonl_field_by_field(metr_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "runs.jsonl"
    code, out, err = proctor(capsys, "export", "runs-jsonl", "-o", str(out_file), "--db", metr_store.url)
    assert code == 0 and out.startswith("wrote 9 runs-jsonl")
    assert "note: left out 1 runs failed (only runs done with a score, or stopped over a limit, are attempts)" in err
    assert "note: left out 1 runs running (" in err
    assert "left out 1 oversight runs" in err and "subtask" not in err  # subtasks are not even selected
    assert "left out 1 runs of 1 tasks without human_minutes (swaa/none)" in err
    lines = [json.loads(line) for line in out_file.read_text().splitlines()]
    by_id = {line["run_id"]: line for line in lines}
    for record in metr_store.runs(limit=100):
        if record.id not in by_id:
            continue
        line = by_id[record.id]
        agent = record.config["agent"]
        assert line["task_id"] == record.task_id and line["task_family"] == record.task_id.split("/")[0]
        assert line["alias"] == f"{record.model} ({agent})" and line["model"] == record.model
        assert line["scaffold"] == agent and line["task_source"] == "suite"
        score = 0.0 if record.status is RunStatus.OVER_LIMIT else record.score
        assert line["score_cont"] == score and line["score_binarized"] == int(score == 1.0)
        assert line["human_minutes"] == MINUTES[record.task_id] and line["human_source"] == "task.yaml"
        assert line["generation_cost"] == 0.25 and line["tokens_count"] == 1100 and line["action_count"] == 1
        assert line["time_limit"] == record.config.get("limits", {}).get("seconds")
        assert line["started_at"] == round((START + timedelta(seconds=10)).timestamp() * 1000)
        assert line["completed_at"] == round((START + timedelta(minutes=3)).timestamp() * 1000)
        assert line["fatal_error_from"] is None and line["human_score"] is None and line["task_version"] is None
    tags = [line for line in lines if line["alias"] == "m/a (tags)"]
    equal = {line["task_id"]: line["equal_task_weight"] for line in tags}
    # Four tasks; a has 2 runs, d 3: each task weighs 1/4, split among its runs.
    assert equal == pytest.approx({"hcast/a": 1 / 8, "hcast/b": 1 / 4, "hcast/c": 1 / 4, "swaa/d": 1 / 12})
    invsqrt = {line["task_id"]: line["invsqrt_task_weight"] for line in tags}
    total = 3 / math.sqrt(3) + 1  # hcast: 3 tasks of weight 1/√3; swaa: 1 task of weight 1
    expected = {
        "hcast/a": 0.5 / math.sqrt(3),
        "hcast/b": 1 / math.sqrt(3),
        "hcast/c": 1 / math.sqrt(3),
        "swaa/d": 1 / 3,
    }
    assert invsqrt == pytest.approx({k: v / total for k, v in expected.items()})


@pytest.mark.filterwarnings("ignore:The 'convert_dates' keyword")
def test_runs_jsonl_reads_as_metr_reads_it(
    metr_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader doing what METR's pipeline does with the file: load it with pandas, check that each alias's weights
    sum to 1, recompute the weights from task and family counts, fit the weighted logistic curve of success on
    log2(human minutes) and read off the 50% horizon, and take run durations from the millisecond times."""
    out_file = tmp_path / "runs.jsonl"
    proctor(capsys, "export", "runs-jsonl", "-o", str(out_file), "--db", metr_store.url)
    runs = pd.read_json(out_file, lines=True, orient="records", convert_dates=False)
    for column in ("task_id", "task_family", "run_id", "alias", "score_binarized", "human_minutes"):
        assert runs[column].notna().all(), column
    for _alias, agent in runs.groupby("alias"):
        assert np.allclose(agent["equal_task_weight"].sum(), 1.0)
        assert np.allclose(agent["invsqrt_task_weight"].sum(), 1.0)
        per_task = agent.groupby("task_id")["run_id"].transform("count")
        tasks_in_family = agent.groupby("task_family")["task_id"].transform("nunique")
        equal = 1 / per_task
        invsqrt = equal / np.sqrt(tasks_in_family)
        assert np.allclose(agent["equal_task_weight"], equal / equal.sum())
        assert np.allclose(agent["invsqrt_task_weight"], invsqrt / invsqrt.sum())
        x = np.log2(agent["human_minutes"].to_numpy()).reshape(-1, 1)
        y = agent["score_binarized"].to_numpy()
        if len(set(y)) == 2:
            fit = LogisticRegression(C=1 / 0.1).fit(x, y, sample_weight=agent["invsqrt_task_weight"].to_numpy())
            p50 = 2 ** (-fit.intercept_[0] / fit.coef_[0][0])
            assert np.isfinite(p50) and p50 > 0
    minutes = (runs["completed_at"] - runs["started_at"]) / (60 * 1000)
    assert np.allclose(minutes, 3 - 10 / 60)
    assert set(runs["alias"]) == {"m/a (tags)", "m/b (react)"}


def test_runs_jsonl_alias_by_model_and_to_standard_output(
    metr_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = proctor(capsys, "export", "runs-jsonl", "--alias", "model", "--db", metr_store.url)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {line["alias"] for line in lines} == {"m/a", "m/b"} and len(lines) == 9


def test_human_minutes_come_from_the_task_or_its_task_yaml(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text("human_minutes: 45\n")
    assert human_minutes({"human_minutes": 12.5, "source": str(tmp_path)}) == (12.5, "task")
    assert human_minutes({"source": str(tmp_path)}) == (45.0, "task.yaml")
    assert human_minutes({"human_minutes": None, "source": str(tmp_path)}) == (45.0, "task.yaml")
    (tmp_path / "task.yaml").write_text("human_minutes: -3\n")
    assert human_minutes({"source": str(tmp_path)}) == (None, None)
    (tmp_path / "task.yaml").write_text("human_minutes: [unclosed\n")
    assert human_minutes({"source": str(tmp_path)}) == (None, None)
    assert human_minutes({"source": "examples"}) == (None, None)


def test_a_model_with_no_successes_still_gets_weights(sqlite_store: Store, tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text("human_minutes: 8\n")
    add_task(sqlite_store, "fam/t", source=str(tmp_path))
    for _ in range(3):
        rated_run(sqlite_store, [[{}]], task_id="fam/t", score=0.0)
    export = metr_runs(sqlite_store, sqlite_store.runs(limit=10))
    assert [line.score_binarized for line in export.runs] == [0, 0, 0] and export.left_out == []
    child = rated_run(sqlite_store, [[{}]], task_id="fam/t", parent=export.runs[0].run_id)
    with_child = metr_runs(sqlite_store, [*sqlite_store.runs(limit=10)])
    assert len(with_child.runs) == 3 and child not in {line.run_id for line in with_child.runs}
    assert with_child.left_out == ["left out 1 subtask runs (their parent run is the attempt at the task)"]
    assert sum(line.equal_task_weight for line in export.runs) == pytest.approx(1.0)
