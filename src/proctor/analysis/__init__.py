"""Measurement for comparing oversight protocols and agent scaffolds: accuracies with confidence intervals, paired and
unpaired differences, Bradley–Terry ratings, and generator–discriminator–critique gaps; and reports on stored runs:
the results grid, capability profiles, paired comparisons and if-then thresholds."""

from proctor.analysis._elo import PlayerRating, Ratings, bradley_terry, expected_score
from proctor.analysis._filters import FilterTerm, RunFilter
from proctor.analysis._gdc import GDCAnswer, GDCGaps, GDCItem, gdc_gaps
from proctor.analysis._grid import (
    Costs,
    GridCell,
    ModelSummary,
    ProfileRow,
    ResultsGrid,
    capability_profile,
    results_grid,
)
from proctor.analysis._html import comparison_html, report_html
from proctor.analysis._paired import (
    Comparison,
    Flip,
    McNemar,
    TaskDifference,
    clustered_difference,
    compare,
    mcnemar_exact,
    newcombe_paired_interval,
)
from proctor.analysis._plots import comparison_figure, report_figures, write_figures
from proctor.analysis._rates import Rate, pooled_rate, task_rate, wilson_bounds
from proctor.analysis._report import Report, build_report
from proctor.analysis._stats import (
    AnalysisError,
    Estimate,
    accuracy_ci,
    difference_ci,
    mean_ci,
    paired_difference_ci,
    wilson_interval,
)
from proctor.analysis._thresholds import (
    Measure,
    Measurement,
    ModelVerdict,
    Threshold,
    ThresholdResult,
    ThresholdsFile,
    evaluate_thresholds,
    get_measure,
    load_thresholds,
    measure,
    measures,
    verdict,
)

__all__ = [
    "AnalysisError",
    "Comparison",
    "Costs",
    "Estimate",
    "FilterTerm",
    "Flip",
    "GDCAnswer",
    "GDCGaps",
    "GDCItem",
    "GridCell",
    "McNemar",
    "Measure",
    "Measurement",
    "ModelSummary",
    "ModelVerdict",
    "PlayerRating",
    "ProfileRow",
    "Rate",
    "Ratings",
    "Report",
    "ResultsGrid",
    "RunFilter",
    "TaskDifference",
    "Threshold",
    "ThresholdResult",
    "ThresholdsFile",
    "accuracy_ci",
    "bradley_terry",
    "build_report",
    "capability_profile",
    "clustered_difference",
    "compare",
    "comparison_figure",
    "comparison_html",
    "difference_ci",
    "evaluate_thresholds",
    "expected_score",
    "gdc_gaps",
    "get_measure",
    "load_thresholds",
    "mcnemar_exact",
    "mean_ci",
    "measure",
    "measures",
    "newcombe_paired_interval",
    "paired_difference_ci",
    "pooled_rate",
    "report_figures",
    "report_html",
    "results_grid",
    "task_rate",
    "verdict",
    "wilson_bounds",
    "wilson_interval",
    "write_figures",
]
