"""Reading an oversight experiment back: judge accuracy per protocol with Wilson intervals clustered by question,
paired differences against the naive judge with exact p-values, self-play and cross-play debates apart, debater
win rates and Elo per judge from cross-play, critique-bug inclusion and false bug claims, and plots."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, computed_field

from proctor.analysis import Estimate, Ratings, accuracy_ci, bradley_terry, paired_difference_ci
from proctor.protocols._verdict import Lines, stated_lines
from proctor.store import RunStatus, Store


class Case(BaseModel):
    """One judged case as stored."""

    run_id: str
    """The run."""
    protocol: str
    """The protocol."""
    judge: str
    """The judge model."""
    question_id: str
    """The question."""
    correct_index: int
    """The correct answer's position (0 or 1: the answer order)."""
    assigned: int | None = None
    """Consultancy/critique: the assigned answer's position."""
    debaters: tuple[str, str] | None = None
    """Debate: the models of debaters A and B."""
    judged: int | None = None
    """The answer the judge picked, None if unparseable or failed."""
    line: int | None = None
    """The line the judge named (code review); the first of a range."""
    line_end: int | None = None
    """The last line of the range the judge named (equal to `line` for one line)."""
    correct: bool
    """The judge picked the correct answer (unparseable counts as wrong)."""
    failed: bool = False
    """A model failed for good; the case is left out of accuracies."""
    stopped: str | None = None
    """Why the case was not judged (e.g. `unparseable side`: an open protocol's assistant named no answer); it is
    left out of accuracies and counted apart."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """The question's metadata (e.g. planted-bug lines)."""
    detail: dict[str, Any] = Field(default_factory=dict)
    """Everything the verdict stored (confidence, market predictions, chosen side, …)."""

    @property
    def play(self) -> str | None:
        """Debates: `self-play` (one model on both sides) or `cross-play`; None for other protocols."""
        if self.debaters is None:
            return None
        return "self-play" if self.debaters[0] == self.debaters[1] else "cross-play"


class Row(BaseModel):
    """Accuracy of one protocol with one judge (debates: self-play and cross-play apart)."""

    protocol: str
    """The protocol."""
    judge: str
    """The judge model."""
    play: str | None = None
    """Debates: `self-play` or `cross-play` (with several debater models both are played); None otherwise."""
    accuracy: Estimate
    """Judge accuracy with its 95% Wilson interval at the effective sample size (clustered by question)."""
    unparseable: int
    """Verdicts that could not be parsed (counted wrong)."""
    stopped: int = 0
    """Cases not judged, counted apart (open protocols: the assistant's side choice could not be parsed)."""
    versus_naive: Estimate | None = None
    """Accuracy minus the naive judge's on the same questions (paired bootstrap), with an exact p-value."""


class Market(BaseModel):
    """How well market making's market predicted one judge's final answers."""

    n: int
    """Cases with a final prediction and a parsed verdict."""
    brier: float
    """Mean squared error of the market's last P(judge answers A) against the judge's answer (1 for A, 0 for B)."""
    mean_move: float | None
    """Mean absolute change of the market's prediction per argument (None without two predictions in a row)."""


class SideRecord(BaseModel):
    """One debater's cross-play record for one judge, arguing the correct answer and arguing the incorrect one."""

    player: str
    """The debater model."""
    correct_games: int
    """Decided debates in which it argued the correct answer."""
    correct_wins: int
    """Of those, the ones the judge decided for it."""
    incorrect_games: int
    """Decided debates in which it argued the incorrect answer."""
    incorrect_wins: int
    """Of those, the ones the judge decided for it (it persuaded the judge of a wrong answer)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def correct_win_rate(self) -> float | None:
        """Win rate arguing the correct answer."""
        return self.correct_wins / self.correct_games if self.correct_games else None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def incorrect_win_rate(self) -> float | None:
        """Win rate arguing the incorrect answer."""
        return self.incorrect_wins / self.incorrect_games if self.incorrect_games else None


class EloPoint(BaseModel):
    """Judge accuracy against debater strength (Khan et al. 2024, fig. 1): self-play debates of one debater against
    its rating, or cross-play debates of one pairing against the correct side's rating minus the incorrect side's."""

    judge: str
    """The judge (whose cross-play debates gave the ratings)."""
    play: str
    """`self-play` or `cross-play`."""
    correct: str
    """The debater arguing the correct answer."""
    incorrect: str
    """The debater arguing the incorrect answer (self-play: the same)."""
    elo: float
    """Self-play: the debater's rating; cross-play: the correct side's rating minus the incorrect side's."""
    accuracy: Estimate
    """Judge accuracy in these debates (Wilson, clustered by question)."""


