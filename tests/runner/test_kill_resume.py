"""A runner killed with SIGKILL mid-run resumes with `proctor resume` without losing or repeating a step."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply
from runner_tasks import write_task

from proctor.sandbox import open_workspace
from proctor.store import RunStatus, Store

STEPS = 8


def agent(request: RecordedRequest) -> Reply:
    """Step k appends k to log.txt (slowly, so the kill lands mid-run); after STEPS steps it submits. Offered
    tools (the react agent), it acts through tool calls."""
    done = sum(1 for m in request.body["messages"] if m["role"] == "assistant")
    command = f"echo {done} >> log.txt && sleep 0.3"
    if not request.body.get("tools"):
        return Reply(text="<submit>42</submit>" if done >= STEPS else f"<bash>{command}</bash>")
    name, argument = ("submit", {"answer": "42"}) if done >= STEPS else ("bash", {"command": command})
    return Reply(
        text=f"step {done}", tool_calls=[[{"id": f"c{done}", "name": name, "arguments": json.dumps(argument)}]]
    )


def write_config(folder: Path, server: LoopbackServer, agent_name: str) -> Path:
    config = folder / f"config-{agent_name}.json"
    options = {"base_url": server.base_url, "api_key": "test"}
    model = {"model": "openai/scripted-agent", "model_options": options, "agent": agent_name}
    config.write_text(json.dumps(model | {"limits": {"steps": 20}}))
    return config


@pytest.mark.parametrize("agent_name", ["tags", "react"])
def test_sigkill_then_resume_loses_and_repeats_no_step(reachable_tmp: Path, agent_name: str) -> None:
    task = write_task(reachable_tmp / "tasks")
    db = f"sqlite:///{reachable_tmp / 'runs.db'}"
    with LoopbackServer(default=agent) as server:
        config = write_config(reachable_tmp, server, agent_name)
        env = os.environ | {"PROCTOR_DB": db}
        command = [sys.executable, "-m", "proctor", "run", str(task), "--config", str(config)]
        runner = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        store = Store(db)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = store.runs()
            if runs and runs[0].steps_done >= 3:
                break
            time.sleep(0.05)
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        (run,) = store.runs()
        before = store.steps(run.id)
        completed = [s for s in before if s.done]
        assert run.status is RunStatus.RUNNING and 3 <= len(completed) < STEPS

        # The api_key given in the config was not stored: the resumed run reads it from the environment.
        resumed = subprocess.run(
            [sys.executable, "-m", "proctor", "resume", run.id],
            env=env | {"OPENAI_API_KEY": "test"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        last_request = server.requests[-1].body["messages"]
        # The same task run without a kill: the model's last request is the very same conversation.
        server.reset()
        whole = subprocess.run(command, env=env | {"PROCTOR_DB": f"{db}-whole"}, capture_output=True)
        assert whole.returncode == 0, whole.stderr
        assert server.requests[-1].body["messages"] == last_request

    after = store.steps(run.id)
    run = store.run(run.id)
    assert run.status is RunStatus.DONE and run.score == 1.0
    assert [s.index for s in after] == list(range(STEPS + 1)), [
        (s.index, s.done, s.chosen.text if s.chosen else None) for s in before
    ]
    assert all(s.done for s in after)
    # The completed steps are the same rows as before the kill: none was redone.
    assert [(s.id, s.chosen_option_id) for s in after[: len(completed)]] == [
        (s.id, s.chosen_option_id) for s in completed
    ]
    # Every step ran its command; only a step cut off mid-command may have run twice.
    with open_workspace(Path(run.workspace or "")) as workspace:
        log = (workspace / "log.txt").read_text().split()
    assert sorted(set(log), key=int) == [str(k) for k in range(STEPS)]
    assert len(log) - STEPS <= 1
