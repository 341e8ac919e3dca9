"""Approvals through the web API: an action an approval rule matches waits until a person approves, edits or
rejects it; others run at once; a call inside an option of tool calls is held on its own; a run killed while held
resumes held, running nothing twice; the agent's questions are answered through the API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from background import Background, wait_until
from doubles import script, sequence, turns
from fastapi.testclient import TestClient
from web_runs import Login

from proctor.models import Completion, GenerateConfig, Message, ToolCall
from proctor.runner import ApprovalConfig, RunConfig, StuckConfig
from proctor.sandbox import open_workspace
from proctor.store import HoldRecord, RunStatus, Store, users
from proctor.tasks import Task

sequence(
    "cautious",
    [
        "Make room. <bash>mkdir scratch && echo kept > scratch/keep.txt</bash>",
        "Clean up. <bash>rm -rf scratch</bash>",
        "<submit>42</submit>",
    ],
)
RULES = ApprovalConfig(rules={"bash": ["rm -rf *"], "write_file": ["*.cfg"]}, poll_seconds=0.05)
CAUTIOUS = RunConfig(model="double/cautious", approval=RULES, stuck=StuckConfig(after_failures=0))


def post(client: TestClient, csrf: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf})


def held(store: Store, run: Background, status: RunStatus = RunStatus.WAITING_APPROVAL) -> HoldRecord:
    """The run's one hold waiting for a person, once the run waits for it."""
    wait_until(lambda: store.run(run.run_id).status is status and store.pending_holds(run.run_id), status.value)
    (hold,) = store.pending_holds(run.run_id)
    return hold


def workspace_of(store: Store, run_id: str) -> Path:
    return Path(store.run(run_id).workspace or "")


def test_a_matching_action_waits_until_a_person_approves_it(web_store: Store, task: Task, login: Login) -> None:
    client, csrf = login("rob")
    started = time.monotonic()
    run = Background(web_store, task, CAUTIOUS)
    hold = held(web_store, run)
    held_at = time.monotonic()
    first, second = web_store.steps(run.run_id)
    assert first.done and first.holds == []  # `mkdir` matched no rule: it ran without waiting
    assert not second.done and second.chosen_option_id is not None
    page = client.get(f"/api/runs/{run.run_id}").json()
    assert page["run"]["status"] == "waiting_approval"
    assert [(h["subject"], h["rule"], h["verdict"]) for h in page["held"]] == [
        ("rm -rf scratch", "bash: rm -rf *", None)
    ]
    assert page["steps"][1]["holds"][0]["id"] == hold.id
    time.sleep(1.0)
    assert web_store.run(run.run_id).status is RunStatus.WAITING_APPROVAL  # still waiting, nothing ran
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "scratch" / "keep.txt").read_text() == "kept\n"

    answer = post(client, csrf, f"/api/runs/{run.run_id}/approve", {"hold_id": hold.id, "verdict": "approve"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": True, "run_id": run.run_id, "hold_id": hold.id, "verdict": "approved"}
    approved_at = time.monotonic()
    record = run.finish()
    wall = time.monotonic() - started

    assert record.status is RunStatus.DONE and record.score == 1.0
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert not (workspace / "scratch").exists()
    step = web_store.steps(run.run_id)[1]
    (decided,) = step.holds
    assert (decided.verdict, decided.decided_by, decided.edited) == ("approved", "rob", None)
    assert decided.decided_at is not None and decided.result is not None
    assert step.observation is not None and not step.observation.failed and step.observation.exit_code == 0
    assert step.observation.duration < 0.9  # the command's time, not the wait for a person
    statuses = [e["detail"]["status"] for e in web_store.events(run.run_id, "status")]
    assert statuses.count("waiting_approval") == 1
    assert statuses[statuses.index("waiting_approval") + 1] == "running"
    assert [e["detail"]["verdict"] for e in web_store.events(run.run_id, "decided")] == ["approved"]
    # The wait is not active time: the run was active for less than the wall time minus the wait.
    assert approved_at - held_at >= 1.0
    assert record.active_seconds <= wall - (approved_at - held_at) + 0.05


def test_an_edited_action_runs_as_edited(web_store: Store, task: Task, login: Login) -> None:
    client, csrf = login("rob")
    run = Background(web_store, task, CAUTIOUS)
    hold = held(web_store, run)
    edit = {"verdict": "edit", "text": "mv scratch attic && ls attic"}
    assert post(client, csrf, f"/api/runs/{run.run_id}/approve", edit).status_code == 200
    assert run.finish().status is RunStatus.DONE

    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "attic" / "keep.txt").read_text() == "kept\n" and not (workspace / "scratch").exists()
    step = web_store.steps(run.run_id)[1]
    assert step.chosen is not None and step.chosen.argument == {"command": "rm -rf scratch"}  # the proposal stays
    (decided,) = step.holds
    assert decided.id == hold.id and decided.verdict == "edited"
    assert decided.edited == {"command": "mv scratch attic && ls attic"}
    assert decided.replacement == "mv scratch attic && ls attic"
    assert step.observation is not None and step.observation.exit_code == 0
    note, listing = step.observation.output.split("\n", 1)
    assert note == "[a person edited this action before it ran; it ran as: mv scratch attic && ls attic]"
    assert listing == "keep.txt\n"  # what the edited command printed, in the sandbox
    html = client.get(f"/runs/{run.run_id}").text
    assert "edited by rob" in html and "ran instead" in html and "mv scratch attic &amp;&amp; ls attic" in html


def test_a_rejected_action_does_not_run(web_store: Store, task: Task, login: Login) -> None:
    client, csrf = login("rob")
    run = Background(web_store, task, CAUTIOUS)
    held(web_store, run)
    reject = {"verdict": "reject", "text": "keep the scratch files"}
    assert post(client, csrf, f"/api/runs/{run.run_id}/approve", reject).status_code == 200
    record = run.finish()

    assert record.status is RunStatus.DONE and record.score == 1.0  # the agent went on to submit
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "scratch" / "keep.txt").read_text() == "kept\n"
    step = web_store.steps(run.run_id)[1]
    assert step.observation is not None and step.observation.failed
    assert step.observation.output == "not run: a person rejected this action: keep the scratch files"
    assert [(h.verdict, h.text, h.result) for h in step.holds] == [("rejected", "keep the scratch files", None)]
    html = client.get(f"/runs/{run.run_id}").text
    assert "rejected by rob" in html and "keep the scratch files" in html
    assert f'action="/runs/{run.run_id}/approve"' not in html  # no controls once decided


