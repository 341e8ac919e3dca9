"""`proctor users` and `proctor view` as commands: real processes, a real server on 127.0.0.1, a real worker."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from proctor.cli import main
from proctor.store import Store, ops, users


def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> Result:
    """Run `proctor ARGS` in-process; returns the exit code, standard output and standard error."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    out, err = capsys.readouterr()
    return Result(int(exit_.value.code or 0), out, err)


class Result(NamedTuple):
    """What a command did."""

    code: int
    out: str
    err: str


def test_users_add_assign_list(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"

    def run(*args: str, stdin: str = "") -> Result:
        return cli(capsys, monkeypatch, *args, "--db", url, stdin=stdin)

    added = run("users", "add", "rae", "--role", "rater", "--password-stdin", stdin="a-good-password\n")
    assert added.code == 0, added.err
    short = run("users", "add", "bob", "--password-stdin", stdin="short\n")
    assert short.code == 2 and "too short" in short.err
    again = run("users", "add", "rae", "--password-stdin", stdin="another-password\n")
    assert again.code == 2 and "exists already" in again.err
    store = Store(url)
    store.write(
        ops.upsert_task,
        {
            "id": "s/t",
            "family": "s",
            "name": "t",
            "format": "native",
            "source": "/x",
            "instructions": "",
            "permissions": [],
        },
    )
    run_id = store.write(ops.create_run, task_id="s/t", model="m/x", config={})
    assigned = run("users", "assign", "rae", run_id[:6])
    assert assigned.code == 0 and "assigned 1 new runs" in assigned.out
    assert run("users", "assign", "nobody", run_id).code == 2
    listed = run("users", "list")
    assert listed.code == 0 and "rae" in listed.out and "rater" in listed.out
    assert run("view", "--scale", "7-1").code == 2
    with store.engine.connect() as conn:
        assert [a.run_id for a in users.assignments(conn, "rae")] == [run_id]
        assert users.check_password(conn, "rae", "a-good-password") is not None
    store.close()


def children(pid: int) -> list[int]:
    """The process ids whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def start_view(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    """`proctor view` on `port` in a process of its own, once it serves the login page."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    server = subprocess.Popen(
        [sys.executable, "-m", "proctor", "view", "--port", str(port), "--db", url, "--scale", "1-7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ | {"COLUMNS": "200"},
    )
    deadline, answer = time.monotonic() + 30, None
    while time.monotonic() < deadline and answer is None:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    assert answer is not None and answer.status_code == 200 and "Log in" in answer.text
    return server


def the_worker(view: int) -> int:
    """The one child process of the view: its worker."""
    workers = children(view)
    assert len(workers) == 1 and "worker" in Path(f"/proc/{workers[0]}/cmdline").read_text()
    return workers[0]


def gone(pid: int, within: float) -> bool:
    """Whether process `pid` has ended (or is a zombie waiting for its parent) within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            if "zombie" in Path(f"/proc/{pid}/status").read_text():
                return True
        except FileNotFoundError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_view_serves_the_app_with_a_worker_and_stops_both(tmp_path: Path) -> None:
    server = start_view(tmp_path, free_port())
    try:
        worker = the_worker(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    assert "started a worker" in output
    assert gone(worker, within=0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_the_worker_ends_with_the_view(signum: int, tmp_path: Path) -> None:
    server = start_view(tmp_path, free_port())
    try:
        worker = the_worker(server.pid)
        server.send_signal(signum)  # SIGKILL: the view cannot stop its worker, which notices by itself
        server.wait(timeout=10)
        assert gone(worker, within=5)
    finally:
        server.kill()
        server.communicate(timeout=10)


def test_a_port_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "proctor", "view", "--port", str(port), "--db", f"sqlite:///{tmp_path / 'p.db'}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: port {port} is in use on 127.0.0.1: stop what listens there, or give another --port"
    )
    assert "started a worker" not in result.stdout and "proctor on http" not in result.stdout
