"""Reading a human judging study back: accuracy with and without the protocol's help, the effect of the help,
confidence and calibration, and each person's accuracy.

The effect's interval comes from a two-way cluster bootstrap (the "pigeonhole" bootstrap, Owen 2007): each
resample draws questions with replacement *and*, independently, people with replacement, and weights every
judgment by how often its question times how often its person was drawn. Judgments of one question share its
difficulty and judgments of one person share their skill, so resampling only one of the two would make the
interval too narrow.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from pydantic import BaseModel, Field

from proctor.analysis import Estimate, accuracy_ci, mean_ci
from proctor.analysis._stats import difference_estimate, sign_flip_p_value
from proctor.store import Store
from proctor.store import _studies as studies
from proctor.store._studies import Condition, JudgmentRecord, StudyRecord

CONDITIONS: tuple[Condition, Condition] = ("assisted", "unassisted")
BINS = ((0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))
_CHUNK_CELLS = 4_000_000


class ConditionRow(BaseModel):
    """How people did in one condition."""

    condition: Condition
    """`assisted` or `unassisted`."""
    answered: int
    """Judgments answered."""
    pending: int
    """Judgments not answered yet."""
    accuracy: Estimate | None
    """Fraction right, with a 95% Wilson interval at the effective sample size of judgments clustered by question
    (never zero-width, even when every answer is right); None before any answer."""
    confidence: Estimate | None
    """Mean stated confidence, with a 95% bootstrap CI clustered by question."""
    median_seconds: float | None
    """Median time per answered judgment."""


class CalibrationBin(BaseModel):
    """Accuracy of the answers given with confidence in one bin."""

    condition: Condition
    """`assisted` or `unassisted`."""
    low: float
    """Lowest confidence in the bin (inclusive)."""
    high: float
    """Highest confidence in the bin (exclusive, except 1.0)."""
    n: int
    """Answers in the bin."""
    mean_confidence: float | None
    """Their mean confidence."""
    accuracy: float | None
    """The fraction of them that is right (well calibrated: close to the mean confidence)."""


class PersonRow(BaseModel):
    """One person's progress and accuracy."""

    user: str
    """The person."""
    assigned: int
    """Judgments assigned."""
    answered: int
    """Judgments answered."""
    accuracy: float | None
    """Fraction right over all their answers."""
    assisted: float | None
    """Fraction right when assisted."""
    unassisted: float | None
    """Fraction right when unassisted."""


class StudyReport(BaseModel):
    """Everything `proctor oversee study report` shows."""

    study: StudyRecord
    """The study."""
    assigned: int
    """Judgments assigned."""
    answered: int
    """Judgments answered."""
    questions: int
    """Distinct questions with an answer."""
    people: int
    """People with an answer."""
    conditions: list[ConditionRow]
    """Accuracy, confidence and time per condition."""
    effect: Estimate | None = None
    """Assisted minus unassisted accuracy, with a 95% two-way cluster bootstrap CI (questions and people resampled;
    `clusters` counts questions) and a two-sided p-value; None until both conditions have answers."""
    calibration: list[CalibrationBin] = Field(default_factory=list)
    """Accuracy per confidence bin and condition."""
    per_person: list[PersonRow] = Field(default_factory=list)
    """Progress and accuracy per person."""


