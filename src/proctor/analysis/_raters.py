"""Rater agreement read from the store: how far raters of options agree (Krippendorff's α, pairwise Cohen's κ,
each rater against the leave-one-out consensus), whether a rater's ratings predict how runs end, and, for human
judging studies, how often people and model judges pick the same answer.

**Option ratings** are grouped by scale (`1-5`, `1-7`, …): ratings on different scales are not compared. Each rater
counts with their current rating of an option (the ones it replaced are history). On a `LOW-HIGH` scale, nominal
and ordinal α and κ compare the scale's points: a value between points (a model's expected rating from
log-probabilities, e.g. 3.6) is rounded to the nearest point; interval α, the consensus and the correlations use
the values as given.

**Outcomes** are known for chosen options of runs with a score (or stopped over a limit: a failure, score 0);
a run succeeded when its score is at least 1. A rater's options in one run share the run's outcome, so those
intervals resample runs. Only chosen options have an outcome, and a chooser that follows ratings picks the options
rated highly: the correlation says how well ratings of *taken* options predict success, not how good the untaken
ones were.

**Judging studies**: a person's assisted judgment is compared with the verdict of the model judge that read the
same transcript (the run shown); an unassisted one with the `naive` protocol's judges on the same question (the run
with the same answer order where there is one), when the experiment ran `naive`. Picks are compared on whether
they are right (with two answers, the same thing as picking the same answer); an unparseable verdict counts as
wrong, as in the experiment's report.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, ParamSpec, TypedDict, TypeVar

import numpy as np
from pydantic import BaseModel, Field
from sqlalchemy import select

from proctor.analysis._agreement import (
    alpha_ci,
    auc_ci,
    cohen_kappa,
    kappa_ci,
    loo_consensus,
    reliability_matrix,
    spearman_ci,
)
from proctor.analysis._stats import AnalysisError, Estimate, mean_ci
from proctor.store import RunStatus, Store
from proctor.store import _schema as s
from proctor.store import _studies as studies
from proctor.store._studies import JudgmentRecord, StudyRecord

SOLVED = 1.0
"""A run succeeded when its score is at least this (as everywhere in proctor)."""
_SCALE = re.compile(r"^\s*(-?\d+)\s*-\s*(-?\d+)\s*$")
T = TypeVar("T")
P = ParamSpec("P")


class _Boot(TypedDict):
    resamples: int
    seed: int


class RaterFilters(BaseModel):
    """Which ratings and studies a rater report reads."""

    runs: list[str] | None = None
    """Only options of these runs (ids or unique prefixes)."""
    task: str | None = None
    """Only options of runs whose task id contains this."""
    model: str | None = None
    """Only options of runs whose model contains this."""
    rater: str | None = None
    """Only raters whose name (`human:<user>`, `model:<name>`) contains this."""
    studies: list[str] | None = None
    """Only these judging studies (ids or unique prefixes); None: every study."""
    resamples: int = Field(default=2000, ge=1)
    """Bootstrap resamples per interval."""
    seed: int = 0
    """Seed of the bootstraps."""


class RaterRow(BaseModel):
    """One rater on one scale."""

    rater: str
    """`human:<user>` or `model:<name>`."""
    kind: str
    """`human`, `model`, or `other`."""
    ratings: int
    """Options rated."""
    mean: float
    """Mean rating."""
    shared: int
    """Options also rated by someone else: the ones compared with the consensus."""
    consensus: Estimate | None = None
    """Spearman's ρ between the rater's ratings and the mean of the other raters' (leave-one-out), bootstrap over
    options."""
    bias: float | None = None
    """Mean of (rating - consensus): positive for a lenient rater."""
    mean_abs_diff: float | None = None
    """Mean |rating - consensus|, in scale points."""
    outcomes: int = 0
    """Chosen options the rater rated whose run's outcome is known."""
    outcome_runs: int = 0
    """The runs those options belong to."""
    outcome_rho: Estimate | None = None
    """Spearman's ρ between rating and the run's score, bootstrap over runs."""
    outcome_auc: Estimate | None = None
    """Chance that an option of a run that succeeded was rated above one of a run that did not (ties half),
    bootstrap over runs."""
    notes: list[str] = Field(default_factory=list)
    """Why a statistic is missing."""


