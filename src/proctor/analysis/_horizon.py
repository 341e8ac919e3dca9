"""Time horizons, METR's method: the length of task, in human minutes, a model completes with 50% (or 80%)
probability.

Per model, success is regressed on log2(human minutes) by a logistic regression with METR's weights and penalty
(`_logistic.fit_logistic`, the fit METR makes with scikit-learn), and the horizon is where the curve crosses the
level. The intervals come from METR's hierarchical bootstrap: task families are resampled, then tasks within each
drawn family, then runs within each drawn task and model — one joint resample for all models, so horizons (and the
trend through them) keep their correlation.

The resampling is exact and vectorised: drawing a family c times and then its n tasks within each copy is drawing
c·n tasks uniformly from it (a multinomial), and drawing k·m runs from a task drawn k times with m runs is drawing
k·m runs uniformly from its m runs. Only per-task sums of weights and weighted successes enter the fit, so a
resample is a (models × tasks) table of sums, and all resamples are fitted together by Newton's method.

Where outcomes are all of one class the logistic fit has no finite optimum:

- In a bootstrap resample, a model whose drawn runs all fail or all succeed is skipped for that resample (METR's
  code does the same) with `one_class_resamples="skip"`, or counted as a horizon of 0 (all failures) or of
  unbounded length (all successes) with `"bound"`.
- For a model with no successes at all, the horizons are 0 (as METR reports them) and the interval runs from 0 to
  the human minutes of the k-th shortest task it attempted, k = ⌈ln(α/2) / ln(1 − p)⌉ (6 tasks for 50%, 3 for 80% at
  95% confidence): if the horizon were longer, each of those k tasks would succeed with probability above p on a
  decreasing curve, and all of them failing would have probability below α/2. With fewer tasks the upper end is
  unbounded (None). A model that succeeded at everything is the mirror image: no point estimate (None), and an
  interval from the k-th longest task, k = ⌈ln(α/2) / ln p⌉ (6 for 50%, 17 for 80%), to unbounded.
- A success rate of 0 or 1 gets the Clopper–Pearson bound with one trial per task instead of the bootstrap's
  zero-width interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from proctor.analysis._logistic import fit_logistic, horizon_minutes
from proctor.analysis._stats import AnalysisError
from proctor.analysis._trend import Trend, TrendConfig, TrendPoint, fit_trend, inf_quantile

Array = NDArray[np.float64]
Weighting = Literal["invsqrt", "equal", "none"]
LEVELS = (0.5, 0.8)
_CELLS = 2_000_000  # resamples × cells held at once


class HorizonConfig(BaseModel):
    """How horizons are fitted; the defaults are METR's headline settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weighting: Weighting = "invsqrt"
    """Run weights: `invsqrt` (each task equal, divided by √(tasks of its family the model ran): METR's
    `invsqrt_task_weight`), `equal` (each task equal: `equal_task_weight`) or `none` (each run equal); normalised to
    sum to 1 per model."""
    regularization: float = Field(default=0.1, gt=0.0)
    """METR's `regularization`: the L2 penalty on the slope is 1/C with scikit-learn's C = 1/regularization."""
    resamples: int = Field(default=1000, ge=0)
    """Hierarchical bootstrap resamples (METR's `n_bootstrap`); 0 skips the intervals."""
    confidence: float = Field(default=0.95, gt=0.0, lt=1.0)
    """Confidence level of the intervals."""
    seed: int = 0
    """Seed of the bootstrap; the same seed gives the same intervals."""
    bootstrap: Literal["ftr", "ft", "f"] = "ftr"
    """What the bootstrap resamples (METR's `categories`): task families, then tasks within them, then runs within
    tasks (`ftr`, METR's headline); `ft` keeps each drawn task's runs as they are; `f` draws whole families.
    Resampling every level counts the lower levels' noise more than once: `ftr` intervals are the widest (measured
    coverage in docs/reports.md)."""
    one_class_resamples: Literal["skip", "bound"] = "skip"
    """A resample where a model's runs all fail or all succeed: `skip` it for that model (METR), or count it as a
    horizon of 0 or of unbounded length (`bound`)."""


