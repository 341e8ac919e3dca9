"""Ratings, preferences, run control and raters' work in a real browser (Chromium through Playwright) against a real
uvicorn server on 127.0.0.1, a real SQLite store, runs made by the real runner with test-double models, and a worker
driving queued runs.

Screenshots land in screenshots/ (not committed)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles import sequence
from playwright.sync_api import Page, expect
from sqlalchemy import Connection
from web_browser import SHOTS, Site, checked_page, log_in, site_with_worker
from web_runs import drive

from proctor.runner import RunConfig, RunLimits, Runner
from proctor.store import RunStatus, ops, preferences, users

sequence("rate-sleeper", ["<bash>sleep 0.4; echo tick</bash>"])
sequence("rate-writer", ['<write path="a.txt">first</write>', "<bash>cat a.txt</bash>", "<submit>41</submit>"])
sequence("rate-solver", ["<bash>cat note.txt</bash>", "<submit>42</submit>"])


@pytest.fixture(scope="module")
def site(workspaces: Path) -> Iterator[Site]:
    with site_with_worker(workspaces, "web-rate-") as site:
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    """A fresh browser page that fails the test on any script error; it accepts confirmations."""
    with checked_page(site.browser, accept_dialogs=True) as page:
        yield page


def paused_run(site: Site, model: str) -> str:
    """A run of the site's task (stored by an earlier run) created paused, so no worker takes it up."""
    config = RunConfig(model=model)
    task_id = site.store.runs(limit=1)[0].task_id

    def write(conn: Connection) -> str:
        run_id = ops.create_run(
            conn, task_id=task_id, model=model, config=config.model_dump(mode="json"), status=RunStatus.PAUSED
        )
        ops.set_status(conn, run_id, RunStatus.PAUSED, "paused on request")
        return run_id

    return site.store.write(write)