class PairRow(BaseModel):
    """Two raters on the options both rated."""

    a: str
    """One rater."""
    b: str
    """The other."""
    items: int
    """Options both rated."""
    exact: float
    """Share of those options on which they gave the same point."""
    kappa: Estimate | None = None
    """Cohen's κ, bootstrap over options."""
    linear: Estimate | None = None
    """Linearly weighted κ."""
    quadratic: Estimate | None = None
    """Quadratically weighted κ."""
    note: str | None = None
    """Why κ is missing."""


class ScaleAgreement(BaseModel):
    """Agreement among the raters of options on one scale."""

    scale: str
    """The scale, e.g. `1-5`."""
    points: list[float] | None
    """The scale's points where the scale is `LOW-HIGH`; None otherwise (values are then compared as given)."""
    options: int
    """Options rated."""
    rated_twice: int
    """Options rated by two raters or more."""
    ratings: int
    """Ratings counted (one per rater and option)."""
    ordinal: Estimate | None = None
    """Krippendorff's α, ordinal, bootstrap over options."""
    interval: Estimate | None = None
    """Krippendorff's α, interval (values as given)."""
    nominal: Estimate | None = None
    """Krippendorff's α, nominal."""
    raters: list[RaterRow] = Field(default_factory=list)
    """Each rater."""
    pairs: list[PairRow] = Field(default_factory=list)
    """Each two raters who rated an option in common."""
    notes: list[str] = Field(default_factory=list)
    """Why a statistic is missing."""


class JudgeAgreement(BaseModel):
    """People against one model judge in one condition of a judging study."""

    judge: str
    """The model judge."""
    condition: str
    """`assisted` (the same transcript) or `unassisted` (against the `naive` protocol's judge)."""
    judgments: int
    """Answered judgments compared."""
    questions: int
    """Distinct questions among them."""
    agreement: Estimate
    """Share of judgments where the person and the judge were both right or both wrong, bootstrap over
    questions."""
    kappa: Estimate | None = None
    """Cohen's κ of right/wrong (people pooled against the judge), bootstrap over questions."""
    people_accuracy: float
    """Share of those judgments the people got right."""
    judge_accuracy: float
    """Share the judge got right."""
    note: str | None = None
    """Why κ is missing."""


class PersonJudge(BaseModel):
    """One person against one model judge, both conditions together."""

    user: str
    """The person."""
    judge: str
    """The model judge."""
    judgments: int
    """Judgments compared."""
    agreement: float
    """Share where both were right or both wrong."""
    kappa: float | None = None
    """Cohen's κ of right/wrong; None when undefined (one of them always right, say)."""


class StudyAgreement(BaseModel):
    """Agreement in one human judging study."""

    study: str
    """The study id."""
    name: str
    """Its name."""
    experiment: str
    """The oversight experiment judged."""
    protocol: str
    """The protocol whose transcripts assisted people read."""
    answered: int
    """Judgments answered."""
    people: int
    """People with an answer."""
    people_alpha: Estimate | None = None
    """Krippendorff's α (nominal, right/wrong) among people, an item being a question in one condition, bootstrap
    over items."""
    judges: list[JudgeAgreement] = Field(default_factory=list)
    """People against each model judge, per condition."""
    per_person: list[PersonJudge] = Field(default_factory=list)
    """Each person against each model judge."""
    notes: list[str] = Field(default_factory=list)
    """Why a statistic is missing."""


class RaterReport(BaseModel):
    """Everything `proctor report raters` shows."""

    scales: list[ScaleAgreement]
    """Option ratings, per scale."""
    studies: list[StudyAgreement]
    """Judging studies."""
    resamples: int
    """Bootstrap resamples per interval."""
    seed: int
    """Seed of the bootstraps."""