@dataclass(frozen=True)
class HorizonRuns:
    """Runs to fit horizons on, one entry per run, in columns (METR's runs.jsonl fields).

    Raises:
        AnalysisError: columns of different lengths, or a score outside [0, 1].
    """

    alias: Sequence[str]
    """The model (METR's `alias`) of each run."""
    task_id: Sequence[str]
    """The task of each run."""
    task_family: Sequence[str]
    """The task's family (a task belongs to one family)."""
    score: Array
    """Success in [0, 1]: 0/1 (METR's `score_binarized`) or a fraction (`score_cont`)."""
    human_minutes: Array
    """Minutes a person takes on the task; NaN where unknown (only `success_rates` accepts that)."""
    weights: Mapping[str, Array] = field(default_factory=dict)
    """Run weights given with the data, by weighting name (`invsqrt`, `equal`), e.g. METR's weight columns;
    weightings not given here are computed."""
    source: str = "runs"
    """Where the runs came from, for messages."""

    def __post_init__(self) -> None:
        size = len(self.alias)
        columns: dict[str, Sized] = {"task_id": self.task_id, "task_family": self.task_family, "score": self.score}
        columns |= {"human_minutes": self.human_minutes} | {f"weights[{k}]": v for k, v in self.weights.items()}
        for name, column in columns.items():
            if len(column) != size:
                raise AnalysisError(f"{self.source}: {name} has {len(column)} entries for {size} runs")
        bad = np.flatnonzero(~((self.score >= 0) & (self.score <= 1)))
        if bad.size:
            raise AnalysisError(f"{self.source}: run {bad[0]}: score must be in [0, 1], got {self.score[bad[0]]}")

    def __len__(self) -> int:
        return len(self.alias)

    def only(self, keep: NDArray[np.bool_]) -> HorizonRuns:
        """The runs where `keep` is True (given weights are renormalised per model when fitted)."""
        index = np.flatnonzero(keep)
        return HorizonRuns(
            alias=[self.alias[int(i)] for i in index],
            task_id=[self.task_id[int(i)] for i in index],
            task_family=[self.task_family[int(i)] for i in index],
            score=self.score[index],
            human_minutes=self.human_minutes[index],
            weights={k: v[index] for k, v in self.weights.items()},
            source=self.source,
        )


class TaskPoint(BaseModel):
    """One task's outcome for one model, for plotting the fitted curve over the data."""

    minutes: float
    """Human minutes of the task."""
    success: float
    """Weighted mean success of the model's runs on it."""
    weight: float
    """The task's share of the model's total weight."""


class ModelHorizon(BaseModel):
    """One model's time horizons."""

    alias: str
    """The model."""
    p50: float | None
    """50% horizon in human minutes (0 when it never succeeded; None when it always did)."""
    p50_ci: tuple[float | None, float | None]
    """Confidence interval of p50 (None: unbounded, or no interval)."""
    p80: float | None
    """80% horizon in human minutes."""
    p80_ci: tuple[float | None, float | None]
    """Confidence interval of p80."""
    release_date: date | None = None
    """The model's release date, when given."""
    slope: float | None = None
    """The logistic curve's slope per doubling of human minutes (negative when longer tasks fail more)."""
    intercept: float | None = None
    """The curve's log-odds of success at one human minute."""
    success_rate: float
    """Weighted mean success over its runs (METR's `average`)."""
    success_rate_ci: tuple[float | None, float | None] = (None, None)
    """Bootstrap interval of the success rate."""
    runs: int
    """Runs fitted."""
    tasks: int
    """Distinct tasks among them."""
    resamples: int = 0
    """Bootstrap resamples behind the intervals (others skipped as one-class)."""
    note: str | None = None
    """What is unusual about this fit (no successes, a rising curve, …)."""
    task_points: list[TaskPoint] = Field(default_factory=list, exclude=True, repr=False)
    """Per-task outcomes (not serialised)."""
    p50_draws: list[float] = Field(default_factory=list, exclude=True, repr=False)
    """Bootstrap draws of p50, one per resample of the joint bootstrap; NaN where skipped (not serialised)."""
    p80_draws: list[float] = Field(default_factory=list, exclude=True, repr=False)
    """Bootstrap draws of p80 (not serialised)."""
    success_draws: list[float] = Field(default_factory=list, exclude=True, repr=False)
    """Bootstrap draws of the success rate (not serialised)."""


class HorizonReport(BaseModel):
    """Time horizons of every model, and their trend over release dates when dates are known."""

    models: list[ModelHorizon]
    """One entry per model, by alias."""
    trend: Trend | None = None
    """The trend of p50 over release dates (None without dates for at least two models)."""
    config: HorizonConfig
    """The settings used."""
    notes: list[str] = Field(default_factory=list)
    """Documented exclusions and warnings, one line each."""


