"""`proctor oversee study create` and `proctor oversee study report`: human judging studies on an experiment."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from proctor.cli._app import ConfigError, Db, console
from proctor.cli._oversee import oversee_app
from proctor.cli._render import interval, percent

if TYPE_CHECKING:
    from proctor.protocols import StudyReport


study_app = typer.Typer(
    help="Human judging studies: do people judge better with a protocol's transcript than without?",
    no_args_is_help=True,
    rich_markup_mode=None,
)
oversee_app.add_typer(study_app, name="study")


@study_app.command("create")
def create(
    experiment: Annotated[str, typer.Argument(help="The experiment id printed by `oversee run`.")],
    protocol: Annotated[str, typer.Option(help="The protocol whose transcripts assisted people read.")] = "debate",
    user: Annotated[list[str] | None, typer.Option("--user", help="A person who judges (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the assignment.")] = 0,
    per_person: Annotated[int | None, typer.Option(help="Questions per person (default: all).")] = None,
    name: Annotated[str | None, typer.Option(help="The study's name.")] = None,
    db: Db = None,
) -> None:
    """Assign the experiment's questions to people, half with the protocol's transcript and half without,
    balanced per person and per question; prints the study id and each person's judgments."""
    from proctor.protocols import create_study
    from proctor.store import Store, StudyError, studies

    store = Store(db)
    try:
        study = create_study(store, experiment, protocol, user or [], seed, per_person=per_person, name=name)
    except StudyError as error:
        raise ConfigError(str(error)) from error
    with store.engine.connect() as conn:
        judged = studies.judgments(conn, study_id=study.id)
    total = Counter(j.user for j in judged)
    assisted = Counter(j.user for j in judged if j.condition == "assisted")
    console.print(f"study {study.id} · {study.name} · {len(judged)} judgments, seed {seed}")
    for person in study.settings["users"]:
        console.print(f"  {person}: {total[person]} judgments ({assisted[person]} assisted)")
    console.print(f"people judge at /queue in `proctor view`; results: proctor oversee study report {study.id}")


def print_study(result: StudyReport) -> None:
    """A study's report as tables in the terminal."""
    study = result.study
    table = Table(
        title=f"Human judges · {study.name} · study {study.id} ({study.protocol} on {study.experiment})",
        title_justify="left",
    )
    for column in ("condition", "answered", "pending", "accuracy [95% CI]", "confidence", "median time"):
        table.add_column(column, justify="left" if column == "condition" else "right")
    for row in result.conditions:
        seconds = "—" if row.median_seconds is None else f"{row.median_seconds:.0f} s"
        confidence = percent(row.confidence.value if row.confidence else None)
        table.add_row(row.condition, str(row.answered), str(row.pending), interval(row.accuracy), confidence, seconds)
    console.print(table)
    effect = result.effect
    if effect is None:
        console.print("effect of the help: — (needs answers in both conditions)")
    else:
        console.print(
            f"effect of the help (assisted − unassisted): {100 * effect.value:+.1f} points "
            f"[{100 * effect.low:+.1f}, {100 * effect.high:+.1f}], p = {effect.p_value:.3g} "
            f"(two-way cluster bootstrap over {result.questions} questions and {result.people} people)"
        )
    calibration = Table(title="Calibration", title_justify="left")
    for column in ("condition", "confidence", "answers", "mean confidence", "accuracy"):
        calibration.add_column(column, justify="left" if column == "condition" else "right")
    for b in result.calibration:
        if b.n:
            calibration.add_row(
                b.condition,
                f"{100 * b.low:.0f}–{100 * b.high:.0f}%",
                str(b.n),
                percent(b.mean_confidence),
                percent(b.accuracy),
            )
    console.print(calibration)
    people = Table(title="People", title_justify="left")
    for column in ("person", "answered", "accuracy", "assisted", "unassisted"):
        people.add_column(column, justify="left" if column == "person" else "right")
    for p in result.per_person:
        people.add_row(
            p.user, f"{p.answered} / {p.assigned}", percent(p.accuracy), percent(p.assisted), percent(p.unassisted)
        )
    console.print(people)


@study_app.command("report")
def report(
    study: Annotated[str, typer.Argument(help="The study id (or a unique prefix) printed by `study create`.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: Db = None,
) -> None:
    """Accuracy per condition with 95% CIs clustered by question, the effect of the help with a two-way (questions
    and people) cluster bootstrap CI, confidence, calibration and per-person accuracy."""
    from proctor.protocols import study_report
    from proctor.store import Store, StudyError

    try:
        result = study_report(Store(db), study)
    except StudyError as error:
        raise ConfigError(str(error)) from error
    if json_out:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print_study(result)
