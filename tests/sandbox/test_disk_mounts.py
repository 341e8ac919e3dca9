"""A runner stopped any way leaves no workspace disk mounted: Ctrl-C, SIGTERM and `proctor kill` unmount as the
sandboxes close; a runner killed with SIGKILL leaves its mount, which the next runner (`proctor resume` here) finds
stale and unmounts. Real `proctor run` processes, the real sandbox, a scripted model on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, RecordedRequest, Reply

from proctor.sandbox import clean_leftovers, open_workspace
from proctor.sandbox._disk import owner_file
from proctor.store import RunRecord, RunStatus, Store

STEPS = 20


def agent(request: RecordedRequest) -> Reply:
    """Step k appends k to log.txt, slowly, so a signal lands mid-run; after STEPS steps it submits."""
    done = sum(1 for m in request.body["messages"] if m["role"] == "assistant")
    return Reply(text="<submit>42</submit>" if done >= STEPS else f"<bash>echo {done} >> log.txt && sleep 0.5</bash>")


def mounted() -> set[Path]:
    """The host's mount points, as `findmnt` lists them."""
    listed = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True, check=True).stdout
    return {Path(line.replace("\\x20", " ")) for line in listed.splitlines()}


@dataclass
class Runner:
    """A `proctor run` process and the store it writes."""

    process: subprocess.Popen[bytes]
    store: Store
    env: dict[str, str]

    def running(self) -> RunRecord:
        """Wait until the run has done a step on its mounted workspace; returns the run."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = self.store.runs()
            if runs and runs[0].steps_done >= 1 and Path(runs[0].workspace or "/") in mounted():
                return runs[0]
            assert self.process.poll() is None, self.process.stderr.read() if self.process.stderr else ""
            time.sleep(0.05)
        raise AssertionError("the run did not start within 60 s")


@pytest.fixture
def runner(reachable_tmp: Path) -> Iterator[Runner]:
    task = reachable_tmp / "tasks" / "slow"
    (task / "files").mkdir(parents=True)
    (task / "instructions.md").write_text("Log the steps, then submit 42.\n")
    (task / "task.yaml").write_text("name: slow\nscorer:\n  expected_submission: '42'\n")
    db = f"sqlite:///{reachable_tmp / 'runs.db'}"
    with LoopbackServer(default=agent) as server:
        env = os.environ | {"PROCTOR_DB": db, "OPENAI_API_KEY": "test", "OPENAI_BASE_URL": server.base_url}
        config = reachable_tmp / "config.json"
        options = f'{{"base_url": "{server.base_url}", "api_key": "test"}}'
        config.write_text(f'{{"model": "openai/scripted", "model_options": {options}, "limits": {{"steps": 40}}}}')
        command = [sys.executable, "-m", "proctor", "run", str(task), "--config", str(config)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            yield Runner(process=process, store=Store(db), env=env)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "proctor kill"])
def test_a_stopped_runner_unmounts_its_workspace(runner: Runner, how: str) -> None:
    run = runner.running()
    workspace = Path(run.workspace or "")
    assert owner_file(workspace).read_text().split()[0] == str(runner.process.pid)
    if how == "proctor kill":
        killed = subprocess.run([sys.executable, "-m", "proctor", "kill", run.id], env=runner.env, capture_output=True)
        assert killed.returncode == 0, killed.stderr
    else:
        runner.process.send_signal(getattr(signal, how))
    runner.process.wait(timeout=60)
    assert runner.store.run(run.id).status is RunStatus.KILLED
    assert workspace not in mounted() and not owner_file(workspace).exists()
    with open_workspace(workspace) as folder:  # the files are kept on the disk image
        assert (folder / "log.txt").read_text().split()[0] == "0"
    assert workspace not in mounted()


def test_a_sigkilled_runners_mount_is_unmounted_by_the_next_runner(runner: Runner) -> None:
    run = runner.running()
    workspace = Path(run.workspace or "")
    runner.process.send_signal(signal.SIGKILL)
    runner.process.wait()
    assert workspace in mounted()  # no process of its own could unmount it
    assert owner_file(workspace).read_text().split()[0] == str(runner.process.pid)

    # `proctor resume` starts a runner: it finds the mount stale before it mounts the workspace again.
    resumed = subprocess.run(
        [sys.executable, "-m", "proctor", "resume", run.id], env=runner.env, capture_output=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert runner.store.run(run.id).status is RunStatus.DONE
    assert workspace not in mounted() and not owner_file(workspace).exists()
    with open_workspace(workspace) as folder:
        assert sorted(set((folder / "log.txt").read_text().split()), key=int) == [str(k) for k in range(STEPS)]


def test_a_sigkilled_runners_mount_is_unmounted_when_any_runner_starts(runner: Runner) -> None:
    run = runner.running()
    workspace = Path(run.workspace or "")
    runner.process.send_signal(signal.SIGKILL)
    runner.process.wait()
    assert workspace in mounted()
    assert workspace in clean_leftovers()  # what a runner does as it starts, whatever run it drives
    assert workspace not in mounted() and not owner_file(workspace).exists()
    assert workspace not in clean_leftovers()


def test_a_live_runners_mount_is_not_stale(runner: Runner) -> None:
    run = runner.running()
    workspace = Path(run.workspace or "")
    assert workspace not in clean_leftovers()
    assert workspace in mounted()
    runner.process.send_signal(signal.SIGTERM)
    runner.process.wait(timeout=60)
    assert workspace not in mounted()
