"""A human judging study in a real browser (Chromium through Playwright) against a real uvicorn server on
127.0.0.1: a rater judges an assisted and an unassisted question with the keyboard and the mouse, a transcript's
XSS payload stays text, and the researcher's study page counts both answers."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, expect, sync_playwright
from study_doubles import XSS, make_experiment
from web_browser import SHOTS, chromium, log_in, serving
from web_runs import PASSWORD, PEOPLE

from proctor.protocols import create_study
from proctor.store import Store, StudyRecord, studies, users


@pytest.fixture
def served(workspaces: Path) -> Iterator[tuple[Store, str]]:
    """A store with people and a server on it."""
    from proctor.web import create_app

    folder = Path(tempfile.mkdtemp(prefix="web-study-", dir=workspaces.parent))
    store = Store(f"sqlite:///{folder / 'proctor.db'}")
    for name, role in PEOPLE.items():
        store.write(users.add_user, name, role, PASSWORD)
    with serving(create_app(store)) as base:
        yield store, base
    store.close()


def test_a_rater_judges_with_and_without_a_transcript(served: tuple[Store, str]) -> None:
    store, base = served
    study: StudyRecord = create_study(store, make_experiment(store, 2), "debate", ["rae", "ray"], seed=0)
    with store.engine.connect() as conn:
        mine = studies.judgments(
            conn, study_id=study.id, user_id=next(u.id for u in users.list_users(conn) if u.name == "rae")
        )
    assert [j.condition for j in mine].count("assisted") == 1 and len(mine) == 2
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    with sync_playwright() as playwright:
        browser = chromium(playwright)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", dismiss)
        log_in(page, base, "rae")
        expect(page.locator("table.judgments tbody tr")).to_have_count(2)  # the queue, oldest first
        page.click(f"a[href='/judgments/{mine[0].id}']")
        for j in mine:
            expect(page.locator("h1")).to_have_text(f"Question {j.position + 1} of 2")
            if j.condition == "assisted":
                expect(page.locator(".turn")).to_have_count(2)
                expect(page.locator(".turn .quote.verified")).to_contain_text("exactly forty-two ships")
                expect(page.locator(".turn .quote.unverified").first).to_contain_text("✗ unverified")
                expect(page.locator(".turn-text").last).to_contain_text(XSS)  # shown as text
                page.screenshot(path=SHOTS / "judge-assisted.png", full_page=True)
                # Keyboard: pick the correct answer with its number, Enter submits.
                page.keyboard.press(str(j.correct + 1))
                expect(page.locator(f"input[name=verdict][value='{j.correct}']")).to_be_checked()
                page.keyboard.press("Enter")
            else:
                expect(page.locator(".turn")).to_have_count(0)
                page.click(f"label.answer:has(input[value='{1 - j.correct}'])")  # the mouse, and the wrong answer
                page.fill("#confidence", "90")
                expect(page.locator("#confidence-out")).to_have_text("90%")
                page.fill("textarea[name=explanation]", "a guess")
                page.click("#judge-form button.primary")
        page.wait_for_url(f"{base}/queue")
        expect(page.locator("table.judgments")).to_have_count(0)
        assert page.evaluate("window.__xss") is None and page.locator("img[src=x]").count() == 0
        with store.engine.connect() as conn:
            answered = {j.condition: j for j in studies.judgments(conn, study_id=study.id, pending=False)}
        assert set(answered) == {"assisted", "unassisted"}
        assert answered["assisted"].right and answered["assisted"].confidence == 0.75
        unassisted = answered["unassisted"]
        assert not unassisted.right and unassisted.confidence == 0.9 and unassisted.explanation == "a guess"
        assert all(j.seconds is not None and j.seconds >= 0 for j in answered.values())

        page.goto(f"{base}/judgments/{next(j.id for j in studies_of(store, study.id) if j.user == 'ray')}")
        expect(page.locator("h1")).to_have_text("404")  # someone else's judgment
        context.close()
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        log_in(page, base, "rob")
        page.goto(f"{base}/studies/{study.id}")
        expect(page.locator(".progress")).to_have_text("2 / 4")
        expect(page.locator("tr.cond-assisted td.answered")).to_have_text("1")
        expect(page.locator("tr.cond-unassisted td.answered")).to_have_text("1")
        expect(page.locator("table.people tbody tr").first).to_contain_text("rae")
        page.screenshot(path=SHOTS / "study-report.png", full_page=True)
        context.close()
        browser.close()
    assert errors == [] and dialogs == []


def test_a_researcher_creates_a_study_from_the_studies_page(served: tuple[Store, str]) -> None:
    store, base = served
    experiment = make_experiment(store, 2)
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, base, "rob")
        page.goto(f"{base}/studies")
        page.select_option("select[name=experiment]", experiment)
        page.fill("input[name=users]", "rae zed")
        page.click(".new-study button.primary")
        expect(page.locator(".new-study .form-error")).to_contain_text("no user 'zed'")  # shown beside the form
        page.fill("input[name=users]", "rae ray")
        page.fill("input[name=name]", "ships, pilot")
        page.screenshot(path=SHOTS / "study-new.png", full_page=True)
        page.click(".new-study button.primary")
        page.wait_for_url(f"{base}/studies/*")
        expect(page.locator("h1")).to_contain_text("ships, pilot")
        expect(page.locator(".progress")).to_have_text("0 / 4")
        browser.close()
    (study,) = [st for st in list_studies(store) if st.name == "ships, pilot"]
    assert study.created_by == "rob" and study.settings["users"] == ["rae", "ray"] and errors == []


def list_studies(store: Store) -> list[StudyRecord]:
    with store.engine.connect() as conn:
        return studies.list_studies(conn)


def studies_of(store: Store, study_id: str) -> list[studies.JudgmentRecord]:
    with store.engine.connect() as conn:
        return studies.judgments(conn, study_id=study_id)
