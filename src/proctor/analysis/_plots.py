"""PNG plots of reports and comparisons (matplotlib, Agg): rendered to bytes, so the HTML report embeds them and
`--plots DIR` writes them.

Names in plots (models, tasks, tags) come from the store and are not trusted: matplotlib's math text is turned off
so a `$` in a name is drawn as a `$`, and long names are shortened."""

from __future__ import annotations

import io
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from proctor.analysis._grid import ModelSummary
from proctor.analysis._paired import Comparison
from proctor.analysis._report import Report

MOST_ROWS = 60
"""Most tasks (or tags, or models) one plot shows; the rest are named in its title as left out."""


@contextmanager
def _pyplot() -> Iterator[Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"text.parse_math": False, "font.size": 8, "axes.spines.top": False}):
        yield plt


def _short(name: str, most: int = 48) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in name)
    return clean if len(clean) <= most else clean[: most - 1] + "…"


def _png(plt: Any, figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def report_figures(report: Report, only: Collection[str] | None = None) -> dict[str, bytes]:
    """The report's plots as PNG bytes, by file name: `models.png` (success per model and agent with intervals),
    `grid.png` (a task × model heat map) and `profile.png` (success per task tag), each when there is data; with
    `only`, just the plots of those names."""
    figures: dict[str, bytes] = {}
    wanted = set(only) if only is not None else {"models.png", "grid.png", "profile.png"}
    summaries = [m for m in report.grid.models if m.success is not None][:MOST_ROWS]
    if not summaries:
        return figures
    with _pyplot() as plt:
        if "models.png" in wanted:
            figures["models.png"] = _models_figure(plt, report, summaries)
        if "grid.png" in wanted:
            figures["grid.png"] = _grid_figure(plt, report)
        if "profile.png" in wanted and any(row.kind == "task" for row in report.profile):
            figures["profile.png"] = _profile_figure(plt, report)
    return figures


def _models_figure(plt: Any, report: Report, summaries: list[ModelSummary]) -> bytes:
    figure, axes = plt.subplots(figsize=(7, 1.2 + 0.32 * len(summaries)))
    labels = [_short(f"{m.model} · {m.agent}") for m in summaries]
    rates = [m.success for m in summaries if m.success is not None]
    ys = list(range(len(rates)))
    errors = [[r.value - r.low for r in rates], [r.high - r.value for r in rates]]
    axes.barh(ys, [r.value for r in rates], xerr=errors, capsize=3, color="#4c78a8")
    axes.set_yticks(ys, labels)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel(f"success rate ({report.confidence:.0%} interval, clustered by task)")
    axes.set_title("Success per model and agent")
    return _png(plt, figure)


def _grid_figure(plt: Any, report: Report) -> bytes:
    import numpy as np

    columns = sorted({(c.model, c.agent) for c in report.grid.cells if c.success is not None})[:MOST_ROWS]
    tasks = sorted({c.task_id for c in report.grid.cells if c.success is not None})
    left_out = max(0, len(tasks) - MOST_ROWS)
    tasks = tasks[:MOST_ROWS]
    values = np.full((len(tasks), len(columns)), np.nan)
    index = {t: i for i, t in enumerate(tasks)}
    places = {c: j for j, c in enumerate(columns)}
    for cell in report.grid.cells:
        place = places.get((cell.model, cell.agent))
        if cell.success is not None and cell.task_id in index and place is not None:
            values[index[cell.task_id], place] = cell.success.value
    figure, axes = plt.subplots(figsize=(2.5 + 0.9 * len(columns), 1.2 + 0.25 * len(tasks)))
    image = axes.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(columns)), [_short(f"{m} · {a}", 28) for m, a in columns], rotation=30, ha="right")
    axes.set_yticks(range(len(tasks)), [_short(t) for t in tasks])
    if len(tasks) * len(columns) <= 400:
        for i in range(len(tasks)):
            for j in range(len(columns)):
                if not np.isnan(values[i, j]):
                    axes.text(j, i, f"{values[i, j]:.0%}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes, label="success rate")
    more = f" (first {MOST_ROWS}; {left_out} more tasks in the tables)" if left_out else ""
    axes.set_title(f"Success per task{more}")
    return _png(plt, figure)


def _profile_figure(plt: Any, report: Report) -> bytes:
    rows = [row for row in report.profile if row.kind == "task"]
    tags = sorted({row.tag for row in rows})[:MOST_ROWS]
    groups = sorted({(row.model, row.agent) for row in rows})[:12]
    figure, axes = plt.subplots(figsize=(7.5, 1.4 + 0.3 * len(tags) * max(1, len(groups)) ** 0.5))
    height = 0.8 / len(groups)
    for g, (model, agent) in enumerate(groups):
        mine = {row.tag: row.success for row in rows if (row.model, row.agent) == (model, agent)}
        ys = [i + (g - (len(groups) - 1) / 2) * height for i, tag in enumerate(tags) if tag in mine]
        rates = [mine[tag] for tag in tags if tag in mine]
        errors = [[r.value - r.low for r in rates], [r.high - r.value for r in rates]]
        label = _short(f"{model} · {agent}", 40)
        axes.barh(ys, [r.value for r in rates], height * 0.9, xerr=errors, capsize=2, label=label)
    axes.set_yticks(range(len(tags)), [_short(t, 32) for t in tags])
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.set_xlabel(f"success rate ({report.confidence:.0%} interval, clustered by task)")
    axes.set_title("Capability profile: success per task tag")
    axes.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _png(plt, figure)


def comparison_figure(comparison: Comparison) -> bytes:
    """The comparison as PNG bytes: per shared task, A's and B's value joined by a line (green where A is ahead,
    red where B is), tasks ordered by the difference, the overall difference and its interval in the title."""
    rows = comparison.tasks[:MOST_ROWS]
    score = comparison.measure == "score"
    with _pyplot() as plt:
        figure, axes = plt.subplots(figsize=(7.5, 1.6 + 0.28 * len(rows)))
        for i, row in enumerate(rows):
            a, b = (row.a_score, row.b_score) if score else (row.a_success, row.b_success)
            colour = "#2ca02c" if a > b else ("#d62728" if a < b else "#999999")
            axes.plot([b, a], [i, i], color=colour, linewidth=2, zorder=1)
            # A a ring around B's dot, so equal values show both
            axes.scatter(
                [a], [i], s=70, facecolors="none", edgecolors="#4c78a8", zorder=3, label="A" if i == 0 else None
            )
            axes.scatter([b], [i], s=18, color="#f58518", zorder=2, label="B" if i == 0 else None)
        axes.set_yticks(range(len(rows)), [_short(r.task_id) for r in rows])
        axes.invert_yaxis()
        axes.set_xlim(-0.02, 1.02)
        axes.set_xlabel("mean score" if score else "success rate")
        d = comparison.difference
        axes.set_title(
            f"A − B = {d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}] over {d.n} tasks\n"
            f"A: {_short(comparison.a or 'every run', 60)}   B: {_short(comparison.b or 'every run', 60)}"
        )
        axes.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
        return _png(plt, figure)


def write_figures(figures: dict[str, bytes], folder: Path) -> list[Path]:
    """Write PNG figures into `folder` (created if missing); returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in figures.items():
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written
