"""Logs out and back in: runs proctor made (the example suite with the scripted baseline, through both agents) are
exported as Inspect eval logs, read by Inspect itself, and imported into a fresh store as the very same runs."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
from inspect_ai.event import InfoEvent, ModelEvent, ToolEvent
from inspect_ai.log import read_eval_log, read_eval_log_samples
from inspect_ai.model import ChatMessageAssistant, ChatMessageTool, ChatMessageUser
from interop_runs import proctor, run_rows

from proctor.interop import export_inspect, import_inspect
from proctor.store import Store, ops


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example suite run with `--agent tags --agent react`, and one run with two options a step and a stuck
    check after every step; a step tagged and its options rated, as people do in the web."""
    db = f"sqlite:///{tmp_path_factory.mktemp('source') / 'runs.db'}"
    result = proctor("run", "examples", "--agent", "tags", "--agent", "react", db=db)
    assert result.returncode == 0, result.stderr
    more = ("run", "examples", "--task", "csv-aggregate", "--options", "2", "--stuck-every", "1")
    result = proctor(*more, db=db)
    assert result.returncode == 0, result.stderr
    store = Store(db)
    (wide,) = [r for r in store.runs(limit=100) if r.config["options"] == 2]
    first = store.steps(wide.id)[0]
    store.write(ops.add_tag, first.id, "good-start", "ada")
    for option in first.options:
        rating = {"rater": "human:ada", "value": 4.0 - option.index, "scale": "1-5", "method": "human"}
        store.write(ops.add_rating, option.id, rating | {"comment": "fine"})
    store.close()
    return db


