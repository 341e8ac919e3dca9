"""Trends of a measure over model release dates: a log-linear fit, the doubling time with a bootstrap interval, and
projections with prediction intervals.

The fit is METR's: ordinary least squares of ln(value) on the release date in days, over the models that were the
best so far when they came out (the frontier), values clipped below at `floor`. The doubling time is ln 2 / slope.

Its interval comes from one of two bootstraps:

- **measurement** (METR's, used when every fitted point carries bootstrap draws of its value from one joint
  bootstrap, as `time_horizons` makes): resample i refits the line through every model's i-th draw, dropping draws
  below `floor` or not finite, and skipping resamples left with fewer than two models. It reflects how precisely
  each model was measured, not how far models scatter around the line.
- **models** (points without draws): a studentized residual bootstrap — the models' residuals around the line are
  resampled and the line refitted, and each refit is turned into the line the bootstrap-t pivot implies, so the
  percentile intervals it gives are bootstrap-t intervals (a plain pairs bootstrap covers too rarely with ten
  models). It reflects the scatter of models around the line; with only two models there is none to resample, and
  the intervals are unbounded.

A resample whose slope is zero or negative has no doubling time: it counts as an infinitely long one, so the upper
end of the interval is unbounded (None) when more than the tail share of resamples do not grow. When every resample
grows, the interval is the percentile interval of the resampled doubling times, as METR computes it.

A projection to a date gives the fitted value with a prediction interval for a model released that day (the OLS
prediction interval of ln(value) with n − 2 degrees of freedom, which includes the models' scatter around the line)
and the trend line's own bootstrap interval there. A crossing gives the date the line reaches a level, with the
bootstrap interval of that date.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from proctor.analysis._stats import AnalysisError

Array = NDArray[np.float64]
EPOCH = date(1970, 1, 1)
"""Release dates are days since this date in the fit (matplotlib's `date2num`, which METR's code uses)."""


class TrendConfig(BaseModel):
    """How a trend is fitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frontier: bool = True
    """Fit only models whose value was at least the best so far on their release date (METR's SOTA models); False
    fits every model."""
    after: date | None = None
    """Only models released on or after this date (applied before the frontier is chosen, as METR does)."""
    before: date | None = None
    """Only models released before this date."""
    resamples: int = Field(default=1000, ge=1)
    """Bootstrap resamples of the models bootstrap (the measurement bootstrap uses the points' draws)."""
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    """Confidence level of every interval."""
    seed: int = 0
    """Seed of the models bootstrap."""
    floor: float = Field(default=1e-3, gt=0.0)
    """Values below this are clipped to it in the fit (and such draws dropped), since ln(0) is not a number; METR
    uses 1e-3 minutes for horizons."""


class TrendPoint(BaseModel):
    """One model's value of the measure at its release date."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """The model (alias)."""
    date: dt.date
    """Its release date."""
    value: float | None
    """The measured value (e.g. a 50% horizon in minutes); None when it could not be measured."""
    low: float | None = None
    """Lower end of the value's confidence interval, when known (for plots)."""
    high: float | None = None
    """Upper end of the value's confidence interval, when known (None also when unbounded)."""
    used: bool = False
    """Whether the fit used it (set by `fit_trend`)."""
    reason: str | None = None
    """Why the fit left it out (set by `fit_trend`)."""
    draws: list[float] = Field(default_factory=list, exclude=True, repr=False)
    """Bootstrap draws of the value from one joint bootstrap over all points (not serialised)."""


class Projection(BaseModel):
    """The trend's value at a date."""

    date: dt.date
    """The date projected to."""
    value: float | None
    """The fitted line's value there (None past the largest float)."""
    low: float | None
    """Lower end of the prediction interval for a model released that day (None with fewer than 3 models)."""
    high: float | None
    """Upper end of that prediction interval."""
    trend_low: float | None
    """Lower end of the bootstrap interval of the line itself there."""
    trend_high: float | None
    """Upper end of that interval."""