class OpenSplit(BaseModel):
    """An open protocol (Kenton et al. 2024): judge accuracy split by whether the agent chose the correct answer,
    beside the agent's own accuracy when it answers directly (the side it chose)."""

    protocol: str
    """`open_consultancy` or `open_debate`."""
    judge: str
    """The judge model."""
    agent_accuracy: Estimate
    """How often the agent's chosen answer, its direct answer, was correct."""
    chose_correct: Estimate | None
    """Judge accuracy when the agent chose the correct answer."""
    chose_incorrect: Estimate | None
    """Judge accuracy when the agent chose the incorrect answer."""


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


class Report(BaseModel):
    """Everything `proctor oversee report` shows."""

    experiment: str
    """The experiment id."""
    rows: list[Row]
    """Accuracy per protocol and judge."""
    failed: int
    """Cases left out because a model failed for good."""
    not_judged: int = 0
    """Cases left out because they could not be judged as the protocol says (e.g. an unparseable side choice)."""
    elo: dict[str, Ratings] = Field(default_factory=dict)
    """Per judge: debater ratings from the cross-play debates it judged (when several debater models played);
    debates with an unparseable verdict are left out."""
    critique_bug_inclusion: Estimate | None = None
    """Share of critiques of buggy programs whose stated line is a planted bug's (±1), clustered by question."""
    critique_false_claims: Estimate | None = None
    """Share of critiques of programs under review that state a bug line where there is none (a clean program, or
    more than one line from the planted bug), clustered by question."""
    localisation: dict[str, Estimate] = Field(default_factory=dict)
    """Code review, per protocol: share of buggy programs the judge called buggy *and* located (line ±1)."""
    strength_gap: dict[str, float] = Field(default_factory=dict)
    """Per judge: the debater's oracle accuracy minus the judge's (when `oracle` ran with both)."""
    sides: dict[str, list[SideRecord]] = Field(default_factory=dict)
    """Per judge: each debater's cross-play wins arguing the correct and the incorrect answer."""
    elo_accuracy: list[EloPoint] = Field(default_factory=list)
    """Judge accuracy against debater Elo, self-play and cross-play apart."""
    open: list[OpenSplit] = Field(default_factory=list)
    """Open protocols: judge accuracy by whether the agent chose the correct answer, and the agent's own."""
    calibration: list[Calibration] = Field(default_factory=list)
    """Per protocol and judge: the stated confidence's reliability bins and ECE (10 equal-width bins)."""
    costs: list[Cost] = Field(default_factory=list)
    """Per protocol: tokens, dollars and people's judging time."""
    market: dict[str, Market] = Field(default_factory=dict)
    """Market making, per judge: the market's Brier score on the judge's final answer and how far arguments moved
    it."""


def cases(store: Store, experiment: str) -> list[Case]:
    """The experiment's judged cases."""
    runs = store.experiment_runs(experiment)
    verdicts = store.last_events([r.id for r in runs], "verdict")
    found = []
    for run in runs:
        if "judge" not in run.config.get("case", {}):  # not a judged case (e.g. a GDC measurement)
            continue
        case = run.config["case"]
        verdict = verdicts.get(run.id, {})
        found.append(
            Case(
                run_id=run.id,
                protocol=run.config["protocol"],
                judge=case["judge"],
                question_id=case["question_id"],
                correct_index=case["correct"],
                assigned=case.get("assigned"),
                debaters=tuple(case["debaters"]) if case.get("debaters") and all(case["debaters"]) else None,
                judged=verdict.get("answer"),
                line=verdict.get("line"),
                line_end=verdict.get("line_end", verdict.get("line")),
                correct=bool(verdict.get("correct", False)),
                failed=run.status is RunStatus.FAILED,
                stopped=verdict.get("stopped"),
                metadata=case.get("metadata", {}),
                detail=verdict,
            )
        )
    return found


def _per_question(group: list[Case]) -> dict[str, float]:
    scores: dict[str, list[float]] = defaultdict(list)
    for case in group:
        scores[case.question_id].append(float(case.correct))
    return {q: sum(v) / len(v) for q, v in scores.items()}


