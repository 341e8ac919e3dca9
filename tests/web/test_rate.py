"""Ratings, preferences, run control, raters' queue and input hygiene through the web app in-process (the ASGI
client) on runs made by the real runner: one rating per person, shown on the buttons; alternatives and pairwise
comparisons; Resume, Kill and Score; to-do and done; one validation for forms and API; CRLF made LF; no database
URL or server path in errors; login limits."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import anyio
import pytest
from doubles import sequence
from study_doubles import make_experiment
from web_runs import PASSWORD, Login

from proctor.cli import main
from proctor.protocols import create_study
from proctor.store import RunStatus, Store, ops, studies, users
from proctor.web import WebSettings, create_app
from proctor.web._format import number, plural
from proctor.web._limits import HashPool

sequence("alt-sampler", ["<bash>ls -la</bash>"])


def post(client: object, csrf: str, path: str, body: dict[str, object]) -> object:
    return client.post(path, json=body, headers={"X-CSRF-Token": csrf})  # type: ignore[attr-defined]


def test_one_rating_per_person_shown_on_the_buttons(login: Login, finished_run: str, web_store: Store) -> None:
    rob, csrf = login("rob")
    option = web_store.steps(finished_run)[1].options[0].id
    for value, comment in ((2, "first look"), (4, "on second thought\r\nbetter")):
        answer = post(rob, csrf, f"/api/options/{option}/rate", {"value": value, "comment": comment})
        assert answer.status_code == 200, answer.text
    assert answer.json()["mine"] == 4 and answer.json()["n"] == 1
    form = rob.post(f"/options/{option}/rate", data={"csrf": csrf, "value": "5"}, follow_redirects=False)
    assert form.status_code == 303
    ada, ada_csrf = login("ada")
    assert post(ada, ada_csrf, f"/api/options/{option}/rate", {"value": 2}).status_code == 200
    (shown,) = [o for o in web_store.steps(finished_run)[1].options if o.id == option]
    assert sorted((r.rater, r.value) for r in shown.ratings) == [("human:ada", 2.0), ("human:rob", 5.0)]
    summary = rob.get(f"/api/options/{option}/ratings").json()
    assert (summary["n"], summary["mean"], summary["spread"], summary["mine"]) == (2, 3.5, 1.5, 5.0)
    assert [h["value"] for h in summary["yours"]] == [2.0, 4.0, 5.0]  # history kept
    assert [h["comment"] for h in summary["yours"]][1] == "on second thought\nbetter"
    page = rob.get(f"/runs/{finished_run}").text
    form_html = page.split(f'data-option-id="{option}"')[1].split("</form>")[0]
    assert re.search(r'value="5" class="seg on" aria-pressed="true" title="5: very good"', form_html), form_html
    assert form_html.count('aria-pressed="true"') == 1 and "your rating" in form_html and "1 very poor" in form_html
    assert "2 ratings · mean 3.5 · ± 1.5" in page
    other_page = ada.get(f"/runs/{finished_run}").text.split(f'data-option-id="{option}"')[1].split("</form>")[0]
    assert 'value="2" class="seg on"' in other_page


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": 3.5}, "value"),
        ({"value": "3.5"}, "value"),
        ({"value": 9}, "value"),
        ({"value": 3, "comment": "x" * 2001}, "comment"),
        ({"value": True}, None),
    ],
)
def test_the_api_refuses_what_the_form_refuses(
    login: Login, finished_run: str, web_store: Store, body: dict[str, object], field: str | None
) -> None:
    rob, csrf = login("rob")
    option = web_store.steps(finished_run)[0].options[0].id
    api = post(rob, csrf, f"/api/options/{option}/rate", body)
    form = rob.post(f"/options/{option}/rate", data={"csrf": csrf, **{k: str(v) for k, v in body.items()}})
    if field is None:  # a JSON true is not a rating, and neither is the form's "True"
        assert api.status_code == 422 or api.json()["rating"] == 1
        assert form.status_code == 422
    else:
        assert api.status_code == form.status_code == 422
        assert api.json()["error"].startswith(field)
    assert all(r.rater != "human:rob" or r.value in (1.0,) for r in web_store.steps(finished_run)[0].options[0].ratings)


def test_alternatives_and_comparisons(login: Login, finished_run: str, web_store: Store, tmp_path: Path) -> None:
    rob, csrf = login("rob")
    step = web_store.steps(finished_run)[1]
    typed = post(rob, csrf, f"/api/steps/{step.id}/alternatives", {"text": "<bash>printf 'a\\n'\r\nls</bash>"})
    assert typed.status_code == 200, typed.text
    sampled = post(rob, csrf, f"/api/steps/{step.id}/alternatives", {"model": "double/alt-sampler"})
    assert sampled.status_code == 200, sampled.text
    assert sampled.json()["source"] == "model:double/alt-sampler"
    assert post(rob, csrf, f"/api/steps/{step.id}/alternatives", {"text": "no action here"}).status_code == 422
    assert post(rob, csrf, f"/api/steps/{step.id}/alternatives", {"model": "nope/x"}).status_code == 422
    options = web_store.steps(finished_run)[1].options
    assert [o.added_by for o in options] == [None, None, "rob", "rob"]
    assert options[2].text == "<bash>printf 'a\\n'\nls</bash>" and "\r" not in options[2].text
    assert (
        options[3].text == "<bash>ls -la</bash>"
        and web_store.steps(finished_run)[1].chosen_option_id == step.chosen_option_id
    )
    assert len(web_store.steps(finished_run)) == 3  # nothing ran

    rae, rae_csrf = login("rae")
    web_store.write(users.assign, "rae", [finished_run], "ada")
    assert post(rae, rae_csrf, f"/api/steps/{step.id}/alternatives", {"model": "double/alt-sampler"}).status_code == 403
    taken, alternative = step.chosen_option_id, options[2].id
    for bad in ({"a": taken, "b": alternative, "value": 4}, {"a": taken, "b": alternative, "value": 1.5}):
        assert post(rae, rae_csrf, f"/api/steps/{step.id}/compare", bad).status_code == 422
    elsewhere = web_store.steps(finished_run)[0].options[0].id
    assert (
        post(rae, rae_csrf, f"/api/steps/{step.id}/compare", {"a": taken, "b": elsewhere, "value": 1}).status_code
        == 422
    )
    for value in (1, -3):  # the second replaces the first
        answer = post(rae, rae_csrf, f"/api/steps/{step.id}/compare", {"a": alternative, "b": taken, "value": value})
        assert answer.status_code == 200, answer.text
    assert post(rae, rae_csrf, f"/api/options/{alternative}/rate", {"value": 5}).status_code == 200
    prefs = rae.get(f"/api/steps/{step.id}/prefs").json()
    assert [(c["option_a"], c["value"], c["mine"]) for c in prefs["comparisons"]] == [(alternative, -3, True)]
    assert [o["added_by"] for o in prefs["options"]] == [None, None, "rob", "rob"] and prefs["may_sample"] is False
    fragment = rae.get(f"/steps/{step.id}/prefs").text
    assert "A much better" in fragment and 'name="model"' not in fragment and "<html" not in fragment
    waiting = web_store.steps(finished_run)[0]
    assert waiting.chosen_option_id is not None

    out = tmp_path / "prefs.jsonl"
    with pytest.raises(SystemExit) as stopped:
        main(["export", "preferences", "--run", finished_run, "-o", str(out), "--db", web_store.url])
    assert stopped.value.code in (0, None)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    (compared,) = [x for x in lines if x["kind"] == "comparison"]
    assert compared["a"]["id"] == alternative and compared["strength"] == -3 and compared["rater"] == "human:rae"
    assert compared["b"]["chosen"] and compared["context"][0]["role"] == "assistant" and compared["step"] == 1
    assert [(x["option"]["id"], x["value"]) for x in lines if x["kind"] == "rating"] == [(alternative, 5.0)]


def test_resume_kill_and_score(login: Login, finished_run: str, web_store: Store) -> None:
    rob, csrf = login("rob")
    rae, rae_csrf = login("rae")
    web_store.write(ops.set_status, finished_run, RunStatus.PAUSED, "paused on request")
    page = rob.get(f"/runs/{finished_run}").text
    assert '<p class="run-note paused">Paused: paused on request.' in page and "run-error" not in page
    assert 'action="/runs/' + finished_run + '/resume"' in page and 'action="/runs/' + finished_run + '/kill"' in page
    web_store.write(users.assign, "rae", [finished_run], "ada")
    assert "/resume" not in rae.get(f"/runs/{finished_run}").text
    assert post(rae, rae_csrf, f"/api/runs/{finished_run}/resume", {}).status_code == 403
    answer = post(rob, csrf, f"/api/runs/{finished_run}/resume", {})
    assert answer.status_code == 200 and answer.json()["status"] == "queued"
    assert post(rob, csrf, f"/api/runs/{finished_run}/resume", {}).status_code == 409  # queued already
    killed = post(rob, csrf, f"/api/runs/{finished_run}/kill", {})
    assert killed.status_code == 200 and killed.json() == {
        "ok": True,
        "run_id": finished_run,
        "status": "killed",
        "killed": True,
    }
    assert post(rob, csrf, f"/api/runs/{finished_run}/kill", {}).status_code == 409
    assert [e["detail"]["by"] for e in web_store.events(finished_run, "kill_requested")] == ["rob"]

    web_store.write(ops.set_status, finished_run, RunStatus.NEEDS_MANUAL_SCORE)
    assert 'class="score-form"' in rob.get(f"/runs/{finished_run}").text
    for bad in ({"score": 1.5}, {"score": "abc"}, {}, {"score": 0.5, "comment": "x" * 2001}):
        assert post(rob, csrf, f"/api/runs/{finished_run}/score", bad).status_code == 422
    assert post(rae, rae_csrf, f"/api/runs/{finished_run}/score", {"score": 1}).status_code == 403
    scored = post(rob, csrf, f"/api/runs/{finished_run}/score", {"score": 0.5, "comment": "half\r\nright"})
    assert scored.status_code == 200 and scored.json()["status"] == "done"
    record = web_store.run(finished_run)
    assert (record.status, record.score) == (RunStatus.DONE, 0.5)
    (event,) = web_store.events(finished_run, "manual_score")
    assert event["detail"] == {"by": "rob", "score": 0.5, "comment": "half\nright"}
    assert post(rob, csrf, f"/api/runs/{finished_run}/score", {"score": 1}).status_code == 409


def test_the_queue_has_to_do_and_done_and_next_stays_in_the_study(
    login: Login, finished_run: str, web_store: Store
) -> None:
    task_id = web_store.run(finished_run).task_id
    going = web_store.write(ops.create_run, task_id=task_id, model="m/x", config={})
    child = web_store.write(ops.create_run, task_id=task_id, model="m/x", config={}, parent_run_id=going)
    web_store.write(users.assign, "rae", [finished_run, going], "ada")
    first = create_study(web_store, make_experiment(web_store, 2), "debate", ["rae"], seed=0, name="first")
    second = create_study(web_store, make_experiment(web_store, 2), "debate", ["rae"], seed=1, name="second")
    rae, csrf = login("rae")
    queue = rae.get("/api/queue").json()
    assert [r["id"] for r in queue["todo"]] == [finished_run, going] and queue["done"] == []
    assert [c["id"] for c in queue["todo"][1]["subtasks"]] == [child]
    option = web_store.steps(finished_run)[0].options[0].id
    post(rae, csrf, f"/api/options/{option}/rate", {"value": 3})
    queue = rae.get("/api/queue").json()
    assert [r["id"] for r in queue["todo"]] == [going] and [r["id"] for r in queue["done"]] == [finished_run]
    page = rae.get("/queue").text
    pending = len(queue["judgments"])
    assert f"To do: 1 run, {pending} questions · done: 1 run, 0 questions" in page and child[:8] in page

    with web_store.engine.connect() as conn:
        mine = studies.judgments(conn, user_id=users.user_by_name(conn, "rae").id)  # type: ignore[union-attr]
    in_first = [j.id for j in mine if j.study_id == first.id]
    in_second = [j.id for j in mine if j.study_id == second.id]
    assert mine[0].study_id == first.id
    for judgment in in_first:  # "next" goes through the first study, then back to the queue
        answer = post(rae, csrf, f"/api/judgments/{judgment}", {"verdict": 0, "confidence": 0.7})
        following = answer.json()["next"]
        assert following is None or following in in_first
    assert following is None
    form = rae.post(
        f"/judgments/{in_second[0]}", data={"csrf": csrf, "verdict": "A", "confidence": "70"}, follow_redirects=False
    )
    assert form.headers["location"] == f"/judgments/{in_second[1]}"
    queue = rae.get("/api/queue").json()
    assert len(queue["answered"]) == len(in_first) + 1


def test_typed_text_is_stored_with_unix_line_endings(login: Login, web_store: Store, finished_run: str) -> None:
    rob, csrf = login("rob")
    web_store.write(ops.set_status, finished_run, RunStatus.PAUSED, "paused on request")
    answer = post(rob, csrf, f"/api/runs/{finished_run}/intervene", {"text": "<bash>echo a\r\necho b\r</bash>"})
    assert answer.status_code == 200, answer.text
    added = web_store.steps(finished_run)[-1].options[0]
    assert added.text == "<bash>echo a\necho b\n</bash>" and added.argument == {"command": "echo a\necho b"}
    fork = rob.post(
        f"/runs/{finished_run}/fork",
        data={"csrf": csrf, "step": "1", "text": "<bash>ls\r\npwd</bash>"},
        follow_redirects=False,
    )
    assert fork.status_code == 303
    forked = fork.headers["location"].rsplit("/", 1)[1]
    assert web_store.steps(forked)[1].options[0].text == "<bash>ls\npwd</bash>"
    option = web_store.steps(finished_run)[0].options[0].id
    rob.post(f"/options/{option}/rate", data={"csrf": csrf, "value": "3", "comment": "a\r\nb"})
    assert [r.comment for r in web_store.steps(finished_run)[0].options[0].ratings] == ["a\nb"]


def test_errors_show_no_database_url_or_server_path(login: Login, web_store: Store, finished_run: str) -> None:
    ada, csrf = login("ada")
    where = web_store.url.removeprefix("sqlite:///")
    answers = [
        post(ada, csrf, "/api/admin/assignments", {"user": "rae", "runs": "nosuchrun"}),
        ada.post("/admin/assignments", data={"csrf": csrf, "user": "rae", "runs": "nosuchrun"}),
        post(ada, csrf, f"/api/runs/{finished_run}/fork", {"step": 99}),
        ada.get("/api/runs/nosuchrun"),
    ]
    for answer in answers:
        assert answer.status_code in (404, 422), answer.text
        assert web_store.url not in answer.text and where not in answer.text and "sqlite" not in answer.text
        assert not re.search(r"/(tmp|home|work|root|var)/", answer.text), answer.text
    assert "no run 'nosuchrun' in the database" in answers[0].json()["error"]


def test_login_is_limited_per_name_and_per_address(web_store: Store) -> None:
    from fastapi.testclient import TestClient

    settings = WebSettings(login_failures_per_name=3, login_failures_per_address=5)
    client = TestClient(create_app(web_store, settings))
    for _ in range(3):
        assert client.post("/api/login", json={"name": "rob", "password": "wrong-one"}).status_code == 401
    refused = client.post("/api/login", json={"name": "rob", "password": PASSWORD})  # even the right one, for now
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "too many wrong logins" in refused.json()["error"]
    assert client.post("/api/login", json={"name": "ada", "password": PASSWORD}).status_code == 200  # another name
    for _ in range(2):
        assert client.post("/api/login", json={"name": "ray", "password": "wrong-one"}).status_code == 401
    blocked = client.post("/api/login", json={"name": "rae", "password": PASSWORD})  # the address's 5 are used up
    assert blocked.status_code == 429
    client.get("/login")
    nonce = client.cookies["proctor_login"]
    form = client.post("/login", data={"nonce": nonce, "name": "rae", "password": PASSWORD})
    assert form.status_code == 429 and "too many wrong logins" in form.text and form.headers["retry-after"]


def test_password_checks_run_a_few_at_a_time() -> None:
    pool = HashPool(2)
    lock = threading.Lock()
    running, most = 0, 0
    release = threading.Event()

    def check() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(5)
        with lock:
            running -= 1

    async def burst() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(pool.run, check)
            await anyio.sleep(0.2)
            release.set()

    anyio.run(burst)
    assert most == 2


def test_favicon_and_counts(login: Login, web_store: Store, finished_run: str) -> None:
    rob, _ = login("rob")
    icon = rob.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert 'rel="icon"' in rob.get("/runs").text
    web_store.write(ops.update_run, finished_run, input_tokens=1234567, output_tokens=1)
    assert "1,234,567 in · 1 out" in rob.get(f"/runs/{finished_run}").text
    assert [plural(1, "run"), plural(0, "step"), plural(2, "person"), plural(1200, "reply")] == [
        "1 run",
        "0 steps",
        "2 people",
        "1,200 replies",
    ]
    assert (number(1234), number(2.5), number(None)) == ("1,234", "2.50", "—")


def test_counts_have_separators_and_plurals_across_pages(login: Login, web_store: Store, finished_run: str) -> None:
    rob, csrf = login("rob")
    step = web_store.steps(finished_run)[0]
    post(rob, csrf, f"/api/steps/{step.id}/tag", {"name": "planning"})
    tags = rob.get("/tags?name=planning").text
    assert "1 tagged step<" in tags and "1 tagged steps" not in tags
    web_store.write(ops.update_run, finished_run, cost=1234.5)
    assert "$1,234.5000" in rob.get("/runs").text
    study = create_study(web_store, make_experiment(web_store, 1), "debate", ["rae"], seed=0)
    page = rob.get(f"/studies/{study.id}").text
    progress = page.split('<dd class="progress">')[1].split("</dd>")[0]
    assert re.fullmatch(r"0 / \d+", progress) and "1 people" not in page, progress


def test_whole_numbers_are_whole_in_every_api(login: Login, web_store: Store) -> None:
    rob, csrf = login("rob")
    experiment = make_experiment(web_store, 1)
    body = {"experiment": experiment, "protocol": "debate", "users": ["rae"]}
    for seed in (1.5, True, "2.5"):
        answer = post(rob, csrf, "/api/studies", body | {"seed": seed})
        assert answer.status_code == 422 and answer.json()["error"].startswith("seed: "), answer.text
    form = rob.post("/studies", data={"csrf": csrf, **body, "users": "rae", "seed": "1.5"})
    assert form.status_code == 422
    assert post(rob, csrf, "/api/studies", body | {"seed": 2.0}).status_code == 200
    assert post(rob, csrf, "/api/studies", body | {"per_person": 0}).json()["error"].startswith("per_person: ")
    ada, ada_csrf = login("ada")
    long_name = {"name": "x" * 101, "role": "rater", "password": "long-enough"}
    assert post(ada, ada_csrf, "/api/admin/users", long_name).json()["error"].startswith("name: ")
    assert ada.post("/admin/users", data={"csrf": ada_csrf, **long_name}).status_code == 422
    assert post(ada, ada_csrf, "/api/admin/assignments", {"user": "rae", "runs": [1.5]}).status_code == 422


def test_an_unexpected_failure_answers_a_generic_500(web_store: Store) -> None:
    from fastapi.testclient import TestClient

    app = create_app(web_store)

    def boom() -> None:
        raise RuntimeError(f"cannot open {web_store.url} at /srv/secret/proctor.db")

    app.add_api_route("/api/boom", boom)
    app.add_api_route("/boom", boom)
    client = TestClient(app, raise_server_exceptions=False)
    for path in ("/api/boom", "/boom"):
        answer = client.get(path)
        assert answer.status_code == 500 and "something went wrong on the server" in answer.text
        assert "secret" not in answer.text and "sqlite" not in answer.text
    assert client.get("/api/boom").json() == {
        "error": "something went wrong on the server: its log says what",
        "status": 500,
    }


def test_killing_a_run_that_waits_for_a_person_stops_its_runner(login: Login, web_store: Store, task: object) -> None:
    import asyncio
    import time

    from proctor.runner import ChooserConfig, RunConfig, Runner

    config = RunConfig(model="double/web-solver", options=2, chooser=ChooserConfig(name="human", poll_seconds=0.05))
    ids: list[str] = []
    ended: list[RunStatus] = []

    async def run_with_a_person() -> None:
        async with Runner(web_store) as runner:
            ids.append(await runner.create(task, config))  # type: ignore[arg-type]
            ended.append((await runner.drive(ids[0])).status)

    driving = threading.Thread(target=lambda: asyncio.run(run_with_a_person()), daemon=True)
    driving.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (ids and web_store.run(ids[0]).status is RunStatus.WAITING_HUMAN):
        time.sleep(0.05)
    rob, csrf = login("rob")
    answer = post(rob, csrf, f"/api/runs/{ids[0]}/kill", {})
    assert answer.status_code == 200 and answer.json()["killed"] is True
    driving.join(timeout=30)
    assert not driving.is_alive() and ended == [RunStatus.KILLED]
    assert web_store.run(ids[0]).status is RunStatus.KILLED
