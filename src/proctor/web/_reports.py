"""The Results page (the results grid, each cell linking to its runs) and the Reports page (capability profile,
paired comparisons, time horizons and their trend, if-then thresholds, rater agreement), computed by the same
functions as `proctor report` (`proctor.analysis`) and shown with the report file's tables and plots."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from proctor.analysis import (
    AnalysisError,
    GridCell,
    HorizonConfig,
    RaterFilters,
    RunFilter,
    StoreSelection,
    build_report,
    compare,
    comparison_figure,
    comparison_sections,
    load_thresholds,
    plot_horizons,
    plot_trend,
    rater_report,
    read_release_dates,
    report_figures,
    report_sections,
    results_grid,
    store_runs,
    time_horizons,
)
from proctor.store import Store
from proctor.store import _schema as s
from proctor.web._app import WebError, respond, wants_json
from proctor.web._auth import STAFF, Viewer, require, store_of

router = APIRouter()
FILTER_KEYS = ("suite", "tag", "since", "until", "experiment", "agent", "model")
"""The filter fields of both pages, each a report filter key (docs/reports.md#filters)."""
View = Literal["profile", "compare", "horizons", "thresholds", "raters"]


class ResultsQuery(BaseModel):
    """The runs a Results or Reports page reads: report filter terms, one field per common key."""

    suite: str = ""
    """Tasks of this suite (a name or a folder path); `a|b` for either."""
    tag: str = ""
    """Tasks with this task tag; `a|b` for either."""
    since: str = ""
    """Runs created on or after this date (YYYY-MM-DD, UTC) or ISO 8601 time."""
    until: str = ""
    """Runs created on or before this date (the whole day) or time."""
    experiment: str = ""
    """An oversight experiment's judged cases (otherwise left out)."""
    agent: str = ""
    """Runs through this agent."""
    model: str = ""
    """Runs of this model (`*` a wildcard)."""
    where: str = ""
    """More terms, `key=value,key=value`, for any other key (`config.options=4`, `family=x`)."""
    solved_at: float = Field(default=1.0, gt=0.0, le=1.0)
    """A run is solved when its score is at least this."""

    def run_filter(self) -> RunFilter:
        """The report filter of these fields.

        Raises:
            WebError: 422, naming the term that is not a filter.
        """
        terms = [f"{key}={value.strip()}" for key in FILTER_KEYS if (value := getattr(self, key)).strip()]
        try:
            return RunFilter.parse(*terms, self.where)
        except AnalysisError as error:
            raise WebError(422, f"filter: {error}") from error

    def params(self) -> dict[str, str]:
        """The fields that are set, for links that keep them."""
        found = {key: str(value) for key, value in self.model_dump().items() if value and key != "solved_at"}
        return found | ({"solved_at": f"{self.solved_at:g}"} if self.solved_at != 1.0 else {})


class ReportsQuery(ResultsQuery):
    """The Reports page: its view, and what a comparison or the horizons take."""

    view: View = "profile"
    """Which report: profile, compare, horizons, thresholds or raters."""
    a: str = ""
    """Comparison: group A, a filter (`model=openai/gpt-4o`, `agent=react`, `config.options=4`)."""
    b: str = ""
    """Comparison: group B, a filter."""
    measure: Literal["success", "score"] = "success"
    """Comparison: per-task success rates or mean scores."""
    resamples: int = Field(default=200, ge=0, le=5000)
    """Horizons: bootstrap resamples (0: no intervals)."""


def cell_runs_url(cell: GridCell, runs: RunFilter) -> str:
    """The runs list of exactly the runs a grid cell counts: its task, model and agent, within the page's filter."""
    query = {"task": cell.task_id, "model": cell.model, "agent": cell.agent, "exact": "true", "counted": "true"}
    if runs.terms:
        query["where"] = str(runs)
    return "/runs?" + urlencode(query)


@router.get("/results")
@router.get("/api/results")
def results_page(request: Request, session: Viewer, query: Annotated[ResultsQuery, Query()]) -> Response:
    """The results grid: success (Wilson interval), mean score, cost, tokens and times per task × model × agent."""
    require(session, *STAFF)
    runs = query.run_filter()
    store = store_of(request)
    grid = results_grid(store, runs, solved_at=query.solved_at)
    links = [cell_runs_url(cell, runs) for cell in grid.cells]
    data: dict[str, Any] = {"filter": str(runs), "grid": grid, "links": links}
    if not wants_json(request):
        columns = sorted({(c.model, c.agent) for c in grid.cells})
        pivot: dict[str, dict[tuple[str, str], tuple[GridCell, str]]] = {}
        for cell, link in zip(grid.cells, links, strict=True):
            pivot.setdefault(cell.task_id, {})[(cell.model, cell.agent)] = (cell, link)
        data |= {"query": query, "params": query.params(), "columns": columns, "pivot": pivot, **_choices(store)}
    return respond(request, "results.html", data)


def _choices(store: Store) -> dict[str, list[str]]:
    """Models and agents with runs, for the filter fields' suggestions."""
    with store.engine.connect() as conn:
        models = list(conn.execute(s.runs.select().with_only_columns(s.runs.c.model).distinct()).scalars())
        agents = list(conn.execute(s.runs.select().with_only_columns(s.runs.c.agent).distinct()).scalars())
    return {"models": sorted(models), "agents": sorted(a for a in agents if a)}


@router.get("/reports")
@router.get("/api/reports")
def reports_page(request: Request, session: Viewer, query: Annotated[ReportsQuery, Query()]) -> Response:
    """One report at a time (`view`): profile, compare, horizons (with the trend), thresholds or raters."""
    require(session, *STAFF)
    runs = query.run_filter()
    store = store_of(request)
    data: dict[str, Any] = {"view": query.view, "filter": str(runs), "error": None}
    try:
        data |= _VIEWS[query.view](request, store, runs, query)
    except AnalysisError as error:  # e.g. no shared tasks, no runs with human minutes: said on the page
        data["error"] = str(error)
    if wants_json(request):
        data.pop("sections", None)
        data.pop("figures", None)
    else:
        data |= {"query": query, "params": query.params(), **_choices(store)}
    return respond(request, "reports.html", data)


def _profile(request: Request, store: Store, runs: RunFilter, query: ReportsQuery) -> dict[str, Any]:
    report = build_report(store, runs, solved_at=query.solved_at)
    figures = report_figures(report, only=("models.png", "profile.png"))
    sections = [x for x in report_sections(report, figures) if x["id"] in ("models", "profile")]
    return {"report": {"grid": {"models": report.grid.models}, "profile": report.profile}, "sections": sections}


def _thresholds(request: Request, store: Store, runs: RunFilter, query: ReportsQuery) -> dict[str, Any]:
    path = request.app.state.settings.thresholds
    if path is None:
        return {"thresholds": None, "sections": []}
    report = build_report(store, runs, solved_at=query.solved_at, thresholds=load_thresholds(Path(path)))
    sections = [x for x in report_sections(report) if x["id"] == "thresholds"]
    return {"thresholds": report.thresholds, "file": str(path), "crossed": len(report.crossed), "sections": sections}


def _compare(request: Request, store: Store, runs: RunFilter, query: ReportsQuery) -> dict[str, Any]:
    if not query.a.strip() or not query.b.strip():
        return {"comparison": None, "sections": []}
    try:
        a, b = RunFilter.parse(query.a), RunFilter.parse(query.b)
    except AnalysisError as error:
        raise WebError(422, f"group filter: {error}") from error
    result = compare(store, a & runs, b & runs, measure=query.measure, solved_at=query.solved_at, resamples=2000)
    sections = comparison_sections(result, {"compare.png": comparison_figure(result)})
    return {"comparison": result, "sections": sections}


def _horizons(request: Request, store: Store, runs: RunFilter, query: ReportsQuery) -> dict[str, Any]:
    settings = request.app.state.settings
    selection = StoreSelection(
        success_threshold=query.solved_at,
        models=[query.model] if query.model and "*" not in query.model and "|" not in query.model else [],
        suite=query.suite or None,
        tag=query.tag or None,
    )
    horizon_runs, notes = store_runs(store, selection)
    dates = read_release_dates(settings.release_dates) if settings.release_dates else None
    report = time_horizons(horizon_runs, HorizonConfig(resamples=query.resamples), release_dates=dates)
    figures = [{"alt": "fitted success curves against human minutes", "data": _png(plot_horizons, report)}]
    if report.trend is not None:
        figures.append(
            {"alt": "the trend of the 50% horizon over release dates", "data": _png(plot_trend, report.trend)}
        )
    return {"horizons": report, "notes": [*notes, *report.notes], "figures": figures}


def _raters(request: Request, store: Store, runs: RunFilter, query: ReportsQuery) -> dict[str, Any]:
    return {"raters": rater_report(store, RaterFilters(model=query.model or None, resamples=500))}


def _png(plot: Any, subject: Any) -> str:
    """A plot the analysis writes to a file, as base64 PNG for a `data:` URI."""
    with tempfile.TemporaryDirectory(prefix="proctor-plot-") as folder:
        path = Path(folder) / "plot.png"
        plot(subject, path)
        return base64.b64encode(path.read_bytes()).decode("ascii")


_VIEWS = {
    "profile": _profile,
    "compare": _compare,
    "horizons": _horizons,
    "thresholds": _thresholds,
    "raters": _raters,
}
