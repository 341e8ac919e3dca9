"""Oversight scaling on an experiment (Engels et al. 2025): each judge is an overseer, each speaker it judged (the
debater, consultant, critic; in debate the debater arguing the incorrect answer) the overseen; with Elo ratings of
the models, the report fits oversight success against the Elo gap and asks how a chain of overseers would do."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

from proctor.analysis import (
    NestedStep,
    OversightFit,
    OversightGames,
    fit_oversight,
    nested_oversight,
)
from proctor.protocols._report import Case, cases
from proctor.store import Store


class Scaling(BaseModel):
    """Oversight success against the Elo gap in one protocol, and nested oversight across a target gap."""

    experiment: str
    """The experiment."""
    protocol: str
    """The protocol whose cases are the games."""
    ratings: dict[str, float]
    """The models' Elo ratings used (given, e.g. from an arena or from `oversee report`'s cross-play)."""
    games: list[OversightGames]
    """Per (overseer, overseen): the gap, cases and successes."""
    fit: OversightFit
    """P(success) = σ(a + b · gap / 400)."""
    target_gap: float
    """The gap nested oversight is asked to bridge."""
    nested: list[NestedStep]
    """Success of a chain of 1 … N overseers across `target_gap`."""

    @property
    def best(self) -> NestedStep:
        """The number of steps with the highest chance of success."""
        return max(self.nested, key=lambda s: (s.success, -s.steps))


class ScalingError(ValueError):
    """The scaling analysis cannot run as asked; the message says what to give."""


def overseen(case: Case, debater: str) -> str | None:
    """The model overseen in a case: in debate, the one arguing the incorrect answer (it is the one the judge must
    see through); otherwise the experiment's debater, who spoke."""
    if case.debaters is not None:
        return case.debaters[1 - case.correct_index]
    return debater


def oversight_games(judged: list[Case], ratings: dict[str, float], debater: str) -> list[OversightGames]:
    """Games per (judge, overseen model) with both rated; success is the judge being right."""
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for case in judged:
        watched = overseen(case, debater)
        if watched is None or case.judge not in ratings or watched not in ratings:
            continue
        tally[(case.judge, watched)][0] += 1
        tally[(case.judge, watched)][1] += case.correct
    return [
        OversightGames(overseer=j, overseen=o, gap=ratings[o] - ratings[j], games=n, successes=k)
        for (j, o), (n, k) in sorted(tally.items())
    ]


def oversight_scaling(
    store: Store, experiment: str, ratings: dict[str, float], *, protocol: str, target_gap: float, max_steps: int = 10
) -> Scaling:
    """Fit oversight success against the Elo gap on `protocol`'s judged cases of `experiment`.

    Raises:
        ScalingError: no cases of the protocol, or none with both models rated.
        AnalysisError: the games cannot be fitted (one gap only, or all right / all wrong).
    """
    found = [c for c in cases(store, experiment) if c.protocol == protocol and not c.failed and c.stopped is None]
    if not found:
        raise ScalingError(f"no judged {protocol!r} cases in experiment {experiment!r}: pick a protocol it ran")
    runs = store.experiment_runs(experiment)
    debater = str(runs[0].config["oversight"]["debater"])
    games = oversight_games(found, ratings, debater)
    if not games:
        models = sorted({c.judge for c in found} | {m for c in found if (m := overseen(c, debater))})
        raise ScalingError(f"no case has both models rated: give --elo MODEL=RATING for {', '.join(models)}")
    fit = fit_oversight(games)
    return Scaling(
        experiment=experiment,
        protocol=protocol,
        ratings=ratings,
        games=games,
        fit=fit,
        target_gap=target_gap,
        nested=nested_oversight(fit, target_gap, max_steps=max_steps),
    )


def plot_scaling(result: Scaling, folder: Path) -> list[Path]:
    """PNGs: success against the Elo gap with the fitted curve; nested oversight's success against the steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=150)
    gaps = [g.gap for g in result.games]
    axes.scatter(gaps, [g.successes / g.games for g in result.games], s=[12 + 4 * g.games for g in result.games])
    for g in result.games:
        axes.annotate(f"{g.overseer} / {g.overseen}", (g.gap, g.successes / g.games), fontsize=6)
    span = np.linspace(min([*gaps, result.target_gap, 0.0]) - 100, max([*gaps, result.target_gap]) + 100, 200)
    axes.plot(span, [result.fit.success(float(x)) for x in span], color="black", linewidth=1, label="fit")
    axes.set_xlabel("Elo gap (overseen minus overseer)")
    axes.set_ylabel("oversight success (judge right)")
    axes.set_ylim(0, 1.05)
    axes.set_title(f"{result.protocol}: success against the Elo gap · {result.experiment}")
    axes.legend(fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    curve = folder / f"{result.experiment}-{result.protocol}-scaling.png"
    figure.savefig(curve)
    plt.close(figure)
    figure, axes = plt.subplots(figsize=(5.0, 3.8), dpi=150)
    axes.plot([s.steps for s in result.nested], [s.success for s in result.nested], marker="o")
    axes.set_xlabel("overseers in the chain")
    axes.set_ylabel(f"success across a gap of {result.target_gap:.0f} Elo")
    axes.set_ylim(0, 1.05)
    axes.set_title(f"Nested oversight · {result.protocol}")
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    nested = folder / f"{result.experiment}-{result.protocol}-nested.png"
    figure.savefig(nested)
    plt.close(figure)
    return [curve, nested]