def _share(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def two_way_effect(
    done: list[JudgmentRecord], *, resamples: int = 4000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Assisted minus unassisted accuracy with a two-way (questions × people) cluster bootstrap interval, and the
    p-value of "no effect" from the sign-flip test over questions (`sign_flip_p_value`; exact at small n) of each
    question's assisted minus unassisted accuracy, for the questions judged in both conditions. Resamples in which
    a condition got no weight are dropped.

    Args:
        done: Answered judgments, both conditions present.
        resamples: Bootstrap resamples.
        confidence: Confidence level of the interval.
        seed: Seed of the bootstrap.

    Returns:
        The effect and its interval (`method` is `cluster-bootstrap`, `clusters` the number of questions).
    """
    questions = {q: i for i, q in enumerate(dict.fromkeys(j.question_id for j in done))}
    people = {u: i for i, u in enumerate(dict.fromkeys(j.user for j in done))}
    q = np.array([questions[j.question_id] for j in done])  # (N,)
    p = np.array([people[j.user] for j in done])  # (N,)
    right = np.array([float(j.right) for j in done])  # (N,)
    assisted = np.array([j.condition == "assisted" for j in done])  # (N,)
    observed = float(right[assisted].mean() - right[~assisted].mean())
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    chunk = max(1, _CHUNK_CELLS // len(done))
    for start in range(0, resamples, chunk):
        size = min(resamples, start + chunk) - start
        wq = rng.multinomial(len(questions), np.full(len(questions), 1 / len(questions)), size=size)  # (R, Q)
        wp = rng.multinomial(len(people), np.full(len(people), 1 / len(people)), size=size)  # (R, P)
        weight = wq[:, q] * wp[:, p]  # (R, N)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = (weight[:, assisted] @ right[assisted]) / weight[:, assisted].sum(axis=1)
            u = (weight[:, ~assisted] @ right[~assisted]) / weight[:, ~assisted].sum(axis=1)
        draws[start : start + size] = a - u
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:  # every resample lost a condition (a handful of questions): no spread to measure
        draws = np.array([observed])
    per_question = []
    for index in range(len(questions)):
        mine = q == index
        if assisted[mine].any() and (~assisted[mine]).any():
            per_question.append(float(right[mine & assisted].mean() - right[mine & ~assisted].mean()))
    p_value = sign_flip_p_value(per_question, resamples=resamples, seed=seed) if per_question else 1.0
    return difference_estimate(
        observed,
        draws,
        n=len(done),
        confidence=confidence,
        method="cluster-bootstrap",
        clusters=len(questions),
        p_value=p_value,
    )


def _calibration(done: list[JudgmentRecord]) -> list[CalibrationBin]:
    rows = []
    for condition in CONDITIONS:
        for low, high in BINS:
            inside = [
                j
                for j in done
                if j.condition == condition
                and j.confidence is not None
                and low <= j.confidence < high + (1e-9 if high == 1.0 else 0.0)
            ]
            confidences = [j.confidence for j in inside if j.confidence is not None]
            rows.append(
                CalibrationBin(
                    condition=condition,
                    low=low,
                    high=high,
                    n=len(inside),
                    mean_confidence=sum(confidences) / len(confidences) if confidences else None,
                    accuracy=_share([j.right for j in inside]),
                )
            )
    return rows


def _mean_confidence(judged: list[JudgmentRecord]) -> Estimate | None:
    values = [j.confidence for j in judged if j.confidence is not None]
    clusters = [j.question_id for j in judged if j.confidence is not None]
    return mean_ci(values, clusters=clusters) if values else None


def study_report(store: Store, study: str) -> StudyReport:
    """Compute a study's report from its answered judgments (pending ones only count as pending).

    Raises:
        StudyError: no such study.
    """
    with store.engine.connect() as conn:
        record = studies.study(conn, study)
        every = studies.judgments(conn, study_id=record.id)
    done = [j for j in every if j.answered]
    rows = []
    for condition in CONDITIONS:
        mine = [j for j in done if j.condition == condition]
        clusters = [j.question_id for j in mine]
        seconds = sorted(j.seconds for j in mine if j.seconds is not None)
        rows.append(
            ConditionRow(
                condition=condition,
                answered=len(mine),
                pending=sum(1 for j in every if j.condition == condition and not j.answered),
                accuracy=accuracy_ci([j.right for j in mine], method="wilson", clusters=clusters) if mine else None,
                confidence=_mean_confidence(mine),
                median_seconds=float(np.median(seconds)) if seconds else None,
            )
        )
    both = all(any(j.condition == c for j in done) for c in CONDITIONS)
    people: dict[str, list[JudgmentRecord]] = defaultdict(list)
    for j in every:
        people[j.user].append(j)
    per_person = []
    for user in sorted(people):
        answered = [j for j in people[user] if j.answered]
        per_person.append(
            PersonRow(
                user=user,
                assigned=len(people[user]),
                answered=len(answered),
                accuracy=_share([j.right for j in answered]),
                assisted=_share([j.right for j in answered if j.condition == "assisted"]),
                unassisted=_share([j.right for j in answered if j.condition == "unassisted"]),
            )
        )
    return StudyReport(
        study=record,
        assigned=len(every),
        answered=len(done),
        questions=len({j.question_id for j in done}),
        people=len({j.user for j in done}),
        conditions=rows,
        effect=two_way_effect(done) if both else None,
        calibration=_calibration(done),
        per_person=per_person,
    )