def _critiques(store: Store, group: list[Case]) -> tuple[Estimate | None, Estimate | None]:
    """Over code-review critiques: the share of critiques of buggy programs whose stated line is the bug's (±1),
    and the share of all critiques that state a line with no planted bug near it. Both clustered by question."""
    included: list[bool] = []
    included_at: list[str] = []
    false_claims: list[bool] = []
    claimed_at: list[str] = []
    for case in group:
        if case.protocol != "critique" or "bug_lines" not in case.metadata:
            continue
        lines = [int(n) for n in case.metadata.get("bug_lines") or []]
        steps = store.steps(case.run_id)
        critique = next((s.observation.output for s in steps if s.kind == "argument" and s.observation), "")
        stated = stated_lines(critique)
        if lines:
            included.append(stated is not None and stated.near(lines))
            included_at.append(case.question_id)
        false_claims.append(stated is not None and not (lines and _overlaps(stated, lines)))
        claimed_at.append(case.question_id)
    inclusion = accuracy_ci(included, method="wilson", clusters=included_at) if included else None
    claims = accuracy_ci(false_claims, method="wilson", clusters=claimed_at) if false_claims else None
    return inclusion, claims


def _overlaps(stated: Lines, lines: list[int], tolerance: int = 1) -> bool:
    """Whether a stated line or range (of any length) comes within `tolerance` of a bug line."""
    return any(stated.first - tolerance <= b <= stated.last + tolerance for b in lines)


def _localisation(group: list[Case]) -> dict[str, Estimate]:
    """Per protocol, over buggy programs: the judge picked the buggy answer and named a line within 1 of the bug."""
    hits: dict[str, list[bool]] = defaultdict(list)
    clusters: dict[str, list[str]] = defaultdict(list)
    for case in group:
        lines = case.metadata.get("bug_lines")
        if not lines:
            continue
        named = None if case.line is None else Lines(first=case.line, last=case.line_end or case.line)
        hits[case.protocol].append(case.correct and named is not None and named.near(lines))
        clusters[case.protocol].append(case.question_id)
    return {p: accuracy_ci(h, method="wilson", clusters=clusters[p]) for p, h in hits.items()}


def _decided_cross_play(usable: list[Case]) -> list[Case]:
    return [
        c for c in usable if c.protocol == "debate" and c.play == "cross-play" and c.debaters and c.judged is not None
    ]


def _elo(usable: list[Case]) -> dict[str, Ratings]:
    """Per judge, Bradley–Terry ratings of the debaters from the cross-play debates it judged: debater A wins when
    the judge picks answer A. A debate whose verdict could not be parsed has no winner and is left out."""
    matches: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for case in _decided_cross_play(usable):
        assert case.debaters is not None  # cross-play
        matches[case.judge].append((case.debaters[0], case.debaters[1], 1.0 if case.judged == 0 else 0.0))
    return {judge: bradley_terry(found) for judge, found in sorted(matches.items())}


def _sides(usable: list[Case]) -> dict[str, list[SideRecord]]:
    """Per judge, each debater's decided cross-play debates and wins, arguing the correct and the incorrect answer."""
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))
    for case in _decided_cross_play(usable):
        assert case.debaters is not None and case.judged is not None  # decided cross-play
        right, wrong = case.debaters[case.correct_index], case.debaters[1 - case.correct_index]
        tally[case.judge][right][0] += 1
        tally[case.judge][right][1] += case.judged == case.correct_index
        tally[case.judge][wrong][2] += 1
        tally[case.judge][wrong][3] += case.judged != case.correct_index
    return {
        judge: [
            SideRecord(player=p, correct_games=a, correct_wins=b, incorrect_games=c, incorrect_wins=d)
            for p, (a, b, c, d) in sorted(players.items())
        ]
        for judge, players in sorted(tally.items())
    }


def _elo_accuracy(judged: list[Case], elo: dict[str, Ratings]) -> list[EloPoint]:
    """Judge accuracy in debates against the debaters' ratings from that judge's cross-play: self-play per debater,
    cross-play per (correct side, incorrect side) pairing against the rating difference."""
    groups: dict[tuple[str, str, str, str], list[Case]] = defaultdict(list)
    for case in judged:
        if case.protocol == "debate" and case.debaters and case.judge in elo:
            right, wrong = case.debaters[case.correct_index], case.debaters[1 - case.correct_index]
            groups[(case.judge, case.play or "", right, wrong)].append(case)
    points = []
    for (judge, play, right, wrong), group in sorted(groups.items()):
        rated = {p.player: p.rating for p in elo[judge].players}
        if right not in rated or wrong not in rated:
            continue
        value = rated[right] if play == "self-play" else rated[right] - rated[wrong]
        accuracy = accuracy_ci([c.correct for c in group], method="wilson", clusters=[c.question_id for c in group])
        points.append(EloPoint(judge=judge, play=play, correct=right, incorrect=wrong, elo=value, accuracy=accuracy))
    return points


