"""Detection metrics computed directly: AUROC (the Mann–Whitney statistic, ties counted half) and average precision
(precision at each anomaly's rank, averaged; tied scores form one threshold, as scikit-learn does)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from proctor.lab._common import LabError


def _checked(labels: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise LabError(f"labels and scores differ in shape: {y.shape} and {s.shape}")
    if y.all() or not y.any():
        raise LabError("AUROC and average precision need both normal and anomalous examples")
    if not np.isfinite(s).all():
        raise LabError("an anomaly score is not finite")
    return y, s


def auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """P(score of a random anomaly > score of a random normal example), ties counting one half."""
    y, s = _checked(labels, scores)
    ranks = rankdata(s)  # average ranks: ties share
    positives, negatives = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(labels: ArrayLike, scores: ArrayLike) -> float:
    """Σ over thresholds (recall_k − recall_{k−1}) · precision_k, thresholds at each distinct score, high to low."""
    y, s = _checked(labels, scores)
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each run of tied scores
    hits = np.cumsum(y)[last]
    precision = hits / (last + 1)
    recall = hits / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
