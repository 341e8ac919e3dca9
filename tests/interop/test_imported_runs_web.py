"""Imported runs are runs like any other: the web lists and shows them, people rate and tag their steps, and
`proctor show` draws them — a log Inspect wrote, and METR-format runs without steps."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from inspect_ai.log import EvalLog
from interop_runs import proctor

from proctor.interop import import_inspect, import_runs_jsonl
from proctor.store import Store, users
from proctor.web import WebSettings, create_app

PASSWORD = "correct-horse-1"


def test_the_web_shows_rates_and_tags_imported_runs(inspect_logs: list[EvalLog], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    store = Store(db)
    import_inspect(store, [Path(log.location) for log in inspect_logs])
    line = {"task_id": "hcast/fix", "run_id": "7", "alias": "GPT-4o", "score_binarized": 1, "human_minutes": 30}
    (tmp_path / "runs.jsonl").write_text(json.dumps(line) + "\n")
    import_runs_jsonl(store, tmp_path / "runs.jsonl")
    store.write(users.add_user, "rob", "researcher", PASSWORD)
    (agent,) = store.runs(task="shell/sum")
    (metr,) = store.runs(task="hcast/fix")
    with TestClient(create_app(store, WebSettings())) as client:
        csrf = client.post("/api/login", json={"name": "rob", "password": PASSWORD}).json()["csrf"]
        listed = client.get("/runs")
        assert listed.status_code == 200
        assert "shell/sum" in listed.text and "arithmetic/add" in listed.text and "hcast/fix" in listed.text
        page = client.get(f"/runs/{agent.id}")
        assert page.status_code == 200 and "echo $((2+3))" in page.text
        assert client.get(f"/runs/{metr.id}").status_code == 200
        step = store.steps(agent.id)[0]
        headers = {"X-CSRF-Token": csrf}
        rated = client.post(f"/api/options/{step.options[0].id}/rate", json={"value": 4}, headers=headers)
        assert rated.status_code == 200, rated.text
        tagged = client.post(f"/api/steps/{step.id}/tag", json={"name": "careful"}, headers=headers)
        assert tagged.status_code == 200, tagged.text
    again = store.steps(agent.id)[0]
    assert [r.value for r in again.options[0].ratings] == [4.0] and again.tags == ["careful"]
    shown = proctor("show", agent.id, db=db)
    assert shown.returncode == 0, shown.stderr
    assert "step 0" in shown.stdout and "step 1" in shown.stdout
