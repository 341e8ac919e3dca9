"""The HTML report: one self-contained file (plots as data URIs, nothing fetched), and every name from the store
escaped — model names, task ids, tags and precautions are not trusted."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

from report_runs import Run, add_runs, add_tasks

from proctor.analysis import (
    RunFilter,
    build_report,
    compare,
    comparison_figure,
    comparison_html,
    load_thresholds,
    report_figures,
    report_html,
    write_figures,
)
from proctor.store import Store

EVIL_MODEL = "<script>alert('model')</script>/$x^2$"
EVIL_TASK = 'lab/"><img src=x onerror=alert(1)>'
EVIL_TAG = "<b onmouseover=alert(2)>tag</b>"
ALLOWED = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "section", "table", "thead", "tbody"}
ALLOWED |= {"tr", "th", "td", "span", "figure", "img"}


class Elements(HTMLParser):
    """Every element and attribute of a page, and the text in it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(page: str) -> Elements:
    elements = Elements()
    elements.feed(page)
    return elements


def check_self_contained_and_inert(page: str) -> Elements:
    elements = parsed(page)
    assert {tag for tag, _ in elements.tags} <= ALLOWED  # nothing injected became an element
    for tag, attrs in elements.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            source = attrs["src"] or ""
            assert source.startswith("data:image/png;base64,")
            assert base64.b64decode(source.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    policy = [
        a["content"] for t, a in elements.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]
    assert "http://" not in page and "https://" not in page and "<script" not in page.lower()
    return elements


def evil_store(store: Store) -> None:
    add_tasks(store, {EVIL_TASK: [EVIL_TAG], "lab/plain": ["shell"]})
    runs = [
        Run(EVIL_TASK, model=EVIL_MODEL, agent="</style><i>", score=float(i % 2), step_tags=[EVIL_TAG])
        for i in range(4)
    ]
    runs += [Run("lab/plain", model=EVIL_MODEL, agent="</style><i>", score=1.0) for _ in range(3)]
    runs += [Run(EVIL_TASK, model="lab/plain", score=0.0), Run("lab/plain", model="lab/plain", score=0.0)]
    add_runs(store, runs)


def test_the_report_page_escapes_every_name_and_embeds_its_plots(sqlite_store: Store, tmp_path: Path) -> None:
    evil_store(sqlite_store)
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("thresholds:\n  - {name: '<i>x</i>', level: 0.1, precaution: '<script>p</script>'}\n")
    report = build_report(sqlite_store, thresholds=load_thresholds(thresholds))
    figures = report_figures(report)
    assert set(figures) == {"models.png", "grid.png", "profile.png"}
    page = report_html(report, figures)
    elements = check_self_contained_and_inert(page)
    text = "".join(elements.text)
    for name in (EVIL_MODEL, EVIL_TASK, EVIL_TAG, "</style><i>", "<i>x</i>", "<script>p</script>"):
        assert name in text  # shown as text, exactly
    assert sum(1 for tag, _ in elements.tags if tag == "img") == 3
    sections = [attrs.get("id") for tag, attrs in elements.tags if tag == "section"]
    assert sections == ["thresholds", "models", "profile", "grid"]
    written = write_figures(figures, tmp_path / "plots")
    assert sorted(p.name for p in written) == ["grid.png", "models.png", "profile.png"]


def test_the_comparison_page_is_self_contained_and_inert(sqlite_store: Store) -> None:
    evil_store(sqlite_store)
    result = compare(sqlite_store, RunFilter.parse("model=<script>*"), RunFilter.parse("model=lab/plain"))
    page = comparison_html(result, {"compare.png": comparison_figure(result)})
    elements = check_self_contained_and_inert(page)
    text = "".join(elements.text)
    assert EVIL_TASK in text and "model=<script>*" in text
    assert [a.get("id") for t, a in elements.tags if t == "section"] == ["summary", "flipped", "tasks"]


def test_an_empty_report_still_renders(sqlite_store: Store) -> None:
    report = build_report(sqlite_store, RunFilter.parse("tag=nothing"))
    assert report_figures(report) == {}
    page = report_html(report)
    check_self_contained_and_inert(page)
    assert "No finished runs match." in page and "tag=nothing" in page
