"""`proctor report raters`: agreement among the raters of options and in human judging studies."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

if TYPE_CHECKING:
    from proctor.analysis import Estimate, RaterReport

from proctor.cli._app import ConfigError, Db, console
from proctor.cli._render import percent
from proctor.cli._report import report_app


def number(estimate: Estimate | None) -> str:
    """`0.71 [0.62, 0.79]`, or `—` for nothing."""
    if estimate is None:
        return "—"
    return f"{estimate.value:.2f} [{estimate.low:.2f}, {estimate.high:.2f}]"


def _signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.2f}"


def print_raters(report: RaterReport) -> None:
    """The report as tables: per scale α, raters and pairs; per study people against model judges."""
    if not report.scales and not report.studies:
        console.print("no rated options and no judging studies match")
    for scale in report.scales:
        console.print(
            f"[bold]scale {scale.scale}[/bold]: {scale.ratings} ratings of {scale.options} options, "
            f"{scale.rated_twice} rated by two raters or more",
            highlight=False,
        )
        console.print(
            f"Krippendorff's α: ordinal {number(scale.ordinal)} · interval {number(scale.interval)} · "
            f"nominal {number(scale.nominal)}",
            highlight=False,
        )
        raters = Table(title="Raters", title_justify="left", caption=_RATERS_CAPTION, caption_justify="left")
        raters.add_column("rater", no_wrap=True)
        for column in ("ratings", "mean", "shared", "ρ with consensus", "bias", "outcomes", "ρ with score", "AUC"):
            raters.add_column(column, justify="right")
        for row in scale.raters:
            raters.add_row(
                row.rater,
                str(row.ratings),
                f"{row.mean:.2f}",
                str(row.shared),
                number(row.consensus),
                _signed(row.bias),
                f"{row.outcomes} ({row.outcome_runs} runs)",
                number(row.outcome_rho),
                number(row.outcome_auc),
            )
        console.print(raters)
        if scale.pairs:
            pairs = Table(title="Pairs of raters", title_justify="left")
            pairs.add_column("rater")
            pairs.add_column("rater")
            for column in ("options", "same point", "κ", "κ linear", "κ quadratic"):
                pairs.add_column(column, justify="right")
            for pair in scale.pairs:
                pairs.add_row(
                    pair.a,
                    pair.b,
                    str(pair.items),
                    percent(pair.exact),
                    number(pair.kappa),
                    number(pair.linear),
                    number(pair.quadratic),
                )
            console.print(pairs)
        for note in scale.notes:
            console.print(f"note: {note}", highlight=False)
    for study in report.studies:
        console.print(
            f"[bold]study {study.study}[/bold] ({study.name}): {study.answered} judgments by {study.people} people; "
            f"people's α (nominal, right/wrong) {number(study.people_alpha)}",
            highlight=False,
        )
        if study.judges:
            judges = Table(title="People against model judges", title_justify="left", caption=_JUDGES_CAPTION)
            judges.add_column("judge", no_wrap=True)
            judges.add_column("condition")
            for column in ("judgments", "questions", "agree", "κ", "people right", "judge right"):
                judges.add_column(column, justify="right")
            for j in study.judges:
                judges.add_row(
                    j.judge,
                    j.condition,
                    str(j.judgments),
                    str(j.questions),
                    number(j.agreement),
                    number(j.kappa),
                    percent(j.people_accuracy),
                    percent(j.judge_accuracy),
                )
            console.print(judges)
        for note in study.notes:
            console.print(f"note: {note}", highlight=False)


_RATERS_CAPTION = (
    "ρ with consensus: Spearman with the mean of the other raters' ratings; bias: mean of rating − consensus; "
    "outcomes: rated chosen options of runs with a known outcome; AUC: success vs not; 95% bootstrap intervals"
)
_JUDGES_CAPTION = "agree: both right or both wrong; 95% bootstrap intervals over questions"


@report_app.command("raters")
def raters(
    run: Annotated[list[str] | None, typer.Option("--run", help="Only options of these runs (repeatable).")] = None,
    task: Annotated[str | None, typer.Option(help="Only options of runs whose task id contains this.")] = None,
    model: Annotated[str | None, typer.Option(help="Only options of runs whose model contains this.")] = None,
    rater: Annotated[str | None, typer.Option(help="Only raters whose name contains this.")] = None,
    study: Annotated[
        list[str] | None, typer.Option("--study", help="Only these judging studies (repeatable; default all).")
    ] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples per interval.", min=1)] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstraps.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: Db = None,
) -> None:
    """Agreement among raters: Krippendorff's α, pairwise Cohen's κ (plain, linear, quadratic), each rater against
    the others' consensus and against how runs ended; in judging studies, people against model judges."""
    from proctor.analysis import RaterFilters, rater_report
    from proctor.store import Store
    from proctor.store._studies import StudyError

    filters = RaterFilters(runs=run, task=task, model=model, rater=rater, studies=study, resamples=resamples, seed=seed)
    try:
        report = rater_report(Store(db), filters)
    except StudyError as error:
        raise ConfigError(str(error)) from error
    if json_out:
        print(json.dumps(report.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        print_raters(report)
