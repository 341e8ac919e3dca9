"""A person does a task on the clock in a real browser: `proctor run examples --task find-secret --agent human`
waits, the person opens the run's work page in Chromium, starts the clock, runs commands, lists and opens files,
pauses and resumes, writes a note and submits; the command then ends with the run scored.

Screenshots land in screenshots/ (not committed)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright
from web_browser import SHOTS, chromium, log_in, serving
from web_runs import PASSWORD

from proctor.agents import clock_of
from proctor.store import RunStatus, Store, users
from proctor.web import create_app


def test_a_person_does_find_secret_on_the_clock(workspaces: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="web-human-", dir=workspaces.parent))
    folder.chmod(0o755)
    url = f"sqlite:///{folder / 'proctor.db'}"
    store = Store(url)
    store.write(users.add_user, "rob", "researcher", PASSWORD)
    command = [sys.executable, "-m", "proctor", "run", "examples", "--task", "find-secret", "--agent", "human"]
    running = subprocess.Popen([*command, "--db", url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not [r for r in store.runs() if r.status is RunStatus.WAITING_HUMAN]:
            assert running.poll() is None and time.monotonic() < deadline, running.communicate()
            time.sleep(0.1)
        (run,) = store.runs()
        with serving(create_app(store)) as base, sync_playwright() as playwright:
            browser = chromium(playwright)
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.set_default_timeout(20_000)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("dialog", lambda dialog: dialog.accept())  # "Submit this answer?"
            log_in(page, base, "rob")
            page.click(f"a.work-link[href='/runs/{run.id}/work']")  # from the runs list
            work(page, store, run.id)
            browser.close()
            assert errors == []
        out, err = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 0, err
    assert "done" in out and "1.00" in out and "solved 1/1" in out
    run = store.run(run.id)
    assert run.status is RunStatus.DONE and run.score == 1.0 and run.model == "human/web"
    steps = store.steps(run.id)
    assert {s.chosen.source for s in steps if s.chosen} == {"human:rob"} and {s.chooser for s in steps} == {"human:rob"}
    assert [s.chosen.action for s in steps if s.chosen] == ["bash", "bash", "read", "bash", "submit"]
    assert [n["detail"]["text"] for n in store.events(run.id, "note")] == ["grep -r finds it"]
    store.close()


def work(page: Page, store: Store, run_id: str) -> None:
    """Do find-secret on the work page; checks the active time against the pause."""
    expect(page.locator(".clock-state")).to_contain_text("clock not started")
    expect(page.locator("#command input[name=command]")).to_be_disabled()  # the clock first
    page.screenshot(path=SHOTS / "work-start.png", full_page=True)
    page.click("button[data-clock=start]")
    started = time.monotonic()
    expect(page.locator(".clock-state")).to_contain_text("clock running · rob is doing this run")

    page.fill("#command input[name=command]", "ls vault")
    page.keyboard.press("Enter")
    expect(page.locator(".log .entry").nth(0)).to_contain_text("$ ls vault")
    expect(page.locator(".log .entry").nth(0).locator("pre.out")).to_contain_text("alpha")
    expect(page.locator("#command input[name=command]")).to_have_value("")  # ready for the next one

    page.click("#list-files")
    expect(page.locator(".file-list li").first).to_have_text("vault/alpha/cfg1.txt")
    page.locator(".file-list button", has_text="vault/gamma/log1.txt").click()
    expect(page.locator(".file-view .file-head")).to_contain_text("vault/gamma/log1.txt")
    expect(page.locator(".file-view pre.content")).to_contain_text("TOKEN=7f3a9c2e41b8")

    page.click("button[data-clock=pause]")
    expect(page.locator(".clock-state")).to_contain_text("clock paused")
    expect(page.locator("#command input[name=command]")).to_be_disabled()
    shown = page.locator("#clock").text_content()
    time.sleep(2.5)  # away from the task: not counted
    expect(page.locator("#clock")).to_have_text(shown or "")
    page.click("button[data-clock=resume]")
    expect(page.locator(".clock-state")).to_contain_text("clock running")

    page.fill("#command input[name=command]", "grep -rh '^TOKEN=' vault")
    page.keyboard.press("Enter")
    expect(page.locator(".log .entry").nth(3).locator("pre.out")).to_have_text("TOKEN=7f3a9c2e41b8")
    page.fill(".notes textarea", "grep -r finds it")
    page.click(".notes button")
    expect(page.locator(".notes .note pre")).to_have_text("grep -r finds it")
    page.screenshot(path=SHOTS / "work-running.png", full_page=True)

    page.fill(".submit textarea[name=answer]", "7f3a9c2e41b8")
    page.click("#submit")
    expect(page.locator(".work-head .badge")).to_have_text("done", timeout=30_000)
    elapsed = time.monotonic() - started
    expect(page.locator(".work-head .result")).to_contain_text("score 1.00")
    expect(page.locator(".clock-state")).to_contain_text("clock stopped")
    page.screenshot(path=SHOTS / "work-done.png", full_page=True)
    run = store.run(run_id)
    clock = clock_of(store.events(run_id))
    assert 0 < run.active_seconds < elapsed - 2.0, (run.active_seconds, elapsed)  # the pause is left out
    assert abs(run.active_seconds - clock.active_seconds) < 1.0, (run.active_seconds, clock.active_seconds)
