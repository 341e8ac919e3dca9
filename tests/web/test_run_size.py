"""Run pages at any size, in a real browser (Chromium through Playwright) against a real uvicorn server: a window
of steps fetched as you scroll or jump, the map's bands and marks, subtasks unfolded on demand, cut long text, the
run's configuration, the messages the model saw, the live view following new steps, and untrusted text escaped in
every fragment."""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from long_runs import LONG_OUTPUT, LongRun, bash, long_run
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import event
from web_browser import SHOTS, chromium, log_in, serving
from web_runs import PASSWORD, PEOPLE, XSS, Login, drive, write_task

from proctor.agents import AgentRun, get_agent, rebuild
from proctor.models import GenerateConfig
from proctor.runner import RunConfig
from proctor.store import RunStatus, Store, ops, users
from proctor.tasks import Task
from proctor.web import WebSettings, create_app
from proctor.web import _overview as overview
from proctor.web import _queries as q

WINDOW = 40


@dataclass
class Site:
    store: Store
    base: str
    browser: Browser
    long: LongRun
    task: Task


@pytest.fixture(scope="module")
def site(workspaces: Path) -> Iterator[Site]:
    folder = Path(tempfile.mkdtemp(prefix="web-size-", dir=workspaces.parent))
    folder.chmod(0o755)
    store = Store(f"sqlite:///{folder / 'proctor.db'}")
    for name, role in PEOPLE.items():
        store.write(users.add_user, name, role, PASSWORD)
    long = long_run(store, 2000)
    task = write_task(folder / "tasks")
    with serving(create_app(store, WebSettings(page_steps=WINDOW))) as base, sync_playwright() as playwright:
        browser = chromium(playwright)
        yield Site(store=store, base=base, browser=browser, long=long, task=task)
        browser.close()
    store.close()


@pytest.fixture
def page(site: Site) -> Iterator[Page]:
    """A logged-in page that fails the test on any script error or if untrusted text ever ran."""
    context = site.browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, site.base, "rob")
    yield page
    assert page.evaluate("window.__xss") is None
    context.close()
    assert errors == []


def loaded(page: Page) -> list[int]:
    """The indexes of the run's steps in the page."""
    return [int(i) for i in page.locator("#steps > .step").evaluate_all("els => els.map(e => e.dataset.step)")]


def test_a_long_run_loads_a_window_and_fetches_more_on_scroll_and_jump(site: Site, page: Page) -> None:
    long = site.long
    response = page.goto(f"{site.base}/runs/{long.id}")
    assert response is not None and len(response.body()) < 300_000
    assert loaded(page) == list(range(long.steps - WINDOW, long.steps))  # the last steps only
    expect(page.locator(".jump-bar")).to_contain_text(f"{long.steps} steps")

    # Scrolling up to the window's top fetches the steps before it, and what you read stays put.
    page.locator(f"#step-{long.steps - WINDOW}").scroll_into_view_if_needed()
    page.mouse.wheel(0, -400)
    expect(page.locator(f"#step-{long.steps - 2 * WINDOW}")).to_be_attached()
    assert page.locator(f"#step-{long.steps - WINDOW}").bounding_box() is not None

    # A jump to #step-N loads the window around it in place of what was loaded.
    page.goto(f"{site.base}/runs/{long.id}#step-500")
    expect(page.locator("#step-500")).to_have_class(re.compile("focused"))
    expect(page.locator("#step-500")).to_be_in_viewport()
    assert 500 in loaded(page) and long.steps - 1 not in loaded(page) and len(loaded(page)) <= 2 * WINDOW

    # Scrolling down fetches the next window.
    for _ in range(40):
        if 560 in loaded(page):
            break
        page.mouse.wheel(0, 3000)
        page.wait_for_timeout(100)
    assert 560 in loaded(page)

    # The jump box.
    page.fill(".jump-bar input[name=at]", "1234")
    page.press(".jump-bar input[name=at]", "Enter")
    expect(page.locator("#step-1234")).to_have_class(re.compile("focused"))
    expect(page.locator("#step-1234")).to_be_in_viewport()
    assert page.url.endswith("#step-1234") and 500 not in loaded(page)

    # The JSON API serves windows too.
    api = page.request.get(f"{site.base}/api/runs/{long.id}/steps?start=100&stop=110").json()
    assert [s["index"] for s in api["steps"]] == list(range(100, 110))


