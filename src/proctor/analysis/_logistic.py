"""Weighted, L2-penalised logistic regression of success on one feature, fitted for many data sets at once.

This is the fit METR's time-horizon code makes with scikit-learn (`LogisticRegression(C=1/regularization)` with
sample weights, lbfgs): it minimises

    0.5 · slope² + C · Σ_i w_i · [log(1 + exp(η_i)) − y_i · η_i],   η_i = intercept + slope · x_i

(the intercept is not penalised). A fractional y_i is the same loss as METR's split of the run into a weighted
success and a weighted failure. The loss depends on the data only through, per distinct x, the summed weights W and
the summed weighted successes S, so the bootstrap hands over those sums for every resample and model and one
Newton iteration updates all the fits together: arrays of shape (..., T) for T distinct x values.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

_MAX_ITERATIONS = 100
_MAX_HALVINGS = 30
_TOLERANCE = 1e-18  # on the Newton decrement, relative to the loss: about 1e-9 on the gradient


def fit_logistic(
    x: Array, weights: Array, successes: Array, *, regularization: float, start: tuple[Array, Array] | None = None
) -> tuple[Array, Array]:
    """Penalised logistic fits sharing the feature values `x`, by Newton's method with a backtracking line search.

    Args:
        x: The feature's distinct values, shape (T,) (here log2 of human minutes per task).
        weights: Summed sample weights at each x, shape (..., T); zero where a data set has no sample there.
        successes: Summed weight × outcome at each x, shape (..., T), between 0 and `weights`.
        regularization: METR's `regularization` (the inverse of scikit-learn's C); must be positive.
        start: Optional (intercept, slope) to start from, broadcastable to shape (...) (e.g. the fit on all the data,
            for its bootstrap resamples); by default the intercept of the overall success rate and a zero slope.

    Returns:
        (intercept, slope), each of shape (...); NaN for a data set whose outcomes are all of one class (or that has
        no weight at all): there the unpenalised intercept has no finite optimum.
    """
    shape = weights.shape[:-1]
    w = weights.reshape(-1, x.size)
    s = successes.reshape(-1, x.size)
    total, hits = w.sum(axis=1), s.sum(axis=1)
    tiny = 1e-12 * total
    usable = (total > 0) & (hits > tiny) & (total - hits > tiny)
    intercept = np.full(total.shape, np.nan)
    slope = np.full(total.shape, np.nan)
    rows = np.flatnonzero(usable)
    if start is None:
        rate = hits[rows] / total[rows]
        start_a, start_b = np.log(rate / (1 - rate)), np.zeros(rows.size)
    else:
        start_a = np.broadcast_to(start[0], shape).reshape(-1)[rows]
        start_b = np.broadcast_to(start[1], shape).reshape(-1)[rows]
        unknown = ~(np.isfinite(start_a) & np.isfinite(start_b))
        start_a, start_b = np.where(unknown, 0.0, start_a), np.where(unknown, 0.0, start_b)
    fitted_a, fitted_b = _newton(x, w[rows], s[rows], start_a, start_b, 1.0 / regularization)
    intercept[rows], slope[rows] = fitted_a, fitted_b
    return intercept.reshape(shape), slope.reshape(shape)


def _newton(x: Array, w: Array, s: Array, start_a: Array, start_b: Array, c: float) -> tuple[Array, Array]:
    """Newton's method on rows of (w, s), shape (N, T); only the rows not yet converged are computed on."""
    intercept, slope = np.array(start_a, dtype=np.float64), np.array(start_b, dtype=np.float64)
    loss = _loss(x, w, s, intercept, slope, c)
    active = np.arange(intercept.size)
    for _ in range(_MAX_ITERATIONS):
        if active.size == 0:
            break
        wa, sa, a, b = w[active], s[active], intercept[active], slope[active]
        p = _sigmoid(a[:, None] + b[:, None] * x)
        residual = wa * p - sa  # (N, T)
        curvature = wa * p * (1 - p)
        g_a = c * residual.sum(axis=1)
        g_b = b + c * (residual @ x)
        h_aa = c * curvature.sum(axis=1)
        h_ab = c * (curvature @ x)
        h_bb = 1.0 + c * (curvature @ (x * x))
        det = h_aa * h_bb - h_ab * h_ab
        det = np.where(det > 0, det, np.inf)  # no curvature left: no step
        step_a = -(h_bb * g_a - h_ab * g_b) / det
        step_b = -(h_aa * g_b - h_ab * g_a) / det
        decrease = g_a * step_a + g_b * step_b  # the directional derivative, <= 0
        going = (-decrease > _TOLERANCE * np.maximum(np.abs(loss[active]), 1.0)) & (
            np.abs(step_a) + np.abs(step_b) > 1e-13
        )
        active, step_a, step_b, decrease = active[going], step_a[going], step_b[going], decrease[going]
        scale = np.ones(active.size)
        pending = np.arange(active.size)  # positions in `active` still looking for a step
        for _ in range(_MAX_HALVINGS):
            rows = active[pending]
            cand_a = intercept[rows] + scale[pending] * step_a[pending]
            cand_b = slope[rows] + scale[pending] * step_b[pending]
            cand_loss = _loss(x, w[rows], s[rows], cand_a, cand_b, c)
            # Rounding makes the loss noisy at the optimum: a step within it is taken (and the next test stops).
            slack = 1e-13 * np.maximum(np.abs(loss[rows]), 1.0)
            accept = cand_loss <= loss[rows] + 1e-4 * scale[pending] * decrease[pending] + slack
            taken = rows[accept]
            intercept[taken], slope[taken], loss[taken] = cand_a[accept], cand_b[accept], cand_loss[accept]
            pending = pending[~accept]
            if pending.size == 0:
                break
            scale[pending] /= 2
        active = np.setdiff1d(active, active[pending], assume_unique=True)  # no step helped: at the optimum
    return intercept, slope


def horizon_minutes(intercept: Array, slope: Array, success: float) -> Array:
    """Human minutes at which the fitted curve predicts `success` (e.g. 0.5): 2 ** ((logit(p) − intercept) / slope),
    as METR's `get_x_for_quantile`. NaN where the fit is NaN; a zero slope gives an infinite or NaN horizon."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        minutes: Array = np.exp2((math.log(success / (1 - success)) - intercept) / slope)
    return minutes


def _sigmoid(z: Array) -> Array:
    result: Array = 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free
    return result


def _loss(x: Array, weights: Array, successes: Array, intercept: Array, slope: Array, c: float) -> Array:
    eta = intercept[:, None] + slope[:, None] * x
    data = (weights * np.logaddexp(0.0, eta) - successes * eta).sum(axis=1)
    result: Array = 0.5 * slope * slope + c * data
    return result
