"""A person approves a held action on the run page, in a real browser (Chromium through Playwright) against a real
server, while a real runner waits for the decision."""

from __future__ import annotations

import tempfile
from pathlib import Path

from background import Background
from doubles import sequence
from playwright.sync_api import expect, sync_playwright
from web_browser import SHOTS, chromium, log_in, serving
from web_runs import PASSWORD, PEOPLE, write_task

from proctor.runner import ApprovalConfig, RunConfig, StuckConfig
from proctor.sandbox import open_workspace
from proctor.store import RunStatus, Store, users

sequence(
    "tidy",
    ["<bash>mkdir build && touch build/out.o</bash>", "Tidy up. <bash>rm -rf build</bash>", "<submit>42</submit>"],
)


def test_a_person_approves_a_held_action_on_the_run_page(workspaces: Path) -> None:
    from proctor.web import create_app

    folder = Path(tempfile.mkdtemp(prefix="web-approval-", dir=workspaces.parent))
    folder.chmod(0o755)
    store = Store(f"sqlite:///{folder / 'proctor.db'}")
    for name, role in PEOPLE.items():
        store.write(users.add_user, name, role, PASSWORD)
    task = write_task(folder / "tasks")
    approval = ApprovalConfig(rules={"bash": ["rm -rf *"]}, poll_seconds=0.05)
    config = RunConfig(model="double/tidy", approval=approval, stuck=StuckConfig(after_failures=0))
    run = Background(store, task, config)
    with serving(create_app(store)) as base, sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, base, "rob")
        page.goto(f"{base}/runs/{run.run_id}")
        expect(page.locator(".run-head")).to_have_attribute("data-status", "waiting_approval")
        held = page.locator("#step-1 .hold[data-held]")
        expect(held.locator("pre.subject")).to_have_text("rm -rf build")
        expect(held.locator(".rule")).to_have_text("bash: rm -rf *")
        expect(held.locator(".badge")).to_have_text("waiting for approval")
        with open_workspace(Path(store.run(run.run_id).workspace or "")) as workspace:
            assert (workspace / "build" / "out.o").exists()  # nothing ran yet
        page.screenshot(path=SHOTS / "held-for-approval.png", full_page=True)

        held.locator("form.approve button").click()
        expect(page.locator(".run-head")).to_have_attribute("data-status", "done", timeout=30_000)
        expect(page.locator("#step-1 .hold .verdict")).to_have_text("approved by rob")
        expect(page.locator("#step-1 .hold form")).to_have_count(0)
        expect(page.locator(".run-head .score")).to_have_text("1.00")
        page.screenshot(path=SHOTS / "approved.png", full_page=True)
        browser.close()
    record = run.finish()
    assert record.status is RunStatus.DONE and errors == []
    assert [(h.verdict, h.decided_by) for h in store.steps(record.id)[1].holds] == [("approved", "rob")]
    with open_workspace(Path(record.workspace or "")) as workspace:
        assert not (workspace / "build").exists()
    store.close()