def test_rate_twice_and_see_your_rating_and_the_spread(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/rate-writer", options=2))
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{run_id}")
    chosen = page.locator("#step-1 .option.chosen")
    expect(chosen.locator(".scale-legend")).to_have_text("1 very poor … 5 very good")
    chosen.locator("form.rate button[value='2']").click()
    expect(chosen.locator("form.rate button[aria-pressed='true']")).to_have_text("2")
    chosen.locator("form.rate input[name=comment]").fill("better than I thought")
    chosen.locator("form.rate button[value='4']").click()
    expect(chosen.locator("form.rate button[aria-pressed='true']")).to_have_text("4")
    expect(chosen.locator(".rating")).to_have_count(1)
    expect(chosen.locator(".rating.mine")).to_have_text("4/5 “better than I thought”")
    expect(chosen.locator("form.rate .label")).to_have_text("your rating")
    option = site.store.steps(run_id)[1].chosen
    assert option is not None and [(r.rater, r.value) for r in option.ratings] == [("human:rob", 4.0)]
    site.store.write(ops.add_rating, option.id, {"rater": "human:ada", "value": 2.0, "scale": "1-5", "method": "human"})
    expect(chosen.locator(".rating-stats")).to_have_text("2 ratings · mean 3.0 · ± 1.0")  # the page follows
    expect(chosen.locator("form.rate button[aria-pressed='true']")).to_have_text("4")  # still yours, not ada's
    page.screenshot(path=SHOTS / "rating-yours.png", full_page=True)


def test_add_an_alternative_and_compare_it_with_the_option_taken(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/rate-writer"))
    step = site.store.steps(run_id)[1]
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{run_id}")
    panel = page.locator("#step-1 details.prefs")
    panel.locator("summary").click()
    alternative = panel.locator("form.alternative textarea")
    alternative.fill("<bash>printf 'x'\ncat a.txt</bash>")  # the browser sends the line break as CRLF
    panel.locator("form.alternative button").click()
    expect(page.locator("#step-1 details.others .mark.alternative")).to_have_text("alternative · rob")
    added = site.store.steps(run_id)[1].options[-1]
    assert added.text == "<bash>printf 'x'\ncat a.txt</bash>" and added.added_by == "rob" and "\r" not in added.text
    assert len(site.store.steps(run_id)) == 3  # the alternative did not run

    # The panel stays open across the page's refresh and offers the new option.
    compare = panel.locator("form.compare")
    compare.locator("select[name=a]").select_option(str(added.id))
    compare.locator("select[name=b]").select_option(str(step.chosen_option_id))
    compare.locator("button[value='-3']").click()
    expect(panel.locator(".comparisons li.mine")).to_contain_text("A much better")
    compare = panel.locator("form.compare")
    compare.locator("select[name=a]").select_option(str(added.id))
    compare.locator("select[name=b]").select_option(str(step.chosen_option_id))
    compare.locator("button[value='-1']").click()  # a second thought replaces the first
    expect(panel.locator(".comparisons li")).to_have_count(1)
    expect(panel.locator(".comparisons li.mine")).to_contain_text("A slightly better")
    page.locator("#step-1 details.others summary").click()
    page.locator(f"form.rate[data-option-id='{added.id}'] button[value='5']").click()
    expect(page.locator(f"form.rate[data-option-id='{added.id}'] button[aria-pressed='true']")).to_have_text("5")
    with site.store.engine.connect() as conn:
        (judged,) = preferences.comparisons(conn, [step.id])
    assert (judged.option_a, judged.option_b, judged.value, judged.rater) == (
        added.id,
        step.chosen_option_id,
        -1,
        "human:rob",
    )
    page.screenshot(path=SHOTS / "preferences.png", full_page=True)


def test_kill_a_running_run_resume_a_paused_one_and_score_one_by_hand(site: Site, page: Page) -> None:
    ids: list[str] = []

    async def run_slowly() -> None:
        async with Runner(site.store) as runner:
            ids.append(
                await runner.create(site.task, RunConfig(model="double/rate-sleeper", limits=RunLimits(steps=60)))
            )
            await runner.drive(ids[0])

    driving = threading.Thread(target=lambda: asyncio.run(run_slowly()), daemon=True)
    driving.start()
    while not ids:
        time.sleep(0.02)
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{ids[0]}")
    page.locator(".run-control button.danger").click()  # Kill (confirmed)
    expect(page.locator(".run-head")).to_have_attribute("data-status", "killed", timeout=15_000)
    expect(page.locator(".run-note.killed")).to_contain_text("Killed: killed on request")
    driving.join(timeout=10)
    assert site.store.run(ids[0]).status is RunStatus.KILLED

    paused = paused_run(site, "double/rate-solver")
    page.goto(f"{site.base}/runs/{paused}")
    expect(page.locator(".run-note.paused")).to_have_text("Paused: paused on request. It goes on when resumed.")
    expect(page.locator(".run-error")).to_have_count(0)
    page.locator(".run-control button", has_text="Resume").click()
    expect(page.locator(".run-head")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.locator(".run-head .score")).to_have_text("1.00")

    manual = drive(site.store, site.task, RunConfig(model="double/rate-solver"))
    site.store.write(ops.set_status, manual, RunStatus.NEEDS_MANUAL_SCORE, score=None)
    page.goto(f"{site.base}/runs/{manual}")
    expect(page.locator(".run-note.manual")).to_be_visible()
    page.fill(".score-form input[name=score]", "0.75")
    page.fill(".score-form input[name=comment]", "close enough")
    page.locator(".score-form button").click()
    expect(page.locator(".run-head")).to_have_attribute("data-status", "done")
    expect(page.locator(".run-head .score")).to_have_text("0.75")
    (event,) = site.store.events(manual, "manual_score")
    assert event["detail"] == {"by": "rob", "score": 0.75, "comment": "close enough"}


def test_a_raters_queue_has_to_do_and_done_and_lists_subtasks(site: Site, page: Page) -> None:
    finished = drive(site.store, site.task, RunConfig(model="double/rate-writer"))
    going = paused_run(site, "double/rate-solver")
    child = site.store.write(
        ops.create_run, task_id=site.store.run(going).task_id, model="m/x", config={}, parent_run_id=going
    )
    site.store.write(users.assign, "ray", [finished, going], "ada")
    log_in(page, site.base, "ray")
    expect(page.locator(".queue-counts")).to_have_text("To do: 2 runs, 0 questions · done: 0 runs, 0 questions")
    expect(page.locator(".subtasks-of a")).to_have_text(child[:8])
    page.goto(f"{site.base}/runs/{finished}")
    page.locator("#step-0 .option.chosen form.rate button[value='3']").click()
    expect(page.locator("#step-0 .option.chosen form.rate button[aria-pressed='true']")).to_have_text("3")
    page.goto(f"{site.base}/queue")
    expect(page.locator(".queue-counts")).to_have_text("To do: 1 run, 0 questions · done: 1 run, 0 questions")
    page.locator("details.queue-done summary").click()
    expect(page.locator("details.queue-done tbody tr")).to_have_count(1)
    page.goto(f"{site.base}/runs?subtasks=true")
    expect(page.locator(f"table.runs a[href='/runs/{child}']")).to_have_count(1)
    page.screenshot(path=SHOTS / "rater-queue.png", full_page=True)


def test_wrong_logins_are_limited_and_the_site_has_an_icon(site: Site, page: Page) -> None:
    for _ in range(5):
        page.goto(f"{site.base}/login")
        page.fill("input[name=name]", "mallory")
        page.fill("input[name=password]", "guess-guess")
        page.click("button.primary")
        expect(page.locator(".error, .form-error, p")).not_to_have_count(0)
    page.goto(f"{site.base}/login")
    page.fill("input[name=name]", "mallory")
    page.fill("input[name=password]", "guess-guess")
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
        page.click("button.primary")
    assert answer.value.status == 429 and int(answer.value.headers["retry-after"]) > 0
    expect(page.locator("body")).to_contain_text("too many wrong logins")
    icon = page.request.get(f"{site.base}/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    expect(page.locator("link[rel=icon]")).to_have_attribute("href", "/static/favicon.svg")
