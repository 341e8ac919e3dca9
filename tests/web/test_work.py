"""A person's run through the work page's API, in-process, with the real runner driving the human agent beside it:
the clock, commands, files, notes, scoring and submission; who may do what; escaping."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from web_runs import XSS, Login

from proctor.runner import RunConfig, Runner, work
from proctor.store import RunStatus, Store, users
from proctor.store._export import trajectory
from proctor.tasks import Task, load_tasks

PERSON = RunConfig(agent="human", agent_options={"poll_seconds": 0.05})


@contextmanager
def human_run(store: Store, task: Task) -> Iterator[str]:
    """A run of the human agent, driven in a thread (as `proctor run --agent human` drives it) until it ends."""
    ids: list[str] = []

    async def go() -> None:
        async with Runner(store) as runner:
            ids.append(await runner.create(task, PERSON))
            await runner.drive(ids[0])

    driving = threading.Thread(target=lambda: asyncio.run(go()), daemon=True)
    driving.start()
    wait_for(lambda: bool(ids) and store.run(ids[0]).status is RunStatus.WAITING_HUMAN)
    yield ids[0]
    driving.join(timeout=30)
    assert not driving.is_alive()


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.03)


def step_of(store: Store, run_id: str, request: int) -> Any:
    """The completed step a person's request became."""
    found: list[Any] = []

    def done() -> bool:
        steps = [s for s in store.steps(run_id) if s.chosen and (s.chosen.argument or {}).get("request") == request]
        found[:] = [s for s in steps if s.done]
        return bool(found)

    wait_for(done)
    return found[0]


def post(client: TestClient, csrf: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf})


