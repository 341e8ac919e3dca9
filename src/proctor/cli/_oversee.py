"""`proctor oversee`: oversight experiments; `repro` reproduces published ones offline."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from proctor.cli._render import percent

if TYPE_CHECKING:
    from proctor.protocols.digits import DigitsConfig, DigitsResult

oversee_app = typer.Typer(
    help="Oversight experiments: how well a judge does with and without debate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
repro_app = typer.Typer(
    help="Reproduce published oversight experiments offline.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
oversee_app.add_typer(repro_app, name="repro")

DATASET_NOTE = (
    "Digits is not MNIST: scikit-learn's 1,797 8×8 images (0-16 grey levels) against MNIST's 70,000 28×28 "
    "images, so the paper's figures are a reference point, not a target."
)


def _print_table(console: Console, results: list[DigitsResult], config: DigitsConfig, seconds: float) -> None:
    table = Table(
        title="Sparse judge on 8×8 digits, alone and after debate",
        title_justify="left",
        caption=(
            f"debate: images where the honest debater beats all 9 wrong labels ({config.first} first); "
            f"pairs won: single (image, wrong label) debates; {config.images} test images, seed {config.seed}, "
            f"search over {2 * config.candidates} candidate pixels, "
            f"{seconds:.1f} s"
        ),
        caption_justify="left",
    )
    other = "honest" if config.first == "liar" else "liar"
    headers = (
        "pixels",
        "judge\nalone",
        "debate",
        "gain\n(pts)",
        f"{other}\nfirst",
        "pairs\nwon",
        "paper, MNIST\nalone → debate",
    )
    for column in headers:
        table.add_column(column, justify="right", no_wrap=True)
    for r in results:
        paper = "—" if r.paper_debate is None else f"{percent(r.paper_judge_alone)} → {percent(r.paper_debate)}"
        table.add_row(
            str(r.pixels),
            percent(r.judge_alone),
            f"[bold green]{percent(r.debate)}[/]",
            f"{100 * (r.debate - r.judge_alone):+.1f}",
            percent(r.debate_honest_first if other == "honest" else r.debate_liar_first),
            percent(r.honest_win_rate),
            paper,
        )
    console.print(table)
    console.print(DATASET_NOTE, style="dim")


@repro_app.command("digits-debate")
def digits_debate(
    pixels: Annotated[
        list[int] | None,
        typer.Option("--pixels", "-k", help="Pixels revealed to the judge in total (repeatable; default 4 and 6)."),
    ] = None,
    images: Annotated[int, typer.Option(help="Test images debated, each against all nine wrong labels.")] = 300,
    seed: Annotated[int, typer.Option(help="Seed of the split, the judge's training and the test images.")] = 0,
    search: Annotated[
        int,
        typer.Option(
            help="Candidate pixels per debater in the minimax search (default 5; up to 10 widens the pool to 20)."
        ),
    ] = 5,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (seed, configuration, seconds, results with intervals).")
    ] = False,
) -> None:
    """The MNIST debate experiment on scikit-learn's 8×8 digits: judge accuracy alone and after debate."""
    from proctor.protocols.digits import DigitsConfig, DigitsDebateError, run_digits_debate  # scikit-learn: slow

    try:
        config = DigitsConfig(pixels=pixels or [4, 6], images=images, seed=seed, candidates=search)
    except ValidationError as error:
        flags = {"pixels": "--pixels", "images": "--images", "seed": "--seed", "candidates": "--search"}

        def named(e: Any) -> str:
            message = str(e["msg"]).removeprefix("Value error, ")
            return f"{flags[e['loc'][0]]}: {message}" if e["loc"] and e["loc"][0] in flags else message

        messages = "; ".join(named(e) for e in error.errors())
        typer.echo(f"error: {messages}", err=True)
        raise typer.Exit(2) from None
    started = time.perf_counter()
    try:
        results = run_digits_debate(config)
    except DigitsDebateError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    seconds = time.perf_counter() - started
    if json_out:  # enough to reproduce and to judge the figures: seed, whole configuration, intervals, time
        out = {
            "seed": config.seed,
            "config": config.model_dump(mode="json"),
            "seconds": round(seconds, 2),
            "results": [r.model_dump(mode="json") for r in results],
        }
        typer.echo(json.dumps(out))
        return
    _print_table(Console(), results, config, seconds)