def rater_report(store: Store, filters: RaterFilters | None = None) -> RaterReport:
    """Agreement among the raters of options and in judging studies.

    Raises:
        StoreError: a run in `filters.runs` does not exist.
        StudyError: a study in `filters.studies` does not exist.

    Example:
        report = rater_report(Store("sqlite:///runs.db"), RaterFilters(task="find-secret"))
        report.scales[0].ordinal  # Estimate of Krippendorff's α
    """
    f = filters or RaterFilters()
    by_scale: dict[str, list[_Rating]] = defaultdict(list)
    for rating in _ratings(store, f):
        by_scale[rating.scale].append(rating)
    scales = [_scale_agreement(scale, rows, f) for scale, rows in sorted(by_scale.items())]
    with store.engine.connect() as conn:
        records = [studies.study(conn, x) for x in f.studies] if f.studies is not None else studies.list_studies(conn)
        judged = {r.id: [j for j in studies.judgments(conn, study_id=r.id) if j.answered] for r in records}
    return RaterReport(
        scales=scales,
        studies=[_study_agreement(store, r, judged[r.id], f) for r in records],
        resamples=f.resamples,
        seed=f.seed,
    )


# Option ratings


@dataclass(frozen=True, slots=True)
class _Rating:
    option: int
    rater: str
    value: float
    scale: str
    run_id: str
    chosen: bool
    outcome: float | None


def _ratings(store: Store, f: RaterFilters) -> list[_Rating]:
    """The latest rating of each rater and option, with the option's run and the run's outcome if chosen."""
    query = (
        select(
            s.ratings.c.option_id,
            s.ratings.c.rater,
            s.ratings.c.value,
            s.ratings.c.scale,
            s.steps.c.run_id,
            s.runs.c.status,
            s.runs.c.score,
            (s.choices.c.option_id == s.ratings.c.option_id).label("chosen"),
        )
        .join(s.options, s.options.c.id == s.ratings.c.option_id)
        .join(s.steps, s.steps.c.id == s.options.c.step_id)
        .join(s.runs, s.runs.c.id == s.steps.c.run_id)
        .outerjoin(s.choices, s.choices.c.step_id == s.steps.c.id)
        .where(s.CURRENT_RATING)
        .order_by(s.ratings.c.id)
    )
    if f.runs is not None:
        query = query.where(s.runs.c.id.in_([store.run(r).id for r in f.runs]))
    if f.task:
        query = query.where(s.runs.c.task_id.contains(f.task, autoescape=True))
    if f.model:
        query = query.where(s.runs.c.model.contains(f.model, autoescape=True))
    if f.rater:
        query = query.where(s.ratings.c.rater.contains(f.rater, autoescape=True))
    latest: dict[tuple[int, str], _Rating] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(query):
            chosen = bool(r.chosen)
            latest[(r.option_id, r.rater)] = _Rating(
                option=r.option_id,
                rater=r.rater,
                value=r.value,
                scale=r.scale,
                run_id=r.run_id,
                chosen=chosen,
                outcome=_outcome(r.status, r.score) if chosen else None,
            )
    return list(latest.values())


def _outcome(status: str, score: float | None) -> float | None:
    """The run's score; 0 for a run stopped over a limit; None when unknown (running, failed, killed, …)."""
    if score is not None:
        return float(score)
    return 0.0 if status == RunStatus.OVER_LIMIT.value else None


def scale_points(scale: str) -> list[float] | None:
    """The points of a `LOW-HIGH` integer scale (`1-5` → 1..5), None for any other scale."""
    match = _SCALE.match(scale)
    if not match or int(match.group(1)) >= int(match.group(2)):
        return None
    return [float(v) for v in range(int(match.group(1)), int(match.group(2)) + 1)]


