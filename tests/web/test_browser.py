"""The web interface in a real browser (Chromium through Playwright) against a real uvicorn server on 127.0.0.1,
a real SQLite store, runs made by the real runner with test-double models, and a worker driving queued runs.

Screenshots land in screenshots/ (not committed)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles import script, sequence, turns
from playwright.sync_api import Dialog, Page, expect
from web_browser import SHOTS, Site, checked_page, log_in, site_with_worker
from web_runs import REACT, drive, write_task

from proctor.models import GenerateConfig, Message
from proctor.runner import ChooserConfig, RunConfig, RunLimits, Runner, option_fields
from proctor.store import RunStatus, ops, users

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1;alert(1)">'

sequence("sleeper", ["<bash>sleep 0.4; echo tick</bash>"])


@pytest.fixture(scope="module")
def site(workspaces: Path) -> Iterator[Site]:
    instructions = "Read **note.txt** and submit the answer.\n"
    with site_with_worker(workspaces, "web-browser-", instructions=instructions) as site:
        yield site


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    """A fresh browser page that fails the test on any script error."""
    with checked_page(site.browser) as page:
        yield page


def test_find_a_run_open_its_tree_rate_and_tag(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/writer", options=2))
    for _ in range(3):  # others to filter out
        drive(site.store, site.task, RunConfig(model="double/web-solver"))
    log_in(page, site.base, "rob")
    expect(page.locator("table.runs tbody tr")).to_have_count(4)
    page.fill("input[name=model]", "writer")
    page.click(".filters button.primary")
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    page.screenshot(path=SHOTS / "runs-list.png", full_page=True)
    page.click(f"a[href='/runs/{run_id}']")
    expect(page.locator(".steps > .step")).to_have_count(3)
    expect(page.locator(".map .cell")).to_have_count(3)
    expect(page.locator("#step-1 .obs pre.out")).to_have_text("first")

    # Rate the chosen option of step 1 with the keyboard (j j selects it, 4 rates), and another with the mouse.
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("#step-1")).to_have_class("step k-action focused")
    page.keyboard.press("4")
    expect(page.locator("#step-1 .option.chosen .rating")).to_have_text("4/5")
    page.click("#step-2 details.others summary")
    page.fill("#step-2 details.others form.rate input[name=comment]", "would have been better")
    page.click("#step-2 details.others form.rate button[value='2']")
    expect(page.locator("#step-2 details.others .rating")).to_contain_text("2/5")
    chosen = site.store.steps(run_id)[1].chosen
    assert chosen is not None and [r.value for r in chosen.ratings] == [4.0]
    other = site.store.steps(run_id)[2].options[1]
    assert [(r.value, r.comment) for r in other.ratings] == [(2.0, "would have been better")]

    # Tag step 0 (t focuses the tag box of the selected step), and a new tag by the mouse.
    page.keyboard.press("k")
    page.keyboard.press("k")
    page.keyboard.press("t")
    page.keyboard.type("planning")
    page.keyboard.press("Enter")
    expect(page.locator("#step-0 header .chip")).to_have_text("planning")
    page.fill("#step-2 form.tag input[name=name]", "off by one")
    page.click("#step-2 form.tag button")
    expect(page.locator("#step-2 header .chip")).to_have_text("off by one")
    assert site.store.steps(run_id)[0].tags == ["planning"] and site.store.steps(run_id)[2].tags == ["off by one"]
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.screenshot(path=SHOTS / "help.png")
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()
    page.screenshot(path=SHOTS / "run-tree.png", full_page=True)


def test_a_rater_chooses_in_a_waiting_run_and_watches_it_continue(site: Site, page: Page) -> None:
    config = RunConfig(model="double/web-solver", options=2, chooser=ChooserConfig(name="human", poll_seconds=0.1))
    ids: list[str] = []

    async def run_with_a_person() -> None:
        async with Runner(site.store) as runner:
            ids.append(await runner.create(site.task, config))
            await runner.drive(ids[0])

    driving = threading.Thread(target=lambda: asyncio.run(run_with_a_person()), daemon=True)
    driving.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (ids and site.store.run(ids[0]).status is RunStatus.WAITING_HUMAN):
        time.sleep(0.05)
    run_id = ids[0]
    site.store.write(users.assign, "rae", [run_id], "ada")
    log_in(page, site.base, "rae")
    expect(page.locator("table tbody tr")).to_have_count(1)  # the rater's queue
    page.click(f"a[href='/runs/{run_id}']")
    expect(page.locator(".step[data-waiting]")).to_have_count(1)
    page.screenshot(path=SHOTS / "waiting.png", full_page=True)
    page.keyboard.press("1")  # choose option 1: cat note.txt
    expect(page.locator("#step-0 .chooser")).to_have_text("chosen by human:rae")
    expect(page.locator("#step-1[data-waiting]")).to_have_count(1)  # the runner went on and waits again
    page.fill("#step-1 form.write textarea", "I think it is 42")
    page.click("#step-1 form.write button")
    expect(page.locator("#step-1 form.write .form-error")).to_contain_text("no action found")
    page.fill("#step-1 form.write textarea", "<submit>42</submit>")
    page.click("#step-1 form.write button")
    expect(page.locator(".run-head")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.locator(".run-head .score")).to_have_text("1.00")
    driving.join(timeout=10)
    steps = site.store.steps(run_id)
    assert [s.chooser for s in steps] == ["human:rae", "human:rae"] and steps[1].chosen is not None
    assert steps[1].chosen.source == "human:rae" and site.store.run(run_id).score == 1.0
    page.screenshot(path=SHOTS / "chosen-and-done.png", full_page=True)


def test_fork_from_a_step_and_watch_the_worker_finish_it(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/writer"))
    assert site.store.run(run_id).score == 0.0
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{run_id}")
    page.click("#step-2")
    page.keyboard.press("f")
    page.keyboard.type("<submit>42</submit>")
    page.click("#step-2 details.fork button.primary")
    page.wait_for_url(lambda url: f"/runs/{run_id}" not in url)
    fork_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator(".run-head")).to_have_attribute("data-status", "done", timeout=30_000)
    expect(page.locator(".run-head .score")).to_have_text("1.00")
    fork = site.store.run(fork_id)
    assert fork.forked_from_run_id == run_id and fork.forked_from_step == 2 and fork.score == 1.0
    page.screenshot(path=SHOTS / "fork-done.png", full_page=True)
    page.goto(f"{site.base}/runs/{run_id}")
    expect(page.locator(".map .cell.forked")).to_have_count(1)
    expect(page.locator(".forks .chip")).to_contain_text(fork_id[:8])


def test_pause_a_running_run_and_write_its_next_step(site: Site, page: Page) -> None:
    config = RunConfig(model="double/sleeper", limits=RunLimits(steps=60))
    ids: list[str] = []

    async def run_slowly() -> None:
        async with Runner(site.store) as runner:
            ids.append(await runner.create(site.task, config))
            await runner.drive(ids[0])

    driving = threading.Thread(target=lambda: asyncio.run(run_slowly()), daemon=True)
    driving.start()
    while not ids:
        time.sleep(0.02)
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{ids[0]}")
    page.click(".run-actions button")
    expect(page.locator(".run-head")).to_have_attribute("data-status", "paused", timeout=15_000)
    driving.join(timeout=10)
    page.fill("#intervene textarea", "<submit>42</submit>")
    page.click("#intervene button")
    expect(page.locator(".run-head")).to_have_attribute("data-status", "done", timeout=30_000)
    run = site.store.run(ids[0])
    assert run.score == 1.0 and site.store.steps(run.id)[-1].chooser == "human:rob"
    assert site.store.events(run.id, "intervened")[0]["detail"]["by"] == "rob"


@script("web-delegator")
def _web_delegator(messages: list[Message], config: GenerateConfig) -> list[str]:
    if messages[1].content.startswith("Count"):  # the subtask
        actions = ["<bash>wc -l < note.txt</bash>", "<submit>1 line</submit>"]
    else:
        actions = ["<delegate>Count the lines of note.txt</delegate>", "<submit>42</submit>"]
    return [actions[min(turns(messages), 1)]] * config.n


def test_a_subtask_shows_nested_in_the_step_that_delegated_it(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/web-delegator"))
    (child,) = site.store.runs(parent=run_id)
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{run_id}")

    expect(page.locator("#step-0 > .obs pre.out")).to_have_text("subtask result: 1 line")
    expect(page.locator(".map .cell.sub")).to_have_count(1)  # the map marks the step that delegated
    subtask = page.locator("#step-0 details.subtask")
    expect(subtask.locator(":scope > summary")).to_contain_text("2 steps")
    expect(subtask.locator(".steps.nested > .step")).to_have_count(0)  # loaded when unfolded
    subtask.locator(":scope > summary").click(position={"x": 4, "y": 4})  # unfold it (not on its link)
    expect(subtask.locator(".steps.nested > .step")).to_have_count(2)
    expect(subtask.locator(".sub-instructions")).to_have_text("Count the lines of note.txt")
    expect(subtask.locator(f"[id='{child.id[:8]}-step-0'] .obs pre.out")).to_have_text(re.compile(r"^\s*1\s*$"))
    expect(subtask.locator(f"[id='{child.id[:8]}-step-1'] header .kind")).to_have_text("submit")
    expect(subtask.locator(f"[id='{child.id[:8]}-step-1'] header .meta")).to_contain_text("100+10 tok")
    page.screenshot(path=SHOTS / "subtask.png", full_page=True)

    # Rating and tagging inside the subtask stay on this page, and the subtask stays unfolded.
    nested = subtask.locator(f"[id='{child.id[:8]}-step-0']")
    nested.locator(".option.chosen form.rate button[value='5']").click()
    expect(nested.locator(".option.chosen .rating")).to_have_text("5/5")
    nested.locator("form.tag input[name=name]").fill("verification")
    nested.locator("form.tag button").click()
    expect(nested.locator("header .chip")).to_have_text("verification")
    assert page.url.endswith(f"/runs/{run_id}") and subtask.evaluate("d => d.open")
    assert site.store.steps(child.id)[0].options[0].ratings[0].value == 5

    subtask.locator(":scope > summary").click(position={"x": 4, "y": 4})  # fold it
    expect(subtask.locator(".steps.nested")).to_be_hidden()
    subtask.locator(f":scope > summary a[href='/runs/{child.id}']").click()
    page.wait_for_url(f"**/runs/{child.id}")
    expect(page.locator("#steps > .step")).to_have_count(2)
    # The subtask's page: its own instructions, and the way back to the step that delegated it.
    expect(page.locator("details.task[data-key=task] summary")).to_have_text("Subtask instructions")
    expect(page.locator("details.task[data-key=task] .markdown")).to_have_text("Count the lines of note.txt")
    expect(page.locator(".breadcrumb a.crumb-step")).to_have_text("step 0")
    page.click(".breadcrumb a.crumb-step")  # back up to the parent, at the step
    page.wait_for_url(f"**/runs/{run_id}?at=0#step-0")
    expect(page.locator("#step-0")).to_have_class(re.compile("focused"))


SWATCHES_AND_LABELS = """() => [...document.querySelectorAll('.legend .cell')].map(cell => {
  let text = cell.nextSibling;  // the label: the text right after the swatch
  while (text && !(text.nodeType === Node.TEXT_NODE && text.textContent.trim())) text = text.nextSibling;
  const range = document.createRange();
  range.selectNodeContents(text);
  const label = [...range.getClientRects()].find(r => r.width > 0), swatch = cell.getBoundingClientRect();
  return {label: text.textContent.trim(), swatch: [swatch.top, swatch.bottom], first: [label.top, label.bottom]};
})"""


def test_each_map_legend_swatch_stays_on_the_line_of_its_label(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/web-delegator"))
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{run_id}")
    expect(page.locator(".legend .cell.sub")).to_have_count(1)
    for width in (1280, 1100, 900, 640, 420):  # the legend wraps at different keys at each width
        page.set_viewport_size({"width": width, "height": 900})
        keys = page.evaluate(SWATCHES_AND_LABELS)
        assert [k["label"] for k in keys][-2:] == ["forked here", "subtask"]
        for key in keys:  # the swatch's middle lies within the first line of its label's text
            (top, bottom), (line_top, line_bottom) = key["swatch"], key["first"]
            assert line_top <= (top + bottom) / 2 <= line_bottom, (width, key)
        page.locator(".map-wrap").screenshot(path=SHOTS / f"map-legend-{width}.png")


def test_untrusted_text_never_runs(site: Site, page: Page) -> None:
    task = write_task(
        site.folder / "xss-tasks",
        name="xss",
        instructions=f"# Hi\n\n{XSS}\n\n[click me](javascript:window.__xss=1) <a href='javascript:alert(1)'>x</a>\n",
    )
    run_id = drive(site.store, task, RunConfig(model="double/web-solver"))
    steps = site.store.steps(run_id)
    assert steps, site.store.run(run_id).error
    site.store.write(ops.add_tag, steps[0].id, XSS, "mallory")
    site.store.write(ops.add_option, steps[0].id, 1, option_fields(f"{XSS}<bash>echo '{XSS}'</bash>", "model:evil"))
    with site.store.engine.begin() as conn:
        ops.update_run(conn, run_id, submission=XSS, error=XSS)
        step_id, (option_id,) = ops.start_step(conn, run_id, 2, "action", [option_fields("<bash>cat x</bash>", "m")])
        ops.add_choice(conn, step_id, option_id, "first")
        ops.finish_step(conn, run_id, step_id, {"kind": "bash", "output": XSS, "stderr": XSS, "exit_code": 1}, 0.0)
    dialogs: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    log_in(page, site.base, "rob")
    for path in (f"/runs/{run_id}", "/runs", f"/tags?name={XSS}"):
        page.goto(f"{site.base}{path}")
        page.wait_for_load_state("load")
        for details in page.locator("details").all():
            details.evaluate("d => d.open = true")
        for link in page.locator(".markdown a").all():
            link.click()
        page.wait_for_timeout(200)
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("img[src=x]").count() == 0
    page.goto(f"{site.base}/runs/{run_id}")
    expect(page.locator("#step-0 header .chip")).to_have_text(XSS)
    expect(page.locator(".submission pre")).to_have_text(XSS)
    expect(page.locator("#step-2 .obs pre.out")).to_have_text(XSS)
    page.click("details.task summary")
    expect(page.locator(".markdown")).to_contain_text("<script>window.__xss=1</script>")
    assert page.locator(".markdown a[href^=javascript]").count() == 0
    page.screenshot(path=SHOTS / "xss-escaped.png", full_page=True)
    assert dialogs == [] and page.evaluate("window.__xss") is None


def test_a_react_run_shows_each_tool_call_and_its_result(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, REACT)
    log_in(page, site.base, "rob")
    page.goto(f"{site.base}/runs/{run_id}")
    expect(page.locator(".map .cell.o-calls")).to_have_count(3)
    expect(page.locator("#step-0 header .tools-used")).to_have_text("bash · write_file")
    looked, wrote = page.locator("#step-0 .option.chosen .call").all()
    expect(looked.locator(".tool")).to_have_text("bash")
    command = "printf '%s' '<script>window.__xss=1</script>'; cat note.txt"
    expect(looked.locator("dl.args dt")).to_have_text("command")
    expect(looked.locator("dl.args dd pre")).to_have_text(command)
    expect(looked.locator(".call-result .exit")).to_have_text("exit 0")
    expect(looked.locator(".call-result pre.out")).to_contain_text("<script>window.__xss=1</script>the answer is 42")
    expect(wrote.locator("dl.args dt")).to_have_text(["path", "content"])  # as the model wrote them
    expect(wrote.locator(".call-result pre.out")).to_have_text("wrote 16 bytes to a.txt")
    malformed, unknown = page.locator("#step-1 .call.bad").all()
    expect(malformed.locator(".parse-error")).to_contain_text("arguments are not valid JSON")
    expect(malformed.locator("pre.args.raw")).to_have_text('{"command": "ls')
    expect(unknown.locator(".parse-error")).to_contain_text("unknown tool 'browse'")
    expect(unknown.locator(".call-result .bad")).to_have_text("failed")
    expect(page.locator("#step-2 .call .tool")).to_have_text(["edit_file", "python", "read_file"])
    expect(page.locator("#step-2 .call").nth(2).locator(".call-result pre.out")).to_contain_text("x=42")
    expect(page.locator("#step-3 .call").nth(1).locator(".not-run")).to_have_text(
        "not run: an earlier call ended the task"
    )
    assert page.locator("script:not([src])").count() == 0 and page.evaluate("window.__xss") is None
    page.screenshot(path=SHOTS / "tool-calls.png", full_page=True)
