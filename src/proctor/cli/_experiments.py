"""`proctor oversee run` and `proctor oversee report`: oversight experiments on question datasets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proctor.cli import _studies  # noqa: F401  (adds `oversee study create` and `oversee study report`)
from proctor.cli._app import BASELINE_NOTE, ConfigError, Db, console
from proctor.cli._checks import describe, exit_if_all_failed, notes
from proctor.cli._oversee import oversee_app
from proctor.cli._render import percent

if TYPE_CHECKING:
    from proctor.protocols import OversightConfig, Report


# `oversee run`'s options, declared once; `oversee gdc` shares only Limit and Concurrency (it has no judge or
# protocol to configure), so the two commands' common flags and help agree.
JudgePrompt = Annotated[str, typer.Option(help="The judge's prompt variant: default, skeptical or brief.")]
FewShot = Annotated[int, typer.Option(help="Solved examples (other questions) shown to the judge.")]
Votes = Annotated[int, typer.Option(help="Judge verdicts sampled; the majority answer is the verdict.")]
VerdictLogprobs = Annotated[
    bool, typer.Option("--verdict-logprobs", help="Verdicts from the judge's answer-letter probabilities.")
]
Refine = Annotated[
    int, typer.Option(help="Critique-and-refine: critiques of each debater or consultant draft (0: off).")
]
Critic = Annotated[str | None, typer.Option(help="The model critiquing drafts (default: the debater).")]
Tournament = Annotated[
    str, typer.Option(help="Cross-play: round-robin (every ordered pair) or swiss (for many debaters).")
]
SwissRounds = Annotated[int | None, typer.Option(help="Rounds of a Swiss tournament (default ceil(log2(debaters))).")]
Market = Annotated[
    str | None, typer.Option(help="Market making: the market model (default: the debater, also the adversary).")
]
Depth = Annotated[int, typer.Option(help="Decomposition: levels of sub-questions.")]
Budget = Annotated[int, typer.Option(help="Decomposition: most sub-questions per case.")]
Limit = Annotated[int | None, typer.Option(help="Only the first N questions.", min=1)]
Concurrency = Annotated[int, typer.Option(help="Questions in flight at once.", min=1)]


@oversee_app.command("run")
def run(
    dataset: Annotated[str, typer.Argument(help="sample, quality-sample, bugs, or a JSONL file (QuALITY or plain).")],
    protocol: Annotated[list[str] | None, typer.Option("--protocol", help="Protocols to compare (repeatable).")] = None,
    debater: Annotated[
        str, typer.Option(help="The stronger model: debaters, consultants, critics.")
    ] = "scripted/baseline",
    opponent: Annotated[list[str] | None, typer.Option("--opponent", help="Other debaters for cross-play.")] = None,
    judge: Annotated[list[str] | None, typer.Option("--judge", help="Judge models (repeatable).")] = None,
    preference: Annotated[
        str | None, typer.Option(help="The model scoring best-of-N candidates (default: the first judge).")
    ] = None,
    rounds: Annotated[int, typer.Option(help="Rounds of argument.")] = 3,
    best_of: Annotated[int, typer.Option(help="Candidates per debater or consultant turn (best-of-N).")] = 1,
    word_limit: Annotated[int, typer.Option(help="Most words per turn.")] = 150,
    simultaneous: Annotated[bool, typer.Option("--simultaneous", help="Debaters argue each round at once.")] = False,
    cross_examination: Annotated[
        bool, typer.Option("--cross-examination", help="Debaters question a fork of their opponent.")
    ] = False,
    judge_questions: Annotated[
        bool, typer.Option("--judge-questions", help="Consultancy: the judge asks questions.")
    ] = False,
    judge_prompt: JudgePrompt = "default",
    few_shot: FewShot = 0,
    votes: Votes = 1,
    verdict_logprobs: VerdictLogprobs = False,
    refine: Refine = 0,
    critic: Critic = None,
    tournament: Tournament = "round-robin",
    swiss_rounds: SwissRounds = None,
    market: Market = None,
    depth: Depth = 1,
    budget: Budget = 4,
    limit: Limit = None,
    concurrency: Concurrency = 64,
    seed: Annotated[int, typer.Option(help="Seed of distractors and assignments.")] = 0,
    config: Annotated[Path | None, typer.Option(help="An OversightConfig as JSON or YAML (flags are ignored).")] = None,
    db: Db = None,
) -> None:
    """Run oversight protocols on a dataset (each question in both answer orders) and print the comparison."""
    from proctor.protocols import OversightConfig, load_dataset, report, run_experiment
    from proctor.protocols._experiment import planned
    from proctor.runner import check_models
    from proctor.store import RunStatus, Store

    if config is not None:
        import yaml

        try:
            settings = OversightConfig.model_validate(yaml.safe_load(config.read_text()))
        except ValidationError as error:
            raise ConfigError(f"{config}: invalid oversight config: {describe(error)}") from None
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError(f"{config}: invalid oversight config: {str(error).splitlines()[0]}") from error
    else:
        settings = _settings(
            protocols=protocol or ["naive", "consultancy", "debate"],
            debater=debater,
            opponents=opponent or [],
            judges=judge or ["scripted/baseline"],
            preference=preference,
            rounds=rounds,
            best_of=best_of,
            word_limit=word_limit,
            simultaneous=simultaneous,
            cross_examination=cross_examination,
            judge_questions=judge_questions,
            judge_prompt=judge_prompt,
            few_shot=few_shot,
            votes=votes,
            verdict_logprobs=verdict_logprobs,
            refine=refine,
            critic=critic,
            tournament=tournament,
            swiss_rounds=swiss_rounds,
            market=market,
            depth=depth,
            budget=budget,
            concurrency=concurrency,
            seed=seed,
        )
    unknown = [p for p in settings.protocols if p not in _known()]
    if unknown:
        raise ConfigError(f"unknown protocol {unknown[0]!r} (protocols: {', '.join(sorted(_known()))})")
    name, questions = load_dataset(dataset)  # a missing or unusable file: one line, before any model is called
    questions = questions[:limit] if limit else questions
    extra = [settings.preference, settings.market, settings.critic]
    models = [settings.debater, *settings.opponents, *settings.judges, *filter(None, extra)]
    named = {m: settings.model_options.get(m, {}) for m in models}
    asyncio.run(check_models(named))  # no key, no server: one line, before anything is stored
    for scripted in sorted(m for m in named if m.startswith("scripted/")):
        notes.print(BASELINE_NOTE.format(model=scripted), style="yellow")
    total = sum(planned(questions, settings, p) for p in settings.protocols)
    store = Store(db)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task(f"{len(questions)} questions, {len(settings.protocols)} protocols", total=total)
        experiment = asyncio.run(
            run_experiment(questions, settings, store, dataset=name, on_done=lambda: progress.advance(bar))
        )
    runs = store.experiment_runs(experiment)
    if not all(r.status is RunStatus.FAILED for r in runs):  # else there is nothing to report, only why
        print_report(report(store, experiment))
        console.print(f"experiment {experiment} · plots: proctor oversee report {experiment} --plots DIR")
    exit_if_all_failed(runs)


def _settings(**values: Any) -> OversightConfig:
    """The OversightConfig of `oversee run`'s flags; a value out of range is named by its flag."""
    from proctor.protocols import OversightConfig

    try:
        return OversightConfig(**values)
    except ValidationError as error:
        raise ConfigError(describe(error, {name: f"--{name.replace('_', '-')}" for name in values})) from None