def _attempt(notes: list[str], what: str, compute: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """`compute(*args, **kwargs)`, or None with a note saying why the statistic is undefined."""
    try:
        return compute(*args, **kwargs)
    except AnalysisError as error:
        notes.append(f"{what}: {error}")
        return None


def _scale_agreement(scale: str, rows: list[_Rating], f: RaterFilters) -> ScaleAgreement:
    points = scale_points(scale)
    data = reliability_matrix((r.rater, r.option, r.value) for r in rows)
    raw = data.matrix  # (raters, options)
    points_matrix = raw
    if points is not None:
        low, high = points[0], points[-1]
        points_matrix = np.clip(np.floor(raw + 0.5), low, high)  # half-points round up, as a person would
    rated = (~np.isnan(raw)).sum(axis=0)
    notes: list[str] = []
    boot = _Boot(resamples=f.resamples, seed=f.seed)
    result = ScaleAgreement(
        scale=scale,
        points=points,
        options=raw.shape[1],
        rated_twice=int((rated >= 2).sum()),
        ratings=int(rated.sum()),
        ordinal=_attempt(notes, "α", alpha_ci, points_matrix, level="ordinal", **boot),
        interval=_attempt([], "α", alpha_ci, raw, level="interval", **boot),
        nominal=_attempt([], "α", alpha_ci, points_matrix, level="nominal", **boot),
        notes=notes,
    )
    consensus = loo_consensus(raw)
    by_option: dict[Hashable, _Rating] = {r.option: r for r in rows}
    raters = [str(r) for r in data.raters]
    for i in sorted(range(len(raters)), key=lambda i: raters[i]):
        result.raters.append(_rater_row(raters[i], raw[i], consensus[i], data.items, by_option, f))
    categories = points or sorted({float(v) for v in points_matrix[~np.isnan(points_matrix)]})
    for i, j in combinations(sorted(range(len(raters)), key=lambda i: raters[i]), 2):
        both = ~np.isnan(raw[i]) & ~np.isnan(raw[j])
        if both.any():
            result.pairs.append(
                _pair_row(raters[i], raters[j], points_matrix[i][both], points_matrix[j][both], categories, f)
            )
    return result


def _rater_row(
    rater: str,
    values: np.ndarray[Any, Any],
    consensus: np.ndarray[Any, Any],
    items: Sequence[Hashable],
    by_option: dict[Hashable, _Rating],
    f: RaterFilters,
) -> RaterRow:
    mine = ~np.isnan(values)
    shared = mine & ~np.isnan(consensus)
    kind = rater.split(":", 1)[0] if rater.startswith(("human:", "model:")) else "other"
    row = RaterRow(
        rater=rater, kind=kind, ratings=int(mine.sum()), mean=float(values[mine].mean()), shared=int(shared.sum())
    )
    boot = _Boot(resamples=f.resamples, seed=f.seed)
    if row.shared:
        difference = values[shared] - consensus[shared]
        row.bias, row.mean_abs_diff = float(difference.mean()), float(np.abs(difference).mean())
        row.consensus = _attempt(row.notes, "consensus ρ", spearman_ci, values[shared], consensus[shared], **boot)
    else:
        row.notes.append("consensus: nobody else rated the options this rater rated")
    known = [(float(values[k]), by_option[items[int(k)]]) for k in np.nonzero(mine)[0]]
    known = [(value, r) for value, r in known if r.outcome is not None]
    row.outcomes, row.outcome_runs = len(known), len({r.run_id for _, r in known})
    if known:
        ratings = [v for v, _ in known]
        scores = [float(r.outcome or 0.0) for _, r in known]
        runs = [r.run_id for _, r in known]
        row.outcome_rho = _attempt(row.notes, "outcome ρ", spearman_ci, ratings, scores, clusters=runs, **boot)
        solved = [score >= SOLVED for score in scores]
        row.outcome_auc = _attempt(row.notes, "outcome AUC", auc_ci, ratings, solved, clusters=runs, **boot)
    else:
        row.notes.append("outcome: no chosen option this rater rated is in a run with a known outcome")
    return row


def _pair_row(
    a: str, b: str, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], categories: list[float], f: RaterFilters
) -> PairRow:
    row = PairRow(a=a, b=b, items=int(x.size), exact=float((x == y).mean()))
    notes: list[str] = []
    a_values, b_values = [float(v) for v in x], [float(v) for v in y]
    boot = _Boot(resamples=f.resamples, seed=f.seed)
    row.kappa = _attempt(notes, "κ", kappa_ci, a_values, b_values, categories=categories, **boot)
    row.linear = _attempt([], "κ", kappa_ci, a_values, b_values, weights="linear", categories=categories, **boot)
    row.quadratic = _attempt([], "κ", kappa_ci, a_values, b_values, weights="quadratic", categories=categories, **boot)
    row.note = _one_sided(notes, (a, a_values), (b, b_values))
    return row


def _one_sided(notes: list[str], *sides: tuple[str, Sequence[float]]) -> str | None:
    """Why κ is missing, or why it is 0 whatever happened: one side gave a single value throughout."""
    if notes:
        return notes[0]
    constant = [name for name, values in sides if len(set(values)) == 1]
    if constant:
        return f"κ is 0 by construction: {constant[0]} gave one value throughout, so κ cannot measure agreement"
    return None