def call(name: str, arguments: dict[str, str], id: str) -> ToolCall:
    return ToolCall(id=id, name=name, arguments=json.dumps(arguments))


CAREFUL_PLAN = [
    [call("bash", {"command": "mkdir scratch && echo kept > scratch/keep.txt"}, "c0")],
    [
        call("bash", {"command": "echo one >> log.txt"}, "c1"),
        call("bash", {"command": "rm -rf scratch"}, "c2"),  # held by the bash rule
        call("write_file", {"path": "app.cfg", "content": "debug = true\n"}, "c3"),  # held by the write_file rule
        call("bash", {"command": "echo four >> log.txt"}, "c4"),
    ],
    [call("submit", {"answer": "42"}, "c5")],
]


@script("careful-tools")
def _careful_tools(messages: list[Message], config: GenerateConfig) -> list[Completion]:
    return [Completion(text="", tool_calls=CAREFUL_PLAN[min(turns(messages), 2)])] * config.n


def test_each_matching_call_of_an_option_is_held_on_its_own(web_store: Store, task: Task, login: Login) -> None:
    client, csrf = login("rob")
    config = CAUTIOUS.model_copy(update={"model": "double/careful-tools", "agent": "react"})
    run = Background(web_store, task, config)
    first = held(web_store, run)
    assert (first.call, first.tool, first.action, first.subject) == (1, "bash", "bash", "rm -rf scratch")
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "log.txt").read_text() == "one\n"  # the call before the held one ran
    assert [r["id"] for r in first.prior or []] == ["c1"]
    assert post(client, csrf, f"/api/runs/{run.run_id}/approve", {"verdict": "approve"}).status_code == 200

    wait_until(lambda: [h.call for h in web_store.pending_holds(run.run_id)] == [2], "the second held call")
    (second,) = web_store.pending_holds(run.run_id)
    assert (second.tool, second.action, second.subject, second.rule) == (
        "write_file",
        "write",
        "app.cfg",
        "write_file: *.cfg",
    )
    reject = {"hold_id": second.id, "verdict": "reject", "text": "no config changes"}
    assert post(client, csrf, f"/api/runs/{run.run_id}/approve", reject).status_code == 200
    assert run.finish().status is RunStatus.DONE

    step = web_store.steps(run.run_id)[1]
    assert [(h.call, h.verdict) for h in step.holds] == [(1, "approved"), (2, "rejected")]
    assert [r["id"] for r in step.holds[1].prior or []] == ["c1", "c2"]
    observation = step.observation
    assert observation is not None and observation.calls is not None
    assert [c["id"] for c in observation.calls] == ["c1", "c2", "c3", "c4"]
    assert [c["failed"] for c in observation.calls] == [False, False, True, False]
    assert "rejected this action: no config changes" in observation.calls[2]["output"]
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "log.txt").read_text() == "one\nfour\n"  # each call ran once, the rest went on
        assert not (workspace / "scratch").exists() and not (workspace / "app.cfg").exists()