def test_the_map_collapses_alike_steps_and_marks_failures_forks_stuck_checks_people_and_subtasks(
    site: Site, page: Page
) -> None:
    long = site.long
    page.goto(f"{site.base}/runs/{long.id}")
    cells = page.locator(".map .cell")
    assert 5 < cells.count() <= 240  # an overview, not a wall of 2,000 cells
    for mark, step in [
        ("failed", long.failed),
        ("forked", long.forked),
        ("stuck", long.stuck),
        ("human", long.human),
        ("sub", long.delegated),
    ]:
        cell = page.locator(f".map .cell.{mark}")
        expect(cell).to_have_count(1)
        start, count = int(cell.get_attribute("data-jump") or -1), int(cell.get_attribute("data-count") or 0)
        assert start <= step < start + count, mark
    assert "1 failed" in (page.locator(".map .cell.failed").get_attribute("title") or "")
    page.screenshot(path=SHOTS / "long-run.png", full_page=False)

    # A cell jumps to its steps.
    page.locator(".map .cell.failed").click()
    failed = page.locator(f"#step-{long.failed}")
    expect(failed).to_be_attached()
    expect(failed.locator(".obs .exit.bad")).to_have_text("exit 2")


def test_subtasks_unfold_on_demand_and_escape_their_text(site: Site, page: Page) -> None:
    long = site.long
    page.goto(f"{site.base}/runs/{long.id}#step-{long.delegated}")
    subtask = page.locator(f"#step-{long.delegated} details.subtask")
    expect(subtask).to_be_attached()
    expect(subtask.locator(".steps.nested > .step")).to_have_count(0)
    subtask.locator(":scope > summary").click(position={"x": 4, "y": 4})
    nested = subtask.locator(".steps.nested > .step")
    expect(nested).to_have_count(3)
    expect(nested.nth(0).locator(".obs pre.out")).to_have_text(f"sub 0 {XSS}")
    expect(subtask.locator(".sub-instructions pre")).to_have_text(f"Count the files {XSS}")

    # The map's subtask cell opens it from anywhere in the run.
    page.goto(f"{site.base}/runs/{long.id}")
    page.locator(".map .cell.sub").click()
    expect(page.locator(f"#step-{long.delegated} details.subtask .steps.nested > .step")).to_have_count(3)


def test_long_text_is_cut_and_expands(site: Site, page: Page) -> None:
    long = site.long
    page.goto(f"{site.base}/runs/{long.id}")
    out = page.locator(f"#step-{long.long} .obs pre.out")
    shown = out.text_content() or ""
    assert 0 < len(shown) < 2000 and LONG_OUTPUT.startswith(shown)
    button = page.locator(f"#step-{long.long} .obs button.expand")
    expect(button).to_contain_text(f"{len(LONG_OUTPUT) - len(shown)} more characters")
    button.click()
    expect(page.locator(f"#step-{long.long} .obs pre.out")).to_have_text(LONG_OUTPUT)
    expect(page.locator(f"#step-{long.long} .obs button.expand")).to_have_count(0)