def _known() -> set[str]:
    from proctor.protocols import PROTOCOLS

    return set(PROTOCOLS)


def p_value(value: float | None) -> str:
    """A p-value in three significant digits (an exact 0.00031 is not shown as 0.000)."""
    return "—" if value is None else f"{value:.3g}"


def print_report(result: Report) -> None:
    """The comparison table in the terminal."""
    from proctor.protocols._report import CALIBRATION_BINS
    from proctor.protocols._report import label as row_label

    table = Table(title=f"Judge accuracy · experiment {result.experiment}", title_justify="left")
    for column in ("protocol", "judge", "accuracy", "95% CI", "vs naive", "p", "n", "unparsed", "not judged"):
        table.add_column(column, justify="left" if column in ("protocol", "judge") else "right")
    for row in result.rows:
        versus = row.versus_naive
        table.add_row(
            row_label(row),
            row.judge,
            percent(row.accuracy.value),
            f"{percent(row.accuracy.low)} – {percent(row.accuracy.high)}",
            "—" if versus is None else f"{100 * versus.value:+.1f} [{100 * versus.low:+.1f}, {100 * versus.high:+.1f}]",
            "—" if versus is None else p_value(versus.p_value),
            str(row.accuracy.n),
            str(row.unparseable),
            str(row.stopped),
        )
    console.print(table)
    for judge, ratings in result.elo.items():
        elo = Table(
            title=f"Debaters from cross-play judged by {judge} (Bradley–Terry, Elo scale)", title_justify="left"
        )
        for column in ("debater", "rating", "95% CI", "win rate", "games"):
            elo.add_column(column)
        for player in ratings.players:
            elo.add_row(
                player.player,
                f"{player.rating:.0f}",
                f"{player.low:.0f} – {player.high:.0f}",
                percent(player.win_rate),
                str(player.games),
            )
        console.print(elo)
    for measured in result.calibration:
        bins = ", ".join(f"[{b.low:.1f}, {b.high:.1f}): {percent(b.accuracy)} of {b.n}" for b in measured.bins)
        console.print(
            f"calibration of {measured.judge} in {measured.protocol}: ECE {measured.ece:.3f} over {measured.n} "
            f"verdicts ({CALIBRATION_BINS} equal-width confidence bins; accuracy per bin: {bins})"
        )
    if result.costs:
        costs = Table(title="Cost per protocol", title_justify="left")
        for column in ("protocol", "cases", "tokens in", "tokens out", "tokens/case", "dollars", "$/case", "people"):
            costs.add_column(column, justify="left" if column == "protocol" else "right")
        for cost in result.costs:
            timed = "—" if cost.human_median_seconds is None else f"{cost.human_median_seconds:.0f} s median"
            costs.add_row(
                cost.protocol,
                str(cost.cases),
                str(cost.input_tokens),
                str(cost.output_tokens),
                f"{cost.tokens_per_case:.0f}",
                f"{cost.dollars:.4f}",
                f"{cost.dollars_per_case:.4f}",
                f"{cost.human_judgments} judged, {timed}" if cost.human_judgments else "—",
            )
        console.print(costs)
    for judge, records in result.sides.items():
        sides = Table(title=f"Cross-play win rates by side, judged by {judge}", title_justify="left")
        for column in ("debater", "arguing correct", "games", "arguing incorrect", "games"):
            sides.add_column(column)
        for record in records:
            right, wrong = record.correct_win_rate, record.incorrect_win_rate
            sides.add_row(
                record.player,
                "—" if right is None else percent(right),
                str(record.correct_games),
                "—" if wrong is None else percent(wrong),
                str(record.incorrect_games),
            )
        console.print(sides)
    if result.elo_accuracy:
        points = Table(title="Judge accuracy against debater Elo", title_justify="left")
        for column in ("judge", "play", "correct side", "incorrect side", "Elo", "accuracy", "n"):
            points.add_column(column)
        for point in result.elo_accuracy:
            points.add_row(
                point.judge,
                point.play,
                point.correct,
                point.incorrect,
                f"{point.elo:+.0f}" if point.play == "cross-play" else f"{point.elo:.0f}",
                percent(point.accuracy.value),
                str(point.accuracy.n),
            )
        console.print(points)
    for split in result.open:
        parts = [
            f"{split.protocol}, judged by {split.judge}: the agent's own answer {percent(split.agent_accuracy.value)}"
        ]
        for said, estimate in (("chose correct", split.chose_correct), ("chose incorrect", split.chose_incorrect)):
            if estimate is not None:
                parts.append(f"judge when it {said} {percent(estimate.value)} (n={estimate.n})")
        console.print("; ".join(parts))
    if result.critique_bug_inclusion is not None:
        inclusion = result.critique_bug_inclusion
        console.print(
            f"critiques naming the planted bug's line: {percent(inclusion.value)} "
            f"({percent(inclusion.low)} – {percent(inclusion.high)}, n={inclusion.n})"
        )
    if result.critique_false_claims is not None:
        claims = result.critique_false_claims
        console.print(
            f"critiques claiming a bug where there is none: {percent(claims.value)} "
            f"({percent(claims.low)} – {percent(claims.high)}, n={claims.n})"
        )
    for protocol, located in result.localisation.items():
        console.print(
            f"{protocol}: buggy programs called buggy and located (line ±1): {percent(located.value)} "
            f"({percent(located.low)} – {percent(located.high)}, n={located.n})"
        )
    for judge, market in result.market.items():
        moved = "—" if market.mean_move is None else f"{100 * market.mean_move:.1f} points"
        console.print(
            f"market making, judged by {judge}: the market's Brier score on the judge's final answer "
            f"{market.brier:.3f} (n={market.n}); mean move per argument {moved}"
        )
    for judge, gap in result.strength_gap.items():
        console.print(f"judge–debater strength gap for {judge}: {100 * gap:+.1f} points of oracle accuracy")
    if result.failed:
        console.print(f"{result.failed} cases failed (a model failed for good) and are left out", style="yellow")
    if result.not_judged:
        console.print(
            f"{result.not_judged} cases were not judged (an open protocol's side choice could not be parsed) and are "
            "left out",
            style="yellow",
        )