def _open(judged: list[Case]) -> list[OpenSplit]:
    """Per open protocol and judge: the agent's accuracy in choosing, and judge accuracy by its choice."""
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in judged:
        if case.protocol in ("open_consultancy", "open_debate") and case.detail.get("chosen") is not None:
            groups[(case.protocol, case.judge)].append(case)

    def estimate(group: list[Case], values: list[bool]) -> Estimate | None:
        return accuracy_ci(values, method="wilson", clusters=[c.question_id for c in group]) if group else None

    splits = []
    for (protocol, judge), group in sorted(groups.items()):
        chose = [c.detail["chosen"] == c.correct_index for c in group]
        right = [c for c, ok in zip(group, chose, strict=True) if ok]
        wrong = [c for c, ok in zip(group, chose, strict=True) if not ok]
        agent = estimate(group, chose)
        assert agent is not None  # the group is not empty
        splits.append(
            OpenSplit(
                protocol=protocol,
                judge=judge,
                agent_accuracy=agent,
                chose_correct=estimate(right, [c.correct for c in right]),
                chose_incorrect=estimate(wrong, [c.correct for c in wrong]),
            )
        )
    return splits


def _market(judged: list[Case]) -> dict[str, Market]:
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


def _calibration(judged: list[Case]) -> list[Calibration]:
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in judged:
        if case.judged is not None:
            groups[(case.protocol, case.judge)].append(case)
    found = []
    for (protocol, judge), group in sorted(groups.items(), key=lambda g: (_protocol_order(g[0][0]), g[0][1])):
        measured = calibration(group)
        if measured is not None:
            ece, bins = measured
            found.append(Calibration(protocol=protocol, judge=judge, n=sum(b.n for b in bins), ece=ece, bins=bins))
    return found


def _costs(store: Store, experiment: str) -> list[Cost]:
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
    for protocol, (cases, tokens_in, tokens_out, dollars) in sorted(
        totals.items(), key=lambda t: _protocol_order(t[0])
    ):
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


def report(store: Store, experiment: str) -> Report:
    """Compute the experiment's report."""
    everything = cases(store, experiment)
    usable = [c for c in everything if not c.failed]
    judged = [c for c in usable if c.stopped is None]
    groups: dict[tuple[str, str, str], list[Case]] = defaultdict(list)
    for case in usable:
        groups[(case.protocol, case.judge, case.play or "")].append(case)
    rows = []
    for (protocol, judge, play), group in sorted(groups.items()):
        scored = [c for c in group if c.stopped is None]
        if not scored:
            continue
        accuracy = accuracy_ci([c.correct for c in scored], method="wilson", clusters=[c.question_id for c in scored])
        row = Row(
            protocol=protocol,
            judge=judge,
            play=play or None,
            accuracy=accuracy,
            unparseable=sum(1 for c in scored if c.judged is None),
            stopped=len(group) - len(scored),
        )
        naive = [c for c in judged if c.protocol == "naive" and c.judge == judge]
        if protocol != "naive" and naive:
            mine, base = _per_question(scored), _per_question(naive)
            shared = sorted(set(mine) & set(base))
            if shared:
                row.versus_naive = paired_difference_ci([mine[q] for q in shared], [base[q] for q in shared])
        rows.append(row)
    inclusion, false_claims = _critiques(store, judged)
    result = Report(
        experiment=experiment,
        rows=rows,
        failed=len(everything) - len(usable),
        not_judged=len(usable) - len(judged),
        elo=_elo(judged),
        sides=_sides(judged),
        open=_open(judged),
        critique_bug_inclusion=inclusion,
        critique_false_claims=false_claims,
        localisation=_localisation(judged),
        market=_market(judged),
        costs=_costs(store, experiment),
        calibration=_calibration(judged),
    )
    result.elo_accuracy = _elo_accuracy(judged, result.elo)
    oracle = {r.judge: r.accuracy.value for r in rows if r.protocol == "oracle"}
    debater = next((r.config["oversight"]["debater"] for r in store.experiment_runs(experiment)[:1]), None)
    if debater in oracle:
        result.strength_gap = {j: oracle[debater] - a for j, a in oracle.items() if j != debater}
    return result


