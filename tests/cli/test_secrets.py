"""Secrets are used, never stored: a key given in model options reaches the model server, and no byte of the
database, of an export, of `--json` or of a web page holds it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from loopback_server import LoopbackServer, RecordedRequest, Reply

from proctor.models import REDACTED, is_secret, redact
from proctor.runner import RunConfig
from proctor.store import Store, users
from proctor.web import WebSettings, create_app

SECRET = "sk-test-SECRET123"
ANSWER = "<submit>7f3a9c2e41b8</submit>"  # the examples/find-secret task's answer

ENV_WITHOUT_KEYS = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}


def proctor(*args: str, db: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args],
        env=ENV_WITHOUT_KEYS | {"PROCTOR_DB": db, "COLUMNS": "200"} | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def database_bytes(folder: Path) -> bytes:
    """Every byte SQLite wrote: the database and any journal or write-ahead log beside it."""
    return b"".join(path.read_bytes() for path in sorted(folder.glob("runs.db*")))


def keys_sent(server: LoopbackServer) -> set[str]:
    return {r.headers.get("authorization", "").removeprefix("Bearer ") for r in server.requests}


def agent(request: RecordedRequest) -> Reply:
    """Look around once, then submit the answer."""
    done = sum(1 for m in request.body["messages"] if m["role"] == "assistant")
    return Reply(text="<bash>ls</bash>" if done == 0 else ANSWER)


def test_a_key_in_model_options_reaches_the_server_and_is_stored_nowhere(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=agent, key=SECRET) as server:
        config = tmp_path / "config.yaml"
        options = {"base_url": server.base_url, "api_key": SECRET}
        config.write_text(json.dumps({"model": "openai/loopback", "model_options": options}))
        ran = proctor("run", "examples", "--task", "find-secret", "--config", str(config), "--json", db=db)
        assert ran.returncode == 0, ran.stderr
        # The check before the run and the run's two model calls all carried the key.
        assert [r.method for r in server.requests] == ["GET", "POST", "POST"] and keys_sent(server) == {SECRET}

    (run,) = json.loads(ran.stdout)
    assert run["score"] == 1.0
    assert run["config"]["model_options"] == {"base_url": server.base_url, "api_key": REDACTED}
    assert SECRET not in ran.stdout + ran.stderr
    assert SECRET.encode() not in database_bytes(tmp_path)
    exported = proctor("export", "trajectories", db=db)
    listed = proctor("runs", "--json", db=db)
    assert exported.returncode == 0 and listed.returncode == 0 and run["id"] in exported.stdout + listed.stdout
    assert SECRET not in exported.stdout + listed.stdout
    shown = proctor("show", run["id"], db=db)
    assert shown.returncode == 0 and SECRET not in shown.stdout

    store = Store(db)
    store.write(users.add_user, "ada", "admin", "correct-horse-1")
    with TestClient(create_app(store, WebSettings())) as client:
        client.post("/api/login", json={"name": "ada", "password": "correct-horse-1"})
        page = client.get(f"/runs/{run['id']}")
        api = client.get(f"/api/runs/{run['id']}")
    assert page.status_code == 200 and api.status_code == 200 and run["id"] in api.text
    assert SECRET not in page.text + api.text
    store.close()


def test_a_resumed_run_needs_its_key_from_the_environment_again(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=agent, key=SECRET) as server:
        config = tmp_path / "config.json"
        options = {"base_url": server.base_url, "api_key": SECRET}
        config.write_text(json.dumps({"model": "openai/loopback", "model_options": options, "limits": {"steps": 1}}))
        ran = proctor("run", "examples", "--task", "find-secret", "--config", str(config), "--json", db=db)
        (run,) = json.loads(ran.stdout)
        assert run["status"] == "over_limit"

        without = proctor("resume", run["id"], "--max-steps", "5", db=db)
        assert without.returncode == 2
        assert without.stderr.strip() == (
            "error: openai/loopback: the api_key this run was given is not stored (secrets never are): "
            "set OPENAI_API_KEY to give it again"
        )
        assert Store(db).run(run["id"]).status.value == "over_limit"  # nothing changed

        server.reset()
        resumed = proctor("resume", run["id"], "--max-steps", "5", db=db, env={"OPENAI_API_KEY": SECRET})
        assert resumed.returncode == 0, resumed.stderr
        assert server.requests and keys_sent(server) == {SECRET}
    final = Store(db).run(run["id"])
    assert final.status.value == "done" and final.score == 1.0
    assert final.config["model_options"]["api_key"] == REDACTED and final.config["limits"]["steps"] == 5
    assert SECRET.encode() not in database_bytes(tmp_path)


def test_oversight_model_options_are_redacted_too(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with LoopbackServer(default=lambda request: Reply(text="Answer: A"), key=SECRET) as server:
        config = tmp_path / "oversight.yaml"
        options = {"openai/judge": {"base_url": server.base_url, "api_key": SECRET}}
        config.write_text(json.dumps({"protocols": ["naive"], "judges": ["openai/judge"], "model_options": options}))
        ran = proctor("oversee", "run", "sample", "--config", str(config), db=db)
        assert ran.returncode == 0, ran.stderr
        assert keys_sent(server) == {SECRET} and len(server.requests) > 1
    runs = Store(db).runs()
    assert runs and all(r.config["oversight"]["model_options"]["openai/judge"]["api_key"] == REDACTED for r in runs)
    assert SECRET.encode() not in database_bytes(tmp_path)


def test_which_options_are_secrets() -> None:
    for name in ("api_key", "key", "token", "access_token", "secret", "password", "Authorization", "x-api-key"):
        assert is_secret(name), name
    for name in ("max_tokens", "base_url", "timeout", "device", "keyboard"):
        assert not is_secret(name), name
    assert redact({"api_key": None, "timeout": 3}) == {"api_key": None, "timeout": 3}  # no key given: said so
    headers = {"headers": {"Authorization": f"Bearer {SECRET}", "Accept": "json"}, "password": SECRET}
    assert redact(headers) == {"headers": {"Authorization": REDACTED, "Accept": "json"}, "password": REDACTED}
    kept = RunConfig(model="openai/m", model_options={"api_key": SECRET})
    assert kept.model_options["api_key"] == SECRET  # used while the run runs
    assert kept.model_dump()["model_options"] == {"api_key": REDACTED}  # every saved copy is redacted
    assert SECRET not in kept.model_dump_json()