@oversee_app.command("gdc")
def gdc(
    dataset: Annotated[str, typer.Argument(help="sample, quality-sample, bugs, or a JSONL file.")],
    model: Annotated[str, typer.Option(help="The model measured: generator, discriminator and critic.")],
    samples: Annotated[int, typer.Option(help="Answers sampled per question (N of best-of-N).", min=1)] = 4,
    limit: Limit = None,
    concurrency: Concurrency = 16,
    json_out: Annotated[bool, typer.Option("--json", help="Print the gaps as JSON.")] = False,
    db: Db = None,
) -> None:
    """Generator–discriminator–critique gaps of one model (Saunders et al. 2022): G, D, C, GD and CD gaps."""
    # No judge, protocol or debate options: the one model answers, discriminates and critiques with gdc's own
    # prompts, so `oversee run`'s judge and protocol flags would change nothing here and typer refuses them.
    from proctor.models import check_model, get_model
    from proctor.protocols import load_dataset, measure_gdc
    from proctor.store import Store

    name, questions = load_dataset(dataset)
    agent = get_model(model)
    asyncio.run(check_model(agent))  # no key, no server: one line, before anything is stored
    questions = questions[:limit] if limit else questions
    store = Store(db)
    experiment, gaps = asyncio.run(
        measure_gdc(questions, agent, store, dataset=name, samples=samples, concurrency=concurrency)
    )
    if gaps is None:  # every question failed
        exit_if_all_failed(store.experiment_runs(experiment))
        raise ConfigError(f"dataset {dataset!r} has no questions")
    if json_out:
        print(json.dumps({"experiment": experiment, **gaps.model_dump(mode="json")}, indent=2))
        return
    table = Table(title=f"Generator–discriminator–critique · {model} · experiment {experiment}", title_justify="left")
    for column in ("measure", "value", "95% CI"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    rows = [
        ("G: a sampled answer", gaps.generator),
        ("D: best-of-N by the discriminator", gaps.discriminator),
        ("C: best-of-N by critiques", gaps.critique),
        ("oracle: any answer right", gaps.oracle),
        ("GD gap (D − G)", gaps.gd_gap),
        ("CD gap (D − C)", gaps.cd_gap),
    ]
    for label, estimate in rows:
        table.add_row(label, percent(estimate.value), f"{percent(estimate.low)} – {percent(estimate.high)}")
    console.print(table)


@oversee_app.command("report")
def show_report(
    experiment: Annotated[str, typer.Argument(help="The experiment id printed by `oversee run`.")],
    plots: Annotated[Path | None, typer.Option(help="Write PNG plots into this folder.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: Db = None,
) -> None:
    """The comparison table of an experiment, and PNG plots: accuracy per protocol with CI bars, and accuracy
    against the judge–debater strength gap when several judges ran."""
    from proctor.protocols import plot, report
    from proctor.store import Store

    store = Store(db)
    result = report(store, experiment)
    if not result.rows:
        raise ConfigError(f"no experiment {experiment!r} in {store.url}")
    if json_out:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        print_report(result)
    if plots is not None:
        for path in plot(result, plots):
            console.print(f"wrote {path}")


def _ratings(given: list[str]) -> dict[str, float]:
    """`MODEL=RATING` pairs as a dict; a malformed one is a one-line error naming it."""
    ratings = {}
    for pair in given:
        model, _, rating = pair.rpartition("=")
        try:
            ratings[model] = float(rating)
        except ValueError:
            raise ConfigError(f"--elo {pair!r}: give MODEL=RATING, e.g. openai/gpt-4o=1250") from None
        if not model:
            raise ConfigError(f"--elo {pair!r}: give MODEL=RATING, e.g. openai/gpt-4o=1250")
    return ratings


@oversee_app.command("scaling")
def scaling(
    experiment: Annotated[str, typer.Argument(help="The experiment id printed by `oversee run`.")],
    elo: Annotated[list[str], typer.Option("--elo", help="A model's Elo rating, MODEL=RATING (repeatable).")],
    protocol: Annotated[str, typer.Option(help="The protocol whose cases are the oversight games.")] = "debate",
    target_gap: Annotated[float, typer.Option(help="The Elo gap nested oversight should bridge.")] = 400.0,
    steps: Annotated[int, typer.Option(help="Most overseers in the nested chain.", min=1, max=50)] = 10,
    plots: Annotated[Path | None, typer.Option(help="Write PNG plots into this folder.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the analysis as JSON.")] = False,
    db: Db = None,
) -> None:
    """Oversight success against the Elo gap between overseen model and judge (Engels et al. 2025): a logistic fit,
    and nested oversight by a chain of overseers across --target-gap."""
    from proctor.analysis import AnalysisError
    from proctor.protocols import ScalingError, oversight_scaling, plot_scaling
    from proctor.store import Store

    store = Store(db)
    try:
        result = oversight_scaling(
            store, experiment, _ratings(elo), protocol=protocol, target_gap=target_gap, max_steps=steps
        )
    except (ScalingError, AnalysisError) as error:
        raise ConfigError(str(error)) from None
    if json_out:
        data = result.model_dump(mode="json") | {"best_steps": result.best.steps}
        print(json.dumps(data, indent=2))
    else:
        table = Table(title=f"Oversight games · {protocol} · experiment {experiment}", title_justify="left")
        for column in ("overseer", "overseen", "Elo gap", "games", "success", "fitted"):
            table.add_column(column, justify="left" if column in ("overseer", "overseen") else "right")
        for games in result.games:
            table.add_row(
                games.overseer,
                games.overseen,
                f"{games.gap:+.0f}",
                str(games.games),
                percent(games.successes / games.games),
                percent(result.fit.success(games.gap)),
            )
        console.print(table)
        fit = result.fit
        console.print(
            f"fit: P(success) = sigmoid({fit.intercept:.3f} {fit.slope:+.3f} × gap / 400), {fit.games} games; "
            f"50% at a gap of {_half(fit.intercept, fit.slope)}"
        )
        chain = ", ".join(f"{s.steps}: {percent(s.success)}" for s in result.nested)
        console.print(
            f"nested oversight across {target_gap:.0f} Elo (overseers in the chain: success): {chain}; "
            f"best {result.best.steps} step(s)"
        )
    if plots is not None:
        for path in plot_scaling(result, plots):
            console.print(f"wrote {path}")


def _half(intercept: float, slope: float) -> str:
    return "—" if slope == 0 else f"{-400 * intercept / slope:+.0f} Elo"
