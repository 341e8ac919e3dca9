"""`proctor report`: from runs to conclusions — results, capability profiles, comparisons, time horizons, trends,
thresholds and rater agreement, on the analysis functions of `proctor.analysis`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from proctor.analysis import Comparison, Rate, Report, ThresholdResult
    from proctor.analysis._stats import Estimate

from proctor.cli._app import Db, app, console
from proctor.cli._checks import notes

report_app = typer.Typer(
    help="Reports: from runs to conclusions. Without a command: the results grid and capability profile.",
    invoke_without_command=True,
)
app.add_typer(report_app, name="report")

LONG_GRID_CELLS = 200
"""Past this many task × model × agent cells, the terminal shows the grid as tasks × models (one line per task)."""

CROSSED_EXIT = 3
"""Exit code when a model crossed a threshold, so a pipeline can gate on it."""

Where = Annotated[
    list[str] | None,
    typer.Option("--where", help="A filter term key=value (repeatable; see docs/reports.md), e.g. config.options=4."),
]
SolvedAt = Annotated[float, typer.Option("--solved-at", help="A run is solved when its score is at least this.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Html = Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML file.")]
Plots = Annotated[Path | None, typer.Option("--plots", help="Write PNG plots into this folder.")]


def _terms(key: str, values: list[str] | None) -> list[str]:
    return [f"{key}={'|'.join(values)}"] if values else []


@report_app.callback()
def report(
    ctx: typer.Context,
    suite: Annotated[list[str] | None, typer.Option(help="Only tasks of this suite (repeatable: any).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Only tasks with this tag (repeatable: any).")] = None,
    model: Annotated[list[str] | None, typer.Option(help="Only this model; * matches anything (repeatable).")] = None,
    agent: Annotated[list[str] | None, typer.Option(help="Only this agent (repeatable: any).")] = None,
    experiment: Annotated[list[str] | None, typer.Option(help="Only this oversight experiment (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Only runs created on or after this date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Only runs created on or before this date.")] = None,
    where: Where = None,
    solved_at: SolvedAt = 1.0,
    thresholds: Annotated[Path | None, typer.Option(help="Also give verdicts on this thresholds file.")] = None,
    json_out: Json = False,
    html: Html = None,
    plots: Plots = None,
    db: Db = None,
) -> None:
    """The results grid (task × model × agent), the per-model summary and the capability profile of the runs the
    options select, as tables, JSON, an HTML file or PNG plots. Exit code 3 when a model crossed a threshold."""
    from proctor.analysis import RunFilter, build_report, load_thresholds, report_figures, report_html
    from proctor.store import Store

    if ctx.invoked_subcommand is not None:
        return
    terms = [
        *_terms("suite", suite),
        *_terms("tag", tag),
        *_terms("model", model),
        *_terms("agent", agent),
        *_terms("experiment", experiment),
        *([f"since={since}"] if since else []),
        *([f"until={until}"] if until else []),
        *(where or []),
    ]
    runs = RunFilter.parse(*terms)
    loaded = load_thresholds(thresholds) if thresholds is not None else None
    result = build_report(Store(db), runs, solved_at=solved_at, thresholds=loaded)
    figures = report_figures(result) if html is not None or plots is not None else {}
    _write_outputs(figures, plots, html, lambda: report_html(result, figures), quiet=json_out)
    if json_out:
        print(result.model_dump_json(indent=2))
    else:
        _print_report(result)
    if result.crossed:
        raise typer.Exit(CROSSED_EXIT)


def _write_outputs(
    figures: dict[str, bytes], plots: Path | None, html: Path | None, page: Callable[[], str], *, quiet: bool
) -> None:
    """Write the PNGs and the HTML page asked for, saying so (on standard error under --json)."""
    from proctor.analysis import write_figures

    said = notes if quiet else console
    if plots is not None:
        for path in write_figures(figures, plots):
            said.print(f"wrote {path}")
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(page(), encoding="utf-8")
        said.print(f"wrote {html}")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _plain(text: str) -> Text:
    """A name from the store as plain text: no Rich markup, no terminal control characters."""
    return Text("".join(c if c.isprintable() else "?" for c in text))


def _rate(rate: Rate | Estimate | None) -> str:
    if rate is None:
        return "—"
    return f"{rate.value:.1%} [{rate.low:.1%}, {rate.high:.1%}]"


def _value(value: float | None, form: str) -> str:
    return "—" if value is None else format(value, form)


def _table(
    title: str,
    columns: list[str],
    rows: list[list[str | Text]],
    *,
    numeric: set[str],
    caption: str = "",
    fold: tuple[str, ...] = ("model", "agent", "kind", "runs", "failed", "tokens", "cost $"),
) -> Table:
    """A table whose `fold` columns holding one value in every row (one model, no failures, no tokens) move to its
    title; names fold onto more lines instead of being cut short."""
    shown, fixed = [], []
    for i, column in enumerate(columns):
        values = {str(row[i]) for row in rows}
        if len(rows) > 1 and len(values) == 1 and column in fold:
            fixed.append(f"{column} {next(iter(values))}")
        else:
            shown.append(i)
    heading = Text(" · ".join([title, *fixed]))  # names in it are data: never read as Rich markup
    table = Table(title=heading, title_justify="left", caption=caption or None)
    for i in shown:
        name = columns[i]
        if name in numeric:
            table.add_column(name, justify="right", no_wrap=True)
        else:
            table.add_column(name, overflow="fold", min_width=min(24, max(len(str(r[i])) for r in rows)))
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table


def _print_report(result: Report) -> None:
    what = result.filter or "every run"
    if not result.grid.cells:
        console.print(f"no finished runs match {what}")
        return
    level = f"{result.confidence:.0%}"
    if result.thresholds:
        _print_thresholds(result.thresholds)
    numeric = {"tasks", "runs", "success", "task mean", "score", "failed", "tokens", "cost $", "wall s", "active s"}
    columns = ["model", "agent", "tasks", "runs", "success", "task mean", "score", "failed", "tokens", "cost $"]
    rows: list[list[str | Text]] = []
    for m in result.grid.models:
        costs = m.costs
        rows.append(
            [
                _plain(m.model),
                _plain(m.agent),
                str(m.tasks),
                str(m.runs),
                _rate(m.success),
                _value(m.task_success, ".1%"),
                _value(m.mean_score, ".3f"),
                str(m.failed),
                _value(costs.tokens if costs else None, ",.0f"),
                _value(costs.total_cost if costs else None, ",.4f"),
                _value(costs.wall_seconds if costs else None, ",.1f"),
                _value(costs.active_seconds if costs else None, ",.1f"),
            ]
        )
    caption = (
        f"success: solved/counted runs, {level} interval clustered by task · task mean: mean of per-task rates · "
        "tokens, wall and active seconds per run · cost: total"
    )
    console.print(_table(f"models · {what}", [*columns, "wall s", "active s"], rows, numeric=numeric, caption=caption))
    if result.profile:
        rows = [
            [
                _plain(row.tag),
                row.kind,
                _plain(row.model),
                _plain(row.agent),
                str(row.success.tasks),
                str(row.success.runs),
                _rate(row.success),
            ]
            for row in result.profile
        ]
        columns = ["tag", "kind", "model", "agent", "tasks", "runs", "success"]
        console.print(_table("capability profile", columns, rows, numeric=numeric))
    if len(result.grid.cells) > LONG_GRID_CELLS:
        _print_pivot(result)
        return
    rows = []
    for c in result.grid.cells:
        costs = c.costs
        rows.append(
            [
                _plain(c.task_id),
                _plain(c.model),
                _plain(c.agent),
                str(c.runs),
                _rate(c.success),
                _value(c.mean_score, ".3f"),
                str(c.failed),
                _value(costs.tokens if costs else None, ",.0f"),
                _value(costs.cost if costs else None, ",.4f"),
                _value(costs.wall_seconds if costs else None, ",.1f"),
                _value(costs.active_seconds if costs else None, ",.1f"),
            ]
        )
    columns = ["task", "model", "agent", "runs", "success", "score", "failed", "tokens", "cost $", "wall s", "active s"]
    caption = (
        f"success: Wilson {level} interval · solved when the score is at least {result.solved_at:g} · per-run means"
    )
    console.print(_table("results grid", columns, rows, numeric=numeric, caption=caption))


def _print_pivot(result: Report) -> None:
    """A large grid as tasks × (model, agent): each cell the success rate and the counted runs."""
    columns = sorted({(c.model, c.agent) for c in result.grid.cells})
    place = {column: i for i, column in enumerate(columns)}
    per_task: dict[str, list[str]] = {}
    for c in result.grid.cells:
        row = per_task.setdefault(c.task_id, ["" for _ in columns])
        row[place[(c.model, c.agent)]] = "—" if c.success is None else f"{c.success.value:.0%} ({c.runs})"
    title = f"results grid · {len(per_task):,} tasks × {len(columns)} models and agents"
    caption = "each cell: success (counted runs) · intervals, scores, tokens and times per cell: --json or --html"
    table = Table(title=title, title_justify="left", caption=caption)
    table.add_column("task", overflow="fold")
    agents = len({agent for _, agent in columns}) > 1
    for model, agent in columns:
        table.add_column(_plain(f"{model} · {agent}" if agents else model), justify="right", overflow="fold")
    for task, cells in per_task.items():
        table.add_row(_plain(task), *cells)
    console.print(table)


def _print_thresholds(results: list[ThresholdResult]) -> None:
    styles = {"crossed": "bold red", "inconclusive": "yellow", "below": "green"}
    rows: list[list[str | Text]] = []
    for result in results:
        if not result.models:
            name, level = _plain(result.threshold.name), f"{result.threshold.level:g}"
            rows.append([name, "—", "—", Text("no runs"), "—", level, _plain(f"none of {result.filter}"), ""])
        for verdict in result.models:
            best = verdict.measurements[0]
            rows.append(
                [
                    _plain(result.threshold.name),
                    _plain(verdict.model),
                    _plain(best.agent or "—"),
                    Text(verdict.verdict, style=styles[verdict.verdict]),
                    f"{best.value:.3g} [{best.low:.3g}, {best.high:.3g}]",
                    f"{result.threshold.level:g}",
                    _plain(best.evidence),
                    _plain(result.threshold.precaution if verdict.verdict != "below" else ""),
                ]
            )
    columns = ["threshold", "model", "agent", "verdict", "value", "level", "evidence", "precaution"]
    caption = "crossed: the whole interval is at or above the level · inconclusive: it straddles the level"
    console.print(
        _table("if-then thresholds", columns, rows, numeric={"value", "level"}, caption=caption, fold=("agent",))
    )


@report_app.command("thresholds")
def thresholds_command(
    file: Annotated[Path, typer.Argument(help="The thresholds file (YAML; see docs/reports.md).")],
    where: Where = None,
    json_out: Json = False,
    db: Db = None,
) -> None:
    """Every model's verdict on every threshold in FILE — below, crossed, or inconclusive when the interval
    straddles the level — with the evidence. Exit code 3 when a model crossed a threshold."""
    from proctor.analysis import RunFilter, evaluate_thresholds, load_thresholds
    from proctor.store import Store

    loaded = load_thresholds(file)
    results = evaluate_thresholds(Store(db), loaded, RunFilter.parse(*(where or [])))
    if json_out:
        print(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
    else:
        _print_thresholds(results)
    crossed = [r.threshold.name for r in results if r.crossed]
    if crossed:
        notes.print(f"crossed: {', '.join(crossed)}", markup=False, highlight=False)
        raise typer.Exit(CROSSED_EXIT)


@report_app.command("compare")
def compare_command(
    a: Annotated[list[str], typer.Option("--a", help="Group A: filter terms, e.g. model=openai/gpt-4o,agent=react.")],
    b: Annotated[list[str], typer.Option("--b", help="Group B: filter terms, e.g. model=openai/gpt-4o,agent=tags.")],
    where: Where = None,
    measure: Annotated[str, typer.Option(help="success (share solved) or score (mean score).")] = "success",
    solved_at: SolvedAt = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    json_out: Json = False,
    html: Html = None,
    plots: Plots = None,
    db: Db = None,
) -> None:
    """Compare two groups of runs on the tasks both ran: per-task differences, the overall difference with a
    bootstrap over task families, McNemar's exact test on paired runs, the tasks that flipped, and a plot."""
    from proctor.analysis import RunFilter, compare, comparison_figure, comparison_html
    from proctor.analysis._paired import Outcome
    from proctor.analysis._stats import AnalysisError
    from proctor.store import Store

    shared = RunFilter.parse(*(where or []))
    first, second = RunFilter.parse(*a) & shared, RunFilter.parse(*b) & shared
    if measure not in ("success", "score"):
        raise AnalysisError(f"--measure {measure!r}: use success or score")
    outcome = cast(Outcome, measure)
    result = compare(Store(db), first, second, measure=outcome, solved_at=solved_at, seed=seed)
    figures = {"compare.png": comparison_figure(result)} if html is not None or plots is not None else {}
    _write_outputs(figures, plots, html, lambda: comparison_html(result, figures), quiet=json_out)
    if json_out:
        print(result.model_dump_json(indent=2))
    else:
        _print_comparison(result)


