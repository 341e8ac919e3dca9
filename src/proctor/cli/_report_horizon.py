"""`proctor report horizon` and `proctor report trend`: time horizons (METR's method) and trends over release dates,
from METR's published runs.jsonl or from the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

if TYPE_CHECKING:
    from proctor.analysis import HorizonReport, HorizonRuns, StoreSelection, Trend, TrendPoint

import typer
from rich.table import Table

from proctor.cli._app import Db, Json, console
from proctor.cli._checks import notes
from proctor.cli._report import report_app


class Weighting(StrEnum):
    """Run weights of the logistic fit."""

    INVSQRT = "invsqrt"
    EQUAL = "equal"
    NONE = "none"


class OneClass(StrEnum):
    """What a bootstrap resample with one class of outcome counts as."""

    SKIP = "skip"
    BOUND = "bound"


class Levels(StrEnum):
    """What the hierarchical bootstrap resamples."""

    FTR = "ftr"
    FT = "ft"
    F = "f"


class Measure(StrEnum):
    """What a trend is fitted to."""

    P50 = "p50"
    P80 = "p80"
    SUCCESS = "success"


Runs = Annotated[Path | None, typer.Option("--runs", help="METR's runs.jsonl (default: finished runs in the store).")]
Dates = Annotated[
    Path | None, typer.Option("--release-dates", help="Release dates, METR's YAML: date: {ALIAS: YYYY-MM-DD}.")
]
Score = Annotated[str, typer.Option("--score", help="The runs file's success column (score_binarized, score_cont).")]
Weights = Annotated[Weighting, typer.Option("--weighting", help="Run weights: invsqrt (METR), equal or none.")]
Penalty = Annotated[float, typer.Option("--regularization", min=1e-9, help="METR's L2 penalty (1/C).")]
Resamples = Annotated[int, typer.Option("--resamples", min=0, help="Bootstrap resamples.")]
Confidence = Annotated[float, typer.Option("--confidence", min=0.5, max=0.999, help="Confidence level.")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]
Bootstrap = Annotated[Levels, typer.Option("--bootstrap", help="Resample families, tasks, runs: ftr (METR), ft or f.")]
OneClassOption = Annotated[
    OneClass, typer.Option("--one-class-resamples", help="A resample of one outcome class: skip (METR) or bound.")
]
Models = Annotated[list[str] | None, typer.Option("--model", help="Only this model (alias; repeatable).")]
Suite = Annotated[str | None, typer.Option("--suite", help="Only tasks of this suite (task family).")]
Tag = Annotated[str | None, typer.Option("--tag", help="Only tasks with this tag (store).")]
Threshold = Annotated[
    float, typer.Option("--success-threshold", min=0.0, max=1.0, help="Store: success is score >= this.")
]
Tasks = Annotated[Path | None, typer.Option("--tasks", help="Store: read human minutes from this suite folder.")]
After = Annotated[str | None, typer.Option("--after", help="Trend: models released on or after YYYY-MM-DD.")]
Before = Annotated[str | None, typer.Option("--before", help="Trend: models released before YYYY-MM-DD.")]
AllModels = Annotated[bool, typer.Option("--all-models", help="Trend: every model, not only the frontier.")]
Plots = Annotated[Path | None, typer.Option("--plots", help="Write PNG plots into this folder.")]


@report_app.command("horizon")
def horizon(
    runs: Runs = None,
    release_dates: Dates = None,
    score: Score = "score_binarized",
    weighting: Weights = Weighting.INVSQRT,
    regularization: Penalty = 0.1,
    resamples: Resamples = 1000,
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    bootstrap: Bootstrap = Levels.FTR,
    one_class_resamples: OneClassOption = OneClass.SKIP,
    model: Models = None,
    suite: Suite = None,
    tag: Tag = None,
    success_threshold: Threshold = 1.0,
    tasks: Tasks = None,
    after: After = None,
    before: Before = None,
    all_models: AllModels = False,
    plots: Plots = None,
    json_out: Json = False,
    db: Db = None,
) -> None:
    """50% and 80% time horizons per model (METR's method) with hierarchical bootstrap intervals, and the doubling
    time of the 50% horizon over release dates."""
    from proctor.analysis import (
        HorizonConfig,
        StoreSelection,
        TrendConfig,
        plot_horizons,
        plot_trend,
        read_release_dates,
        time_horizons,
    )

    with _errors():
        config = HorizonConfig(
            weighting=weighting.value,
            regularization=regularization,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
            bootstrap=bootstrap.value,
            one_class_resamples=one_class_resamples.value,
        )
        selection = StoreSelection(
            success_threshold=success_threshold, models=model or [], suite=suite, tag=tag, tasks=tasks
        )
        data, found = _runs(runs, score, selection, db)
        dates = read_release_dates(release_dates) if release_dates is not None else None
        trend = TrendConfig(
            frontier=not all_models,
            after=_date(after, "--after"),
            before=_date(before, "--before"),
            confidence=confidence,
            seed=seed,
        )
        report = time_horizons(data, config, release_dates=dates, trend=trend)
        report.notes[:0] = found
    for line in report.notes:
        notes.print(f"note: {line}", highlight=False, markup=False)
    if json_out:
        print(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        _print_horizons(report)
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        written = [plot_horizons(report, plots / "horizons.png")]
        if report.trend is not None:
            written.append(plot_trend(report.trend, plots / "trend.png", unit="minutes"))
        for path in written:
            notes.print(f"wrote {path}", highlight=False)


@report_app.command("trend")
def trend(
    from_file: Annotated[
        Path | None, typer.Option("--from", help="The JSON of `proctor report horizon --json` (no bootstrap draws).")
    ] = None,
    runs: Runs = None,
    measure: Annotated[Measure, typer.Option("--measure", help="p50, p80 (minutes) or success (rate).")] = Measure.P50,
    release_dates: Dates = None,
    at: Annotated[
        list[str] | None, typer.Option("--at", help="Project to this date, YYYY-MM-DD, or 'next' (repeatable).")
    ] = None,
    reach: Annotated[
        list[float] | None, typer.Option("--reach", help="When the trend reaches this value (repeatable).")
    ] = None,
    score: Score = "score_binarized",
    weighting: Weights = Weighting.INVSQRT,
    resamples: Resamples = 1000,
    confidence: Confidence = 0.95,
    seed: Seed = 0,
    bootstrap: Bootstrap = Levels.FTR,
    model: Models = None,
    suite: Suite = None,
    tag: Tag = None,
    success_threshold: Threshold = 1.0,
    tasks: Tasks = None,
    after: After = None,
    before: Before = None,
    all_models: AllModels = False,
    plots: Plots = None,
    json_out: Json = False,
    db: Db = None,
) -> None:
    """A measure against model release dates: log-linear fit, doubling time with a bootstrap interval, projections
    to dates with prediction intervals, and when the trend reaches given levels."""
    from proctor.analysis import (
        AnalysisError,
        HorizonConfig,
        StoreSelection,
        TrendConfig,
        fit_trend,
        horizon_points,
        plot_trend,
        read_release_dates,
        success_rates,
        time_horizons,
    )

    with _errors():
        if from_file is not None and runs is not None:
            raise AnalysisError("give --from or --runs, not both")
        if from_file is not None and (model or suite or tag or tasks):
            raise AnalysisError("--model, --suite, --tag and --tasks choose runs: they do not apply to --from FILE")
        config = TrendConfig(
            frontier=not all_models,
            after=_date(after, "--after"),
            before=_date(before, "--before"),
            resamples=max(resamples, 1),
            confidence=confidence,
            seed=seed,
        )
        dates = read_release_dates(release_dates) if release_dates is not None else None
        found: list[str] = []
        if from_file is not None:
            points = _points_from_json(from_file, measure.value, dates)
        else:
            if dates is None:
                raise AnalysisError("a trend needs release dates: give --release-dates FILE (date: {ALIAS: DATE})")
            selection = StoreSelection(
                success_threshold=success_threshold,
                models=model or [],
                suite=suite,
                tag=tag,
                tasks=tasks,
                need_minutes=measure is not Measure.SUCCESS,
            )
            data, found = _runs(runs, score, selection, db)
            horizons = HorizonConfig(
                weighting=weighting.value,
                resamples=resamples,
                confidence=confidence,
                seed=seed,
                bootstrap=bootstrap.value,
            )
            if measure is Measure.SUCCESS:
                report = success_rates(data, horizons, release_dates=dates)
            else:
                report = time_horizons(data, horizons, release_dates=dates)
            found += [n for n in report.notes if not n.startswith("no trend")]
            points = horizon_points(report, measure.value)
        result = fit_trend(
            points,
            config,
            measure=measure.value,
            at=[_when(d) for d in at or []],
            reach=reach or [],
        )
    for line in found:
        notes.print(f"note: {line}", highlight=False, markup=False)
    if json_out:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        _print_trend(result)
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        unit = "rate" if measure is Measure.SUCCESS else "minutes"
        notes.print(f"wrote {plot_trend(result, plots / 'trend.png', unit=unit)}", highlight=False)


def _runs(path: Path | None, score: str, selection: StoreSelection, db: str | None) -> tuple[HorizonRuns, list[str]]:
    """Runs from METR's file (filtered by model and suite) or from the store."""
    import numpy as np

    from proctor.analysis import AnalysisError, read_metr_runs, store_runs
    from proctor.store import Store

    if path is None:
        return store_runs(Store(db), selection)
    if selection.tag is not None or selection.tasks is not None:
        raise AnalysisError("--tag and --tasks apply to runs in the store, not to --runs FILE")
    data = read_metr_runs(path, score=score)
    keep = [True] * len(data)
    if selection.models:
        unknown = sorted(set(selection.models) - set(data.alias))
        if unknown:
            raise AnalysisError(f"{path}: no runs of --model {unknown[0]!r} (its aliases: {_some(set(data.alias))})")
        keep = [alias in selection.models for alias in data.alias]
    if selection.suite is not None:
        keep = [k and family == selection.suite for k, family in zip(keep, data.task_family, strict=True)]
        if not any(keep):
            raise AnalysisError(f"{path}: no runs of --suite {selection.suite!r} (a task_family)")
    if all(keep):
        return data, []
    kept = data.only(np.array(keep))
    if selection.suite is not None:  # the file's weights were for every task: recompute them (as METR does)
        kept = replace(kept, weights={})
    return kept, []


def _points_from_json(path: Path, measure: str, dates: dict[str, date] | None) -> list[TrendPoint]:
    from proctor.analysis import AnalysisError, TrendPoint, release_date

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AnalysisError(f"{path}: cannot read JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise AnalysisError(f'{path}: expected the JSON of `proctor report horizon --json`: {{"models": [...]}}')
    key = "success_rate" if measure == "success" else measure
    points = []
    for index, entry in enumerate(data["models"]):
        where = f"{path}: models[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("alias"), str):
            raise AnalysisError(f"{where}: missing field 'alias'")
        day = release_date(entry["alias"], dates) if dates is not None else None
        if day is None and entry.get("release_date"):
            day = _date(str(entry["release_date"]), f"{where}.release_date")
        if day is None:
            continue
        if key not in entry:
            raise AnalysisError(f"{where}: missing field {key!r}")
        value = entry[key]
        if value is not None and not isinstance(value, int | float):
            raise AnalysisError(f"{where}: field {key!r} must be a number, got {value!r}")
        interval = entry.get(f"{key}_ci") or [None, None]
        points.append(TrendPoint(name=entry["alias"], date=day, value=value, low=interval[0], high=interval[1]))
    return points


def _date(text: str | None, flag: str) -> date | None:
    from proctor.analysis import AnalysisError

    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise AnalysisError(f"{flag}: not a date (YYYY-MM-DD): {text!r}") from None


def _when(text: str) -> date | Literal["next"]:
    """A date for --at: YYYY-MM-DD, or `next` (the next model's release at the releases' pace)."""
    return "next" if text.strip() == "next" else _date(text, "--at") or date.today()


@contextmanager
def _errors() -> Iterator[None]:
    """Bad input — a malformed file, a missing field, nothing to fit — is one `error:` line and exit code 2."""
    from proctor.analysis import AnalysisError

    try:
        yield
    except AnalysisError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        raise typer.Exit(2) from None


def _print_horizons(report: HorizonReport) -> None:
    level = f"{report.config.confidence:.0%}"
    table = Table(title=f"time horizons, human minutes ({level} intervals)")
    for column in ("model", "released", "p50", f"p50 {level}", "p80", f"p80 {level}", "success", "runs", "tasks"):
        table.add_column(column, justify="right" if column not in ("model", "released") else "left")
    for model in sorted(report.models, key=lambda m: (m.release_date or date.max, m.alias)):
        table.add_row(
            model.alias,
            str(model.release_date or "—"),
            _minutes(model.p50),
            _interval(model.p50_ci),
            _minutes(model.p80),
            _interval(model.p80_ci),
            f"{model.success_rate:.0%}",
            str(model.runs),
            str(model.tasks),
        )
    console.print(table)
    for model in report.models:
        if model.note:
            console.print(f"{model.alias}: {model.note}", highlight=False, markup=False)
    if report.trend is not None:
        _print_doubling(report.trend)


def _print_trend(result: Trend) -> None:
    unit = _minutes if result.measure != "success" else _rate
    table = Table(title=f"{result.measure} by release date")
    for column in ("model", "released", result.measure, "interval", "fitted"):
        table.add_column(column)
    for point in sorted(result.points, key=lambda p: p.date):
        interval = f"[{unit(point.low)}, {unit(point.high)}]" if point.low is not None or point.high is not None else ""
        table.add_row(point.name, str(point.date), unit(point.value), interval, "yes" if point.used else point.reason)
    console.print(table)
    _print_doubling(result)
    level = f"{result.confidence:.0%}"
    for projection in result.projections:
        console.print(
            f"at {projection.date}: {unit(projection.value)}, {level} prediction interval "
            f"[{unit(projection.low)}, {unit(projection.high)}], trend [{unit(projection.trend_low)}, "
            f"{unit(projection.trend_high)}]",
            highlight=False,
        )
    for crossing in result.crossings:
        console.print(
            f"reaches {unit(crossing.level)} on {crossing.date or 'never'} "
            f"[{crossing.low or '—'}, {crossing.high or 'never'}]",
            highlight=False,
        )


def _print_doubling(result: Trend) -> None:
    low, high = result.doubling_days_ci
    doubling = "does not grow" if result.doubling_days is None else f"doubles every {result.doubling_days:.0f} days"
    interval = f"[{_days(low)}, {_days(high)}]"
    r2 = f", R² {result.r_squared:.2f}" if result.r_squared is not None else ""
    console.print(
        f"{result.measure} {doubling} {interval} ({result.confidence:.0%} {result.method} bootstrap, "
        f"{result.n} models{r2})",
        highlight=False,
    )


def _days(value: float | None) -> str:
    return "∞" if value is None else f"{value:.0f}"


def _minutes(value: Any) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 60:.0f} s"
    if value < 120:
        return f"{value:.1f} min"
    return f"{value / 60:.1f} h" if value < 60_000 else f"{value / 60:.2g} h"


def _rate(value: Any) -> str:
    return "—" if value is None else f"{value:.0%}"


def _interval(interval: tuple[float | None, float | None]) -> str:
    low, high = interval
    if low is None and high is None:
        return "—"
    return f"[{_minutes(low)}, {'∞' if high is None else _minutes(high)}]"


def _some(names: set[str], most: int = 5) -> str:
    ordered = sorted(names)
    return ", ".join(ordered[:most]) + (" …" if len(ordered) > most else "")
