"""Long runs for web tests, written with the store's own operations (no runner): thousands of steps with failures,
a stuck check, a person's choice, a fork, a delegated subtask, long output and untrusted text."""

from __future__ import annotations

from dataclasses import dataclass

from web_runs import XSS

from proctor.runner import RunConfig
from proctor.store import RunStatus, Store, ops

LONG_OUTPUT = "\n".join(f"line {i}: {'x' * 30}" for i in range(400))
"""An output far longer than a step shows uncut."""


@dataclass
class LongRun:
    """A long run's id and where its marked steps are."""

    id: str
    steps: int
    failed: int
    """A step whose command exited non-zero (its observation is not marked failed)."""
    stuck: int
    human: int
    forked: int
    delegated: int
    child: str
    long: int
    """The step whose output is `LONG_OUTPUT`."""
    fork: str


def bash(command: str, source: str = "model:double/long") -> dict[str, object]:
    """A bash option."""
    return {
        "text": f"Next.\n<bash>{command}</bash>",
        "action": "bash",
        "argument": {"command": command},
        "parse_error": None,
        "source": source,
    }


def long_run(store: Store, steps: int = 2000, status: RunStatus = RunStatus.DONE) -> LongRun:
    """A run of `steps` steps: all `ls` except the marked ones."""
    marks = {
        "failed": steps // 2,
        "stuck": steps // 2 + 10,
        "human": steps // 2 + 20,
        "forked": steps // 2 + 30,
        "delegated": steps // 4,
        "long": steps - 5,
    }
    config = RunConfig(model="double/long", options=2, model_options={"note": XSS}).model_dump(mode="json")
    with store.engine.begin() as conn:
        ops.upsert_task(
            conn,
            {
                "id": "long/run",
                "family": "long",
                "name": "run",
                "format": "native",
                "source": "/nowhere",
                "instructions": "Do the long task.",
                "permissions": [],
            },
        )
        run_id = ops.create_run(conn, task_id="long/run", model="double/long", config=config)
        child = ""
        for i in range(steps):
            if i == marks["stuck"]:
                step_id, _ = ops.start_step(conn, run_id, i, "stuck_check", [])
                ops.finish_step(conn, run_id, step_id, {"kind": "stuck_check", "output": "not stuck"}, 0.0)
                continue
            command = f"echo {XSS}" if i == steps - 1 else "ls"
            delegate = i == marks["delegated"]
            options = [bash(command), bash(f"cat {XSS}")]
            if delegate:
                options[0] = {
                    "text": "<delegate>Count the files</delegate>",
                    "action": "delegate",
                    "argument": {"instructions": f"Count the files {XSS}"},
                    "parse_error": None,
                    "source": "model:double/long",
                }
            step_id, (first, _) = ops.start_step(conn, run_id, i, "action", options)
            ops.add_choice(conn, step_id, first, "human:rob" if i == marks["human"] else "first")
            observation: dict[str, object] = {"kind": "bash", "output": f"out {i} {XSS}", "exit_code": 0}
            if i == marks["failed"]:
                observation = {"kind": "bash", "output": "ls: cannot access", "exit_code": 2}
            if i == marks["long"]:
                observation = {"kind": "bash", "output": LONG_OUTPUT, "exit_code": 0}
            if delegate:
                child = ops.create_run(
                    conn,
                    task_id="long/run",
                    model="double/long",
                    config={**config, "subtask": f"Count the files {XSS}"},
                    parent_run_id=run_id,
                    parent_step_id=step_id,
                    status=RunStatus.DONE,
                )
                for j in range(3):
                    sub_step, (sub_first, _) = ops.start_step(conn, child, j, "action", [bash(f"ls {j}"), bash("pwd")])
                    ops.add_choice(conn, sub_step, sub_first, "first")
                    ops.finish_step(conn, child, sub_step, {"kind": "bash", "output": f"sub {j} {XSS}"}, 0.0)
                observation = {"kind": "delegate", "output": "subtask result: 3", "child_run_id": child}
            ops.finish_step(conn, run_id, step_id, observation, 0.0)
        fork = ops.create_run(
            conn,
            task_id="long/run",
            model="double/long",
            config=config,
            status=RunStatus.DONE,
            forked_from_run_id=run_id,
            forked_from_step=marks["forked"],
        )
        ops.set_status(conn, run_id, status)
    return LongRun(id=run_id, steps=steps, child=child, fork=fork, **marks)
