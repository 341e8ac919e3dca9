"""`proctor redteam`: red-team campaigns (`run`), audits (`audit`) and their reports (`report`)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proctor.cli._app import Db, Json, app, console
from proctor.cli._checks import exit_if_all_failed, notes
from proctor.cli._render import percent

if TYPE_CHECKING:
    from proctor.redteam import AuditReport, CampaignReport


redteam_app = typer.Typer(
    help="Red teaming with models: attack campaigns, audits, and their reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
app.add_typer(redteam_app, name="redteam")

SCRIPTED_NOTE = (
    "note: {model} is scripted, not a language model: it answers by fixed rules so that red teaming runs offline. "
    "Give provider/model names (e.g. openai/gpt-4o-mini) in the config or the flags for real use."
)
_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _check(names: dict[str, dict[str, Any]], quiet: bool) -> None:
    from proctor.runner import check_models

    asyncio.run(check_models(names))  # no key, no server: one line, before anything is stored
    for scripted in sorted(m for m in names if m.startswith("scripted/")):
        if not quiet:
            notes.print(SCRIPTED_NOTE.format(model=scripted), style="yellow")


@redteam_app.command("run")
def run(
    config: Annotated[
        Path | None, typer.Option(help="A campaign config (YAML); default: the bundled offline example.")
    ] = None,
    attempts: Annotated[int | None, typer.Option(help="Attack attempts (overrides the config).", min=1)] = None,
    method: Annotated[
        str | None, typer.Option(help="zero-shot, few-shot or stochastic-few-shot (overrides the config).")
    ] = None,
    red: Annotated[str | None, typer.Option(help="The red model (overrides the config).")] = None,
    target: Annotated[str | None, typer.Option(help="The target model (overrides the config).")] = None,
    turns: Annotated[int | None, typer.Option(help="Most target replies per attempt.", min=1)] = None,
    retries: Annotated[int | None, typer.Option(help="Retries (forks) of a failed attempt.", min=0)] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Run a red-team campaign: the red model writes attacks, the target answers, the classifier decides."""
    from proctor.redteam import EXAMPLES, RedTeamConfig, campaign_report, convert, load_config, run_campaign
    from proctor.store import Store

    settings = load_config(config or EXAMPLES / "password.yaml", RedTeamConfig)
    changes = {"attempts": attempts, "method": method, "red": red, "target": target, "turns": turns}
    changes |= {"retries": retries}
    # The fields as they are (a dump would redact the keys in `model_options`), with the flags given over them.
    settings = RedTeamConfig.model_validate(dict(settings) | {k: v for k, v in changes.items() if v is not None})
    names = {settings.red, settings.target}
    if settings.classifier.kind == "model":
        names.add(settings.classifier.model)
    if settings.classifier.kind == "python" and settings.classifier.function:
        from proctor.redteam import load_function

        load_function(settings.classifier.function)  # a missing function: one line, before anything is stored
    convert("", settings.converters)  # an unknown converter: one line, before anything is stored
    _check({n: settings.model_options.get(n, {}) for n in names}, json_out)
    store = Store(db)
    with Progress(*_COLUMNS, console=console, transient=True, disable=json_out) as progress:
        bar = progress.add_task(f"{settings.attempts} attempts", total=settings.attempts)
        campaign = asyncio.run(run_campaign(settings, store, on_done=lambda: progress.advance(bar)))
    _show(campaign_report(store, campaign), json_out)
    exit_if_all_failed(store.config_runs("redteam", campaign))


