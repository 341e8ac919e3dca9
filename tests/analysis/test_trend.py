"""Trends over release dates: the fit and prediction interval against statsmodels, METR's frontier and doubling-time
interval against a port of its code, recovery of a known doubling time, coverage, and the command."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
import statsmodels.api as sm
from matplotlib.dates import date2num
from sklearn.linear_model import LinearRegression
from typer.testing import CliRunner

from proctor.analysis import (
    AnalysisError,
    HorizonConfig,
    HorizonRuns,
    TrendConfig,
    TrendPoint,
    fit_trend,
    plot_trend,
    time_horizons,
)
from proctor.cli import app

runner = CliRunner()
START = date(2021, 1, 1)


def line(doubling: float, dates: list[date], noise: np.ndarray | None = None) -> list[TrendPoint]:
    """Points on value = 2 ** (days / doubling), times exp(noise)."""
    noise = np.zeros(len(dates)) if noise is None else noise
    return [
        TrendPoint(name=f"m{i}", date=d, value=2 ** ((d - START).days / doubling) * math.exp(e))
        for i, (d, e) in enumerate(zip(dates, noise, strict=True))
    ]


def spaced(n: int, gap: int = 120) -> list[date]:
    return [START + timedelta(days=gap * i) for i in range(n)]


# ---- METR's code, ported as the reference (eval-analysis-public, src/horizon) ------------------------------------


def metr_sota(points: list[TrendPoint]) -> list[str]:
    """`compute_trendline_ci.get_sota_agents` (no date bounds)."""
    ordered = sorted(points, key=lambda p: p.date)
    best, chosen = -math.inf, []
    for day in sorted({p.date for p in ordered}):
        released = [p for p in ordered if p.date == day]
        best = max(best, max(p.value or 0 for p in released))
        chosen += [p.name for p in released if (p.value or 0) >= best]
    return chosen


def metr_doubling_ci(points: list[TrendPoint], draws: np.ndarray) -> tuple[float, float, float]:
    """`plot.bootstrap_ci.compute_bootstrap_confidence_region`: per resample, a LinearRegression of ln(p50) on
    date2num over the valid draws; the point estimate from the p50s clipped at 1e-3; 2.5/97.5 percentiles."""
    x = date2num([p.date for p in points])
    point = LinearRegression().fit(x.reshape(-1, 1), np.log(np.clip([p.value for p in points], 1e-3, None)))
    doublings = []
    for row in draws:
        valid = ~np.isnan(row) & ~np.isinf(row) & (row >= 1e-3)
        if valid.sum() < 2:
            continue
        fit = LinearRegression().fit(x[valid].reshape(-1, 1), np.log(row[valid]))
        if np.log(2) / fit.coef_[0] > 0:
            doublings.append(np.log(2) / fit.coef_[0])
    low, high = np.percentile(doublings, [2.5, 97.5])
    return float(np.log(2) / point.coef_[0]), float(low), float(high)


# ---- the fit ------------------------------------------------------------------------------------------------------


def test_a_known_doubling_time_is_recovered_exactly() -> None:
    at: list[date | Literal["next"]] = [date(2024, 1, 1), "next"]
    trend = fit_trend(line(200.0, spaced(6)), TrendConfig(frontier=False), at=at, reach=[1000.0])
    assert trend.doubling_days == pytest.approx(200.0)
    assert trend.doubling_days_ci == pytest.approx((200.0, 200.0))  # no scatter: every resample is the line
    assert trend.r_squared == pytest.approx(1.0)
    projection, following = trend.projections
    assert projection.value == pytest.approx(2 ** ((date(2024, 1, 1) - START).days / 200))
    assert following.date == START + timedelta(days=6 * 120)  # releases every 120 days: the next one
    (crossing,) = trend.crossings
    assert crossing.date == START + timedelta(days=round(200 * math.log2(1000)))
    assert crossing.low == crossing.high == crossing.date


def test_the_fit_and_prediction_interval_are_statsmodels_ols() -> None:
    rng = np.random.default_rng(2)
    dates = sorted(START + timedelta(days=int(d)) for d in rng.uniform(0, 1500, 9))
    points = line(180.0, dates, rng.normal(0, 0.4, 9))
    target = date(2026, 6, 1)
    trend = fit_trend(points, TrendConfig(frontier=False, confidence=0.9), at=[target])
    x = np.array([(d - date(1970, 1, 1)).days for d in dates], dtype=float)
    ols = sm.OLS(np.log([p.value for p in points]), sm.add_constant(x)).fit()
    assert trend.intercept == pytest.approx(ols.params[0], rel=1e-9)
    assert trend.slope_per_day == pytest.approx(ols.params[1], rel=1e-9)
    assert trend.r_squared == pytest.approx(ols.rsquared, rel=1e-9)
    frame = ols.get_prediction(np.array([[1.0, (target - date(1970, 1, 1)).days]])).summary_frame(alpha=0.1)
    (projection,) = trend.projections
    assert projection.value == pytest.approx(math.exp(frame["mean"].iloc[0]), rel=1e-9)
    assert projection.low == pytest.approx(math.exp(frame["obs_ci_lower"].iloc[0]), rel=1e-9)
    assert projection.high == pytest.approx(math.exp(frame["obs_ci_upper"].iloc[0]), rel=1e-9)


def test_the_frontier_and_the_measurement_interval_are_metrs() -> None:
    rng = np.random.default_rng(7)
    dates = [*spaced(8, 150), START + timedelta(days=300)]  # a second model on one date
    points = line(210.0, dates, rng.normal(0, 0.5, 9))
    draws = np.exp(np.log([p.value for p in points]) + rng.normal(0, 0.3, (1000, 9)))
    draws[3, 2], draws[5, 4], draws[7, 0] = np.nan, 1e-4, np.inf  # skipped, too small, unbounded: dropped
    for point, column in zip(points, draws.T, strict=True):
        point.draws = column.tolist()
    trend = fit_trend(points)
    used = [p.name for p in trend.points if p.used]
    assert used == metr_sota(points) and len(used) < 9
    chosen = [i for i, p in enumerate(points) if p.name in used]
    point, low, high = metr_doubling_ci([points[i] for i in chosen], draws[:, chosen])
    assert trend.method == "measurement"
    assert trend.doubling_days == pytest.approx(point, rel=1e-9)
    assert trend.doubling_days_ci == pytest.approx((low, high), rel=1e-9)
    reasons = {p.reason for p in trend.points if not p.used}
    assert reasons == {"below the best model released by then"}


def test_dates_bound_the_models_before_the_frontier_is_chosen() -> None:
    points = line(200.0, spaced(6))
    points[0].value = 3.0  # above the next two models: they were not the best when released
    assert [p.used for p in fit_trend(points).points] == [True, False, False, True, True, True]
    bounded = fit_trend(points, TrendConfig(after=spaced(6)[1], before=spaced(6)[5]))
    assert [p.used for p in bounded.points] == [False, True, True, True, True, False]
    assert bounded.points[0].reason == f"released before {spaced(6)[1]}"


def test_a_trend_that_does_not_grow_has_no_doubling_time() -> None:
    rng = np.random.default_rng(1)
    points = line(-300.0, spaced(6), rng.normal(0, 0.3, 6))
    trend = fit_trend(points, TrendConfig(frontier=False), reach=[1e6])
    assert trend.doubling_days is None and trend.doubling_days_ci[1] is None
    assert trend.crossings[0].date is None and trend.crossings[0].high is None


def test_too_few_models_is_one_clear_error() -> None:
    with pytest.raises(AnalysisError, match="at least two models"):
        fit_trend(line(100.0, spaced(1)))
    with pytest.raises(AnalysisError, match="at least two models"):
        fit_trend([*line(100.0, spaced(1)), TrendPoint(name="x", date=START, value=None)])
    two = fit_trend(line(100.0, spaced(2)), TrendConfig(frontier=False), at=[date(2023, 1, 1)])
    assert two.doubling_days == pytest.approx(100.0)
    assert two.doubling_days_ci == (None, None) and two.projections[0].low is None  # no scatter to measure


# ---- coverage -----------------------------------------------------------------------------------------------------


def test_the_models_bootstrap_and_the_prediction_interval_cover_about_95_percent() -> None:
    """300 trends of 8 models scattered around a known line: the doubling time's interval and a new model's
    prediction interval each cover the truth about 95% of the time."""
    rng = np.random.default_rng(5)
    doubling, covered, predicted = 200.0, 0, 0
    for s in range(300):
        dates = sorted(START + timedelta(days=int(d)) for d in rng.uniform(0, 1500, 8))
        trend = fit_trend(
            line(doubling, dates, rng.normal(0, 0.5, 8)),
            TrendConfig(frontier=False, resamples=400, seed=s),
            at=[date(2025, 6, 1)],
        )
        low, high = trend.doubling_days_ci
        covered += (low or 0.0) <= doubling <= (high or math.inf)
        truth = 2 ** ((date(2025, 6, 1) - START).days / doubling) * math.exp(rng.normal(0, 0.5))
        predicted += trend.projections[0].low <= truth <= trend.projections[0].high
    assert 0.91 <= covered / 300 <= 0.98
    assert 0.91 <= predicted / 300 <= 0.98


def test_horizons_on_a_known_trend_recover_its_doubling_time_with_coverage() -> None:
    """150 simulated evaluations: 6 models released 150 days apart whose true 50% horizons double every 200 days,
    each run on ~50 tasks; horizons by `time_horizons`, the doubling time by the measurement bootstrap."""
    rng = np.random.default_rng(1)
    doubling, covered, estimates = 200.0, 0, []
    for s in range(150):
        sizes = rng.integers(1, 4, 20)
        minutes = 2 ** rng.uniform(-3, 11, sizes.sum())
        family = np.repeat(np.arange(20), sizes)
        columns: dict[str, list[Any]] = {"alias": [], "task": [], "family": [], "score": [], "minutes": []}
        dates = {}
        for m in range(6):
            dates[f"m{m}"] = START + timedelta(days=150 * m)
            task = np.repeat(np.arange(minutes.size), rng.integers(1, 4, minutes.size))
            p = 1 / (1 + 2 ** (0.9 * (np.log2(minutes[task]) - (-1 + 150 * m / doubling))))
            columns["alias"] += [f"m{m}"] * task.size
            columns["task"] += [f"t{t}" for t in task]
            columns["family"] += [f"f{family[t]}" for t in task]
            columns["score"] += list((rng.random(task.size) < p).astype(float))
            columns["minutes"] += list(minutes[task])
        score, lengths = np.array(columns["score"]), np.array(columns["minutes"])
        runs = HorizonRuns(columns["alias"], columns["task"], columns["family"], score, lengths)
        config = HorizonConfig(resamples=200, seed=s, bootstrap="ft")
        trend = time_horizons(runs, config, release_dates=dates, trend=TrendConfig(frontier=False)).trend
        assert trend is not None and trend.method == "measurement"
        low, high = trend.doubling_days_ci
        covered += (low or 0.0) <= doubling <= (high or math.inf)
        estimates.append(trend.doubling_days)
    assert np.median(estimates) == pytest.approx(doubling, rel=0.1)
    assert 0.91 <= covered / 150 <= 0.995


# ---- the command and the plot -------------------------------------------------------------------------------------


@pytest.fixture
def horizons_json(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    models = [
        {"alias": p.name, "p50": p.value, "p50_ci": [p.value / 2, p.value * 2], "p80": p.value / 4, "p80_ci": None}
        | {"release_date": str(p.date)}
        for p in line(200.0, spaced(7), rng.normal(0, 0.3, 7))
    ]
    models.append({"alias": "undated", "p50": 3.0, "p50_ci": [1, 5], "release_date": None})
    path = tmp_path / "horizons.json"
    path.write_text(json.dumps({"models": models, "trend": None}))
    return path


def test_the_command_fits_the_horizon_json_and_projects(horizons_json: Path, tmp_path: Path) -> None:
    args = ["report", "trend", "--from", str(horizons_json), "--at", "2024-06-01", "--at", "next", "--reach", "1000"]
    result = runner.invoke(app, [*args, "--json", "--all-models", "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    trend = json.loads(result.stdout)
    assert trend["measure"] == "p50" and trend["method"] == "models" and trend["n"] == 7
    low, high = trend["doubling_days_ci"]
    assert low < trend["doubling_days"] < high and 150 < trend["doubling_days"] < 260
    projection, following = trend["projections"]
    assert projection["date"] == "2024-06-01" and projection["low"] < projection["value"] < projection["high"]
    assert following["date"] == str(spaced(7)[-1] + timedelta(days=120))
    assert trend["crossings"][0]["level"] == 1000
    assert (tmp_path / "plots" / "trend.png").read_bytes()[:4] == b"\x89PNG"
    table = runner.invoke(app, ["report", "trend", "--from", str(horizons_json), "--measure", "p80"])
    assert table.exit_code == 0, table.output
    assert "p80 doubles every" in table.stdout


def test_the_command_from_runs_and_its_errors(tmp_path: Path, horizons_json: Path) -> None:
    rows = []
    rng = np.random.default_rng(0)
    for m, p50 in enumerate((1.0, 4.0, 30.0)):
        for t in range(40):
            minutes = 2 ** (t / 4 - 2)
            success = rng.random() < 1 / (1 + (minutes / p50))
            rows.append(
                {"alias": f"m{m}", "task_id": f"t{t}", "task_family": f"f{t // 3}", "human_minutes": minutes}
                | {"score_binarized": int(success)}
            )
    runs_file = tmp_path / "runs.jsonl"
    runs_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "dates.yaml").write_text("date:\n  m0: 2022-01-01\n  m1: 2023-01-01\n  m2: 2024-01-01\n")
    base = ["report", "trend", "--runs", str(runs_file), "--release-dates", str(tmp_path / "dates.yaml")]
    result = runner.invoke(app, [*base, "--measure", "success", "--resamples", "200", "--json"])
    assert result.exit_code == 0, result.output
    trend = json.loads(result.stdout)
    assert trend["measure"] == "success" and trend["method"] == "measurement" and trend["n"] == 3
    for args, message in [
        (["report", "trend", "--runs", str(runs_file)], "needs release dates"),
        (["report", "trend", "--from", str(horizons_json), "--runs", str(runs_file)], "not both"),
        (["report", "trend", "--from", str(horizons_json), "--suite", "x"], "do not apply to --from FILE"),
        ([*base, "--at", "next year"], "--at: not a date"),
        ([*base, "--after", "2023-06-01"], "at least two models"),
        ([*base, "--model", "nobody"], "no runs of --model 'nobody'"),
        ([*base, "--tag", "x"], "--tag and --tasks apply to runs in the store"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    trend = fit_trend(line(150.0, spaced(6), rng.normal(0, 0.3, 6)), at=[date(2024, 1, 1)], reach=[500.0])
    path = plot_trend(trend, tmp_path / "trend.png", unit="minutes")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 10_000
