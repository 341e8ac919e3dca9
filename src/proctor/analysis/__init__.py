"""Measurement for comparing oversight protocols and agent scaffolds: accuracies with confidence intervals, paired and
unpaired differences, Bradley–Terry ratings, and generator–discriminator–critique gaps."""

from proctor.analysis._elo import PlayerRating, Ratings, bradley_terry, expected_score
from proctor.analysis._gdc import GDCAnswer, GDCGaps, GDCItem, gdc_gaps
from proctor.analysis._stats import (
    AnalysisError,
    Estimate,
    accuracy_ci,
    difference_ci,
    mean_ci,
    paired_difference_ci,
    wilson_interval,
)

__all__ = [
    "AnalysisError",
    "Estimate",
    "GDCAnswer",
    "GDCGaps",
    "GDCItem",
    "PlayerRating",
    "Ratings",
    "accuracy_ci",
    "bradley_terry",
    "difference_ci",
    "expected_score",
    "gdc_gaps",
    "mean_ci",
    "paired_difference_ci",
    "wilson_interval",
]