@redteam_app.command("audit")
def audit(
    config: Annotated[
        Path | None, typer.Option(help="An audit config (YAML); default: the bundled offline example.")
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Audit a target: an auditor probes it with tools once per seed instruction; a judge scores the transcripts."""
    from proctor.redteam import EXAMPLES, AuditConfig, audit_report, load_config, run_audit
    from proctor.store import Store

    settings = load_config(config or EXAMPLES / "audit.yaml", AuditConfig)
    names = {settings.auditor, settings.target, settings.judge}
    _check({n: settings.model_options.get(n, {}) for n in names}, json_out)
    store = Store(db)
    with Progress(*_COLUMNS, console=console, transient=True, disable=json_out) as progress:
        bar = progress.add_task(f"{len(settings.seeds)} seeds", total=len(settings.seeds))
        audit_id = asyncio.run(run_audit(settings, store, on_done=lambda: progress.advance(bar)))
    _show(audit_report(store, audit_id), json_out)
    exit_if_all_failed(store.config_runs("audit", audit_id))


@redteam_app.command("report")
def report(
    campaign: Annotated[str, typer.Argument(help="A campaign or audit id (printed by redteam run or audit).")],
    top: Annotated[int, typer.Option(help="Strongest attacks listed.", min=1)] = 10,
    against: Annotated[
        list[str] | None, typer.Option("--against", help="An earlier campaign to measure novelty against.")
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Report a campaign (success rate, diversity, novelty, categories, strongest attacks, people against the
    classifier) or an audit (scores per seed and dimension)."""
    from proctor.redteam import RedTeamError, audit_report, campaign_report
    from proctor.store import Store

    store = Store(db)
    try:
        found: CampaignReport | AuditReport = campaign_report(store, campaign, top=top)
    except RedTeamError:
        found = audit_report(store, campaign)
    else:
        found = campaign_report(store, campaign, top=top, against=against) if against else found
    _show(found, json_out)


def _show(found: CampaignReport | AuditReport, json_out: bool) -> None:
    from proctor.redteam import CampaignReport

    if json_out:
        typer.echo(json.dumps(found.json_dict()))
    elif isinstance(found, CampaignReport):
        _print_campaign(found)
    else:
        _print_audit(found)


def _interval(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"{percent(low)} – {percent(high)}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _print_campaign(r: CampaignReport) -> None:
    s = r.success
    console.print(f"campaign {r.campaign} · {r.behaviour} · target {r.target} · {r.method}")
    console.print(
        f"attack success rate: {percent(s.rate)} ({s.successes}/{s.attempts}; 95% Wilson {_interval(s.low, s.high)})"
        f" · runs {r.runs} · unparsed {r.unparsed} · failed {r.failed}"
        + (f" · awaiting people's labels {r.awaiting}" if r.awaiting else "")
    )
    diversity = None if r.self_bleu is None else 1 - r.self_bleu
    console.print(
        f"diversity: self-BLEU {_number(r.self_bleu)} (1 - self-BLEU {_number(diversity)}) · "
        f"TF-IDF {_number(r.tfidf_diversity)}"
    )
    table = Table(title="By category", title_justify="left")
    for column in ("category", "success", "95% CI", "n"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, rate in r.categories.items():
        table.add_row(name, percent(rate.rate), _interval(rate.low, rate.high), str(rate.attempts))
    console.print(table)
    batches = Table(title="By batch", title_justify="left")
    for column in ("batch", "success", "95% CI", "novelty"):
        batches.add_column(column, justify="right")
    for b in r.batches:
        batches.add_row(str(b["batch"]), percent(b["rate"]), _interval(b["low"], b["high"]), _number(b["novelty"]))
    console.print(batches)
    strongest = Table(title="Strongest attacks", title_justify="left")
    for column in ("run", "category", "score", "verdict", "attack"):
        strongest.add_column(column, overflow="fold")
    for row in r.strongest:
        strongest.add_row(row.run_id, row.category, f"{row.strength:.2f}", row.verdict or "—", row.attack[:200])
    console.print(strongest, markup=False)
    for other, value in r.novelty_against.items():
        console.print(f"novelty against campaign {other}: {_number(value)}")
    a = r.agreement
    kappa = "—" if a.kappa is None else str(a.kappa)
    console.print(
        f"people vs classifier: {a.agreed}/{a.pairs} agree · Cohen's κ {kappa}" + (f" ({a.note})" if a.note else "")
    )


def _print_audit(r: AuditReport) -> None:
    console.print(f"audit {r.audit} · target {r.target} · scores 1–{r.scale}")
    table = Table(title="By seed", title_justify="left")
    names = [d.name for d in r.dimensions]
    for column in ("seed", "run", "branches", *names):
        table.add_column(column, overflow="fold")
    for seed in r.seeds:
        scores = [str(seed.scores.get(n)) if seed.scores.get(n) is not None else "—" for n in names]
        table.add_row(seed.seed[:80], seed.final_run_id or f"failed: {seed.error}", str(seed.branches), *scores)
    console.print(table, markup=False)
    dims = Table(title="By dimension", title_justify="left")
    for column in ("dimension", "mean", "95% CI", "highest", "scored"):
        dims.add_column(column)
    for d in r.dimensions:
        interval = "—" if d.low is None or d.high is None else f"{d.low:.1f} – {d.high:.1f}"
        dims.add_row(d.name, _number(d.mean), interval, str(d.highest or "—"), str(d.scored))
    console.print(dims)
