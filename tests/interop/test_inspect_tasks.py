"""Inspect tasks run through `proctor run` against the loopback model server, in the real sandbox: each sample a
task, epochs repeated runs, solvers mapped to proctor's agents, the task's scorers (a model-graded one through the
`proctor` model API) scoring the stored transcript; what cannot be mapped is refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from inspect_ai.event import ModelEvent
from inspect_ai.log import read_eval_log
from loopback_server import LoopbackServer, RecordedRequest, Reply
from postgres import fresh_database

from proctor.interop._rows import read_runs
from proctor.store import RunRecord, Store, users
from proctor.web import WebSettings, create_app

HERE = Path(__file__).parent
TASKS = HERE / "inspect_task_file.py"
REFUSED = HERE / "inspect_refused_tasks.py"
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "VLLM_"))}


def proctor(*args: str, db: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env=ENV | {"PROCTOR_DB": db, "COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=300,
    )


def answer(request: RecordedRequest) -> Reply:
    """The model: right on 5+2, Paris and hello, wrong on 3*3 and Spain; the agents read the files and submit what
    they found; the grader grades by whether the submission is the expert's answer."""
    messages = request.body["messages"]
    last = messages[-1]
    tools = [t["function"]["name"] for t in request.body.get("tools") or []]
    if tools and last["role"] == "tool":
        found = str(last["content"]).split("]\n", 1)[-1].strip()
        submitted = "alpha-beta-gamma" if found == "alphabetagamma" else found
        call = {"id": "call_2", "name": "submit", "arguments": json.dumps({"answer": submitted})}
        return Reply(text="Done.", tool_calls=[[call]])
    if tools:
        if "bash" in tools:
            call = {"id": "call_1", "name": "bash", "arguments": '{"command": "cat notes/a.txt b.txt c.txt"}'}
        else:
            call = {"id": "call_1", "name": "python", "arguments": '{"code": "print(6*7)"}'}
        return Reply(text="Let me look.", tool_calls=[[call]], usage=(100, 10))
    text = str(last["content"])
    if "[BEGIN DATA]" in text:
        return Reply(text="GRADE: I" if "Barcelona" in text else "GRADE: C", usage=(200, 3))
    answers = {"5+2": "7", "3*3": "10", "France": "Paris", "Spain": "Barcelona", "hello": "hello"}
    answers["Why?"] = "Let me think it through.\n\nANSWER: because"
    return Reply(text=next((a for q, a in answers.items() if q in text), "?"), usage=(20, 1))


@dataclass
class Ran:
    """A `proctor run` of the task file and what it left."""

    result: subprocess.CompletedProcess[str]
    store: Store
    requests: list[RecordedRequest]

    def runs(self, task: str) -> list[RunRecord]:
        return sorted(self.store.runs(task=task), key=lambda r: r.task_id)

    def usage(self, run: RunRecord) -> list[dict[str, Any]]:
        """The run's model calls, as the export reads them."""
        with self.store.engine.connect() as conn:
            return read_runs(conn, [run])[0].usage


