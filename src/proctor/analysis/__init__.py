"""Measurement for comparing oversight protocols and agent scaffolds: accuracies with confidence intervals, paired and
unpaired differences, Bradley–Terry ratings, generator–discriminator–critique gaps, time horizons (METR's method)
and trends over release dates."""

from proctor.analysis._elo import PlayerRating, Ratings, bradley_terry, expected_score
from proctor.analysis._gdc import GDCAnswer, GDCGaps, GDCItem, gdc_gaps
from proctor.analysis._horizon import (
    HorizonConfig,
    HorizonReport,
    HorizonRuns,
    ModelHorizon,
    TaskPoint,
    horizon_points,
    release_date,
    success_rates,
    time_horizons,
)
from proctor.analysis._horizon_data import StoreSelection, read_metr_runs, read_release_dates, store_runs
from proctor.analysis._horizon_plot import plot_horizons
from proctor.analysis._stats import (
    AnalysisError,
    Estimate,
    accuracy_ci,
    difference_ci,
    mean_ci,
    paired_difference_ci,
    wilson_interval,
)
from proctor.analysis._trend import Crossing, Projection, Trend, TrendConfig, TrendPoint, fit_trend, plot_trend

__all__ = [
    "AnalysisError",
    "Crossing",
    "Estimate",
    "GDCAnswer",
    "GDCGaps",
    "GDCItem",
    "HorizonConfig",
    "HorizonReport",
    "HorizonRuns",
    "ModelHorizon",
    "PlayerRating",
    "Projection",
    "Ratings",
    "StoreSelection",
    "TaskPoint",
    "Trend",
    "TrendConfig",
    "TrendPoint",
    "accuracy_ci",
    "bradley_terry",
    "difference_ci",
    "expected_score",
    "fit_trend",
    "gdc_gaps",
    "horizon_points",
    "mean_ci",
    "paired_difference_ci",
    "plot_horizons",
    "plot_trend",
    "read_metr_runs",
    "read_release_dates",
    "release_date",
    "store_runs",
    "success_rates",
    "time_horizons",
    "wilson_interval",
]