@pytest.fixture(scope="module")
def exported(source: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logs")
    result = proctor("export", "inspect", "-o", str(folder), db=source)
    assert result.returncode == 0, result.stderr
    return folder


def test_one_log_per_task_family_agent_model_and_settings_that_inspect_reads_as_success(
    source: str, exported: Path
) -> None:
    runs = Store(source).runs(top_level=True, limit=1000)
    logs = sorted(exported.glob("*.eval"))
    groups = {(r.task_id.split("/")[0], r.config["agent"], r.model, r.config["options"]) for r in runs}
    assert len(logs) == len(groups) == 7  # examples, metr_arith, metr_assets × tags, react; two options a step
    samples = {}
    for path in logs:
        log = read_eval_log(str(path))
        assert log.status == "success"
        assert log.results is not None and log.results.total_samples == len(log.samples or [])
        assert log.eval.model == "scripted/baseline" and log.eval.solver in ("tags", "react")
        streamed = list(read_eval_log_samples(str(path)))  # every sample id × epoch the header names is there
        assert len(streamed) == len(log.samples or [])
        for sample in log.samples or []:
            samples[sample.uuid] = (log, sample)
    assert set(samples) == {r.id for r in runs}
    for run in runs:
        log, sample = samples[run.id]
        assert sample.id == run.task_id.split("/", 1)[1]
        expected = None if run.score is None else {"proctor": run.score}
        assert ({k: v.value for k, v in sample.scores.items()} if sample.scores else None) == expected
        assert sample.output.completion == (run.submission or "")


def test_samples_hold_messages_with_tool_calls_events_and_usage(source: str, exported: Path) -> None:
    store = Store(source)
    for path in exported.glob("*examples-react*.eval"):
        log = read_eval_log(str(path))
        sample = next(s for s in log.samples or [] if s.id == "find-secret")
        run = store.run(sample.uuid or "")
        steps = store.steps(run.id)
        assistants = [m for m in sample.messages if isinstance(m, ChatMessageAssistant)]
        assert [m.text for m in assistants] == [s.chosen.text for s in steps if s.chosen]
        calls = [c for m in assistants for c in m.tool_calls or []]
        assert [c.function for c in calls] == ["bash", "submit"]
        assert calls[0].arguments == {"command": "grep -rhE '^TOKEN=[0-9a-f]{12}$' vault"}
        tools = [m for m in sample.messages if isinstance(m, ChatMessageTool)]
        assert [m.tool_call_id for m in tools] == [c.id for c in calls]
        assert "TOKEN=7f3a9c2e41b8" in tools[0].text
        kinds = Counter(type(e).__name__ for e in sample.events)
        assert kinds["ModelEvent"] == 2 and kinds["ToolEvent"] == 2 and kinds["ScoreEvent"] == 1
        model_event = next(e for e in sample.events if isinstance(e, ModelEvent))
        assert model_event.output.choices[0].message.tool_calls
        assert set(sample.model_usage) == {"scripted/baseline"}
    for path in exported.glob("*examples-tags*.eval"):
        found = [s for s in read_eval_log(str(path)).samples or [] if s.id == "find-secret"]
        if not found:
            continue
        sample = found[0]
        assert isinstance(sample.messages[0].role, str) and sample.messages[0].role == "system"
        users = [m for m in sample.messages if isinstance(m, ChatMessageUser)]
        assert "TOKEN=7f3a9c2e41b8" in users[1].text  # the first is the task, the second the observation
        assert any(isinstance(e, ToolEvent) and e.function == "bash" for e in sample.events)


def test_steps_inspect_has_no_place_for_ride_in_info_events(exported: Path) -> None:
    logs = [read_eval_log(str(p)) for p in exported.glob("*examples-tags*.eval")]
    (log,) = [log for log in logs if log.plan.steps[0].params["options"] == 2]
    (sample,) = log.samples or []
    assert sample.id == "csv-aggregate" and sample.epoch == 1
    infos = [e for e in sample.events if isinstance(e, InfoEvent) and e.source == "proctor"]
    stuck = [e.data["step"]["kind"] for e in infos if isinstance(e.data, dict) and "step" in e.data]
    assert stuck and set(stuck) == {"stuck_check"}
    last = infos[-1].data
    assert isinstance(last, dict) and last["run"]["id"] == sample.uuid
    first = last["steps"][0]
    assert first["tags"] == [{"name": "good-start", "author": "ada"}] and len(first["options"]) == 2
    assert [r["value"] for o in first["options"] for r in o["ratings"]] == [4.0, 3.0]


def test_import_restores_the_same_runs_and_importing_again_stores_nothing(
    source: str, exported: Path, tmp_path: Path
) -> None:
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = proctor("import", "inspect", str(exported), db=fresh)
    assert result.returncode == 0, result.stderr
    assert "imported 25 runs from 7 Inspect logs" in result.stdout
    before, after = run_rows(Store(source)), run_rows(Store(fresh))
    assert len(after) == 25
    assert after == before  # ids, tasks, statuses, scores, configs, totals, steps, options, ratings, tags, usage
    assert Store(fresh).task("examples/find-secret") == {
        **Store(source).task("examples/find-secret"),
        "created_at": Store(fresh).task("examples/find-secret")["created_at"],
    }
    again = proctor("import", "inspect", str(exported), db=fresh)
    assert again.returncode == 0 and "imported 0 runs from 7 Inspect logs (25 already stored)" in again.stdout
    assert Store(fresh).count_runs() == 25
    into_source = proctor("import", "inspect", str(exported), "--json", db=source)
    assert into_source.returncode == 0
    assert into_source.stdout.strip() == '{"files":7,"runs":0,"skipped":25}'


def test_export_filters_runs_by_task_model_and_id(source: str, tmp_path: Path) -> None:
    by_task = proctor("export", "inspect", "-o", str(tmp_path / "task"), "--task", "find-secret", db=source)
    assert by_task.returncode == 0, by_task.stderr
    logs = [read_eval_log(str(p)) for p in (tmp_path / "task").glob("*.eval")]
    assert sorted(log.eval.solver or "" for log in logs) == ["react", "tags"]
    assert [len(log.samples or []) for log in logs] == [1, 1]
    run = Store(source).runs(task="log-analysis", limit=1)[0]
    by_id = proctor("export", "inspect", "-o", str(tmp_path / "one"), "--run", run.id[:8], db=source)
    assert by_id.returncode == 0, by_id.stderr
    (path,) = (tmp_path / "one").glob("*.eval")
    (sample,) = read_eval_log(str(path)).samples or []
    assert sample.uuid == run.id
    none = proctor("export", "inspect", "-o", str(tmp_path / "none"), "--model", "no-such-model", db=source)
    assert none.returncode == 0 and "wrote 0 runs as 0 Inspect logs" in none.stdout


def test_export_needs_a_folder(source: str, tmp_path: Path) -> None:
    result = proctor("export", "inspect", db=source)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: export inspect writes a folder of logs: give it with -o DIR"
    (tmp_path / "file").write_text("x")
    result = proctor("export", "inspect", "-o", str(tmp_path / "file"), db=source)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_logs_written_without_inspects_recorder_read_the_same(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where Inspect has no streaming recorder, the export collects the samples and calls `write_eval_log`."""
    from proctor.interop._inspect_out import _LogWriter

    store = Store(source)
    records = store.runs(task="examples/", top_level=True, limit=100)
    streamed = export_inspect(store, records, tmp_path / "streamed")
    monkeypatch.setattr(_LogWriter, "streaming", False)
    collected = export_inspect(store, records, tmp_path / "collected")
    assert len(streamed.logs) == len(collected.logs) == 3  # tags, react, and the run with two options

    def samples(paths: list[str]) -> set[tuple[object, ...]]:
        logs = [read_eval_log(path) for path in paths]
        assert {log.status for log in logs} == {"success"}
        return {
            (s.id, s.epoch, s.uuid, s.output.completion, len(s.messages)) for log in logs for s in log.samples or []
        }

    assert samples(streamed.logs) == samples(collected.logs)
    from inspect_ai._util import zipfile as inspect_zip

    assert inspect_zip._ZSTD_THREADS == 12  # compressing on one thread lasts only while proctor writes
    copy = Store(f"sqlite:///{tmp_path / 'copy.db'}")
    assert import_inspect(copy, [tmp_path / "collected"]).runs == len(records)
    assert run_rows(copy) == run_rows(store, {r.id for r in records})


def test_postgresql_and_sqlite_stores_import_alike(store: Store, exported: Path, tmp_path: Path) -> None:
    copied = tmp_path / "logs"
    shutil.copytree(exported, copied)
    report = import_inspect(store, [copied])
    assert (report.files, report.runs, report.skipped) == (7, 25, 0)
    assert import_inspect(store, [copied]).skipped == 25
    assert len(run_rows(store)) == 25
