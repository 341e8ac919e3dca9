"""`proctor approve` and `proctor answer` as a user runs them: real processes on one store, a runner killed with
SIGKILL while an action is held resumes holding it, and the agent's question answered from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from background import Background, wait_until
from doubles import script, turns
from loopback_server import LoopbackServer, RecordedRequest, Reply

from proctor.models import Completion, GenerateConfig, Message, ToolCall
from proctor.runner import RunConfig, StuckConfig
from proctor.sandbox import open_workspace
from proctor.store import RunStatus, Store
from proctor.tasks import load_tasks

PLAN = [
    "<bash>mkdir scratch && echo kept > scratch/keep.txt && echo 0 >> log.txt</bash>",
    "<bash>rm -rf scratch && echo 1 >> log.txt</bash>",  # held: killed, resumed, then edited
    "<bash>rm -rf attic</bash>",  # held: rejected
    "<ask>What should I submit?</ask>",
]


def write_task(folder: Path) -> Path:
    """A native task: read note.txt, submit 42."""
    task = folder / "echo"
    (task / "files").mkdir(parents=True)
    (task / "files" / "note.txt").write_text("the answer is 42\n")
    (task / "instructions.md").write_text("Read note.txt and submit the answer.\n")
    (task / "task.yaml").write_text("name: echo\npermissions: []\nscorer:\n  expected_submission: '42'\n")
    return task


def agent(request: RecordedRequest) -> Reply:
    """The plan in order, then the answer to its question as its submission."""
    messages = request.body["messages"]
    done = sum(1 for m in messages if m["role"] == "assistant")
    return Reply(text=PLAN[done] if done < len(PLAN) else f"<submit>{messages[-1]['content']}</submit>")


def proctor(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PROCTOR_DB": db, "COLUMNS": "200"}
    command = [sys.executable, "-m", "proctor", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_approve_edit_reject_and_answer_from_the_command_line_across_a_kill(reachable_tmp: Path) -> None:
    task = write_task(reachable_tmp / "tasks")
    db = f"sqlite:///{reachable_tmp / 'runs.db'}"
    store = Store(db)
    with LoopbackServer(default=agent) as server:
        config = reachable_tmp / "config.json"
        settings = {
            "model": "openai/scripted-agent",
            "model_options": {"base_url": server.base_url, "api_key": "test"},
            "approval": {"rules": {"bash": ["*rm -rf*"]}, "poll_seconds": 0.05},
            "ask_human": True,
            "stuck": {"after_failures": 0},
        }
        config.write_text(json.dumps(settings))
        env = os.environ | {"PROCTOR_DB": db, "OPENAI_API_KEY": "test"}
        command = [sys.executable, "-m", "proctor", "run", str(task), "--config", str(config)]
        runner = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: store.runs(status="waiting_approval"), "the first hold", timeout=60)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        (run,) = store.runs()
        assert run.status is RunStatus.WAITING_APPROVAL  # killed outright: the status says where it was
        listed = proctor(db, "runs", "--status", "waiting_approval", "--json")
        assert [r["id"] for r in json.loads(listed.stdout)] == [run.id]
        shown = proctor(db, "show", run.id)
        assert "held bash (bash: *rm -rf*): rm -rf scratch && echo 1 >> log.txt · waiting for approval" in shown.stdout
        nothing = proctor(db, "answer", run.id, "42")
        assert nothing.returncode == 2 and "has no question waiting for an answer" in nothing.stderr
        both = proctor(db, "approve", run.id, "--edit", "ls", "--reject")
        assert both.returncode == 2 and "not both" in both.stderr

        resumed = subprocess.Popen(
            [sys.executable, "-m", "proctor", "resume", run.id], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        waits = lambda: [e for e in store.events(run.id, "status") if e["detail"]["status"] == "waiting_approval"]  # noqa: E731
        wait_until(lambda: len(waits()) == 2, "the resumed run to hold again", timeout=60)
        assert len(store.pending_holds(run.id)) == 1 and store.steps(run.id)[1].holds[0].verdict is None
        edited = proctor(db, "approve", run.id[:6], "--edit", "mv scratch attic && echo edited >> log.txt")
        assert edited.returncode == 0, edited.stderr
        assert f"edited bash at step 1 of run {run.id}" in edited.stdout

        wait_until(lambda: [h.action for h in store.pending_holds(run.id)] == ["bash"], "the second hold")
        rejected = proctor(db, "approve", run.id, "--reject", "keep the attic", "--user", "ada")
        assert rejected.returncode == 0, rejected.stderr
        wait_until(lambda: store.run(run.id).status is RunStatus.WAITING_ANSWER, "the question")
        answered = proctor(db, "answer", run.id, "42", "--user", "ada")
        assert answered.returncode == 0, answered.stderr
        _, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err

    run = store.run(run.id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.submission == "42"
    steps = store.steps(run.id)
    assert [[(h.verdict, h.decided_by) for h in s.holds] for s in steps] == [
        [],
        [("edited", "cli")],
        [("rejected", "ada")],
        [("answered", "ada")],
        [],
    ]
    assert steps[2].observation is not None and "keep the attic" in steps[2].observation.output
    assert steps[3].observation is not None and steps[3].observation.output == "42"
    with open_workspace(Path(run.workspace or "")) as workspace:
        assert (workspace / "log.txt").read_text() == "0\nedited\n"  # the held command never ran; the edit once
        assert (workspace / "attic" / "keep.txt").read_text() == "kept\n" and not (workspace / "scratch").exists()
    shown = proctor(db, "show", run.id).stdout
    assert "edited by cli → mv scratch attic" in shown and "rejected by ada: keep the attic" in shown
    assert "question: What should I submit? · answered by ada: 42" in shown


@script("react-asker")
def _react_asker(messages: list[Message], config: GenerateConfig) -> list[Completion]:
    assert config.tools is not None and "ask_human" in [tool.name for tool in config.tools]
    if turns(messages) == 0:
        calls = [ToolCall(id="q1", name="ask_human", arguments=json.dumps({"question": "Which file?"}))]
    elif turns(messages) == 1:
        calls = [ToolCall(id="b1", name="bash", arguments=json.dumps({"command": f"cat {messages[-1].content}"}))]
    else:
        calls = [ToolCall(id="s1", name="submit", arguments=json.dumps({"answer": "42"}))]
    return [Completion(text="", tool_calls=calls)] * config.n


def test_the_react_agent_asks_and_proctor_answer_answers(reachable_tmp: Path) -> None:
    (task,) = load_tasks(write_task(reachable_tmp / "tasks"))
    db = f"sqlite:///{reachable_tmp / 'runs.db'}"
    store = Store(db)
    config = RunConfig(model="double/react-asker", agent="react", ask_human=True, stuck=StuckConfig(after_failures=0))
    config.approval.poll_seconds = 0.05
    run = Background(store, task, config)
    wait_until(lambda: store.run(run.run_id).status is RunStatus.WAITING_ANSWER, "the question")
    answered = proctor(db, "answer", run.run_id, "note.txt")
    assert answered.returncode == 0, answered.stderr
    record = run.finish()

    assert record.status is RunStatus.DONE and record.score == 1.0
    asked, read, _ = store.steps(run.run_id)
    assert asked.chosen is not None and asked.chosen.action == "calls"
    assert [(h.tool, h.subject, h.verdict, h.text, h.decided_by) for h in asked.holds] == [
        ("ask_human", "Which file?", "answered", "note.txt", "cli")
    ]
    assert asked.observation is not None and asked.observation.calls is not None
    assert [(c["tool"], c["output"]) for c in asked.observation.calls] == [("ask_human", "note.txt")]
    assert read.observation is not None and read.observation.calls is not None
    assert read.observation.calls[0]["output"] == "the answer is 42\n"