def plot(result: Report, folder: Path) -> list[Path]:
    """PNG plots: accuracy per protocol with CI bars (one colour per judge), and, with several judges, accuracy
    against the judge–debater strength gap. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    protocols = sorted({label(r) for r in result.rows}, key=_protocol_order)
    judges = sorted({r.judge for r in result.rows})
    figure, axes = plt.subplots(figsize=(1.6 + 1.3 * len(protocols), 4.2), dpi=150)
    width = 0.8 / max(len(judges), 1)
    for j, judge in enumerate(judges):
        mine = {label(r): r.accuracy for r in result.rows if r.judge == judge}
        xs = [i + (j - (len(judges) - 1) / 2) * width for i, p in enumerate(protocols) if p in mine]
        values = [mine[p] for p in protocols if p in mine]
        errors = [[e.value - e.low for e in values], [e.high - e.value for e in values]]
        axes.bar(xs, [e.value for e in values], width * 0.92, yerr=errors, capsize=3, label=judge)
    axes.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    axes.set_xticks(range(len(protocols)), [p.replace("_", " ") for p in protocols])
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("judge accuracy (95% CI)")
    axes.set_title(f"Judge accuracy per protocol · experiment {result.experiment}")
    axes.legend(title="judge", fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    path = folder / f"{result.experiment}-accuracy.png"
    figure.savefig(path)
    plt.close(figure)
    written.append(path)
    if result.calibration:
        figure, axes = plt.subplots(figsize=(5.2, 4.6), dpi=150)
        axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
        for measured in result.calibration:
            axes.plot(
                [b.confidence for b in measured.bins],
                [b.accuracy for b in measured.bins],
                marker="o",
                label=f"{measured.protocol} · {measured.judge} (ECE {measured.ece:.3f})",
            )
        axes.set_xlabel(f"stated confidence (mean per bin; {CALIBRATION_BINS} equal-width bins)")
        axes.set_ylabel("accuracy in the bin")
        axes.set_xlim(0, 1.02)
        axes.set_ylim(0, 1.05)
        axes.set_title(f"Judge reliability · experiment {result.experiment}")
        axes.legend(fontsize=7, frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        path = folder / f"{result.experiment}-reliability.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    if result.elo_accuracy:
        figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=150)
        for play in ("self-play", "cross-play"):
            points = sorted((p.elo, p.accuracy.value) for p in result.elo_accuracy if p.play == play)
            if points:
                axes.plot([x for x, _ in points], [y for _, y in points], marker="o", linestyle="", label=play)
        axes.set_xlabel("debater Elo (cross-play: correct side minus incorrect side)")
        axes.set_ylabel("judge accuracy")
        axes.set_ylim(0, 1.05)
        axes.set_title(f"Accuracy against debater Elo · experiment {result.experiment}")
        axes.legend(fontsize=8, frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        path = folder / f"{result.experiment}-elo.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    if len(result.strength_gap) >= 2:
        figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=150)
        for protocol in protocols:
            points = sorted(
                (result.strength_gap[r.judge], r.accuracy.value)
                for r in result.rows
                if label(r) == protocol and r.judge in result.strength_gap
            )
            if points:
                axes.plot([x for x, _ in points], [y for _, y in points], marker="o", label=protocol)
        axes.set_xlabel("judge–debater strength gap (debater's minus judge's oracle accuracy)")
        axes.set_ylabel("judge accuracy")
        axes.set_title(f"Accuracy against the strength gap · experiment {result.experiment}")
        axes.set_ylim(0, 1.05)
        axes.legend(fontsize=8, frameon=False)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        path = folder / f"{result.experiment}-gap.png"
        figure.savefig(path)
        plt.close(figure)
        written.append(path)
    return written


ORDER = [
    "naive",
    "critique",
    "consultancy",
    "open_consultancy",
    "debate",
    "open_debate",
    "interactive-debate",
    "market-making",
    "decomposition",
    "oracle",
]


def label(row: Row) -> str:
    """A row's protocol as shown: debates name their play (`debate (cross-play)`)."""
    return row.protocol if row.play is None else f"{row.protocol} ({row.play})"


def _protocol_order(name: str) -> tuple[int, str]:
    base = name.split(" (")[0]
    return (ORDER.index(base) if base in ORDER else len(ORDER), name)