def time_horizons(
    runs: HorizonRuns,
    config: HorizonConfig | None = None,
    *,
    release_dates: Mapping[str, date] | None = None,
    trend: TrendConfig | None = None,
) -> HorizonReport:
    """50% and 80% time horizons per model with hierarchical bootstrap intervals, and the trend of p50.

    Args:
        runs: The runs; every run needs human minutes.
        config: Weighting, penalty and bootstrap (default: METR's headline settings).
        release_dates: Release date by alias (see `release_date`); with two or more dated models, `trend` is fitted.
        trend: How the trend is fitted (default: METR's frontier models, every date).

    Returns:
        The horizons, and the trend when there are dates.

    Raises:
        AnalysisError: no runs, a run without human minutes, a task with two families or two lengths.
    """
    config = config or HorizonConfig()
    design = _Design.build(runs, config, need_minutes=True)
    start = fit_logistic(design.x, design.weights, design.successes, regularization=config.regularization)
    draws = {level: np.full((config.resamples, design.models), np.nan) for level in (*LEVELS, 0.0)}
    done = 0
    for weights, successes in design.resamples(config):
        count = weights.shape[0]
        a, b = fit_logistic(design.x, weights, successes, regularization=config.regularization, start=start)
        total, hits = weights.sum(axis=2), successes.sum(axis=2)
        for level in LEVELS:
            values = horizon_minutes(a, b, level)
            if config.one_class_resamples == "bound":
                values = np.where((total > 0) & (hits <= 0), 0.0, values)
                values = np.where((total > 0) & (hits >= total), np.inf, values)
            draws[level][done : done + count] = values
        with np.errstate(invalid="ignore", divide="ignore"):
            draws[0.0][done : done + count] = hits / total
        done += count
    models = [design.model_horizon(m, start, draws, config) for m in range(design.models)]
    dates = release_dates or {}
    for model in models:
        model.release_date = release_date(model.alias, dates)
    report = HorizonReport(models=models, config=config, notes=[])
    if release_dates is not None:
        report.trend = _trend(report, trend)
    return report


def success_rates(
    runs: HorizonRuns, config: HorizonConfig | None = None, *, release_dates: Mapping[str, date] | None = None
) -> HorizonReport:
    """Weighted success rate per model with the same joint hierarchical bootstrap as `time_horizons`, for runs that
    need not have human minutes (e.g. success on a suite or a tag, to fit a trend to).

    Returns:
        A report whose models carry `success_rate`, its interval and draws; their horizons are None.
    """
    config = config or HorizonConfig()
    design = _Design.build(runs, config, need_minutes=False)
    draws = np.full((config.resamples, design.models), np.nan)
    done = 0
    for weights, successes in design.resamples(config):
        with np.errstate(invalid="ignore", divide="ignore"):
            draws[done : done + weights.shape[0]] = successes.sum(axis=2) / weights.sum(axis=2)
        done += weights.shape[0]
    alpha = 1 - config.confidence
    models = []
    for m, alias in enumerate(design.aliases):
        total, hits = float(design.weights[m].sum()), float(design.successes[m].sum())
        tasks = int(np.count_nonzero(design.weights[m] > 0))
        models.append(
            ModelHorizon(
                alias=alias,
                p50=None,
                p50_ci=(None, None),
                p80=None,
                p80_ci=(None, None),
                release_date=release_date(alias, release_dates or {}),
                success_rate=hits / total,
                success_rate_ci=_rate_interval(draws[:, m], hits, total, tasks, alpha),
                runs=int(design.runs_per_model[m]),
                tasks=tasks,
                resamples=int(np.count_nonzero(~np.isnan(draws[:, m]))),
                success_draws=draws[:, m].tolist(),
            )
        )
    return HorizonReport(models=models, config=config, notes=[])


def release_date(alias: str, dates: Mapping[str, date]) -> date | None:
    """A model's release date: by its alias, else by the alias without a trailing parenthesised part (the agent, as
    in `openai/gpt-4o (react)`)."""
    if alias in dates:
        return dates[alias]
    if alias.endswith(")") and " (" in alias:
        return dates.get(alias[: alias.rindex(" (")])
    return None


