"""The Results and Reports pages through the ASGI client: the JSON is `proctor.analysis`'s (by /api/… and by Accept),
who may see them, bad filters, human minutes on the horizons view, and `proctor view --thresholds` checking its file."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rated_runs import rated_run
from report_store import THRESHOLDS, XSS_TASK, seed
from test_view_command import cli
from web_runs import PASSWORD

from proctor.analysis import RaterFilters, RunFilter, compare, rater_report, results_grid
from proctor.store import Store
from proctor.web import WebSettings, create_app


@pytest.fixture
def seeded(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'proctor.db'}")
    seed(store, tmp_path)
    (tmp_path / "thresholds.yaml").write_text(THRESHOLDS)
    return store


def client(store: Store, name: str, settings: WebSettings | None = None) -> TestClient:
    session = TestClient(create_app(store, settings))
    assert session.post("/api/login", json={"name": name, "password": PASSWORD}).status_code == 200
    return session


def test_the_json_is_the_analysis_grid_by_path_and_by_accept(seeded: Store) -> None:
    rob = client(seeded, "rob")
    grid = results_grid(seeded, RunFilter.parse("suite=suite,until=2026-03-31"))
    for answer in (
        rob.get("/api/results", params={"suite": "suite", "until": "2026-03-31"}),
        rob.get("/results?suite=suite&until=2026-03-31", headers={"accept": "application/json"}),
    ):
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        body = answer.json()
        assert body["grid"] == grid.model_dump(mode="json")
        assert body["filter"] == "suite=suite,until=2026-03-31" and len(body["links"]) == len(grid.cells)
    page = rob.get("/results?suite=suite&until=2026-03-31")
    assert page.headers["content-type"].startswith("text/html")
    assert "&lt;img src=x onerror=window.__xss=1&gt;" in page.text and "<img src=x" not in page.text

    # a cell's link, followed through the API, lists exactly the runs the cell counts
    cell = next(c for c in grid.cells if c.task_id == XSS_TASK and c.model == "lab/beta")
    link = body["links"][grid.cells.index(cell)]
    listed = rob.get("/api" + link).json()["runs"]
    assert len(listed) == cell.runs == 2
    assert {(r["task_id"], r["model"], r["agent"]) for r in listed} == {(XSS_TASK, "lab/beta", "react")}


def test_raters_may_not_and_bad_filters_are_one_line(seeded: Store) -> None:
    rae = client(seeded, "rae")
    assert rae.get("/api/results").status_code == 403
    assert rae.get("/api/reports").status_code == 403
    rob = client(seeded, "rob")
    answer = rob.get("/api/results", params={"since": "last week"})
    assert answer.status_code == 422 and "since=last week: not a date" in answer.json()["error"]
    answer = rob.get("/api/results", params={"where": "modle=x"})
    assert answer.status_code == 422 and "unknown filter key 'modle'" in answer.json()["error"]
    answer = rob.get("/api/runs", params={"where": "nonsense"})
    assert answer.status_code == 422 and "has no '='" in answer.json()["error"]
    answer = rob.get("/api/reports", params={"view": "compare", "a": "model=lab/alpha", "b": "model=lab/alpha"})
    assert answer.status_code == 200 and "in both groups" in answer.json()["error"]


def test_reports_json_comparison_thresholds_and_people_timed_horizons(seeded: Store, tmp_path: Path) -> None:
    rob = client(seeded, "rob", WebSettings(thresholds=tmp_path / "thresholds.yaml"))
    body = rob.get("/api/reports", params={"view": "compare", "a": "agent=tags", "b": "agent=react"}).json()
    expected = compare(seeded, RunFilter.parse("agent=tags"), RunFilter.parse("agent=react"), resamples=2000)
    assert body["comparison"] == expected.model_dump(mode="json")
    body = rob.get("/api/reports", params={"view": "thresholds"}).json()
    assert body["crossed"] == 1 and body["thresholds"][0]["threshold"]["name"] == "shell autonomy"
    body = rob.get("/api/reports", params={"view": "horizons", "resamples": 0}).json()
    assert body["error"] is None and {m["alias"] for m in body["horizons"]["models"]} == {"lab/alpha", "lab/beta"}
    assert any("from people's runs" in n and "lab/quiet" in n for n in body["notes"])
    assert {m["tasks"] for m in body["horizons"]["models"]} == {3}  # shell-a, shell-b (task.yaml), quiet (people)
    no_file = client(seeded, "rob").get("/api/reports", params={"view": "thresholds"}).json()
    assert no_file["thresholds"] is None


def test_view_refuses_a_thresholds_file_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("thresholds:\n  - name: x\n    level: high\n    precaution: p\n")
    result = cli(capsys, monkeypatch, "view", "--db", f"sqlite:///{tmp_path / 'db'}", "--thresholds", str(bad))
    assert result.code == 2
    assert "bad.yaml: thresholds[0] (x).level: Input should be a valid number" in result.err


def test_every_cell_links_to_exactly_its_runs_on_sqlite_and_postgresql(store: Store, tmp_path: Path) -> None:
    runs = seed(store, tmp_path)
    rob = client(store, "rob")
    for terms in ({}, {"tag": "shell|difficulty:hard", "since": "2026-04-01", "agent": "tags|react"}):
        body = rob.get("/api/results", params=terms).json()
        grid = results_grid(store, RunFilter.parse(*(f"{k}={v}" for k, v in terms.items())))
        assert body["grid"] == grid.model_dump(mode="json") and grid.cells
        for cell, link in zip(grid.cells, body["links"], strict=True):
            listed = rob.get("/api" + link + "&limit=500").json()["runs"]
            assert len(listed) == cell.runs, (cell.task_id, cell.model, terms)
            assert {(r["task_id"], r["model"], r["agent"]) for r in listed} == {(cell.task_id, cell.model, cell.agent)}
    april = {r.id for r in runs if r.created_at.month == 4 and r.task_id == "lab/shell-b" and r.model == "lab/alpha"}
    link = body["links"][
        next(i for i, c in enumerate(grid.cells) if (c.task_id, c.model) == ("lab/shell-b", "lab/alpha"))
    ]
    assert {r["id"] for r in rob.get("/api" + link).json()["runs"]} == april


def test_the_raters_view_is_the_rater_report_escaped(seeded: Store) -> None:
    rater = "human:<script>window.__xss=3</script>"
    for values in ([1, 2, 4], [2, 2, 5], [1, 3, 5], [3, 1, 4]):
        steps = [[{rater: v, "model:judge": v + (k % 2)} for k, v in enumerate(values)]]
        rated_run(seeded, steps, task_id="lab/quiet", model="lab/alpha")
    rob = client(seeded, "rob")
    body = rob.get("/api/reports", params={"view": "raters"}).json()
    assert body["raters"] == rater_report(seeded, RaterFilters(resamples=500)).model_dump(mode="json")
    (scale,) = body["raters"]["scales"]
    assert scale["ratings"] == 24 and {r["rater"] for r in scale["raters"]} == {rater, "model:judge"}
    page = rob.get("/reports", params={"view": "raters"}).text
    assert "human:&lt;script&gt;window.__xss=3&lt;/script&gt;" in page and "<script>window.__xss" not in page
    assert "Krippendorff" in page
