"""A rater labels a red-team run in a real browser (Chromium through Playwright, uvicorn on 127.0.0.1), and the
campaign's report counts the label against the classifier."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "web"))
from web_browser import chromium, log_in, serving
from web_runs import PASSWORD

from proctor.redteam import EXAMPLES, RedTeamConfig, campaign_report, load_config, run_campaign
from proctor.store import Store, users
from proctor.web import create_app


def test_a_rater_labels_a_red_team_run_in_the_browser(sqlite_store: Store) -> None:
    settings = load_config(EXAMPLES / "password.yaml", RedTeamConfig).model_copy(update={"attempts": 4})
    campaign = asyncio.run(run_campaign(settings, sqlite_store))
    runs = sqlite_store.config_runs("redteam", campaign)
    sqlite_store.write(users.add_user, "rae", "rater", PASSWORD)
    sqlite_store.write(users.assign, "rae", [r.id for r in runs], "cli")
    run = runs[0]
    verdict = sqlite_store.steps(run.id)[-1]
    assert verdict.kind == "verdict" and verdict.chosen is not None
    opposite = "failure" if verdict.chosen.argument["verdict"] == "success" else "success"  # type: ignore[index]
    with serving(create_app(sqlite_store)) as base, sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, base, "rae")
        page.goto(f"{base}/runs/{run.id}")
        expect(page.locator("#step-0")).to_contain_text(run.submission or "")
        page.fill(f"#step-{verdict.index} form.tag input[name=name]", opposite)
        page.click(f"#step-{verdict.index} form.tag button")
        expect(page.locator(f"#step-{verdict.index} header .chip")).to_have_text(opposite)
        browser.close()
    assert errors == []
    assert sqlite_store.steps(run.id)[-1].tags == [opposite]
    report = campaign_report(sqlite_store, campaign)
    labelled = next(r for r in report.rows if r.run_id == run.id)
    assert labelled.people == {"rae": opposite}
    assert (report.agreement.pairs, report.agreement.agreed) == (1, 0)
