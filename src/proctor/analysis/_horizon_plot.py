"""The fitted success curves over the task points, one panel per model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from proctor.analysis._horizon import HorizonReport


def plot_horizons(report: HorizonReport, path: str | Path, *, columns: int = 3) -> Path:
    """Plot each model's fitted logistic curve of success against human minutes (log scale) over its tasks' mean
    success (dots sized by the task's weight), with the 50% horizon and its interval shaded, to a PNG file.

    Args:
        report: Horizons from `time_horizons`.
        path: Where to write the PNG.
        columns: Panels per row.

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure

    path = Path(path)
    models = report.models
    columns = max(1, min(columns, len(models)))
    rows = math.ceil(len(models) / columns)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    lengths = [p.minutes for m in models for p in m.task_points]
    low, high = min(lengths) / 2, max(lengths) * 2
    grid = np.geomspace(low, high, 200)
    for index, model in enumerate(models):
        ax = axes[index // columns][index % columns]
        ax.set_xscale("log")
        points = model.task_points
        ax.scatter(
            [p.minutes for p in points],
            [p.success for p in points],
            s=[20 + 400 * p.weight for p in points],
            color="tab:grey",
            alpha=0.5,
            edgecolors="none",
        )
        if model.slope is not None and model.intercept is not None:
            curve = 1 / (1 + np.exp(-(model.intercept + model.slope * np.log2(grid))))
            ax.plot(grid, curve, color="tab:blue")
        ax.axhline(0.5, color="tab:red", linestyle="--", linewidth=0.8)
        lower, upper = model.p50_ci
        if lower is not None or upper is not None:
            ax.axvspan(max(lower or low, low), min(upper or high, high), color="tab:red", alpha=0.1)
        if model.p50 is not None and model.p50 > 0:
            ax.axvline(model.p50, color="tab:red", linewidth=1)
        interval = f"[{_minutes(lower)}, {_minutes(upper, '∞')}]"
        ax.set_title(f"{model.alias}\np50 {_minutes(model.p50)} {interval}", fontsize=9)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    for index in range(len(models), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.supxlabel("human minutes (log scale)")
    figure.supylabel("success")
    figure.savefig(path, dpi=110)
    return path


def _minutes(value: float | None, missing: str = "—") -> str:
    if value is None:
        return missing
    if value < 1:
        return f"{value * 60:.0f} s"
    if value < 120:
        return f"{value:.1f} min"
    return f"{value / 60:.1f} h" if value < 60_000 else f"{value / 60:.2g} h"