# Judging studies


class _Pick(BaseModel):
    judge: str
    right: bool
    answers: list[str]


def _model_picks(store: Store, experiment: str) -> tuple[dict[str, _Pick], dict[str, list[_Pick]]]:
    """The experiment's model verdicts: by run id, and the `naive` protocol's by question id."""
    runs = [r for r in store.experiment_runs(experiment) if r.status is RunStatus.DONE]
    verdicts = store.last_events([r.id for r in runs], "verdict")
    by_run: dict[str, _Pick] = {}
    naive: dict[str, list[_Pick]] = defaultdict(list)
    for run in runs:
        case = run.config.get("case", {})
        if "judge" not in case or run.id not in verdicts:
            continue
        pick = _Pick(judge=case["judge"], right=bool(verdicts[run.id].get("correct")), answers=case.get("answers", []))
        by_run[run.id] = pick
        if run.config.get("protocol") == "naive":
            naive[case["question_id"]].append(pick)
    return by_run, naive


def _study_agreement(store: Store, study: StudyRecord, done: list[JudgmentRecord], f: RaterFilters) -> StudyAgreement:
    result = StudyAgreement(
        study=study.id,
        name=study.name,
        experiment=study.experiment,
        protocol=study.protocol,
        answered=len(done),
        people=len({j.user for j in done}),
    )
    if not done:
        result.notes.append("no judgment is answered yet")
        return result
    boot = _Boot(resamples=f.resamples, seed=f.seed)
    people = reliability_matrix((j.user, (j.question_id, j.condition), float(j.right)) for j in done).matrix
    result.people_alpha = _attempt(result.notes, "people α", alpha_ci, people, level="nominal", **boot)
    by_run, naive = _model_picks(store, study.experiment)
    pairs: list[tuple[JudgmentRecord, _Pick]] = []
    for j in done:
        if j.condition == "assisted":
            pairs += [(j, by_run[j.run_id])] if j.run_id in by_run else []
            continue
        same_order = [p for p in naive.get(j.question_id, []) if p.answers == j.answers]
        for judge in dict.fromkeys(p.judge for p in naive.get(j.question_id, [])):
            pick = next((p for p in same_order if p.judge == judge), None) or next(
                p for p in naive[j.question_id] if p.judge == judge
            )
            pairs.append((j, pick))
    if not any(j.condition == "unassisted" for j, _ in pairs) and any(j.condition == "unassisted" for j in done):
        result.notes.append("unassisted judgments: the experiment has no naive verdicts on their questions to compare")
    groups: dict[tuple[str, str], list[tuple[JudgmentRecord, _Pick]]] = defaultdict(list)
    for j, pick in pairs:
        groups[(pick.judge, j.condition)].append((j, pick))
    for (judge, condition), group in sorted(groups.items()):
        person = [float(j.right) for j, _ in group]
        model = [float(p.right) for _, p in group]
        questions = [j.question_id for j, _ in group]
        notes: list[str] = []
        same = [float(a == b) for a, b in zip(person, model, strict=True)]
        result.judges.append(
            JudgeAgreement(
                judge=judge,
                condition=condition,
                judgments=len(group),
                questions=len(set(questions)),
                agreement=mean_ci(same, clusters=questions, **boot),
                kappa=_attempt(notes, "κ", kappa_ci, person, model, categories=[0.0, 1.0], clusters=questions, **boot),
                note=_one_sided(notes, ("the people", person), (judge, model)),
                people_accuracy=float(np.mean(person)),
                judge_accuracy=float(np.mean(model)),
            )
        )
    per_person: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for j, pick in pairs:
        per_person[(j.user, pick.judge)].append((float(j.right), float(pick.right)))
    for (user, judge), compared in sorted(per_person.items()):
        a, b = [x for x, _ in compared], [y for _, y in compared]
        kappa = _attempt([], "κ", cohen_kappa, a, b, categories=[0.0, 1.0])
        agreement = float(np.mean([x == y for x, y in compared]))
        result.per_person.append(
            PersonJudge(user=user, judge=judge, judgments=len(compared), agreement=agreement, kappa=kappa)
        )
    return result