def test_the_configuration_panel(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/writer", options=2))
    page.goto(f"{site.base}/runs/{run_id}")
    panel = page.locator("details.config")
    panel.locator("summary").click()
    shown = {
        (row.locator("dt").text_content() or ""): (row.locator("dd").text_content() or "")
        for row in panel.locator(".config-list > div").all()
    }
    assert shown["agent"] == "tags" and shown["model"] == "double/writer" and shown["options"] == "2"
    assert '"name": "first"' in shown["chooser"] and '"steps": 30' in shown["limits"] and shown["sandbox"] == "bwrap"
    config = page.request.get(f"{site.base}/api/runs/{run_id}").json()["config"]
    assert config == RunConfig(model="double/writer", options=2).model_dump(mode="json")


def test_the_messages_the_model_saw_are_the_agents_own_rebuild(site: Site, page: Page) -> None:
    run_id = drive(site.store, site.task, RunConfig(model="double/writer", options=2))
    steps = site.store.steps(run_id)
    run = AgentRun(instructions=site.task.info.instructions, options=2, generate=GenerateConfig())
    expected = rebuild(get_agent("tags"), run, steps[:2])
    assert len(expected) > 2
    page.goto(f"{site.base}/runs/{run_id}")
    context = page.locator("#step-2 details.context")
    expect(context.locator(".message")).to_have_count(0)  # loaded when asked for
    context.locator("summary").click()
    messages = context.locator(".message")
    expect(messages).to_have_count(len(expected))
    for shown, message in zip(messages.all(), expected, strict=True):
        assert (shown.locator(".label").text_content() or "").startswith(message.role)
        assert shown.locator("pre.content").first.text_content() == message.content
    first = page.request.get(f"{site.base}/api/runs/{run_id}/steps/0/messages").json()["messages"]
    assert [m["content"] for m in first] == [m.content for m in rebuild(get_agent("tags"), run, [])]


def test_model_output_is_escaped_in_every_fragment(site: Site, page: Page) -> None:
    long = site.long
    page.goto(f"{site.base}/runs/{long.id}")
    expect(page.locator(f"#step-{long.steps - 1} .option.chosen pre.text")).to_contain_text(XSS)
    page.locator(f"#step-{long.steps - 1} details.others summary").click()
    expect(page.locator(f"#step-{long.steps - 1} details.others pre.text")).to_contain_text(XSS)
    page.locator(f"#step-{long.steps - 1} details.context summary").click()
    expect(page.locator(f"#step-{long.steps - 1} .messages")).to_contain_text(XSS)  # in the messages too
    page.locator("details.config summary").click()
    expect(page.locator(".config-list")).to_contain_text(f'"note": "{XSS}"')  # the configuration too
    page.goto(f"{site.base}/runs/{long.id}#step-300")  # a fetched window
    expect(page.locator("#step-300 .obs pre.out")).to_have_text(f"out 300 {XSS}")
    fragment = page.request.get(f"{site.base}/runs/{long.id}/steps?start=300&stop=302").text()
    assert "<script>window.__xss" not in fragment and "&lt;script&gt;window.__xss=1&lt;/script&gt;" in fragment
    messages = page.request.get(f"{site.base}/runs/{long.id}/steps/301/messages").text()
    assert "<script>window.__xss" not in messages and "&lt;script&gt;" in messages


def test_the_live_view_follows_new_steps_unless_scrolled_up(site: Site, page: Page) -> None:
    long = long_run(site.store, 120, RunStatus.RUNNING)

    def add_step(index: int) -> None:
        with site.store.engine.begin() as conn:
            step_id, (first,) = ops.start_step(conn, long.id, index, "action", [bash(f"echo {index}")])
            ops.add_choice(conn, step_id, first, "first")
            ops.finish_step(conn, long.id, step_id, {"kind": "bash", "output": f"new {index}"}, 0.0)

    page.goto(f"{site.base}/runs/{long.id}")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    add_step(120)
    expect(page.locator("#step-120 .obs pre.out")).to_have_text("new 120", timeout=10_000)
    expect(page.locator("#step-120")).to_be_in_viewport()  # followed

    page.locator(f"#step-{120 - WINDOW + 5}").scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollY")
    add_step(121)
    expect(page.locator("#step-121")).to_be_attached(timeout=10_000)
    assert page.evaluate("window.scrollY") == scrolled  # left where you read


def test_the_next_step_box_sits_after_the_last_step(site: Site, page: Page) -> None:
    long = long_run(site.store, 300, RunStatus.PAUSED)
    page.goto(f"{site.base}/runs/{long.id}")
    box = page.locator("#intervene")
    expect(box).to_be_attached()
    assert box.evaluate("el => el.previousElementSibling.id") == f"step-{long.steps - 1}"
    page.goto(f"{site.base}/runs/{long.id}?at=0")
    expect(page.locator("#step-0")).to_be_attached()
    expect(box).to_have_count(0)  # not below steps the page has not loaded
    page.click(".jump-bar a[data-then=intervene]")
    expect(box).to_be_in_viewport()
    box.locator("textarea").fill("<submit>42</submit>")
    box.locator("button").click()
    expect(page.locator(".run-head")).to_have_attribute("data-status", "queued")
    assert site.store.run(long.id).status is RunStatus.QUEUED


BIG_TABLES = ("steps", "options", "choices", "observations", "ratings", "tags", "holds", "usage", "runs")


def test_a_window_reads_only_indexed_ranges(login: Login, web_store: Store) -> None:
    """Every query behind a window of steps, a subtask's steps, the messages and a run page searches an index:
    none scans a table (or a whole index) of steps, options, observations, usage or runs."""
    long = long_run(web_store, 300)
    client, _ = login("rob")
    statements: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(web_store.engine, "before_cursor_execute", seen)
    try:
        for path in (
            f"/runs/{long.id}/steps?start=100&stop=140",
            f"/runs/{long.id}/steps?depth=1",
            f"/runs/{long.child}/steps?depth=1",
            f"/runs/{long.id}/steps/150/messages",
            f"/runs/{long.id}",
        ):
            assert client.get(path).status_code == 200, path
    finally:
        event.remove(web_store.engine, "before_cursor_execute", seen)
    assert len(statements) > 8
    scans = []
    with web_store.engine.connect() as conn:
        for statement, parameters in statements:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            scans += [(row[-1], statement) for row in plan if re.match(rf"SCAN ({'|'.join(BIG_TABLES)})\b", row[-1])]
    # The one scan allowed: the tag vocabulary (the tag box's suggestions), which counts tags, not the run's steps.
    assert [scan for scan in scans if not scan[1].startswith("SELECT tags.name, count(*)")] == []


def test_a_huge_runs_map_counts_equal_shares(site: Site, page: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    long = site.long
    monkeypatch.setattr(overview, "ROW_STEPS", 100)  # past it, the map counts shares of the run in SQL
    bands = page.request.get(f"{site.base}/api/runs/{long.id}").json()["map"]
    assert len(bands) <= overview.MAP_BANDS
    assert bands[0]["start"] == 0 and bands[-1]["stop"] == long.steps
    assert all(a["stop"] <= b["start"] for a, b in itertools.pairwise(bands))
    assert sum(b["stop"] - b["start"] for b in bands) == long.steps
    marks = {m: [b for b in bands if b[m]] for m in ("failed", "forked", "human", "stuck", "subtask")}
    assert {m: sum(b[m] for b in found) for m, found in marks.items()} == dict.fromkeys(marks, 1)
    for mark, step in [
        ("failed", long.failed),
        ("forked", long.forked),
        ("stuck", long.stuck),
        ("human", long.human),
        ("subtask", long.delegated),
    ]:
        (band,) = marks[mark]
        assert band["start"] <= step < band["stop"], mark
    assert marks["subtask"][0]["subtasks"] == [long.child]


@pytest.mark.parametrize("row_steps", [2000, 50])
def test_the_map_windows_path_and_messages_on_both_databases(
    store: Store, monkeypatch: pytest.MonkeyPatch, row_steps: int
) -> None:
    """The reads behind a run page on SQLite and PostgreSQL: the map from each step and counted in shares, a
    window, a subtask's path up, and the messages at a step."""
    long = long_run(store, 300)
    monkeypatch.setattr(overview, "ROW_STEPS", row_steps)
    with store.engine.connect() as conn:
        bands = overview.map_bands(conn, long.id)
        assert bands[0].start == 0 and bands[-1].stop == long.steps
        assert sum(b.count for b in bands) == long.steps and len(bands) <= overview.MAP_BANDS
        for mark in ("failed", "forked", "human", "stuck", "subtask"):
            assert sum(getattr(b, mark) for b in bands) == 1, mark
        assert [s.index for s in q.steps_window(conn, long.id, 100, 140)] == list(range(100, 140))
        run, child = store.run(long.id), store.run(long.child)
        assert overview.breadcrumb(conn, child) == [
            overview.Crumb(run_id=long.id, task_id="long/run", step=long.delegated)
        ]
        messages = overview.messages_at(conn, run, store.task("long/run"), 3)
    assert messages[1].content == "Do the long task." and len(messages) == 2 + 2 * 3


def test_j_and_k_go_past_the_loaded_window(site: Site, page: Page) -> None:
    long = site.long
    page.goto(f"{site.base}/runs/{long.id}?at=0")
    first_window = loaded(page)
    assert first_window[0] == 0 and len(first_window) == WINDOW
    page.click(f"#step-{WINDOW - 1} header .kind")  # select the window's last step
    page.keyboard.press("j")
    expect(page.locator(f"#step-{WINDOW}")).to_have_class(re.compile("focused"))
    assert WINDOW in loaded(page) and long.steps - 1 not in loaded(page)


def compacted_run(store: Store, steps: int = 260) -> str:
    """A run of `steps` steps in the tags agent's form: each action step with an option not chosen, a stuck check,
    and a compaction at step 100 that kept the task and the last 6 messages (its option chosen by the runner)."""
    with store.engine.begin() as conn:
        task = {"id": "t/compacted", "family": "t", "name": "compacted", "format": "native", "source": "/nowhere"}
        ops.upsert_task(conn, task | {"instructions": "Do the task.", "permissions": [], "tags": []})
        config = RunConfig(model="double/long", options=2).model_dump(mode="json")
        run_id = ops.create_run(conn, task_id="t/compacted", model="double/long", config=config)
        for i in range(steps):
            if i == 100:
                keep = {"text": "dropped", "action": None, "argument": {"keep": 6}, "source": "compaction"}
                step_id, (chosen,) = ops.start_step(conn, run_id, i, "compaction", [keep])
                ops.add_choice(conn, step_id, chosen, "compaction")
                ops.finish_step(conn, run_id, step_id, {"kind": "compaction", "output": "dropped"}, 0.0)
            elif i == 150:
                step_id, _ = ops.start_step(conn, run_id, i, "stuck_check", [])
                ops.finish_step(conn, run_id, step_id, {"kind": "stuck_check", "output": "not stuck"}, 0.0)
            else:
                step_id, (first, _) = ops.start_step(conn, run_id, i, "action", [bash(f"echo {i}"), bash("rm -rf /")])
                ops.add_choice(conn, step_id, first, "first")
                output = f"{i} {XSS}" if i % 50 == 7 else str(i)
                ops.finish_step(conn, run_id, step_id, {"kind": "bash", "output": output, "exit_code": 0}, 0.0)
        ops.set_status(conn, run_id, RunStatus.DONE)
    return run_id


def test_the_messages_rebuilt_from_windows_of_lean_steps_equal_the_full_rebuild(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite and PostgreSQL: the messages view reads only what `rebuild` needs (no options not chosen, no
    ratings or tags), a window of steps at a time, and gets the agent's rebuild of the whole stored steps."""
    run_id = compacted_run(store)
    monkeypatch.setattr(overview, "REBUILD_WINDOW", 7)  # windows that end anywhere, across the compaction
    agent_run = AgentRun(instructions="Do the task.", options=2, generate=GenerateConfig())
    steps = store.steps(run_id)
    with store.engine.connect() as conn:
        lean = q.conversation_steps(conn, run_id, 90, 110)
        assert [len(s.options) for s in lean] == [1] * 20  # the chosen option only (the compaction's own)
        for index in (0, 1, 99, 100, 101, 151, 259):
            expected = rebuild(get_agent("tags"), agent_run, steps[:index])
            shown = overview.messages_at(conn, store.run(run_id), store.task("t/compacted"), index)
            assert shown == expected, index
    assert len(rebuild(get_agent("tags"), agent_run, steps[:101])) == 2 + 6  # the compaction dropped the rest


def test_the_messages_view_pages_back_to_the_agents_whole_rebuild(login: Login, web_store: Store) -> None:
    """The last page first, then "show earlier" pages: together exactly the agent's rebuild, in order."""
    run_id = compacted_run(web_store)
    client, _ = login("rob")
    agent_run = AgentRun(instructions="Do the task.", options=2, generate=GenerateConfig())
    expected = rebuild(get_agent("tags"), agent_run, web_store.steps(run_id)[:259])
    assert len(expected) > 250  # several pages of 100
    page = client.get(f"/api/runs/{run_id}/steps/259/messages").json()
    assert (page["total"], page["stop"], page["start"]) == (len(expected), len(expected), len(expected) - 100)
    got = page["messages"]
    while page["start"] > 0:
        page = client.get(f"/api/runs/{run_id}/steps/259/messages?before={page['start']}").json()
        assert len(page["messages"]) == min(100, page["stop"])
        got = page["messages"] + got
    assert got == [m.model_dump(mode="json") for m in expected]
    small = client.get(f"/api/runs/{run_id}/steps/259/messages?before=10&limit=4").json()
    assert [m["content"] for m in small["messages"]] == [m.content for m in expected[6:10]]
    assert client.get(f"/api/runs/{run_id}/steps/259/messages?limit=0").status_code == 422
    html = client.get(f"/runs/{run_id}/steps/259/messages").text
    assert f"{len(expected)} messages sent to the model" in html and "the last 100 shown" in html
    assert f'data-more="/runs/{run_id}/steps/259/messages?before={len(expected) - 100}"' in html
    # Pages come from the conversation rebuilt once per version of the run: a change to the run rebuilds it.
    web_store.write(ops.add_event, run_id, "intermediate_score", {"score": 0.5})
    told = client.get(f"/api/runs/{run_id}/steps/259/messages?before=3").json()["messages"][1]["content"]
    assert told != expected[1].content and told.startswith(expected[1].content)  # the note on scoring, added


def test_show_earlier_loads_older_messages_in_order_escaped(site: Site, page: Page) -> None:
    """In Chromium: the last messages of a long conversation first; "show earlier" fetches the ones before, above
    them, until the first; model output in them stays text."""
    long = site.long
    agent_run = AgentRun(instructions="Do the long task.", options=2, generate=GenerateConfig())
    expected = rebuild(get_agent("tags"), agent_run, site.store.steps(long.id)[:301])
    assert len(expected) > 300
    page.goto(f"{site.base}/runs/{long.id}?at=301")
    context = page.locator("#step-301 details.context")
    context.locator("summary").click()
    messages = context.locator(".message")
    expect(messages).to_have_count(100)
    assert messages.first.get_attribute("data-message") == str(len(expected) - 100)
    pages = 1
    while context.locator("button.more").count():
        context.locator("button.more").click()
        pages += 1
        expect(messages).to_have_count(min(len(expected), 100 * pages))
    assert pages == -(-len(expected) // 100)
    contents = [m.text_content() for m in context.locator(".message > pre.content").all()]
    assert contents == [m.content for m in expected]  # every one, in order, as text
    expect(context.locator(".message").first.locator(".label")).to_have_text("system")
    assert context.locator(".message pre.content", has_text=XSS).count() > 100  # shown as text, never run