def _database(kind: str, folder: Path) -> Iterator[str]:
    """A fresh database: SQLite in `folder`, or one on the PostgreSQL server the tests use (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'runs.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ran(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ran]:
    """Every task of the file, run once with `-T base=5`, into a SQLite and a PostgreSQL store."""
    for url in _database(request.param, tmp_path_factory.mktemp("inspect-tasks")):
        with LoopbackServer(default=answer) as server:
            env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
            result = proctor("run", str(TASKS), "-T", "base=5", "--model", "openai/m", db=url, env=env)
            requests = list(server.requests)
        assert result.returncode == 0, result.stderr
        store = Store(url)
        yield Ran(result, store, requests)
        store.close()


def test_samples_run_as_tasks_scored_by_the_tasks_scorers(ran: Ran) -> None:
    runs = ran.store.runs(limit=100)
    by_task = sorted((r.task_id, r.status.value, r.score, r.config["agent"]) for r in runs)
    assert by_task == [
        ("arithmetic/add", "done", 1.0, "answer"),  # match(), two epochs: two runs each
        ("arithmetic/add", "done", 1.0, "answer"),
        ("arithmetic/mul", "done", 0.0, "answer"),
        ("arithmetic/mul", "done", 0.0, "answer"),
        ("calculator/product", "done", 1.0, "react"),
        ("chat/greet", "done", 1.0, "answer"),
        ("graded/france", "done", 1.0, "answer"),
        ("graded/spain", "done", 0.0, "answer"),
        ("workspace/files", "done", 1.0, "react"),
    ]
    task = ran.store.task("arithmetic/add")
    assert task["format"] == "inspect" and task["instructions"] == "What is 5+2?"  # the task argument -T base=5
    add = ran.runs("arithmetic/add")[0]
    scored = ran.store.events(add.id, "inspect_scores")[0]["detail"]
    assert scored["target"] == "7" and scored["metadata"] == {"kind": "sum"}
    assert scored["scores"]["match"]["value"] == "C" and scored["scores"]["match"]["answer"] == "7"
    assert "solved 6/9" in ran.result.stdout


def test_sample_files_and_setup_are_in_the_workspace(ran: Ran) -> None:
    (run,) = ran.runs("workspace/files")
    assert run.config["agent_options"] == {"tools": ["bash"]} and run.submission == "alpha-beta-gamma"
    step = ran.store.steps(run.id)[0]
    assert step.observation is not None and "alphabetagamma" in step.observation.output
    offered = [
        [t["function"]["name"] for t in r.body.get("tools") or []] for r in ran.requests if r.body and "tools" in r.body
    ]
    assert ["bash", "submit"] in offered and ["python", "submit"] in offered  # only the task's tools


def test_model_graded_scores_call_the_model_through_proctor_and_are_recorded(ran: Ran) -> None:
    grading = [r for r in ran.requests if r.body and "[BEGIN DATA]" in str(r.body["messages"][-1]["content"])]
    assert len(grading) == 2  # one grader call per graded sample, through the loopback server
    for run in ran.runs("graded"):
        usage = ran.usage(run)
        assert [(u["role"], u["model"]) for u in usage] == [("agent", "openai/m"), ("grader", "openai/m")]
        assert usage[1]["input_tokens"] == 200 and usage[1]["output_tokens"] == 3
        detail = ran.store.events(run.id, "inspect_scores")[0]["detail"]
        assert detail["scores"]["model_graded_fact"]["value"] == ("C" if run.task_id.endswith("france") else "I")
        assert run.input_tokens == 220  # the grader's tokens count in the run's totals


def test_a_chat_input_is_sent_as_messages_after_the_system_message(ran: Ran) -> None:
    (sent,) = [r.body["messages"] for r in ran.requests if r.body and "Say hello." in json.dumps(r.body["messages"])]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("system", "Be polite."),
        ("system", "Answer in one word."),
        ("user", "Say hello."),
    ]


def test_runs_export_as_inspect_logs_with_epochs(ran: Ran, tmp_path: Path) -> None:
    result = proctor("export", "inspect", "-o", str(tmp_path), db=ran.store.url)
    assert result.returncode == 0, result.stderr
    logs = {log.eval.task: log for log in map(read_eval_log, sorted(map(str, tmp_path.glob("*.eval"))))}
    assert {log.status for log in logs.values()} == {"success"}
    arithmetic = logs["arithmetic"]
    assert arithmetic.samples is not None
    assert sorted((s.id, s.epoch, s.scores["proctor"].value) for s in arithmetic.samples if s.scores) == [
        ("add", 1, 1.0),
        ("add", 2, 1.0),
        ("mul", 1, 0.0),
        ("mul", 2, 0.0),
    ]
    graded = logs["graded"].samples
    assert graded is not None
    roles = [e.role for s in graded for e in s.events if isinstance(e, ModelEvent)]
    assert roles.count("grader") == 2


def test_the_web_lists_and_shows_the_runs(ran: Ran) -> None:
    ran.store.write(users.add_user, "rob", "researcher", "correct-horse-1")
    (run,) = ran.runs("workspace/files")
    with TestClient(create_app(ran.store, WebSettings())) as client:
        client.post("/api/login", json={"name": "rob", "password": "correct-horse-1"})
        listed = client.get("/runs")
        assert listed.status_code == 200 and "workspace/files" in listed.text and "graded/spain" in listed.text
        page = client.get(f"/runs/{run.id}")
        assert (
            page.status_code == 200 and "cat notes/a.txt b.txt c.txt" in page.text and "alpha-beta-gamma" in page.text
        )


@pytest.mark.parametrize(
    ("task", "line"),
    [
        ("thinking", "solver chain_of_thought() has no counterpart in proctor: proctor runs generate()"),
        ("editor", "basic_agent() tool text_editor() has no counterpart in proctor's react agent"),
        ("services", "sandbox docker compose_two_services.yaml has 2 services (db, default)"),
    ],
)
def test_what_cannot_be_mapped_is_refused_in_one_line(task: str, line: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = proctor("run", f"{REFUSED}@{task}", "--model", "openai/m", db=db, env={"OPENAI_API_KEY": "test"})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {REFUSED}@{task}") and line in lines[0]
    assert not (tmp_path / "runs.db").exists() or Store(db).count_runs() == 0


def test_an_installed_packages_task_runs_by_its_registry_name(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"  # where Inspect takes a module for an installed package's
    package = site / "proctor_demo_tasks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "_registry.py").write_text(
        "from inspect_ai import Task, task\nfrom inspect_ai.dataset import Sample\n"
        "from inspect_ai.scorer import match\nfrom inspect_ai.solver import generate\n\n\n"
        "@task\ndef capital(country: str = 'France') -> Task:\n"
        "    sample = Sample(input=f'What is the capital of {country}?', target='Paris', id='one')\n"
        "    return Task(dataset=[sample], solver=generate(), scorer=match())\n"
    )
    info = site / "proctor_demo_tasks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: proctor-demo-tasks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[inspect_ai]\nproctor_demo_tasks = proctor_demo_tasks._registry\n")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    with LoopbackServer(default=answer) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test", "PYTHONPATH": path}
        result = proctor("run", "proctor_demo_tasks/capital", "--model", "openai/m", db=db, env=env)
        wrong = proctor(
            "run", "proctor_demo_tasks/capital", "-T", "country=Spain", "--model", "openai/m", db=db, env=env
        )
    assert result.returncode == 0 and wrong.returncode == 0, result.stderr + wrong.stderr
    runs = sorted((r.task_id, r.score) for r in Store(db).runs())
    assert runs == [("proctor_demo_tasks/capital/one", 0.0), ("proctor_demo_tasks/capital/one", 1.0)]


def test_task_arguments_are_only_for_inspect_tasks(tmp_path: Path) -> None:
    result = proctor("run", "examples", "-T", "x=1", db=f"sqlite:///{tmp_path / 'runs.db'}")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "error: -T: task arguments are for Inspect tasks (FILE.py, FILE.py@task or pkg/task)"
    )


def test_a_resumed_run_loads_its_inspect_task_again_with_its_arguments(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    spec = f"{TASKS}@arithmetic"
    with LoopbackServer(default=lambda request: Reply.error(400)) as down:
        env = {"OPENAI_BASE_URL": down.base_url, "OPENAI_API_KEY": "test"}
        failed = proctor("run", spec, "-T", "base=5", "--task", "add", "--model", "openai/m", db=db, env=env)
    assert failed.returncode == 1
    runs = Store(db).runs()
    assert [r.status.value for r in runs] == ["failed", "failed"]
    assert Store(db).task_source("arithmetic/add") == f"{TASKS.resolve()}@arithmetic -T base=5"
    with LoopbackServer(default=answer) as server:  # a new process: the task is loaded from its stored source
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        resumed = proctor("resume", runs[0].id, db=db, env=env)
    assert resumed.returncode == 0, resumed.stderr
    run = Store(db).run(runs[0].id)
    assert (run.status.value, run.score, run.submission) == ("done", 1.0, "7")  # 5+2, scored against target 7


def test_a_solver_proctor_has_no_agent_for_runs_with_the_agent_given(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=answer) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        result = proctor("run", f"{REFUSED}@thinking", "--agent", "react", "--model", "openai/m", db=db, env=env)
    assert result.returncode == 0, result.stderr
    (run,) = Store(db).runs()
    assert (run.task_id, run.config["agent"], run.status.value, run.score) == ("thinking/1", "react", "done", 0.0)


def test_the_inspect_agent_runs_a_solver_as_it_is_each_model_call_a_step(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=answer) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        result = proctor("run", f"{REFUSED}@thinking", "--agent", "inspect", "--model", "openai/m", db=db, env=env)
        (sent,) = [r.body["messages"] for r in server.requests if r.method == "POST"]
    assert result.returncode == 0, result.stderr
    assert "reason in a step-by-step manner" in sent[-1]["content"]  # chain_of_thought()'s own prompt
    store = Store(db)
    (run,) = store.runs()
    assert (run.config["agent"], run.status.value, run.score) == ("inspect", "done", 1.0)
    steps = store.steps(run.id)
    assert [s.kind for s in steps] == ["generate", "action"]
    assert steps[0].options[0].text == "Let me think it through.\n\nANSWER: because"
    assert steps[1].options[0].action == "submit" and run.submission == "Let me think it through.\n\nANSWER: because"
    with store.engine.connect() as conn:
        usage = read_runs(conn, [run])[0].usage
    assert [(u["step"], u["role"], u["model"]) for u in usage] == [(0, "agent", "openai/m")]


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            f"{TASKS}@calculator",
            "TaskRunError: calculator/product: solver basic_agent failed: ProcessLookupError: No sandbox environment",
        ),
        (
            f"{REFUSED}@tooling",
            "TaskRunError: tooling/ls: the solver's model called bash(): Inspect's tools need Inspect's sandbox, which "
            "proctor does not give; run the task with an agent (--agent react)",
        ),
    ],
)
def test_a_solver_run_as_it_is_that_needs_inspects_sandbox_fails_in_one_line(
    spec: str, error: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=answer) as server:
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        result = proctor("run", spec, "--agent", "inspect", "--model", "openai/m", db=db, env=env)
    assert result.returncode == 1
    (run,) = Store(db).runs()
    assert run.status.value == "failed" and run.error is not None and run.error.startswith(error), run.error
