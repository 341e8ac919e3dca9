"""Failing fast, in one line: a command that cannot work says why on one `error:` line and stores nothing; a command
whose every run failed says why once, in full, and exits 1; no command leaves runs running or queued."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, Reply

from proctor.store import Store

ENV_WITHOUT_KEYS = {
    name: value
    for name, value in os.environ.items()
    if not name.startswith(("OPENAI_", "ANTHROPIC_", "VLLM_", "OLLAMA_", "LLAMACPP_"))
}


def proctor(
    *args: str, db: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`proctor ARGS` as a user runs it, with no model keys in the environment unless `env` gives them."""
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env=ENV_WITHOUT_KEYS | {"PROCTOR_DB": db, "COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs_stored(path: Path) -> int:
    """How many runs the database at `path` holds (none if the command never created it)."""
    if not path.exists():
        return 0
    store = Store(f"sqlite:///{path}")
    try:
        return store.count_runs()
    finally:
        store.close()


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's only line on standard error, which starts with `error:`; no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def config_file(folder: Path, **values: object) -> str:
    path = folder / "config.json"
    path.write_text(json.dumps(values))
    return str(path)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--model", "openai/gpt-4o-mini"], {}, "no API key: set OPENAI_API_KEY"),
        (["--model", "anthropic/claude-sonnet-4-5"], {}, "no API key: set ANTHROPIC_API_KEY"),
        (["--sandbox", "nosuch"], {}, "unknown sandbox backend 'nosuch' (backends: bwrap, docker)"),
        (["--sandbox", "docker"], {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, "Docker"),
        (["--options", "0"], {}, "--options must be at least 1, got 0"),
        (["--concurrency", "0"], {}, "'--concurrency'"),
        (["--max-steps", "-1"], {}, "--max-steps must be at least 1, got -1"),
        (["--max-cost", "-0.5"], {}, "--max-cost must be more than 0"),
        (["--stuck-every", "-2"], {}, "--stuck-every must be at least 0, got -2"),
        (["--command-timeout", "0"], {}, "command_limits.timeout must be more than 0"),
        (["--temperature", "-1"], {}, "--temperature must be at least 0"),
        (["--model", "hf/./no-such-folder"], {}, "no folder ./no-such-folder"),
    ],
)
def test_a_run_that_cannot_work_fails_in_one_line_and_stores_nothing(
    args: list[str], env: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = proctor("run", "examples", *args, db=f"sqlite:///{tmp_path / 'runs.db'}", env=env, timeout=60)
    assert result.returncode == 2
    assert message in one_error_line(result)
    if args[0] == "--sandbox" and "docker" in args:  # either no CLI or no daemon: both say what to do
        assert "Docker daemon not reachable" in result.stderr or "docker CLI not found" in result.stderr
    assert runs_stored(tmp_path / "runs.db") == 0


def test_an_unreachable_server_fails_in_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    config = config_file(tmp_path, model="openai/m", model_options={"base_url": url, "api_key": "k"})
    started = time.monotonic()
    result = proctor("run", "examples", "--config", config, db=f"sqlite:///{tmp_path / 'runs.db'}")
    assert result.returncode == 2 and time.monotonic() - started < 30
    line = one_error_line(result)
    assert f"the server at {url} does not answer" in line and "start it, or give the right base_url" in line
    assert runs_stored(tmp_path / "runs.db") == 0


def test_a_refused_key_or_a_wrong_base_url_fails_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with LoopbackServer(key="right") as server:
        wrong_key = config_file(tmp_path, model="openai/m", model_options={"base_url": server.base_url, "api_key": "x"})
        refused = proctor("run", "examples", "--config", wrong_key, db=f"sqlite:///{db}")
    with LoopbackServer() as server:
        wrong_url = proctor(
            "run", "examples", "--model", "vllm/m", db=f"sqlite:///{db}", env={"VLLM_BASE_URL": server.url}
        )
    assert refused.returncode == 2 and "The key was refused: set OPENAI_API_KEY" in one_error_line(refused)
    assert wrong_url.returncode == 2 and f"vllm/m: no model API at {server.url}" in one_error_line(wrong_url)
    assert "(option base_url or VLLM_BASE_URL)" in wrong_url.stderr
    assert runs_stored(db) == 0


def test_oversight_commands_fail_in_one_line_without_a_key(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    gdc = proctor("oversee", "gdc", "sample", "--model", "openai/gpt-4o-mini", "--limit", "2", db=f"sqlite:///{db}")
    assert gdc.returncode == 2 and "no API key: set OPENAI_API_KEY" in one_error_line(gdc)
    judged = proctor("oversee", "run", "sample", "--judge", "anthropic/claude-x", db=f"sqlite:///{db}")
    assert judged.returncode == 2 and "no API key: set ANTHROPIC_API_KEY" in one_error_line(judged)
    rounds = proctor("oversee", "run", "sample", "--rounds", "0", db=f"sqlite:///{db}")
    assert rounds.returncode == 2 and "--rounds must be at least 1, got 0" in one_error_line(rounds)
    unknown = proctor("oversee", "run", "sample", "--protocol", "vibes", db=f"sqlite:///{db}")
    assert unknown.returncode == 2 and "unknown protocol 'vibes'" in one_error_line(unknown)
    assert runs_stored(db) == 0


def test_fork_and_resume_check_before_they_store(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = proctor("run", "examples", "--task", "find-secret", "--json", db=f"sqlite:///{db}")
    assert first.returncode == 0, first.stderr
    (run,) = json.loads(first.stdout)
    fork = proctor("fork", run["id"], "--step", "0", "--model", "openai/gpt-4o-mini", db=f"sqlite:///{db}")
    assert fork.returncode == 2 and "no API key: set OPENAI_API_KEY" in one_error_line(fork)
    negative = proctor("fork", run["id"], "--step", "-1", db=f"sqlite:///{db}")
    assert negative.returncode == 2 and "'--step'" in one_error_line(negative)
    resumed = proctor("resume", run["id"], "--max-steps", "0", db=f"sqlite:///{db}")
    assert resumed.returncode == 2 and "--max-steps must be at least 1, got 0" in one_error_line(resumed)
    assert runs_stored(db) == 1


def test_json_is_alone_on_standard_output(tmp_path: Path) -> None:
    result = proctor("run", "examples", "--task", "find-secret", "--json", db=f"sqlite:///{tmp_path / 'r.db'}")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)  # nothing before or after the JSON
    assert run["score"] == 1.0
    assert "not a language model" in result.stderr


def test_when_every_run_fails_for_one_reason_it_is_said_once_in_full(tmp_path: Path) -> None:
    with LoopbackServer(default=lambda request: Reply.error(400)) as server:
        config = config_file(tmp_path, model="openai/m", model_options={"base_url": server.base_url})
        db = tmp_path / "runs.db"
        result = proctor(
            "run", "examples", "--task", "find-secret", "--task", "fix-test", "--config", config, db=f"sqlite:///{db}"
        )
    assert result.returncode == 1
    reason = f"ModelError: openai/m: HTTP 400 from {server.base_url}/chat/completions: Error code: 400 - "
    reason += "scripted failure 400"
    assert result.stderr.strip().splitlines()[-1] == f"error: all 2 runs failed: {reason}"
    assert result.stderr.count("scripted failure 400") == 1
    store = Store(f"sqlite:///{db}")
    assert [r.status.value for r in store.runs()] == ["failed", "failed"]
    assert {r.error for r in store.runs()} == {reason}


def test_gdc_whose_every_question_fails_leaves_no_run_running(tmp_path: Path) -> None:
    with LoopbackServer(default=lambda request: Reply.error(400)) as server:
        db = tmp_path / "runs.db"
        result = proctor(
            "oversee",
            "gdc",
            "sample",
            "--model",
            "openai/m",
            "--limit",
            "2",
            db=f"sqlite:///{db}",
            env={"OPENAI_BASE_URL": server.base_url},
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: all 2 runs failed: ModelError: openai/m: HTTP 400")
    assert [r.status.value for r in Store(f"sqlite:///{db}").runs()] == ["failed", "failed"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_run_command_leaves_no_run_running_or_queued(signum: int, tmp_path: Path) -> None:
    with LoopbackServer(delay=60) as server:  # the model never answers in time: runs are mid-step when stopped
        config = config_file(tmp_path, model="openai/m", model_options={"base_url": server.base_url})
        db = f"sqlite:///{tmp_path / 'runs.db'}"
        tasks = ["--task", "find-secret", "--task", "fix-test", "--task", "log-analysis"]
        command = [sys.executable, "-m", "proctor", "run", "examples", *tasks, "--concurrency", "1", "--config", config]
        env = ENV_WITHOUT_KEYS | {"PROCTOR_DB": db}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        store = Store(db)
        deadline = time.monotonic() + 60
        while not any(r.method == "POST" for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err
    runs = store.runs()
    assert len(runs) == 3 and {r.status.value for r in runs} == {"killed"}
    assert sorted(r.error or "" for r in runs) == [
        "cancelled",
        "the batch stopped: cancelled before it started",
        "the batch stopped: cancelled before it started",
    ]


def test_a_stopped_oversight_experiment_leaves_no_run_running(tmp_path: Path) -> None:
    with LoopbackServer(delay=60) as server:
        db = f"sqlite:///{tmp_path / 'runs.db'}"
        command = [sys.executable, "-m", "proctor", "oversee", "run", "sample", "--protocol", "naive", "--limit", "2"]
        command += ["--judge", "openai/judge"]
        env = ENV_WITHOUT_KEYS | {"PROCTOR_DB": db, "OPENAI_BASE_URL": server.base_url}
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any(r.method == "POST" for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and "Traceback" not in err
    runs = Store(db).runs()
    assert len(runs) == 4 and {(r.status.value, r.error) for r in runs} == {("killed", "cancelled")}


def test_a_problem_with_the_tasks_is_the_line_when_the_model_cannot_work_either(tmp_path: Path) -> None:
    """Tasks load while the model and sandbox are checked; when both fail, the tasks' problem is said."""
    db = tmp_path / "runs.db"
    result = proctor("run", str(tmp_path / "nosuch"), "--model", "openai/gpt-4o-mini", db=f"sqlite:///{db}")
    assert result.returncode == 2
    assert f"{tmp_path / 'nosuch'}: does not exist" in one_error_line(result)
    assert runs_stored(db) == 0
    native = tmp_path / "suite" / "t"
    native.mkdir(parents=True)
    native.joinpath("task.yaml").write_text("name: t\ninstructions: x\nscorer:\n  expected_submission: x\n")
    checked = proctor("run", str(tmp_path / "suite"), "--model", "openai/gpt-4o-mini", db=f"sqlite:///{db}")
    assert checked.returncode == 2 and "no API key: set OPENAI_API_KEY" in one_error_line(checked)
    assert runs_stored(db) == 0
