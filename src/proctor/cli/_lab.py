"""`proctor lab`: the white-box lab's experiments on small models trained here (docs/lab.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel
from rich.table import Table

from proctor.cli._app import Json, app, console

if TYPE_CHECKING:
    from proctor.lab import LabResult


lab_app = typer.Typer(help="The white-box lab: experiments on small models trained here on CPU.", no_args_is_help=True)
app.add_typer(lab_app, name="lab")

Results = Annotated[
    Path | None,
    typer.Option("--results", help="Results folder (default: $PROCTOR_LAB_DIR, else the user data dir's lab/)."),
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="A YAML or JSON file of the experiment's settings (docs/lab.md).")
]
Seeds = Annotated[int | None, typer.Option("--seeds", help="Seeds to run (overrides the config).")]
Tiny = Annotated[bool, typer.Option("--tiny", help="A seconds-long version (small models, few seeds), for trying out.")]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Train every model afresh, ignoring cached weights.")]
Subject = Annotated[
    str | None,
    typer.Option("--subject", help="Run on this local Hugging Face model, hf/<folder>, instead of one trained here."),
]


def _interval(value: Any) -> str:
    low, high = value.low, value.high
    return f"{value.value:.3f}" if low is None or high is None else f"{value.value:.3f} [{low:.3f}, {high:.3f}]"


def print_result(result: LabResult, folder: Path) -> None:
    """The summary table (means with 95% intervals), the notes, and where the result is stored."""
    table = Table(
        title=f"{result.id}: {result.experiment}, {len(result.seeds)} seeds, {result.seconds:.0f} s",
        title_justify="left",
        caption="mean [95% t interval]; n counts seeds, targets or units (see the notes)",
        caption_justify="left",
    )
    for column in ("quantity", "mean [95% interval]", "n"):
        table.add_column(column, justify="left" if column == "quantity" else "right")
    for name, value in result.summary.items():
        table.add_row(name, _interval(value), str(value.n))
    console.print(table)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"stored in {folder}", highlight=False)


def run_experiment(
    kind: type[BaseModel],
    run: Callable[..., LabResult],
    plot: Callable[[LabResult, Path], list[str]],
    *,
    config: Path | None,
    overrides: dict[str, Any],
    tiny: bool,
    results: Path | None,
    no_cache: bool,
    as_json: bool,
) -> None:
    """Load and check the config, run, plot, store and print."""
    from proctor.lab import load_config, results_dir, save_result

    base: dict[str, Any] = getattr(kind, "tiny")().model_dump() if tiny else {}  # noqa: B009
    settings = load_config(kind, config, base | {k: v for k, v in overrides.items() if v is not None})
    folder = results_dir(results)
    result = run(settings, cache=None if no_cache else folder / "cache")
    place = folder / result.id
    place.mkdir(parents=True, exist_ok=True)
    result.plots = plot(result, place)
    save_result(result, folder)
    if as_json:
        typer.echo(json.dumps({**result.model_dump(mode="json"), "folder": str(place)}, indent=2))
    else:
        print_result(result, place)


@lab_app.command("w2s")
def w2s(
    config: ConfigFile = None,
    seeds: Seeds = None,
    tiny: Tiny = False,
    results: Results = None,
    no_cache: NoCache = False,
    as_json: Json = False,
) -> None:
    """Weak-to-strong generalization and easy-to-hard on digits: PGR with and without the auxiliary loss."""
    from proctor.lab import W2SConfig, plot_w2s, run_w2s

    run_experiment(
        W2SConfig,
        run_w2s,
        plot_w2s,
        config=config,
        overrides={"seeds": seeds},
        tiny=tiny,
        results=results,
        no_cache=no_cache,
        as_json=as_json,
    )


@lab_app.command("backdoor")
def backdoor(
    config: ConfigFile = None,
    seeds: Seeds = None,
    subject: Subject = None,
    tiny: Tiny = False,
    results: Results = None,
    no_cache: NoCache = False,
    as_json: Json = False,
) -> None:
    """A backdoored digits classifier and anomaly detectors on its activations: AUROC and AP per layer."""
    from proctor.lab import BackdoorConfig, plot_backdoor, run_backdoor

    run_experiment(
        BackdoorConfig,
        run_backdoor,
        plot_backdoor,
        config=config,
        overrides={"seeds": seeds, "subject": subject},
        tiny=tiny,
        results=results,
        no_cache=no_cache,
        as_json=as_json,
    )


@lab_app.command("rare")
def rare(
    config: ConfigFile = None,
    seeds: Seeds = None,
    subject: Subject = None,
    tiny: Tiny = False,
    results: Results = None,
    no_cache: NoCache = False,
    as_json: Json = False,
) -> None:
    """Rare-event estimation on a tiny transformer: naive, ITGIS, MHIS and GLD against exact probabilities."""
    from proctor.lab import RareConfig, plot_rare, run_rare

    run_experiment(
        RareConfig,
        run_rare,
        plot_rare,
        config=config,
        overrides={"seeds": seeds, "subject": subject},
        tiny=tiny,
        results=results,
        no_cache=no_cache,
        as_json=as_json,
    )


@lab_app.command("autointerp")
def autointerp(
    config: ConfigFile = None,
    seeds: Seeds = None,
    subject: Subject = None,
    explainer: Annotated[str | None, typer.Option(help="The explainer model (default scripted/interpreter).")] = None,
    simulator: Annotated[
        str | None, typer.Option(help="The simulator and scorer model (default scripted/interpreter).")
    ] = None,
    tiny: Tiny = False,
    results: Results = None,
    no_cache: NoCache = False,
    as_json: Json = False,
) -> None:
    """Automated interpretability of a tiny transformer's units: explanations, simulation, detection, fuzzing."""
    from proctor.lab import AutoInterpConfig, plot_autointerp, run_autointerp

    run_experiment(
        AutoInterpConfig,
        run_autointerp,
        plot_autointerp,
        config=config,
        overrides={"seeds": seeds, "subject": subject, "explainer": explainer, "simulator": simulator},
        tiny=tiny,
        results=results,
        no_cache=no_cache,
        as_json=as_json,
    )


@lab_app.command("list")
def list_(results: Results = None, as_json: Json = False) -> None:
    """Stored lab results, newest first."""
    from proctor.lab import list_results, results_dir

    found = list_results(results_dir(results))
    if as_json:
        typer.echo(
            json.dumps([r.model_dump(mode="json", include={"id", "experiment", "created", "seeds"}) for r in found])
        )
        return
    if not found:
        console.print("no lab results yet: run e.g. `proctor lab w2s`")
        return
    table = Table()
    for column in ("id", "experiment", "created", "seeds", "seconds"):
        table.add_column(column)
    for r in found:
        table.add_row(r.id, r.experiment, r.created, str(len(r.seeds)), f"{r.seconds:.0f}")
    console.print(table)


@lab_app.command("show")
def show(
    id: Annotated[str, typer.Argument(help="A result id from `proctor lab list` (or a unique prefix).")],
    results: Results = None,
    as_json: Json = False,
) -> None:
    """A stored result: its summary table, or everything as JSON."""
    from proctor.lab import load_result, results_dir

    folder = results_dir(results)
    result = load_result(folder, id)
    if as_json:
        typer.echo(json.dumps({**result.model_dump(mode="json"), "folder": str(folder / result.id)}, indent=2))
    else:
        print_result(result, folder / result.id)
