"""Measurement for comparing oversight protocols and agent scaffolds: accuracies with confidence intervals, paired and
unpaired differences, Bradley–Terry ratings, generator–discriminator–critique gaps, and agreement between raters."""

from proctor.analysis._agreement import (
    KappaWeights,
    Level,
    ReliabilityData,
    alpha_ci,
    auc_ci,
    cohen_kappa,
    kappa_ci,
    krippendorff_alpha,
    loo_consensus,
    reliability_matrix,
    spearman_ci,
)
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
    "KappaWeights",
    "Level",
    "PlayerRating",
    "Ratings",
    "ReliabilityData",
    "accuracy_ci",
    "alpha_ci",
    "auc_ci",
    "bradley_terry",
    "cohen_kappa",
    "difference_ci",
    "expected_score",
    "gdc_gaps",
    "kappa_ci",
    "krippendorff_alpha",
    "loo_consensus",
    "mean_ci",
    "paired_difference_ci",
    "reliability_matrix",
    "spearman_ci",
    "wilson_interval",
]