def test_deciding_is_checked_like_every_action(web_store: Store, task: Task, login: Login) -> None:
    run = Background(web_store, task, CAUTIOUS)
    hold = held(web_store, run)
    rae, rae_csrf = login("rae")
    rob, rob_csrf = login("rob")
    url = f"/api/runs/{run.run_id}/approve"
    assert post(rae, rae_csrf, url, {"verdict": "approve"}).status_code == 404  # not her run
    assert rob.post(url, json={"verdict": "approve"}).status_code == 403  # no CSRF token
    assert post(rob, rob_csrf, url, {"verdict": "maybe"}).status_code == 422
    assert post(rob, rob_csrf, url, {"verdict": "edit", "text": "  "}).status_code == 422
    assert post(rob, rob_csrf, url, {"hold_id": hold.id + 1, "verdict": "approve"}).status_code == 409
    assert post(rob, rob_csrf, f"/api/runs/{run.run_id}/answer", {"text": "hi"}).status_code == 409  # no question
    assert web_store.pending_holds(run.run_id) == [hold]  # nothing was decided
    web_store.write(users.assign, "rae", [run.run_id], "ada")
    assert post(rae, rae_csrf, url, {"verdict": "approve"}).status_code == 200  # a rater decides in her runs
    assert post(rob, rob_csrf, url, {"verdict": "reject"}).status_code == 409  # decided already
    assert run.finish().status is RunStatus.DONE
    assert [h.decided_by for h in web_store.steps(run.run_id)[1].holds] == ["rae"]


@script("resumed-tools")
def _resumed_tools(messages: list[Message], config: GenerateConfig) -> list[Completion]:
    plan = [
        [
            call("bash", {"command": "echo one >> log.txt"}, "k1"),
            call("bash", {"command": "rm -rf x; echo two >> log.txt"}, "k2"),
        ],
        [call("submit", {"answer": "42"}, "k3")],
    ]
    return [Completion(text="", tool_calls=plan[min(turns(messages), 1)])] * config.n


def test_a_run_killed_while_held_resumes_held_and_runs_nothing_twice(
    web_store: Store, task: Task, login: Login
) -> None:
    client, csrf = login("rob")
    config = CAUTIOUS.model_copy(update={"model": "double/resumed-tools", "agent": "react"})
    run = Background(web_store, task, config)
    hold = held(web_store, run)
    run.kill()
    assert web_store.run(run.run_id).status is RunStatus.KILLED
    assert web_store.pending_holds(run.run_id) == [hold]

    resumed = Background(web_store, resume=run.run_id)
    waits = lambda: [e for e in web_store.events(run.run_id, "status") if e["detail"]["status"] == "waiting_approval"]  # noqa: E731
    wait_until(lambda: len(waits()) == 2, "the resumed run to wait again")
    assert web_store.pending_holds(run.run_id) == [hold]  # the same hold, not a new one
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "log.txt").read_text() == "one\n"
    assert post(client, csrf, f"/api/runs/{run.run_id}/approve", {"verdict": "approve"}).status_code == 200
    record = resumed.finish()

    assert record.status is RunStatus.DONE and record.score == 1.0
    with open_workspace(workspace_of(web_store, run.run_id)) as workspace:
        assert (workspace / "log.txt").read_text() == "one\ntwo\n"  # the call before the hold ran once
    step = web_store.steps(run.run_id)[0]
    assert step.observation is not None and [c["id"] for c in step.observation.calls or []] == ["k1", "k2"]
    assert len(step.holds) == 1 and step.holds[0].verdict == "approved"


@script("asker")
def _asker(messages: list[Message], config: GenerateConfig) -> list[str]:
    assert "<ask>" in messages[0].content  # the prompt tells of asking only when the run allows it
    if turns(messages) == 0:
        return ["I cannot tell which file. <ask>Which file holds the answer?</ask>"] * config.n
    if turns(messages) == 1:
        return [f"<bash>cat {messages[-1].content.strip()}</bash>"] * config.n
    return ["<submit>42</submit>"] * config.n


def test_the_tags_agent_asks_and_a_person_answers_through_the_api(web_store: Store, task: Task, login: Login) -> None:
    client, csrf = login("rob")
    config = RunConfig(model="double/asker", ask_human=True, approval=RULES, stuck=StuckConfig(after_failures=0))
    run = Background(web_store, task, config)
    question = held(web_store, run, RunStatus.WAITING_ANSWER)
    assert (question.kind, question.action, question.subject) == ("question", "ask", "Which file holds the answer?")
    assert post(client, csrf, f"/api/runs/{run.run_id}/approve", {"verdict": "approve"}).status_code == 409
    html = client.get(f"/runs/{run.run_id}").text
    assert "the agent asks" in html and "Which file holds the answer?" in html
    assert f'action="/runs/{run.run_id}/answer"' in html and "waiting answer" in html
    answer = post(client, csrf, f"/api/runs/{run.run_id}/answer", {"text": "note.txt"})
    assert answer.status_code == 200 and answer.json()["verdict"] == "answered"
    record = run.finish()

    assert record.status is RunStatus.DONE and record.score == 1.0
    asked, read, _ = web_store.steps(run.run_id)
    assert asked.observation is not None and (asked.observation.kind, asked.observation.output) == ("ask", "note.txt")
    assert [(h.verdict, h.text, h.decided_by) for h in asked.holds] == [("answered", "note.txt", "rob")]
    assert read.observation is not None and read.observation.output == "the answer is 42\n"  # it used the answer
    statuses = [e["detail"]["status"] for e in web_store.events(run.run_id, "status")]
    assert "waiting_answer" in statuses and "waiting_approval" not in statuses
    html = client.get(f"/runs/{run.run_id}").text
    assert "answered by rob" in html and f'action="/runs/{run.run_id}/answer"' not in html
