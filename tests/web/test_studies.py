"""Human judging studies through the web app in-process: the queue, judging, answering, permissions, CSRF, and
the study pages."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from study_doubles import XSS, make_experiment

from proctor.protocols import create_study
from proctor.store import JudgmentRecord, Store, StudyRecord, studies
from proctor.web import create_app

Login = Callable[..., tuple[TestClient, str]]  # the `login` fixture of conftest.py


@pytest.fixture
def study(web_store: Store) -> StudyRecord:
    """A debate study on three questions for the raters rae and ray."""
    return create_study(web_store, make_experiment(web_store, 3), "debate", ["rae", "ray"], seed=0)


def judged(store: Store, user: str | None = None) -> list[JudgmentRecord]:
    with store.engine.connect() as conn:
        return [j for j in studies.judgments(conn) if user is None or j.user == user]


def test_a_rater_judges_their_queue(login: Login, study: StudyRecord, web_store: Store) -> None:
    rae, csrf = login("rae")
    mine = judged(web_store, "rae")
    queue = rae.get("/api/queue").json()["judgments"]
    assert [j["id"] for j in queue] == [j.id for j in mine] and [j["position"] for j in queue] == [0, 1, 2]
    assert {j["condition"] for j in queue} == {"assisted", "unassisted"}
    assisted = next(j for j in mine if j.condition == "assisted")
    unassisted = next(j for j in mine if j.condition == "unassisted")

    shown = rae.get(f"/api/judgments/{assisted.id}").json()
    assert "correct" not in shown and shown["question"] == assisted.question and shown["total"] == 3
    assert [a["text"] for a in shown["answers"]] == assisted.answers and shown["answered"] is None
    speakers = [t["speaker"] for t in shown["transcript"]]
    assert speakers == ["Debater A", "Debater B"]
    kinds = {s["kind"] for t in shown["transcript"] for s in t["segments"]}
    assert kinds == {"text", "verified", "unverified"}
    assert rae.get(f"/api/judgments/{unassisted.id}").json()["transcript"] == []

    answer = rae.post(
        f"/api/judgments/{assisted.id}",
        json={"verdict": assisted.correct, "confidence": 80, "explanation": "the quote checks out", "seconds": 12.5},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    pending = [j.id for j in mine if j.id != assisted.id]
    assert answer.json() == {"ok": True, "judgment": assisted.id, "next": pending[0]}
    saved = next(j for j in judged(web_store, "rae") if j.id == assisted.id)
    assert (saved.verdict, saved.confidence, saved.explanation, saved.seconds) == (
        assisted.correct,
        0.8,
        "the quote checks out",
        12.5,
    )
    # The page form: the letter, a percentage, and the time from the page's own timestamp; then the next one.
    page = rae.get(f"/judgments/{unassisted.id}")
    assert page.status_code == 200 and 'id="judge-form"' in page.text and "with a debate transcript" not in page.text
    shown_at = page.text.split('name="shown_at" value="')[1].split('"')[0]
    form = {"csrf": csrf, "verdict": "B", "confidence": "65", "shown_at": str(float(shown_at) - 3)}
    answered = rae.post(f"/judgments/{unassisted.id}", data=form, follow_redirects=False)
    assert answered.status_code == 303
    following = [j for j in pending if j != unassisted.id]
    assert answered.headers["location"] == (f"/judgments/{following[0]}" if following else "/queue")
    saved = next(j for j in judged(web_store, "rae") if j.id == unassisted.id)
    assert saved.verdict == 1 and saved.confidence == 0.65 and saved.seconds is not None and 3 <= saved.seconds < 60
    assert "You answered" in rae.get(f"/judgments/{unassisted.id}").text
    again = rae.post(
        f"/api/judgments/{unassisted.id}", json={"verdict": 0, "confidence": 0.9}, headers={"X-CSRF-Token": csrf}
    )
    assert again.status_code == 409
    assert [j["id"] for j in rae.get("/api/queue").json()["judgments"]] == following


def test_a_rater_cannot_see_or_answer_anothers_judgment(login: Login, study: StudyRecord, web_store: Store) -> None:
    theirs = judged(web_store, "ray")[0]
    mine = judged(web_store, "rae")[0]
    rae, csrf = login("rae")
    for path in (f"/judgments/{theirs.id}", f"/api/judgments/{theirs.id}", "/api/judgments/999999"):
        answer = rae.get(path)
        assert answer.status_code == 404 and theirs.question not in answer.text
    attempts = [
        (f"/api/judgments/{theirs.id}", {"X-CSRF-Token": csrf}, 404),  # someone else's: as if it did not exist
        (f"/api/judgments/{mine.id}", {}, 403),  # no CSRF token
        (f"/api/judgments/{mine.id}", {"X-CSRF-Token": "forged"}, 403),
    ]
    for path, headers, status in attempts:
        answer = rae.post(path, json={"verdict": 0, "confidence": 0.9}, headers=headers)
        assert answer.status_code == status, (path, answer.text)
    for body in ({"verdict": 2, "confidence": 0.9}, {"verdict": 0, "confidence": 0.3}, {"confidence": 0.9}):
        answer = rae.post(f"/api/judgments/{mine.id}", json=body, headers={"X-CSRF-Token": csrf})
        assert answer.status_code == 422, body
    assert all(not j.answered for j in judged(web_store))
    assert rae.get("/api/studies").status_code == 403 and rae.get(f"/api/studies/{study.id}").status_code == 403
    anonymous = TestClient(create_app(web_store))
    assert anonymous.get(f"/api/judgments/{mine.id}").status_code == 401
    assert anonymous.post(f"/api/judgments/{mine.id}", json={"verdict": 0, "confidence": 1}).status_code == 401


def test_transcripts_are_escaped_and_quotes_marked(login: Login, study: StudyRecord, web_store: Store) -> None:
    rae, _ = login("rae")
    assisted = [j for j in judged(web_store, "rae") if j.condition == "assisted"]
    page = rae.get(f"/judgments/{assisted[0].id}").text
    assert XSS not in page and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in page
    assert '<span class="quote verified"' in page and "exactly forty-two ships</span>" in page
    assert '<span class="quote unverified"' in page and "✗ unverified" in page


def test_researchers_see_the_study_progress_and_report(login: Login, study: StudyRecord, web_store: Store) -> None:
    for j in judged(web_store):
        if j.user == "ray":
            web_store.write(studies.answer, j.id, j.user_id, verdict=j.correct, confidence=0.9)
    rob, _ = login("rob")
    listed = rob.get("/api/studies").json()["studies"]
    assert [(s["id"], s["assigned"], s["answered"], s["people"]) for s in listed] == [(study.id, 6, 3, 2)]
    report = rob.get(f"/api/studies/{study.id}").json()["report"]
    assert report["answered"] == 3 and report["assigned"] == 6 and report["effect"] is not None
    assert {p["user"]: p["accuracy"] for p in report["per_person"]} == {"rae": None, "ray": 1.0}
    page = rob.get(f"/studies/{study.id}")
    assert page.status_code == 200 and "3 / 6" in page.text and "Effect of the help" in page.text
    assert rob.get("/studies").status_code == 200 and study.name in rob.get("/studies").text
    assert rob.get("/api/studies/nosuchstudy").status_code == 404


def test_researchers_create_a_study_in_the_browser_form(login: Login, web_store: Store) -> None:
    experiment = make_experiment(web_store, 3, protocols=("debate", "consultancy"))
    rob, csrf = login("rob")
    page = rob.get("/studies").text
    assert f'<option value="{experiment}">' in page and "consultancy (12 runs), debate (6 runs)" in page

    form = {"csrf": csrf, "experiment": experiment, "protocol": "consultancy", "users": "rae, ray", "seed": "3"}
    created = rob.post("/studies", data=form, follow_redirects=False)
    assert created.status_code == 303
    study_id = created.headers["location"].removeprefix("/studies/")
    with web_store.engine.connect() as conn:
        stored = studies.study(conn, study_id)
        assignment = [(j.user, j.run_id, j.condition) for j in studies.judgments(conn, study_id=study_id)]
    assert stored.created_by == "rob" and stored.protocol == "consultancy" and stored.settings["seed"] == 3
    same = create_study(web_store, experiment, "consultancy", ["rae", "ray"], seed=3)  # as from the command line
    with web_store.engine.connect() as conn:
        assert [(j.user, j.run_id, j.condition) for j in studies.judgments(conn, study_id=same.id)] == assignment

    refused = rob.post("/api/studies", json={"experiment": experiment, "protocol": "debate", "users": ["zed"]})
    assert refused.status_code == 403  # no CSRF token
    headers = {"x-csrf-token": csrf}
    unknown = rob.post(
        "/api/studies", headers=headers, json={"experiment": experiment, "protocol": "debate", "users": ["zed"]}
    )
    assert unknown.status_code == 422 and "no user 'zed'" in unknown.json()["error"]
    wrong = rob.post(
        "/api/studies", headers=headers, json={"experiment": experiment, "protocol": "oracle", "users": "rae"}
    )
    assert wrong.status_code == 422 and "no finished 'oracle' runs" in wrong.json()["error"]
    made = rob.post(
        "/api/studies", headers=headers, json={"experiment": experiment, "protocol": "debate", "users": ["rae"]}
    )
    assert made.json()["location"] == f"/studies/{made.json()['study_id']}"
    rae, rae_csrf = login("rae")
    by_rater = rae.post("/api/studies", headers={"x-csrf-token": rae_csrf}, json={"experiment": experiment})
    assert by_rater.status_code == 403


def test_a_debate_page_nests_its_cross_examination_forks(login: Login, web_store: Store) -> None:
    run = web_store.experiment_runs(make_experiment(web_store, 1, cross_examination=True))[0]
    forks = [st.observation.child_run_id for st in web_store.steps(run.id) if st.kind == "answer" and st.observation]
    rob, _ = login("rob")
    page = rob.get(f"/runs/{run.id}").text
    assert len(forks) == 2 and all(f'<summary>fork <a class="mono" href="/runs/{f}">' in page for f in forks)
    assert "<script>window.__xss" not in page and "&lt;script&gt;window.__xss" in page  # nested turns escaped too