def _print_comparison(result: Comparison) -> None:
    d = result.difference
    what = "success rate" if result.measure == "success" else "mean score"
    summary = Table(
        title=f"A − B in {what}, each shared task weighing the same", title_justify="left", show_header=False
    )
    summary.add_column("")
    summary.add_column("")
    summary.add_row("A", _plain(result.a or "every run"))
    summary.add_row("B", _plain(result.b or "every run"))
    summary.add_row("A, B", f"{result.a_mean:.3f}, {result.b_mean:.3f} over {_count(d.n, 'shared task')}")
    summary.add_row(
        "A − B",
        f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}] · p = {d.p_value:.3g} · bootstrap over "
        + _count(d.clusters or 0, "family", "families"),
    )
    if result.mcnemar is not None:
        m = result.mcnemar
        summary.add_row(
            "paired runs",
            f"{m.pairs} pairs: {m.both} both, {m.a_only} only A, {m.b_only} only B, {m.neither} neither",
        )
        summary.add_row(
            "McNemar",
            f"exact p = {m.p_value:.3g} · A − B on pairs {m.difference.value:+.3f} "
            f"[{m.difference.low:+.3f}, {m.difference.high:+.3f}] (Newcombe)",
        )
    if result.only_a or result.only_b:
        summary.add_row("left out", f"{len(result.only_a)} tasks only A ran, {len(result.only_b)} only B ran")
    console.print(summary)
    if d.low == d.high:
        notes.print(
            "note: every bootstrap resample gave the same difference (the tasks all differ alike): "
            "read the paired-runs interval for the uncertainty"
        )
    if result.flipped:
        flips = Table(title="flipped: solved in most runs by one group only", title_justify="left")
        for column in ("task", "solved by", "A", "B"):
            flips.add_column(column)
        for f in result.flipped:
            flips.add_row(_plain(f.task_id), f.solved_by.upper(), f"{f.a_success:.0%}", f"{f.b_success:.0%}")
        console.print(flips)
    tasks = Table(title="per task", title_justify="left")
    tasks.add_column("task")
    for column in ("A runs", "B runs", "A", "B", "A − B", "only A", "only B"):
        tasks.add_column(column, justify="right")
    score = result.measure == "score"
    for t in result.tasks:
        tasks.add_row(
            _plain(t.task_id),
            str(t.a_runs),
            str(t.b_runs),
            f"{t.a_score if score else t.a_success:.3f}",
            f"{t.b_score if score else t.b_success:.3f}",
            f"{t.difference:+.3f}",
            str(t.a_only),
            str(t.b_only),
        )
    console.print(tasks)