class Crossing(BaseModel):
    """When the trend reaches a level."""

    level: float
    """The level (in the measure's unit)."""
    date: dt.date | None
    """When the fitted line reaches it; None when the line does not grow."""
    low: dt.date | None
    """Earliest end of the bootstrap interval of that date."""
    high: dt.date | None
    """Latest end; None when it is unbounded (resamples that do not grow)."""


class Trend(BaseModel):
    """A log-linear trend of a measure over release dates."""

    measure: str
    """What was fitted, e.g. `p50` (minutes) or `success`."""
    points: list[TrendPoint]
    """Every point given, with whether it was used and why not."""
    n: int
    """Points the fit used."""
    slope_per_day: float
    """Growth of ln(value) per day."""
    intercept: float
    """ln(value) of the fitted line at 1970-01-01."""
    doubling_days: float | None
    """ln 2 / slope; None when the fitted line does not grow."""
    doubling_days_ci: tuple[float | None, float | None]
    """Bootstrap interval of the doubling time (None: unbounded)."""
    r_squared: float | None
    """R² of the fit in log space (None when every value is the same)."""
    residual_sd: float | None
    """Residual standard deviation of ln(value) (None with 2 points)."""
    method: Literal["measurement", "models"]
    """Which bootstrap made the intervals (see the module's description)."""
    resamples: int
    """Resamples that gave a line (the others are skipped)."""
    confidence: float
    """Confidence level of the intervals."""
    projections: list[Projection] = Field(default_factory=list)
    """Values at the dates asked for."""
    crossings: list[Crossing] = Field(default_factory=list)
    """Dates the levels asked for are reached."""
    slope_draws: list[float] = Field(default_factory=list, exclude=True, repr=False)
    """Bootstrap slopes (not serialised)."""
    intercept_draws: list[float] = Field(default_factory=list, exclude=True, repr=False)
    """Bootstrap intercepts, paired with `slope_draws` (not serialised)."""

    def value_at(self, day: date) -> float:
        """The fitted line's value on a date."""
        return math.exp(self.intercept + self.slope_per_day * days(day))


def days(day: date) -> float:
    """Days from 1970-01-01 to `day`."""
    return float((day - EPOCH).days)


def fit_trend(
    points: Sequence[TrendPoint],
    config: TrendConfig | None = None,
    *,
    measure: str = "value",
    at: Sequence[date | Literal["next"]] = (),
    reach: Sequence[float] = (),
) -> Trend:
    """Fit ln(value) against release date, with the doubling time's bootstrap interval and projections.

    Args:
        points: One point per model; points may carry `draws` from one joint bootstrap (all of the same length).
        config: Which models, the floor and the bootstrap.
        measure: Name of the measure, for the report.
        at: Dates to project the trend to; `"next"` is the next model's release if releases keep their pace (see
            `next_release`).
        reach: Levels whose crossing dates to compute.

    Returns:
        The trend, with every point marked used or not.

    Raises:
        AnalysisError: fewer than two usable points, or all on one date.

    Example:
        >>> from datetime import date
        >>> pts = [TrendPoint(name=str(y), date=date(y, 1, 1), value=2.0 ** (y - 2020)) for y in range(2020, 2025)]
        >>> round(fit_trend(pts, TrendConfig(resamples=200)).doubling_days)
        365
    """
    config = config or TrendConfig()
    marked = _select([p.model_copy() for p in points], config)
    used = [p for p in marked if p.used]
    if len(used) < 2 or len({p.date for p in used}) < 2:
        names = ", ".join(p.name for p in used) or "none"
        raise AnalysisError(
            f"a trend needs at least two models with a value on two release dates; usable: {names} "
            "(give release dates for more models, or widen --after/--before)"
        )
    x = np.array([days(p.date) for p in used])
    y = np.log(np.maximum(np.array([p.value for p in used], dtype=np.float64), config.floor))
    slope, intercept = (float(v[0]) for v in _ols(x, y[None, :], np.ones((1, x.size))))
    lengths = {len(p.draws) for p in used}
    method: Literal["measurement", "models"] = "measurement" if len(lengths) == 1 and 0 not in lengths else "models"
    if method == "measurement":
        draws = np.array([p.draws for p in used], dtype=np.float64).T  # (B, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            valid = np.isfinite(draws) & (draws >= config.floor)
            logs = np.where(valid, np.log(np.where(valid, draws, 1.0)), 0.0)
        slopes, intercepts = _ols(x, logs, valid.astype(np.float64))
    else:
        slopes, intercepts = _studentized(x, y, slope, intercept, config)
    keep = np.isfinite(slopes)
    slopes, intercepts = slopes[keep], intercepts[keep]
    alpha = 1 - config.confidence
    with np.errstate(divide="ignore"):
        doublings = np.where(slopes > 0, math.log(2) / np.where(slopes > 0, slopes, 1.0), np.inf)
    low, high = (_finite(inf_quantile(doublings, q)) for q in (alpha / 2, 1 - alpha / 2))
    fitted = intercept + slope * x
    residual = y - fitted
    total = float(((y - y.mean()) ** 2).sum())
    trend = Trend(
        measure=measure,
        points=marked,
        n=len(used),
        slope_per_day=slope,
        intercept=intercept,
        doubling_days=math.log(2) / slope if slope > 0 else None,
        doubling_days_ci=(low, high),
        r_squared=1 - float((residual**2).sum()) / total if total > 0 else None,
        residual_sd=float(np.sqrt((residual**2).sum() / (x.size - 2))) if x.size > 2 else None,
        method=method,
        resamples=int(slopes.size),
        confidence=config.confidence,
        slope_draws=slopes.tolist(),
        intercept_draws=intercepts.tolist(),
    )
    trend.projections = [_project(trend, next_release(trend) if day == "next" else day) for day in at]
    trend.crossings = [_crossing(trend, level) for level in reach]
    return trend


