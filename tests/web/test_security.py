"""Who may see and change what, CSRF, sessions, headers and escaping, in-process through the ASGI client."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from web_runs import Login

from proctor.runner import option_fields
from proctor.store import RunStatus, Store, ops, users
from proctor.store import _schema as schema
from proctor.web import create_app


def counts(store: Store) -> dict[str, int]:
    """Rows in the tables people change through the web."""
    tables = [schema.runs, schema.steps, schema.options, schema.choices, schema.ratings, schema.tags, schema.events]
    with store.engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}


def waiting_run(store: Store, task_id: str) -> tuple[str, int]:
    """A run waiting for a person at step 0; returns the run and step ids."""
    run_id = store.write(ops.create_run, task_id=task_id, model="double/x", config={})
    step_id, _ = store.write(ops.start_step, run_id, 0, "action", [option_fields("<bash>ls</bash>", "model:x")])
    store.write(ops.set_status, run_id, RunStatus.WAITING_HUMAN)
    return run_id, step_id


def test_a_rater_sees_only_assigned_runs_and_their_subtasks(login: Login, finished_run: str, web_store: Store) -> None:
    task_id = web_store.run(finished_run).task_id
    mine = web_store.write(ops.create_run, task_id=task_id, model="m/x", config={})
    child = web_store.write(ops.create_run, task_id=task_id, model="m/x", config={}, parent_run_id=mine)
    web_store.write(users.assign, "rae", [mine], "ada")
    web_store.write(users.assign, "ray", [finished_run], "ada")
    rae, _ = login("rae")
    assert [r["id"] for r in rae.get("/api/runs").json()["runs"]] == [mine]
    listed = rae.get("/api/runs?subtasks=true").json()["runs"]  # with subtasks: those below the assigned runs
    assert sorted(r["id"] for r in listed) == sorted([mine, child])
    assert rae.get(f"/api/runs/{mine}").status_code == 200
    assert rae.get(f"/api/runs/{child}").status_code == 200  # a subtask of an assigned run
    for path in (f"/runs/{finished_run}", f"/api/runs/{finished_run}", f"/runs/{finished_run}/tree"):
        answer = rae.get(path)
        assert answer.status_code == 404 and "cat notes" not in answer.text
    assert rae.get(f"/api/runs/{finished_run}/live").status_code == 404
    assert rae.get(f"/api/runs/{finished_run[:5]}").status_code == 404  # prefixes reveal nothing either
    rob, _ = login("rob")
    assert rob.get(f"/api/runs/{finished_run}").status_code == 200  # researchers see every run


def test_a_rater_cannot_change_another_raters_run(login: Login, finished_run: str, web_store: Store) -> None:
    web_store.write(users.assign, "ray", [finished_run], "ada")
    waiting, waiting_step = waiting_run(web_store, web_store.run(finished_run).task_id)
    web_store.write(users.assign, "ray", [waiting], "ada")
    step = web_store.steps(finished_run)[0]
    before = counts(web_store)
    rae, csrf = login("rae")
    headers = {"X-CSRF-Token": csrf}
    attempts = [
        (f"/api/options/{step.options[0].id}/rate", {"value": 5}),
        (f"/api/steps/{step.id}/tag", {"name": "search"}),
        (f"/api/runs/{finished_run}/fork", {"step": 1}),
        (f"/api/runs/{waiting}/choose", {"step_id": waiting_step, "option": 0}),
        (f"/options/{step.options[0].id}/rate", {"value": 5}),
    ]
    for path, body in attempts:
        answer = rae.post(path, json=body, headers=headers)
        assert answer.status_code == 404, path
    assert counts(web_store) == before and web_store.choice(waiting_step) is None


def test_raters_may_not_pause_intervene_or_see_admin_and_tags(
    login: Login, finished_run: str, web_store: Store
) -> None:
    web_store.write(users.assign, "rae", [finished_run], "ada")
    web_store.write(ops.set_status, finished_run, RunStatus.PAUSED)
    before = counts(web_store)
    rae, csrf = login("rae")
    headers = {"X-CSRF-Token": csrf}
    assert rae.post(f"/api/runs/{finished_run}/pause", headers=headers).status_code == 403
    intervene = rae.post(f"/api/runs/{finished_run}/intervene", json={"text": "<submit>42</submit>"}, headers=headers)
    assert intervene.status_code == 403
    for path in ("/admin", "/api/admin", "/tags", "/api/tags"):
        assert rae.get(path).status_code == 403, path
    add = rae.post("/api/admin/users", json={"name": "evil", "role": "admin", "password": "x" * 10}, headers=headers)
    assign = rae.post("/api/admin/assignments", json={"user": "rae", "runs": finished_run}, headers=headers)
    assert add.status_code == 403 and assign.status_code == 403
    rob, _ = login("rob")
    assert rob.get("/api/admin").status_code == 403  # researchers are not admins
    assert counts(web_store) == before
    with web_store.engine.connect() as conn:
        assert {u.name for u in users.list_users(conn)} == {"ada", "rob", "rae", "ray"}


def test_a_rater_forks_an_assigned_run_and_gets_the_fork(login: Login, finished_run: str, web_store: Store) -> None:
    web_store.write(users.assign, "rae", [finished_run], "ada")
    rae, csrf = login("rae")
    fork = rae.post(f"/api/runs/{finished_run}/fork", json={"step": 2}, headers={"X-CSRF-Token": csrf}).json()
    assert rae.get(f"/api/runs/{fork['run_id']}").status_code == 200
    assert fork["run_id"] in [a["id"] for a in rae.get("/api/queue").json()["assignments"]]


def test_state_changes_without_the_csrf_token_are_refused(login: Login, finished_run: str, web_store: Store) -> None:
    waiting, waiting_step = waiting_run(web_store, web_store.run(finished_run).task_id)
    step = web_store.steps(finished_run)[0]
    web_store.write(ops.set_status, finished_run, RunStatus.RUNNING)
    before = counts(web_store)
    ada, csrf = login("ada")
    attempts = [
        (f"/options/{step.options[0].id}/rate", {"value": "5"}),
        (f"/steps/{step.id}/tag", {"name": "search"}),
        (f"/runs/{finished_run}/fork", {"step": "1"}),
        (f"/runs/{finished_run}/pause", {}),
        (f"/runs/{waiting}/choose", {"step_id": str(waiting_step), "option": "0"}),
        ("/admin/users", {"name": "x", "role": "admin", "password": "long-password"}),
        ("/logout", {}),
    ]
    for path, body in attempts:
        for token in (None, "wrong-token"):
            data = body if token is None else {**body, "csrf": token}
            assert ada.post(path, data=data).status_code == 403, (path, token)
            json_answer = ada.post(f"/api{path}", json=body, headers={"X-CSRF-Token": token or ""})
            assert json_answer.status_code == 403, (path, token)
    assert counts(web_store) == before and not web_store.run(finished_run).pause_requested
    assert ada.get("/api/me").status_code == 200  # the logout was refused too
    # With the token the same request goes through.
    assert ada.post(f"/steps/{step.id}/tag", data={"name": "search", "csrf": csrf}).status_code == 200


def test_login_form_needs_its_nonce(web_store: Store) -> None:
    client = TestClient(create_app(web_store))
    answer = client.post("/login", data={"name": "rob", "password": "correct-horse-1"}, follow_redirects=False)
    assert answer.status_code == 403 and "proctor_session" not in client.cookies
    assert client.post("/api/login", data={"name": "rob", "password": "correct-horse-1"}).status_code == 415


def test_a_stolen_database_holds_no_session_or_password(login: Login, web_store: Store) -> None:
    client, csrf = login("rob")
    token = client.cookies["proctor_session"]
    with web_store.engine.connect() as conn:
        rows = conn.execute(select(schema.sessions.c.token_hash)).scalars().all()
        hashes = conn.execute(select(schema.users.c.password_hash)).scalars().all()
    assert token not in rows and all(len(r) == 64 for r in rows)
    assert all(h.startswith("$argon2id$") for h in hashes)
    client.post("/api/logout", headers={"X-CSRF-Token": csrf})
    other = TestClient(create_app(web_store), cookies={"proctor_session": token})
    assert other.get("/api/me").status_code == 401  # the old cookie is dead


def test_untrusted_text_is_escaped(login: Login, finished_run: str, web_store: Store) -> None:
    payload = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'
    run = web_store.run(finished_run)
    waiting, _ = waiting_run(web_store, run.task_id)
    step_id, _ = web_store.write(ops.start_step, waiting, 1, "action", [option_fields(payload, "model:x")])
    web_store.write(ops.add_tag, step_id, payload, "x")
    rob, _ = login("rob")
    for path in (f"/runs/{waiting}", f"/runs/{waiting}/tree", "/runs?subtasks=true", f"/tags?name={payload}"):
        html = rob.get(path).text
        assert "<script>window" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html, path
    headers = rob.get(f"/runs/{waiting}").headers
    assert "script-src 'self'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"
