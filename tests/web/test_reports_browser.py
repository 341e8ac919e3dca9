"""The Results and Reports pages in a real browser (Chromium through Playwright) against a real uvicorn server: the
grid shows what `proctor.analysis` computes, a cell's link lists exactly its runs, the filters narrow both, the
comparison form, threshold verdicts with their evidence, horizons with their plot, and markup in task names and tags
stays text."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from report_runs import Run
from report_store import RELEASE_DATES, THRESHOLDS, XSS_TAG, XSS_TASK, seed
from web_browser import SHOTS, chromium, log_in, serving

from proctor.analysis import GridCell, Rate, RunFilter, compare, evaluate_thresholds, load_thresholds, results_grid
from proctor.store import Store
from proctor.web import WebSettings, create_app

Served = tuple[Store, str, list[Run]]


@pytest.fixture
def served(workspaces: Path) -> Iterator[Served]:
    folder = Path(tempfile.mkdtemp(prefix="web-reports-", dir=workspaces.parent))
    store = Store(f"sqlite:///{folder / 'proctor.db'}")
    runs = seed(store, folder)
    (folder / "thresholds.yaml").write_text(THRESHOLDS)
    (folder / "dates.yaml").write_text(RELEASE_DATES)
    settings = WebSettings(thresholds=folder / "thresholds.yaml", release_dates=folder / "dates.yaml")
    with serving(create_app(store, settings)) as base:
        yield store, base, runs
    store.close()


@pytest.fixture
def page(served: Served) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = chromium(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: errors.append(f"dialog {dialog.message}"))
        log_in(page, served[1], "rob")
        yield page
        assert page.evaluate("window.__xss") is None, "markup in a task name or tag ran"
        assert errors == []
        browser.close()


def rate(r: Rate | None) -> str:
    return "—" if r is None else f"{r.value * 100:.1f}% [{r.low * 100:.1f}, {r.high * 100:.1f}]"


def shown_cells(page: Page) -> dict[tuple[str, str, str], dict[str, Any]]:
    cells = page.eval_on_selector_all(
        "td.gcell[data-task]",
        """tds => tds.map(td => ({key: [td.dataset.task, td.dataset.model, td.dataset.agent],
             rate: td.querySelector('a.rate').textContent.replace(/\\s+/g, ' ').trim(),
             href: td.querySelector('a.rate').getAttribute('href'),
             runs: td.dataset.runs, solved: td.dataset.solved,
             score: td.querySelector('.score')?.textContent, cost: td.querySelector('.cost')?.textContent,
             tokens: td.querySelector('.tokens')?.textContent, wall: td.querySelector('.wall')?.textContent,
             active: td.querySelector('.active')?.textContent}))""",
    )
    return {tuple(c["key"]): c for c in cells}


def expected(cell: GridCell) -> dict[str, Any]:
    costs = cell.costs
    assert costs is not None and cell.mean_score is not None
    return {
        "rate": rate(cell.success),
        "runs": str(cell.runs),
        "solved": str(cell.solved),
        "score": f"{cell.mean_score:.2f}",
        "cost": f"${costs.cost:.4f}",
        "tokens": f"{costs.tokens:,.0f}",
        "wall": "—" if costs.wall_seconds is None else f"{costs.wall_seconds:.0f} s",
        "active": f"{costs.active_seconds:.0f} s",
    }


def test_the_grid_is_the_analysis_grid_and_a_cell_links_to_exactly_its_runs(served: Served, page: Page) -> None:
    store, base, runs = served
    page.click("header nav a[href='/results']")
    page.wait_for_url(f"{base}/results")
    grid = results_grid(store)
    shown = shown_cells(page)
    assert set(shown) == {(c.task_id, c.model, c.agent) for c in grid.cells}
    for cell in grid.cells:
        assert {k: shown[(cell.task_id, cell.model, cell.agent)][k] for k in expected(cell)} == expected(cell)
    expect(page.locator("td.task", has_text=XSS_TASK)).to_have_count(1)  # the markup is text
    expect(page.locator(".results-grid .chip", has_text=XSS_TAG)).to_have_count(1)  # one row per task
    page.screenshot(path=str(SHOTS / "results.png"), full_page=True)

    # The cell of the task with markup, for alpha: its 4 counted runs, not the other model's or agent's.
    page.click(f"td.gcell[data-task='{XSS_TASK}'][data-model='lab/alpha'] a.rate")
    page.wait_for_url("**/runs?**")
    listed = page.eval_on_selector_all("table.runs tbody tr", "rows => rows.map(r => r.dataset.href.slice(6))")
    wanted = {r.id for r in runs if r.task_id == XSS_TASK and r.model == "lab/alpha" and r.agent == "tags"}
    assert set(listed) == wanted and len(wanted) == 4
    # A cell with runs that do not count (failed, running, a subtask) lists only the counted ones.
    page.goto(f"{base}/results")
    page.click("td.gcell[data-task='lab/shell-a'][data-model='lab/alpha'] a.rate")
    page.wait_for_url("**/runs?**")
    listed = page.eval_on_selector_all("table.runs tbody tr", "rows => rows.map(r => r.dataset.href.slice(6))")
    counted = [
        r.id
        for r in runs
        if r.task_id == "lab/shell-a"
        and r.model == "lab/alpha"
        and r.agent == "tags"
        and r.parent is None
        and r.status in ("done", "over_limit")
    ]
    assert sorted(listed) == sorted(counted) and len(counted) == 5
    cell = next(c for c in grid.cells if c.task_id == "lab/shell-a" and c.model == "lab/alpha")
    assert cell.runs == len(listed) and cell.failed == 1
    expect(page.locator(".report-filter")).to_contain_text("counted runs of agent tags")

    # The filters narrow the grid, and its links keep them: April's runs of shell tasks through react.
    page.goto(f"{base}/results")
    page.fill("input[name=tag]", "shell")
    page.fill("input[name=since]", "2026-04-01")
    page.fill("input[name=agent]", "react")
    page.click("form.report-filters button.primary")
    page.wait_for_url("**/results?**")
    narrowed = results_grid(store, RunFilter.parse("tag=shell,since=2026-04-01,agent=react"))
    shown = shown_cells(page)
    assert set(shown) == {(c.task_id, c.model, c.agent) for c in narrowed.cells} and len(shown) == 2
    for cell in narrowed.cells:
        assert shown[(cell.task_id, cell.model, cell.agent)]["rate"] == rate(cell.success)
    page.click("td.gcell[data-task='lab/shell-a'] a.rate")
    page.wait_for_url("**/runs?**")
    listed = page.eval_on_selector_all("table.runs tbody tr", "rows => rows.map(r => r.dataset.href.slice(6))")
    assert len(listed) == narrowed.cells[0].runs == 2


def test_the_reports_page_profile_comparison_thresholds_and_horizons(served: Served, page: Page) -> None:
    store = served[0]
    page.click("header nav a[href='/reports']")
    expect(page.locator("section#profile table tbody tr").first).to_be_visible()
    expect(page.locator("section#profile td", has_text=XSS_TAG)).to_have_count(2)  # escaped, per model
    assert page.eval_on_selector("section#profile img", "img => img.naturalWidth") > 0  # the report's plot

    page.click("nav.report-tabs a:has-text('Compare')")
    page.fill("form.compare-form input[name=a]", "model=lab/alpha")
    page.fill("form.compare-form input[name=b]", "model=lab/beta")
    page.click("form.compare-form button.primary")
    result = compare(store, RunFilter.parse("model=lab/alpha"), RunFilter.parse("model=lab/beta"), resamples=2000)
    expect(page.locator(".compare-summary .difference")).to_have_text(f"{result.difference.value:+.3f}")
    assert result.mcnemar is not None
    expect(page.locator(".compare-summary .mcnemar")).to_have_text(f"{result.mcnemar.p_value:.3g}")
    expect(page.locator("section#tasks tbody tr")).to_have_count(len(result.tasks))
    expect(page.locator("section#flipped tbody tr")).to_have_count(len(result.flipped))
    assert len(result.flipped) >= 1
    assert page.eval_on_selector("section#summary img", "img => img.naturalWidth") > 0
    page.screenshot(path=str(SHOTS / "reports-compare.png"), full_page=True)

    page.click("nav.report-tabs a:has-text('Thresholds')")
    path = Path(store.url.removeprefix("sqlite:///")).parent / "thresholds.yaml"
    (verdicts,) = evaluate_thresholds(store, load_thresholds(path))
    rows = page.locator("section#thresholds tbody tr")
    expect(rows).to_have_count(len(verdicts.models))
    for verdict in verdicts.models:
        row = rows.filter(has_text=verdict.model)
        expect(row.locator(".verdict")).to_have_text(verdict.verdict)
        expect(row).to_contain_text(verdict.measurements[0].evidence)
    assert {v.verdict for v in verdicts.models} == {"crossed", "inconclusive"}
    expect(page.locator("section#thresholds")).to_contain_text("review before <b>network</b> access")

    page.click("nav.report-tabs a:has-text('Time horizons')")
    expect(page.locator("table.horizons tbody tr")).to_have_count(2)  # the models; people's runs only time tasks
    expect(page.locator("p.note", has_text="from people's runs")).to_contain_text("lab/quiet")
    assert page.eval_on_selector("img[alt^='fitted success curves']", "img => img.naturalWidth") > 0
    expect(page.locator("p.trend")).to_contain_text("over 2 models")  # the release dates give a trend, and its plot
    assert page.eval_on_selector("img[alt^='the trend']", "img => img.naturalWidth") > 0

    page.click("nav.report-tabs a:has-text('Raters')")
    expect(page.locator("p.empty")).to_contain_text("No rated options")