def next_release(trend: Trend) -> date:
    """When the next model comes out if releases keep their pace: the last fitted model's release date plus the
    median gap between consecutive fitted release dates."""
    dates = sorted({p.date for p in trend.points if p.used})
    gap = statistics.median((b - a).days for a, b in itertools.pairwise(dates))
    return dates[-1] + timedelta(days=round(gap))


def _select(points: list[TrendPoint], config: TrendConfig) -> list[TrendPoint]:
    """Mark each point used or not, with the reason (METR's `get_sota_agents` for the frontier)."""
    candidates = []
    for point in points:
        point.used, point.reason = False, None
        if point.value is None or not math.isfinite(point.value):
            point.reason = "no value"
        elif config.after is not None and point.date < config.after:
            point.reason = f"released before {config.after}"
        elif config.before is not None and point.date >= config.before:
            point.reason = f"released on or after {config.before}"
        else:
            candidates.append(point)
    if not config.frontier:
        for point in candidates:
            point.used = True
        return points
    best = -math.inf
    for day in sorted({p.date for p in candidates}):
        released = [p for p in candidates if p.date == day]
        best = max(best, *(p.value or 0.0 for p in released))
        for point in released:
            point.used = (point.value or 0.0) >= best
            point.reason = None if point.used else "below the best model released by then"
    return points


