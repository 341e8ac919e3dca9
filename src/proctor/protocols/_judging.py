"""Judges and costs in an oversight experiment's report: calibration of stated confidence, market making's market,
and each protocol's cost in tokens, dollars and people's judging time."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, computed_field

from proctor.protocols._cases import Case, protocol_order
from proctor.store import Store


class Market(BaseModel):
    """How well market making's market predicted one judge's final answers."""

    n: int
    """Cases with a final prediction and a parsed verdict."""
    brier: float
    """Mean squared error of the market's last P(judge answers A) against the judge's answer (1 for A, 0 for B)."""
    mean_move: float | None
    """Mean absolute change of the market's prediction per argument (None without two predictions in a row)."""


class Cost(BaseModel):
    """What one protocol cost over the experiment: model tokens and dollars, and people's judging time in the
    experiment's human studies."""

    protocol: str
    """The protocol."""
    cases: int
    """Judged cases (runs), failed ones included: they cost too."""
    input_tokens: int
    """Prompt tokens over all its runs (cross-examination forks included)."""
    output_tokens: int
    """Generated tokens over all its runs."""
    dollars: float
    """US dollars over all priced calls (unpriced models count 0)."""
    human_judgments: int = 0
    """Answered judgments in studies of this experiment that show this protocol (assisted) or, for `naive`, none."""
    human_median_seconds: float | None = None
    """Median seconds a person took per judgment, where timed."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def tokens_per_case(self) -> float:
        """Input and output tokens per case."""
        return (self.input_tokens + self.output_tokens) / self.cases if self.cases else 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def dollars_per_case(self) -> float:
        """Dollars per case."""
        return self.dollars / self.cases if self.cases else 0.0


class ReliabilityBin(BaseModel):
    """Verdicts whose stated confidence falls in one bin."""

    low: float
    """The bin's lowest confidence (inclusive)."""
    high: float
    """The bin's highest confidence (exclusive; the last bin includes 1)."""
    n: int
    """Verdicts in the bin."""
    confidence: float
    """Their mean stated confidence."""
    accuracy: float
    """The share of them that is correct."""


class Calibration(BaseModel):
    """How well one judge's stated confidence in one protocol matches its accuracy."""

    protocol: str
    """The protocol."""
    judge: str
    """The judge model."""
    n: int
    """Verdicts with a stated confidence (others are left out)."""
    ece: float
    """Expected calibration error: the bins' |accuracy - mean confidence|, weighted by their share of verdicts."""
    bins: list[ReliabilityBin]
    """The non-empty bins of `BINS` equal-width bins over [0, 1], lowest first."""


CALIBRATION_BINS = 10
"""Equal-width confidence bins of the calibration (ECE and reliability plot): [0, 0.1), …, [0.9, 1]."""


def market_summary(judged: list[Case]) -> dict[str, Market]:
    """Per judge, over market-making cases: the Brier score of the market's last prediction of the judge's answer,
    and the mean absolute move per argument."""
    errors: dict[str, list[float]] = defaultdict(list)
    moves: dict[str, list[float]] = defaultdict(list)
    for case in judged:
        if case.protocol != "market-making":
            continue
        moves[case.judge] += [abs(m) for m in case.detail.get("moves", []) if m is not None]
        last = (case.detail.get("predictions") or [None])[-1]
        if last is not None and case.judged is not None:
            errors[case.judge].append((last - (1.0 if case.judged == 0 else 0.0)) ** 2)
    return {
        judge: Market(
            n=len(found),
            brier=sum(found) / len(found),
            mean_move=sum(moves[judge]) / len(moves[judge]) if moves[judge] else None,
        )
        for judge, found in sorted(errors.items())
    }


def calibration(cases: list[Case], bins: int = CALIBRATION_BINS) -> tuple[float, list[ReliabilityBin]] | None:
    """The ECE and reliability bins of verdicts' stated confidence in the answer they chose, over `bins`
    equal-width bins of [0, 1] (a confidence of 1 falls in the last); None when no verdict states one."""
    stated = [(c.detail["confidence"], c.correct) for c in cases if c.detail.get("confidence") is not None]
    if not stated:
        return None
    grouped: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for confidence, correct in stated:
        grouped[min(int(confidence * bins), bins - 1)].append((confidence, correct))
    found = []
    for b, members in sorted(grouped.items()):
        mean = sum(c for c, _ in members) / len(members)
        right = sum(1 for _, ok in members if ok) / len(members)
        found.append(ReliabilityBin(low=b / bins, high=(b + 1) / bins, n=len(members), confidence=mean, accuracy=right))
    ece = sum(b.n / len(stated) * abs(b.accuracy - b.confidence) for b in found)
    return ece, found


def calibrations(judged: list[Case]) -> list[Calibration]:
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in judged:
        if case.judged is not None:
            groups[(case.protocol, case.judge)].append(case)
    found = []
    for (protocol, judge), group in sorted(groups.items(), key=lambda g: (protocol_order(g[0][0]), g[0][1])):
        measured = calibration(group)
        if measured is not None:
            ece, bins = measured
            found.append(Calibration(protocol=protocol, judge=judge, n=sum(b.n for b in bins), ece=ece, bins=bins))
    return found


def costs(store: Store, experiment: str) -> list[Cost]:
    """Per protocol: tokens and dollars summed over its runs, and the people's time from the experiment's studies
    (assisted judgments count for the study's protocol, unassisted ones for `naive`: the judge alone)."""
    from proctor.store import _studies as studies

    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for run in store.experiment_runs(experiment):
        if "judge" not in run.config.get("case", {}) or run.parent_run_id is not None:
            continue
        total = totals[run.config["protocol"]]
        total[0] += 1
        total[1] += run.input_tokens
        total[2] += run.output_tokens
        total[3] += run.cost
    seconds: dict[str, list[float]] = defaultdict(list)
    answered: dict[str, int] = defaultdict(int)
    with store.engine.connect() as conn:
        for study in studies.list_studies(conn):
            if study.experiment != experiment:
                continue
            for judgment in studies.judgments(conn, study_id=study.id, pending=False):
                protocol = study.protocol if judgment.condition == "assisted" else "naive"
                answered[protocol] += 1
                if judgment.seconds is not None:
                    seconds[protocol].append(judgment.seconds)
    costs = []
    for protocol, (cases, tokens_in, tokens_out, dollars) in sorted(totals.items(), key=lambda t: protocol_order(t[0])):
        timed = sorted(seconds[protocol])
        median = None
        if timed:
            middle = len(timed) // 2
            median = timed[middle] if len(timed) % 2 else (timed[middle - 1] + timed[middle]) / 2
        costs.append(
            Cost(
                protocol=protocol,
                cases=int(cases),
                input_tokens=int(tokens_in),
                output_tokens=int(tokens_out),
                dollars=dollars,
                human_judgments=answered[protocol],
                human_median_seconds=median,
            )
        )
    return costs