def horizon_points(report: HorizonReport, measure: Literal["p50", "p80", "success"] = "p50") -> list[TrendPoint]:
    """The dated models of a report as trend points of one measure, with their bootstrap draws."""
    points = []
    for model in report.models:
        if model.release_date is None:
            continue
        if measure == "success":
            value, (low, high), draws = model.success_rate, model.success_rate_ci, model.success_draws
        else:
            value, (low, high) = getattr(model, measure), getattr(model, f"{measure}_ci")
            draws = getattr(model, f"{measure}_draws")
        points.append(TrendPoint(name=model.alias, date=model.release_date, value=value, low=low, high=high))
        points[-1].draws = list(draws)
    return points


def _trend(report: HorizonReport, config: TrendConfig | None) -> Trend | None:
    undated = [m.alias for m in report.models if m.release_date is None]
    if undated:
        report.notes.append(f"no release date, left out of the trend: {', '.join(undated)}")
    try:
        return fit_trend(horizon_points(report), config, measure="p50")
    except AnalysisError as error:
        report.notes.append(f"no trend: {error}")
        return None


@dataclass
class _Design:
    """The runs encoded for fitting: tasks ordered by family, per (model, task) sums, and what resampling needs."""

    aliases: list[str]
    task_ids: list[str]
    minutes: Array  # (T,)
    x: Array  # (T,) log2 minutes
    family_sizes: NDArray[np.int64]  # (F,) tasks per family; tasks are ordered by family
    group_model: NDArray[np.int64]  # (G,) for each (model, task) with runs
    group_task: NDArray[np.int64]  # (G,)
    group_runs: NDArray[np.int64]  # (G,) runs in the group
    run_weight: Array  # (N,) runs ordered by group
    run_success: Array  # (N,) weight × score, same order
    weights: Array  # (M, T) summed weights
    successes: Array  # (M, T) summed weight × score
    runs_per_model: NDArray[np.int64]

    @property
    def models(self) -> int:
        return len(self.aliases)

    @classmethod
    def build(cls, runs: HorizonRuns, config: HorizonConfig, *, need_minutes: bool) -> _Design:
        if len(runs) == 0:
            raise AnalysisError(f"{runs.source}: no runs to fit")
        aliases, model_of = np.unique(np.asarray(runs.alias, dtype=str), return_inverse=True)
        task_names, task_of = np.unique(np.asarray(runs.task_id, dtype=str), return_inverse=True)
        family = _per_task(task_of, np.asarray(runs.task_family, dtype=str), task_names, "task_family", runs.source)
        minutes = _per_task(task_of, runs.human_minutes, task_names, "human_minutes", runs.source)
        if need_minutes:
            bad = np.flatnonzero(~(np.isfinite(minutes) & (minutes > 0)))
            if bad.size:
                raise AnalysisError(
                    f"{runs.source}: task {task_names[bad[0]]!r} has no positive human_minutes "
                    f"({minutes[bad[0]]}): give it one, or leave its runs out"
                )
        order = np.lexsort((task_names, family))  # tasks grouped by family
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        task_of = rank[task_of]
        task_names, family, minutes = task_names[order], family[order], minutes[order]
        _, family_sizes = np.unique(family, return_counts=True)
        n_tasks = task_names.size
        key = model_of * n_tasks + task_of
        by_group = np.argsort(key, kind="stable")
        groups, group_runs = np.unique(key[by_group], return_counts=True)
        weight = _run_weights(runs, config.weighting, model_of, key, family, task_of, aliases)
        score = runs.score.astype(np.float64)
        sums = np.zeros(aliases.size * n_tasks)
        hits = np.zeros(aliases.size * n_tasks)
        np.add.at(sums, key, weight)
        np.add.at(hits, key, weight * score)
        return cls(
            aliases=[str(a) for a in aliases],
            task_ids=[str(t) for t in task_names],
            minutes=minutes.astype(np.float64),
            x=np.log2(np.where(minutes > 0, minutes, 1.0)),
            family_sizes=family_sizes.astype(np.int64),
            group_model=(groups // n_tasks).astype(np.int64),
            group_task=(groups % n_tasks).astype(np.int64),
            group_runs=group_runs.astype(np.int64),
            run_weight=weight[by_group],
            run_success=(weight * score)[by_group],
            weights=sums.reshape(aliases.size, n_tasks),
            successes=hits.reshape(aliases.size, n_tasks),
            runs_per_model=np.bincount(model_of, minlength=aliases.size).astype(np.int64),
        )

    def resamples(self, config: HorizonConfig) -> Iterator[tuple[Array, Array]]:
        """Chunks of hierarchical bootstrap resamples: (weights, successes), each (resamples, M, T)."""
        rng = np.random.default_rng(config.seed)
        n_models, n_tasks, n_runs = self.models, len(self.task_ids), self.run_weight.size
        chunk = max(1, min(_CELLS // (n_models * n_tasks), _CELLS // max(n_runs, 1)))
        starts = np.concatenate([[0], np.cumsum(self.group_runs)[:-1]])
        cells = self.group_model * n_tasks + self.group_task
        families = self.family_sizes.size
        group_weight, group_success = self.weights.reshape(-1)[cells], self.successes.reshape(-1)[cells]
        for first in range(0, config.resamples, chunk):
            count = min(chunk, config.resamples - first)
            drawn = rng.multinomial(families, np.full(families, 1 / families), size=count)  # (R, F)
            task_draws = np.repeat(drawn, self.family_sizes, axis=1)  # each task as often as its family
            if "t" in config.bootstrap:
                offset = 0
                for f, size in enumerate(self.family_sizes):
                    if size > 1:
                        uniform = np.full(size, 1 / size)
                        task_draws[:, offset : offset + size] = rng.multinomial(drawn[:, f] * size, uniform)
                    offset += size
            if "r" not in config.bootstrap:  # each run as often as its task
                w = task_draws[:, self.group_task] * group_weight
                s = task_draws[:, self.group_task] * group_success
            else:
                run_draws = task_draws[:, self.group_task] * self.group_runs  # (R, G) runs drawn per group
                # Each group's draws pick its runs uniformly: position = group start + ⌊u · runs⌋.
                flat = run_draws.ravel()
                group = np.repeat(np.tile(np.arange(cells.size), count), flat)
                picked = starts[group] + (rng.random(group.size) * self.group_runs[group]).astype(np.int64)
                slot = np.repeat(np.arange(count * cells.size), flat)
                size = count * cells.size
                w = np.bincount(slot, weights=self.run_weight[picked], minlength=size).reshape(count, cells.size)
                s = np.bincount(slot, weights=self.run_success[picked], minlength=size).reshape(count, cells.size)
            weights = np.zeros((count, n_models * n_tasks))
            successes = np.zeros((count, n_models * n_tasks))
            weights[:, cells], successes[:, cells] = w, s
            yield weights.reshape(count, n_models, n_tasks), successes.reshape(count, n_models, n_tasks)

    def model_horizon(
        self, m: int, start: tuple[Array, Array], draws: dict[float, Array], config: HorizonConfig
    ) -> ModelHorizon:
        weights, successes = self.weights[m], self.successes[m]
        ran = weights > 0
        total, hits = float(weights.sum()), float(successes.sum())
        alpha = 1 - config.confidence
        values: dict[float, float | None] = {}
        intervals: dict[float, tuple[float | None, float | None]] = {}
        note = None
        slope, intercept = float(start[1][m]), float(start[0][m])
        used = 0
        for level in LEVELS:
            column = draws[level][:, m]
            used = int(np.count_nonzero(~np.isnan(column)))
            intervals[level] = _interval(column, alpha)
            values[level] = _number(float(horizon_minutes(start[0][m : m + 1], start[1][m : m + 1], level)[0]))
        if hits <= 0 or hits >= total:
            lengths = np.sort(self.minutes[ran])
            slope = intercept = math.nan
            for level in LEVELS:
                if hits <= 0:  # never succeeded: horizon 0, bounded by the k-th shortest task
                    k = math.ceil(math.log(alpha / 2) / math.log(1 - level))
                    values[level], intervals[level] = 0.0, (0.0, float(lengths[k - 1]) if lengths.size >= k else None)
                else:  # always succeeded: beyond the longest task, bounded below by the k-th longest
                    k = math.ceil(math.log(alpha / 2) / math.log(level))
                    values[level] = None
                    intervals[level] = (float(lengths[-k]) if lengths.size >= k else 0.0, None)
            what = "no successes" if hits <= 0 else "no failures"
            note = f"{what}: the logistic fit is not defined; the interval is bounded by task lengths alone"
        elif slope >= 0:
            note = f"the fitted curve does not fall with task length (slope {slope:.3f}): its horizons mean little"
        rate_interval = _rate_interval(draws[0.0][:, m], hits, total, int(np.count_nonzero(ran)), alpha)
        return ModelHorizon(
            alias=self.aliases[m],
            p50=values[0.5],
            p50_ci=intervals[0.5],
            p80=values[0.8],
            p80_ci=intervals[0.8],
            slope=_number(slope),
            intercept=_number(intercept),
            success_rate=hits / total if total > 0 else 0.0,
            success_rate_ci=rate_interval,
            runs=int(self.runs_per_model[m]),
            tasks=int(np.count_nonzero(ran)),
            resamples=used,
            note=note,
            task_points=[
                TaskPoint(minutes=float(self.minutes[t]), success=float(successes[t] / weights[t]), weight=w / total)
                for t, w in enumerate(weights)
                if w > 0
            ],
            p50_draws=draws[0.5][:, m].tolist(),
            p80_draws=draws[0.8][:, m].tolist(),
            success_draws=draws[0.0][:, m].tolist(),
        )


def _per_task(
    task_of: NDArray[np.int64], column: NDArray[Any], names: NDArray[np.str_], what: str, source: str
) -> NDArray[Any]:
    """The value of a per-task column for each task; a task with two values is an error."""
    first = np.empty(names.size, dtype=column.dtype)
    first[task_of[::-1]] = column[::-1]  # the first run's value per task
    differs = np.flatnonzero(~_same(column, first[task_of]))
    if differs.size:
        run = int(differs[0])
        raise AnalysisError(
            f"{source}: run {run}: task {names[task_of[run]]!r} has {what} {column[run]!r} here but "
            f"{first[task_of[run]]!r} in an earlier run; a task has one {what}"
        )
    return first


def _same(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.bool_]:
    if a.dtype.kind == "f":
        return (a == b) | (np.isnan(a) & np.isnan(b))  # type: ignore[no-any-return]
    return a == b  # type: ignore[no-any-return]


def _run_weights(
    runs: HorizonRuns,
    weighting: Weighting,
    model_of: NDArray[np.int64],
    key: NDArray[np.int64],
    family: NDArray[np.str_],
    task_of: NDArray[np.int64],
    aliases: NDArray[np.str_],
) -> Array:
    """Per-run weights normalised to sum to 1 per model: the data's own, or METR's `compute_sample_weights`."""
    if weighting in runs.weights:
        weight = np.asarray(runs.weights[weighting], dtype=np.float64)
    elif weighting == "none":
        weight = np.ones(len(runs))
    else:
        _, group, runs_in_group = np.unique(key, return_inverse=True, return_counts=True)
        weight = 1.0 / runs_in_group[group]
        if weighting == "invsqrt":
            family_codes = np.unique(family, return_inverse=True)[1]
            pairs = np.unique(np.stack([model_of, family_codes[task_of], task_of]), axis=1)  # (model, family, task)
            tasks_in = np.zeros((aliases.size, family_codes.max() + 1))
            np.add.at(tasks_in, (pairs[0], pairs[1]), 1.0)
            weight = weight / np.sqrt(tasks_in[model_of, family_codes[task_of]])
    if not np.all(np.isfinite(weight) & (weight >= 0)):
        raise AnalysisError(f"{runs.source}: run weights must be non-negative numbers")
    per_model = np.bincount(model_of, weights=weight, minlength=aliases.size)
    if np.any(per_model <= 0):
        raise AnalysisError(f"{runs.source}: model {aliases[np.argmin(per_model)]!r} has no weight on any run")
    normalised: Array = weight / per_model[model_of]
    return normalised


def _interval(column: Array, alpha: float) -> tuple[float | None, float | None]:
    """METR's interval: nanquantiles of the draws; None where not finite (unbounded, or no draws)."""
    kept = column[~np.isnan(column)]  # may hold +inf (unbounded resamples)
    if kept.size == 0:
        return None, None
    return _number(inf_quantile(kept, alpha / 2)), _number(inf_quantile(kept, 1 - alpha / 2))


def _rate_interval(
    draws: Array, hits: float, total: float, tasks: int, alpha: float
) -> tuple[float | None, float | None]:
    """The bootstrap interval of a success rate, except at 0 or 1, where every resample agrees: there the
    Clopper–Pearson bound with one trial per task, 1 − (α/2)^(1/tasks) (or its mirror), as tasks are what vary."""
    if total > 0 and hits <= 0:
        return 0.0, 1 - (alpha / 2) ** (1 / tasks)
    if total > 0 and hits >= total:
        return (alpha / 2) ** (1 / tasks), 1.0
    return _interval(draws, alpha)


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None
