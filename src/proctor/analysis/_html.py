"""One self-contained HTML file for a report or a comparison: tables, and plots embedded as `data:` URIs, with
inline styles and no scripts, so it opens offline and can be mailed or attached as it is.

Every name in it (models, agents, tasks, tags, filters, precautions) comes from the store or a file and is
escaped; the page's Content-Security-Policy also forbids scripts and any resource from elsewhere, so even a name
that slipped through could not run code or call out."""

from __future__ import annotations

import base64
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from proctor.analysis._paired import Comparison
from proctor.analysis._rates import Rate
from proctor.analysis._report import Report
from proctor.analysis._stats import Estimate

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 78rem;
       padding: 0 1rem; color: #1d1d1f; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f5f5f7; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.crossed { color: #fff; background: #c62828; } .inconclusive { background: #ffe082; } .below { background: #c8e6c9; }
.verdict { padding: .1rem .4rem; border-radius: .25rem; font-weight: 600; }
.meta { color: #555; } figure { margin: 1rem 0; } img { max-width: 100%; border: 1px solid #eee; }
code { background: #f5f5f7; padding: 0 .2rem; }
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for line in meta %}<p class="meta">{{ line }}</p>
{% endfor %}
{% for section in sections %}
<section id="{{ section.id }}">
<h2>{{ section.title }}</h2>
{% if section.note %}<p class="meta">{{ section.note }}</p>{% endif %}
{% if section.rows %}
<table>
<thead><tr>{% for column in section.columns %}<th>{{ column }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in section.rows %}<tr>
{%- for cell in row %}
<td{% if cell.numeric %} class="n"{% endif %}>
{%- if cell.verdict %}<span class="verdict {{ cell.verdict }}">{{ cell.text }}</span>
{%- else %}{{ cell.text }}{% endif -%}
</td>
{%- endfor %}</tr>
{% endfor %}
</tbody>
</table>
{% elif section.empty %}<p>{{ section.empty }}</p>{% endif %}
{% for figure in section.figures %}
<figure><img alt="{{ figure.alt }}" src="data:image/png;base64,{{ figure.data }}"></figure>
{% endfor %}
</section>
{% endfor %}
</body>
</html>
"""

_environment = Environment(autoescape=True, trim_blocks=False)
_template = _environment.from_string(_PAGE)


def _cells(rows: list[list[Any]]) -> list[list[dict[str, Any]]]:
    """Every cell as {text, numeric, verdict}: plain strings are text cells."""
    return [[cell if isinstance(cell, dict) else {"text": str(cell)} for cell in row] for row in rows]


def _n(text: str) -> dict[str, Any]:
    return {"text": text, "numeric": True}


def _rate(rate: Rate | Estimate | None) -> dict[str, Any]:
    if rate is None:
        return _n("—")
    return _n(f"{rate.value:.1%} [{rate.low:.1%}, {rate.high:.1%}]")


def _number(value: float | None, form: str) -> dict[str, Any]:
    return _n("—" if value is None else format(value, form))


def _figure(figures: dict[str, bytes], name: str, alt: str) -> list[dict[str, str]]:
    if name not in figures:
        return []
    return [{"alt": alt, "data": base64.b64encode(figures[name]).decode("ascii")}]


def report_html(report: Report, figures: dict[str, bytes] | None = None) -> str:
    """The report as one HTML page; `figures` (from `report_figures`) are embedded.

    Example:
        Path("report.html").write_text(report_html(report, report_figures(report)))
    """
    level = f"{report.confidence:.0%}"
    meta = [
        f"Runs: {report.filter or 'every run'} · solved when the score is at least {report.solved_at:g} · "
        f"{level} intervals",
        f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by proctor report.",
    ]
    sections = report_sections(report, figures)
    return _template.render(title="proctor report", meta=meta, sections=sections, style=Markup(_STYLE))


def report_sections(report: Report, figures: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
    """The report's tables as sections, the same in the HTML file and the web's Reports page: each a dict of `id`,
    `title`, `note`, `columns`, `rows` (cells of `text`, `numeric`, `verdict`: plain text, to be escaped),
    `empty` and `figures` (`alt`, base64 PNG `data`)."""
    figures = figures or {}
    level = f"{report.confidence:.0%}"
    sections: list[dict[str, Any]] = []
    if report.thresholds:
        rows = []
        for result in report.thresholds:
            t = result.threshold
            if not result.models:
                missing = ["—", "—", "no runs", "—", "none of these runs is the threshold's", ""]
                rows.append([t.name, t.measure, result.filter, _n(f"{t.level:g}"), *missing])
            for verdict in result.models:
                best = verdict.measurements[0]
                rows.append(
                    [
                        t.name,
                        t.measure,
                        result.filter or "every run",
                        _n(f"{t.level:g}"),
                        verdict.model,
                        best.agent or "—",
                        {"text": verdict.verdict, "verdict": verdict.verdict},
                        _n(f"{best.value:.3g} [{best.low:.3g}, {best.high:.3g}]"),
                        best.evidence,
                        t.precaution if verdict.verdict != "below" else "",
                    ]
                )
        columns = ["threshold", "measure", "runs", "level", "model", "agent", "verdict", "value", "evidence"]
        sections.append(
            {
                "id": "thresholds",
                "title": "If-then thresholds",
                "note": "crossed: the whole interval is at or above the level; inconclusive: it straddles the level.",
                "columns": [*columns, "precaution"],
                "rows": rows,
            }
        )
    model_rows = [
        [
            m.model,
            m.agent,
            _n(str(m.tasks)),
            _n(str(m.runs)),
            _rate(m.success),
            _number(m.task_success, ".1%"),
            _number(m.mean_score, ".3f"),
            _n(str(m.failed)),
            _number(m.costs.tokens if m.costs else None, ",.0f"),
            _number(m.costs.total_cost if m.costs else None, ",.4f"),
            _number(m.costs.wall_seconds if m.costs else None, ",.1f"),
            _number(m.costs.active_seconds if m.costs else None, ",.1f"),
        ]
        for m in report.grid.models
    ]
    sections.append(
        {
            "id": "models",
            "title": "Models",
            "note": f"success: solved over counted runs, {level} interval clustered by task; "
            "task mean: the mean of per-task success rates; tokens, wall and active seconds are means per run.",
            "columns": [
                "model",
                "agent",
                "tasks",
                "runs",
                "success",
                "task mean",
                "mean score",
                "failed",
                "tokens",
                "cost $",
                "wall s",
                "active s",
            ],
            "rows": model_rows,
            "empty": "No finished runs match.",
            "figures": _figure(figures, "models.png", "success per model and agent"),
        }
    )
    profile_rows = [
        [
            row.tag,
            row.kind,
            row.model,
            row.agent,
            _n(str(row.success.tasks)),
            _n(str(row.success.runs)),
            _rate(row.success),
        ]
        for row in report.profile
    ]
    sections.append(
        {
            "id": "profile",
            "title": "Capability profile",
            "note": "task tags come from task.yaml; step tags are tags people or models put on steps of the runs.",
            "columns": ["tag", "kind", "model", "agent", "tasks", "runs", "success"],
            "rows": profile_rows,
            "empty": "No tagged tasks or steps among these runs.",
            "figures": _figure(figures, "profile.png", "success per task tag"),
        }
    )
    grid_rows = [
        [
            c.task_id,
            c.model,
            c.agent,
            _n(str(c.runs)),
            _rate(c.success),
            _number(c.mean_score, ".3f"),
            _n(str(c.failed)),
            _number(c.costs.tokens if c.costs else None, ",.0f"),
            _number(c.costs.cost if c.costs else None, ",.4f"),
            _number(c.costs.wall_seconds if c.costs else None, ",.1f"),
            _number(c.costs.active_seconds if c.costs else None, ",.1f"),
        ]
        for c in report.grid.cells
    ]
    sections.append(
        {
            "id": "grid",
            "title": "Results grid",
            "note": f"success: Wilson {level} interval; tokens, cost, wall and active seconds are means per run.",
            "columns": [
                "task",
                "model",
                "agent",
                "runs",
                "success",
                "mean score",
                "failed",
                "tokens",
                "cost $",
                "wall s",
                "active s",
            ],
            "rows": grid_rows,
            "empty": "No finished runs match.",
            "figures": _figure(figures, "grid.png", "success per task and model"),
        }
    )
    for section in sections:
        section["rows"] = _cells(section.get("rows", []))
    return sections


def comparison_html(comparison: Comparison, figures: dict[str, bytes] | None = None) -> str:
    """The comparison as one HTML page; `figures` (e.g. `{"compare.png": comparison_figure(c)}`) are embedded."""
    left_out = [f"{len(comparison.only_a)} tasks only A ran", f"{len(comparison.only_b)} only B ran"]
    meta = [f"Left out: {', '.join(left_out)}. Solved when the score is at least {comparison.solved_at:g}."]
    sections = comparison_sections(comparison, figures)
    return _template.render(title="proctor report compare", meta=meta, sections=sections, style=Markup(_STYLE))


def comparison_sections(comparison: Comparison, figures: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
    """The comparison's tables as sections (see `report_sections`): the difference (with the plot), flipped tasks
    and the per-task table."""
    figures = figures or {}
    d = comparison.difference
    level = f"{d.confidence:.0%}"
    summary = [
        ["A", comparison.a or "every run", _number(comparison.a_mean, ".3f")],
        ["B", comparison.b or "every run", _number(comparison.b_mean, ".3f")],
        [
            "A − B",
            f"bootstrap over {d.clusters} task families, {d.n} tasks; p = {d.p_value:.3g}",
            _n(f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"),
        ],
    ]
    if comparison.mcnemar is not None:
        m = comparison.mcnemar
        summary.append(
            [
                "paired runs",
                f"{m.pairs} pairs: {m.both} both, {m.a_only} only A, {m.b_only} only B, {m.neither} neither; "
                f"McNemar exact p = {m.p_value:.3g}; Newcombe interval",
                _n(f"{m.difference.value:+.3f} [{m.difference.low:+.3f}, {m.difference.high:+.3f}]"),
            ]
        )
    sections: list[dict[str, Any]] = [
        {
            "id": "summary",
            "title": "Difference",
            "note": f"{comparison.measure}; {level} intervals; each shared task weighs the same.",
            "columns": ["", "what", "value"],
            "rows": summary,
            "figures": _figure(figures, "compare.png", "per-task values of A and B"),
        },
        {
            "id": "flipped",
            "title": "Flipped tasks",
            "note": "solved in more than half of its runs by one group and in at most half by the other.",
            "columns": ["task", "solved by", "A success", "B success"],
            "rows": [
                [f.task_id, f.solved_by.upper(), _number(f.a_success, ".0%"), _number(f.b_success, ".0%")]
                for f in comparison.flipped
            ],
            "empty": "No task flipped.",
        },
        {
            "id": "tasks",
            "title": "Per task",
            "columns": ["task", "family", "A runs", "B runs", "A", "B", "A − B", "only A", "only B"],
            "rows": [
                [
                    t.task_id,
                    t.family,
                    _n(str(t.a_runs)),
                    _n(str(t.b_runs)),
                    _number(t.a_success if comparison.measure == "success" else t.a_score, ".3f"),
                    _number(t.b_success if comparison.measure == "success" else t.b_score, ".3f"),
                    _n(f"{t.difference:+.3f}"),
                    _n(str(t.a_only)),
                    _n(str(t.b_only)),
                ]
                for t in comparison.tasks
            ],
        },
    ]
    for section in sections:
        section["rows"] = _cells(section.get("rows", []))
    return sections