def _studentized(x: Array, y: Array, slope: float, intercept: float, config: TrendConfig) -> tuple[Array, Array]:
    """Lines from a studentized residual bootstrap: resample the residuals (the models' scatter around the line),
    refit, and turn each refit into the line the bootstrap-t pivot implies, â − (s / s*)(â* − â), so that the
    percentiles of the returned lines are bootstrap-t intervals (of the slope, and of the line at any date). With two
    points there is no scatter to resample: no lines."""
    if x.size < 3:
        return np.array([]), np.array([])
    fitted = intercept + slope * x
    residual = y - fitted
    sd = math.sqrt(float((residual**2).sum()) / (x.size - 2))
    rng = np.random.default_rng(config.seed)
    fake = fitted + residual[rng.integers(0, x.size, size=(config.resamples, x.size))]  # (B, n)
    slopes, intercepts = _ols(x, fake, np.ones_like(fake))
    scatter = fake - (intercepts[:, None] + slopes[:, None] * x)
    sds = np.sqrt((scatter**2).sum(axis=1) / (x.size - 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sds > 1e-12 * max(sd, 1e-300), sd / sds, np.nan)
    if sd == 0:  # the points lie on the line: every resample is the line itself
        ratio = np.ones_like(sds)
    return slope - ratio * (slopes - slope), intercept - ratio * (intercepts - intercept)


def _ols(x: Array, y: Array, weight: Array) -> tuple[Array, Array]:
    """Weighted least squares of each row of y on x, shape (B, n) → slopes and intercepts (B,); NaN for a row with
    under two weighted points or one date. x is centred first for precision; intercepts are at x = 0."""
    centre = float(x.mean())
    xc = x - centre
    sw = weight.sum(axis=1)
    sx, sy = weight @ xc, (weight * y).sum(axis=1)
    sxx, sxy = weight @ (xc * xc), (weight * y) @ xc
    denominator = sw * sxx - sx * sx
    ok = (sw >= 2) & (denominator > 1e-12 * np.maximum(sw * sxx, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(ok, (sw * sxy - sx * sy) / np.where(ok, denominator, 1.0), np.nan)
        intercept = np.where(ok, (sy - slope * sx) / np.where(ok, sw, 1.0), np.nan) - slope * centre
    return slope, intercept


def inf_quantile(values: Array, q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of values that may hold +inf."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return math.nan
    position = q * (ordered.size - 1)
    below, above = math.floor(position), math.ceil(position)
    fraction = position - below
    if fraction == 0 or below == above:
        return float(ordered[below])
    if math.isinf(ordered[above]):
        return math.inf
    return float(ordered[below] + (ordered[above] - ordered[below]) * fraction)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _project(trend: Trend, day: date) -> Projection:
    x0 = days(day)
    low, high = _prediction(trend, np.array([x0]))
    lines = np.array(trend.intercept_draws) + np.array(trend.slope_draws) * x0
    alpha = 1 - trend.confidence
    trend_low, trend_high = np.quantile(lines, [alpha / 2, 1 - alpha / 2]) if lines.size else (math.nan, math.nan)
    return Projection(
        date=day,
        value=_exp(trend.intercept + trend.slope_per_day * x0),
        low=None if low is None else _exp(float(low[0])),
        high=None if high is None else _exp(float(high[0])),
        trend_low=_exp(float(trend_low)),
        trend_high=_exp(float(trend_high)),
    )


def _prediction(trend: Trend, x0: Array) -> tuple[Array, Array] | tuple[None, None]:
    """The OLS prediction interval of ln(value) at days x0 (None with fewer than 3 points)."""
    if trend.residual_sd is None:
        return None, None
    from scipy.stats import t as student_t

    x = np.array([days(p.date) for p in trend.points if p.used])
    spread = trend.residual_sd * np.sqrt(1 + 1 / x.size + (x0 - x.mean()) ** 2 / float(((x - x.mean()) ** 2).sum()))
    quantile = float(student_t.ppf(0.5 + trend.confidence / 2, x.size - 2))
    centre = trend.intercept + trend.slope_per_day * x0
    return centre - quantile * spread, centre + quantile * spread


def _exp(value: float) -> float | None:
    return math.exp(value) if math.isfinite(value) and value < 700 else None


def _crossing(trend: Trend, level: float) -> Crossing:
    if level <= 0:
        raise AnalysisError(f"a level to reach must be positive, got {level}")
    target = math.log(level)
    slopes, intercepts = np.array(trend.slope_draws), np.array(trend.intercept_draws)
    with np.errstate(divide="ignore", invalid="ignore"):
        when = np.where(slopes > 0, (target - intercepts) / np.where(slopes > 0, slopes, 1.0), np.inf)
    alpha = 1 - trend.confidence
    point = (target - trend.intercept) / trend.slope_per_day if trend.slope_per_day > 0 else math.inf
    return Crossing(
        level=level,
        date=_day(point),
        low=_day(inf_quantile(when, alpha / 2)),
        high=_day(inf_quantile(when, 1 - alpha / 2)),
    )


def _day(value: float) -> date | None:
    if not math.isfinite(value) or not -700_000 < value < 2_900_000:
        return None
    return EPOCH + timedelta(days=round(value))


def plot_trend(trend: Trend, path: str | Path, *, title: str | None = None, unit: str = "") -> Path:
    """Plot the points (with their intervals), the fitted line, its bootstrap band, the prediction band and the
    projections, on a log scale, to a PNG file.

    Args:
        trend: A fitted trend.
        path: Where to write the PNG.
        title: The plot's title (default: the measure and the doubling time).
        unit: The measure's unit for the axis label (e.g. "minutes").

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure

    path = Path(path)
    figure = Figure(figsize=(9, 5.5), layout="constrained")
    ax = figure.add_subplot()
    ax.set_yscale("log")
    dates = [p.date for p in trend.points] + [p.date for p in trend.projections]
    dates += [c.date for c in trend.crossings if c.date is not None]
    first, last = min(dates), max(dates)
    margin = timedelta(days=max(30, (last - first).days // 20))
    gx = np.linspace(days(first - margin), days(last + margin), 200)
    grid = np.datetime64(EPOCH, "D") + np.round(gx).astype("timedelta64[D]")
    alpha = 1 - trend.confidence
    if trend.slope_draws:
        lines = np.exp(np.array(trend.intercept_draws)[:, None] + np.array(trend.slope_draws)[:, None] * gx)
        band = np.quantile(lines, [alpha / 2, 1 - alpha / 2], axis=0)
        ax.fill_between(grid, band[0], band[1], color="tab:blue", alpha=0.15, label="trend, bootstrap interval")
    ax.plot(grid, np.exp(trend.intercept + trend.slope_per_day * gx), color="tab:blue", label="trend")
    low_line, high_line = _prediction(trend, gx)
    if low_line is not None and high_line is not None:
        interval = f"{trend.confidence:.0%} prediction interval"
        ax.plot(grid, np.exp(low_line), color="tab:blue", linestyle="--", linewidth=0.8, label=interval)
        ax.plot(grid, np.exp(high_line), color="tab:blue", linestyle="--", linewidth=0.8)
    for point in trend.points:
        if point.value is None or point.value <= 0:
            continue
        below = point.value - point.low if point.low is not None else 0.0
        above = point.high - point.value if point.high is not None else 0.0
        ax.errorbar(
            np.array([point.date], dtype="datetime64[D]"),
            [point.value],
            yerr=[[max(below, 0.0)], [max(above, 0.0)]],
            fmt="o",
            capsize=2,
            color="tab:blue" if point.used else "grey",
            mfc="tab:blue" if point.used else "white",
        )
        ax.annotate(point.name, (point.date, point.value), textcoords="offset points", xytext=(5, -10), fontsize=7)
    for projection in trend.projections:
        if projection.value is None:
            continue
        below = projection.value - (projection.low or projection.value)
        above = (projection.high or projection.value) - projection.value
        ax.errorbar(
            np.array([projection.date], dtype="datetime64[D]"),
            [projection.value],
            yerr=[[below], [above]],
            fmt="D",
            color="tab:orange",
            capsize=3,
        )
    for crossing in trend.crossings:
        ax.axhline(crossing.level, color="tab:orange", linestyle=":", linewidth=1)
    ax.set_xlabel("release date")
    ax.set_ylabel(f"{trend.measure} ({unit})" if unit else trend.measure)
    if title is None:
        doubling = "no growth" if trend.doubling_days is None else f"doubling every {trend.doubling_days:.0f} days"
        shortest, longest = (f"{v:.0f}" if v is not None else "∞" for v in trend.doubling_days_ci)
        title = f"{trend.measure}: {doubling} [{shortest}, {longest}], {trend.n} models"
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    figure.savefig(path, dpi=120)
    return path
