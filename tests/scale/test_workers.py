"""Several `proctor worker` processes share one PostgreSQL store under leases: a worker SIGKILLed mid-run has its
runs taken over once their leases lapse, and finished by another worker, no step stored twice."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback_server import LoopbackServer
from scale_runs import check_steps_once, config_for, stepping, write_tasks

from proctor.runner import Runner
from proctor.sandbox import open_workspace
from proctor.sandbox._disk import image_of
from proctor.store import RunStatus, Store

LEASE = 2.0
STEPS = 5


def start_worker(url: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "proctor", "worker", "--store", url, "--lease", str(LEASE), "--poll", "0.2"]
    env = os.environ | {"OPENAI_API_KEY": "test"}  # stored configs hold no key: workers take it from the environment
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkilled_worker_runs_are_taken_over(postgres_store: Store, reachable_tmp: Path) -> None:
    tasks = write_tasks(reachable_tmp / "tasks", 6)
    with LoopbackServer(default=stepping(STEPS), delay=0.3) as server:

        async def create() -> list[str]:
            async with Runner(postgres_store) as runner:
                return [await runner.create(task, config_for(server)) for task in tasks]

        run_ids = asyncio.run(create())
        first, second = start_worker(postgres_store.url), start_worker(postgres_store.url)
        try:
            killed = f"{socket.gethostname()}:{first.pid}:"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:  # kill the first worker once it is mid-run
                mid = [r for r in postgres_store.runs(status="running") if (r.lease_owner or "").startswith(killed)]
                if any(r.steps_done >= 2 for r in mid):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the first worker never got mid-run")
            first.send_signal(signal.SIGKILL)
            first.wait()
            taken = {r.id for r in mid}
            for run in mid:  # as if the first worker's machine were lost: its runs' workspaces go with it
                forget_workspace(Path(run.workspace or ""))
            while time.monotonic() < deadline:
                if all(postgres_store.run(run_id).status.final for run_id in run_ids):
                    break
                time.sleep(0.2)
        finally:
            for worker in (first, second):
                worker.kill()
                worker.wait()
    check_steps_once(postgres_store, run_ids)
    for run_id in taken:  # finished by the other worker, after claiming the run a second time
        run = postgres_store.run(run_id)
        assert run.lease_owner is not None and not run.lease_owner.startswith(killed)
        running = [e for e in postgres_store.events(run_id, "status") if e["detail"]["status"] == RunStatus.RUNNING]
        assert len(running) == 2, run_id
        # Its workspace was rebuilt: set up again, the completed steps' commands replayed, then the rest run.
        assert "rebuilt" in postgres_store.events(run_id, "setup")[-1]["detail"]
        with open_workspace(Path(run.workspace or "")) as workspace:
            assert (workspace / "log.txt").read_text().split() == [str(k) for k in range(STEPS)]


def forget_workspace(workspace: Path) -> None:
    """Remove a run's workspace and its disk (unmounted first: a killed worker leaves it mounted)."""
    if os.path.ismount(workspace):
        subprocess.run(["umount", "--lazy", str(workspace)], check=True)
    shutil.rmtree(workspace, ignore_errors=True)
    image_of(workspace).unlink(missing_ok=True)


def test_leased_runs_never_driven_come_with_their_rows(store: Store) -> None:
    """A worker's lease reads the rows of the runs it takes that nothing was stored for yet (so their claims read
    nothing back), and leaves out those with steps or events (a fork, a run driven before), which are read as
    they are claimed."""
    from proctor.runner._workers import _lease
    from proctor.store import ops

    store.write(
        ops.upsert_task,
        {
            "id": "s/t",
            "family": "s",
            "name": "t",
            "format": "native",
            "source": "/x",
            "instructions": "go",
            "permissions": [],
        },
    )
    new = store.write(ops.create_run, task_id="s/t", model="openai/x", config={"model": "openai/x"})
    driven = store.write(ops.create_run, task_id="s/t", model="openai/x", config={"model": "openai/x"})
    store.write(ops.add_event, driven, "setup", {"network": False})
    option = {"text": "x", "action": None, "argument": None, "parse_error": "no", "source": "model:x"}
    stepped = store.write(ops.create_run, task_id="s/t", model="openai/x", config={"model": "openai/x"})
    store.write(ops.start_step, stepped, 0, "action", [option])

    taken, unread = store.write(_lease, "w1", 10, 30.0, batch=None)
    assert sorted(taken) == sorted([new, driven, stepped])
    assert [record.id for record in unread] == [new]
    assert unread[0].model_dump(exclude={"lease_owner", "lease_expires"}) == store.run(new).model_dump(
        exclude={"lease_owner", "lease_expires"}
    )