def test_a_person_does_a_task_through_the_work_api(login: Login, web_store: Store, task: Task) -> None:
    with human_run(web_store, task) as run_id:
        rob, csrf = login("rob")
        work, clock = f"/api/runs/{run_id}/work", f"/api/runs/{run_id}/clock"
        state = rob.get(work).json()
        assert state["clock"]["state"] == "not started" and state["can"]["start"] and not state["can"]["act"]
        assert state["task"]["instructions"].startswith("Read note.txt") and state["files"] is None
        early = post(rob, csrf, work, {"action": "bash", "command": "ls"})
        assert early.status_code == 409 and "start the clock first" in early.json()["error"]
        assert post(rob, csrf, clock, {"state": "resume"}).status_code == 409
        assert rob.post(clock, json={"state": "start"}).status_code == 403  # no CSRF token: nothing stored
        assert post(rob, csrf, clock, {"state": "start"}).json()["clock"] == "start"

        # Another person may look (a rater, once assigned) but not use rob's clock or commands.
        rae, rae_csrf = login("rae")
        assert rae.get(work).status_code == 404
        web_store.write(users.assign, "rae", [run_id], "ada")
        assert rae.get(work).json()["clock"]["by"] == "rob"
        taken = post(rae, rae_csrf, clock, {"state": "pause"})
        assert taken.status_code == 409 and "rob is doing this run" in taken.json()["error"]

        command = post(rob, csrf, work, {"action": "bash", "command": f"printf '%s' '{XSS}'; cat note.txt"}).json()
        assert step_of(web_store, run_id, command["request"]).observation.output == f"{XSS}the answer is 42\n"
        listed = post(rob, csrf, work, {"action": "files"}).json()
        step_of(web_store, run_id, listed["request"])
        assert rob.get(work).json()["files"] == ["note.txt"]
        read = post(rob, csrf, work, {"action": "read", "path": "note.txt"}).json()
        step_of(web_store, run_id, read["request"])
        shown = rob.get(work).json()["file"]
        assert (shown["path"], shown["content"], shown["failed"]) == ("note.txt", "the answer is 42\n", False)
        assert post(rob, csrf, work, {"action": "read", "path": " "}).status_code == 422
        assert post(rob, csrf, work, {"action": "delete"}).status_code == 422
        assert post(rob, csrf, f"/api/runs/{run_id}/notes", {"text": f"found it {XSS}"}).json()["ok"]

        scored = post(rob, csrf, work, {"action": "score"}).json()  # a native task offers none
        assert "offers no intermediate scoring" in step_of(web_store, run_id, scored["request"]).observation.output
        assert rob.get(work).json()["scoring"] is False

        assert post(rob, csrf, clock, {"state": "pause"}).json()["ok"]
        paused = post(rob, csrf, work, {"action": "bash", "command": "ls"})
        assert paused.status_code == 409 and "resume the clock first" in paused.json()["error"]
        assert post(rob, csrf, clock, {"state": "pause"}).status_code == 409
        page = rob.get(f"/runs/{run_id}/work").text
        assert "<script>window" not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;the answer is 42" in page
        assert "found it &lt;script&gt;" in page and 'data-clock="resume"' in page and 'data-clock="pause"' not in page
        assert post(rob, csrf, clock, {"state": "resume"}).json()["ok"]
        assert post(rob, csrf, work, {"action": "submit", "answer": "42"}).json()["ok"]
    run = web_store.run(run_id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.submission == "42"
    steps = web_store.steps(run_id)
    assert [s.chosen.action for s in steps if s.chosen] == ["bash", "bash", "read", "score", "submit"]
    assert {s.chosen.source for s in steps if s.chosen} == {"human:rob"}
    after = rob.get(work).json()
    assert after["clock"]["state"] == "stopped" and not any(after["can"].values()) and after["pending"] == []
    ended = post(rob, csrf, work, {"action": "bash", "command": "ls"})
    assert ended.status_code == 409 and "has ended" in ended.json()["error"]
    run_page = rob.get(f"/runs/{run_id}").text
    assert f'href="/runs/{run_id}/work"' in run_page and "found it &lt;script&gt;" in run_page  # the note
    assert f'href="/runs/{run_id}/work"' in rob.get("/runs").text
    assert f'href="/runs/{run_id}/work"' in rae.get("/queue").text
    (note,) = trajectory(web_store, run)["notes"]  # exported with the run
    assert (note["by"], note["text"], note["step"]) == ("rob", f"found it {XSS}", 3)


def test_only_a_persons_run_has_a_work_page(login: Login, finished_run: str) -> None:
    rob, csrf = login("rob")
    page = rob.get(f"/api/runs/{finished_run}/work")
    assert page.status_code == 404 and "not done by a person" in page.json()["error"]
    assert post(rob, csrf, f"/api/runs/{finished_run}/clock", {"state": "start"}).status_code == 404
    assert "/work" not in rob.get(f"/runs/{finished_run}").text


def test_intermediate_scoring_on_the_work_page(login: Login, web_store: Store) -> None:
    task = next(t for t in load_tasks("examples", only=["metr_arith"]) if t.info.name == "add")
    with human_run(web_store, task) as run_id:
        rob, csrf = login("rob")
        work = f"/api/runs/{run_id}/work"
        assert rob.get(work).json()["scoring"] is True
        post(rob, csrf, f"/api/runs/{run_id}/clock", {"state": "start"})
        post(rob, csrf, work, {"action": "bash", "command": "python3 -c 'print(48213 + 97466)' > answer.txt"})
        scored = post(rob, csrf, work, {"action": "score"}).json()
        assert step_of(web_store, run_id, scored["request"]).observation.output.startswith("score: 1.0")
        assert 'id="score"' in rob.get(f"/runs/{run_id}/work").text
        post(rob, csrf, work, {"action": "submit", "answer": "145679"})
    assert web_store.run(run_id).score == 1.0


def test_a_researcher_starts_a_persons_run_and_the_worker_drives_it(
    login: Login, web_store: Store, finished_run: str
) -> None:
    rob, csrf = login("rob")
    rae, rae_csrf = login("rae")
    assert 'action="/runs/' + finished_run + '/person"' in rob.get(f"/runs/{finished_run}").text
    assert post(rae, rae_csrf, f"/api/runs/{finished_run}/person", {}).status_code == 403
    unknown = post(rob, csrf, f"/api/runs/{finished_run}/person", {"user": "nobody"})
    assert unknown.status_code == 422 and web_store.count_runs() == 1  # nothing stored
    made = post(rob, csrf, f"/api/runs/{finished_run}/person", {"user": "rae"}).json()
    run = web_store.run(made["run_id"])
    assert made["location"] == f"/runs/{run.id}/work" and run.status is RunStatus.QUEUED
    assert run.task_id == web_store.run(finished_run).task_id and run.model == "human/web"
    assert run.config["agent"] == "human" and run.config["limits"]["steps"] is None
    worker = threading.Thread(target=lambda: asyncio.run(work(web_store, poll=0.05, once=True)), daemon=True)
    worker.start()
    wait_for(lambda: web_store.run(run.id).status is RunStatus.WAITING_HUMAN)
    assert f'href="/runs/{run.id}/work"' in rae.get("/queue").text  # assigned to rae
    post(rae, rae_csrf, f"/api/runs/{run.id}/clock", {"state": "start"})
    post(rae, rae_csrf, f"/api/runs/{run.id}/work", {"action": "submit", "answer": "42"})
    worker.join(timeout=30)
    done = web_store.run(run.id)
    assert done.status is RunStatus.DONE and done.score == 1.0
    assert [s.chooser for s in web_store.steps(run.id)] == ["human:rae"]
