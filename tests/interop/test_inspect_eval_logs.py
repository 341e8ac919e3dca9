"""Logs Inspect wrote itself import: the tasks of `conftest.py`, run by `inspect_ai.eval` against the loopback
server, and their logs — `.eval` and `.json` — are stored as runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from inspect_ai.log import EvalLog, convert_eval_logs
from interop_runs import proctor, run_rows

from proctor.interop import import_inspect
from proctor.interop._inspect_in import score_value
from proctor.store import RunStatus, Store


def test_a_log_inspect_wrote_imports_as_runs(inspect_logs: list[EvalLog], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    paths = [log.location for log in inspect_logs]
    result = proctor("import", "inspect", *paths, db=db)
    assert result.returncode == 0, result.stderr
    assert "imported 5 runs from 2 Inspect logs" in result.stdout
    store = Store(db)
    runs = {(r.task_id, r.config["inspect"]["epoch"]): r for r in store.runs(limit=100)}
    arithmetic = [("arithmetic/add", 1), ("arithmetic/add", 2), ("arithmetic/mul", 1), ("arithmetic/mul", 2)]
    assert sorted(runs) == [*arithmetic, ("shell/sum", 1)]
    assert {r.model for r in runs.values()} == {"openai/gpt-4o-mini"}
    assert {r.status for r in runs.values()} == {RunStatus.DONE}
    assert [runs["arithmetic/add", e].score for e in (1, 2)] == [1.0, 1.0]
    assert [runs["arithmetic/mul", e].score for e in (1, 2)] == [0.0, 0.0]
    assert runs["arithmetic/mul", 1].config["inspect"]["scores"] == {"match": "I"}
    task = store.task("arithmetic/add")
    assert (task["family"], task["name"], task["format"], task["instructions"]) == (
        "arithmetic",
        "add",
        "inspect",
        "What is 2+2?",
    )

    (step,) = store.steps(runs["arithmetic/add", 1].id)
    option = step.chosen
    assert option is not None and (option.action, option.argument) == ("submit", {"answer": "4"})
    assert option.source == "model:openai/gpt-4o-mini"
    assert step.observation is not None and step.observation.kind == "submit"
    assert runs["arithmetic/add", 1].submission == "4"
    add = runs["arithmetic/add", 1]
    assert (add.input_tokens, add.output_tokens) == (30, 1)  # the model event's usage, one usage row

    agent = runs["shell/sum", 1]
    assert agent.config["agent"] == "react" and agent.score == 1.0
    first, last = store.steps(agent.id)
    assert first.chosen is not None and first.chosen.action == "calls"
    (call,) = first.chosen.argument["calls"] if first.chosen.argument else []
    assert (call["id"], call["tool"], call["argument"]) == ("call_1", "bash", {"command": "echo $((2+3))"})
    assert first.observation is not None and first.observation.kind == "calls"
    (result_of_call,) = first.observation.calls or []
    assert result_of_call["id"] == "call_1" and result_of_call["output"].strip() == "5"
    assert not first.observation.failed
    assert last.chosen is not None and last.chosen.action == "submit" and "5" in (agent.submission or "")
    assert agent.input_tokens >= 120 and agent.steps_done == 2


def test_importing_a_log_twice_or_as_json_stores_nothing_new(inspect_logs: list[EvalLog], tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    paths = [Path(log.location) for log in inspect_logs]
    assert import_inspect(store, paths).runs == 5
    assert (import_inspect(store, paths).runs, import_inspect(store, paths).skipped) == (0, 5)
    converted = tmp_path / "json"
    for path in paths:
        convert_eval_logs(str(path), "json", str(converted))
    as_json = sorted(converted.rglob("*.json"))
    assert len(as_json) == 2
    report = import_inspect(store, [converted])  # the same samples: the same keys
    assert (report.files, report.runs, report.skipped) == (2, 0, 5)
    fresh = Store(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert import_inspect(fresh, as_json).runs == 5
    from_json, from_eval = run_rows(fresh), run_rows(store)
    for run in [*from_json.values(), *from_eval.values()]:
        assert run["config"]["inspect"].pop("log").endswith((".json", ".eval"))
    assert from_json == from_eval


@pytest.mark.parametrize(
    ("value", "score"),
    [
        ("C", 1.0),
        ("I", 0.0),
        ("P", 0.5),
        ("N", 0.0),
        ("correct", 1.0),
        ("yes", 1.0),
        ("false", 0.0),
        ("0.25", 0.25),
        (True, 1.0),
        (False, 0.0),
        (1, 1.0),
        (0.7, 0.7),
        (7, 1.0),
        (-2, 0.0),
        (float("nan"), None),
        (["C", "I"], 0.5),
        ({"a": 1, "b": "P"}, 0.75),
        ("banana", None),
        ([], None),
    ],
)
def test_inspect_score_values_become_scores_in_0_to_1(value: object, score: float | None) -> None:
    assert score_value(value) == score
