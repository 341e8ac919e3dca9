"""The Docker sandbox: the no-daemon error for real, and the flags it passes via a docker CLI double."""

from __future__ import annotations

import itertools
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from proctor.sandbox import Limits, SandboxError, get_sandbox, sandbox_backends

# A stand-in for the docker CLI: answers `version`, records the arguments of `run` (the container) and of each
# `exec`, and becomes an exec's command (the last argument) run by the host shell, so killing the client ends it.
# It isolates nothing; it only shows what would be asked of Docker.
DOCKER_DOUBLE = """#!/bin/sh
here="$(dirname "$0")"
case "$1" in
  version) echo 27.0.0-double ;;
  run) printf '%s\\n' "$@" > "$here/run-args"; echo 0123456789ab ;;
  exec) printf '%s\\n' "$@" > "$here/exec-args"; printf '%s\\n' "$@" >> "$here/all-exec-args"
        for last; do :; done; exec /bin/sh -c "exec $last" ;;
  rm) echo "$@" >> "$here/rm-args" ;;
esac
"""


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="proctor-docker-test-"))
    yield path
    shutil.rmtree(path)


def test_docker_is_registered() -> None:
    assert "docker" in sandbox_backends()


def test_no_daemon_is_a_clear_error(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real docker CLI, pointed at a socket where no daemon listens.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{folder}/no-daemon.sock")
    if shutil.which("docker") is None:
        expected = "docker CLI not found"
    else:
        expected = "Docker daemon not reachable: start it, or use the bwrap sandbox"
    with pytest.raises(SandboxError, match=expected):
        get_sandbox("docker", workspace=folder / "workspace")


def test_missing_cli_is_a_clear_error(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(folder))
    with pytest.raises(SandboxError, match="docker CLI not found"):
        get_sandbox("docker", workspace=folder / "workspace")


async def test_limits_become_docker_flags(folder: Path) -> None:
    double = folder / "docker-double"
    double.write_text(DOCKER_DOUBLE)
    double.chmod(double.stat().st_mode | stat.S_IXUSR)
    box = get_sandbox(
        "docker", workspace=folder / "workspace", docker=str(double), limits=Limits(memory_mb=256, processes=32)
    )
    result = await box.exec("echo ran", limits=Limits(timeout=5), env={"TASK_VAR": "x"})
    assert result.exit_code == 0 and result.stdout == "ran\n"
    container = list(itertools.pairwise((folder / "run-args").read_text().splitlines()))
    for pair in [
        ("--network", "none"),
        ("--memory", "256m"),
        ("--memory-swap", "256m"),
        ("--pids-limit", "32"),
        ("--tmpfs", "/run/proctor:mode=0700"),
        ("--volume", f"{box.workspace}:/home/agent"),
    ]:
        assert pair in container
    args = (folder / "exec-args").read_text().splitlines()
    for pair in [("--user", "1000:1000"), ("--workdir", "/home/agent"), ("--env", "TASK_VAR=x")]:
        assert pair in itertools.pairwise(args)
    assert args[-3:] == ["/bin/sh", "-c", "echo ran"]
    await box.close()
    assert (folder / "rm-args").read_text().split()[-1] == container[container.index(("--name", box.name))][1]


async def test_time_limit_kills_the_command_in_the_container(folder: Path) -> None:
    double = folder / "docker-double"
    double.write_text(DOCKER_DOUBLE)
    double.chmod(double.stat().st_mode | stat.S_IXUSR)
    box = get_sandbox("docker", workspace=folder / "workspace", docker=str(double), network=True)
    result = await box.exec("sleep 30", limits=Limits(timeout=0.5), as_root=True)
    assert result.timed_out and result.duration < 3
    assert ("--network", "bridge") in itertools.pairwise((folder / "run-args").read_text().splitlines())
    executed = (folder / "all-exec-args").read_text()
    assert "--user\n0:0\n" in executed
    assert "kill -9 $(grep -lz PROCTOR_EXEC=" in executed  # the command's processes, found by their marker
    await box.close()
