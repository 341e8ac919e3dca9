"""The rater report on stored ratings and judging studies whose agreement is known."""

from __future__ import annotations

import random

import pytest
from rated_runs import Ratings, rated_run
from study_doubles import make_experiment

from proctor.analysis import RaterFilters, RaterReport, ScaleAgreement, rater_report, scale_points
from proctor.protocols import create_study
from proctor.store import RunStatus, Store, StudyError, studies, users

FAST = RaterFilters(resamples=300)


def only_scale(report: RaterReport, scale: str = "1-5") -> ScaleAgreement:
    (found,) = [x for x in report.scales if x.scale == scale]
    return found


def test_raters_who_agree_perfectly(store: Store) -> None:
    """Three people give the same points; a model gives expected ratings 0.2 above them (rounded: the same
    points)."""
    rng = random.Random(0)
    for run in range(8):
        steps = []
        for _ in range(5):
            truth = [rng.randint(1, 4) for _ in range(2)]
            steps.append([{"human:ada": t, "human:bob": t, "human:cy": t, "model:m": t + 0.2} for t in truth])
        rated_run(store, steps, score=float(run % 2))
    scale = only_scale(rater_report(store, FAST))
    assert (scale.options, scale.rated_twice, scale.ratings, scale.points) == (80, 80, 320, [1, 2, 3, 4, 5])
    assert scale.ordinal is not None and scale.nominal is not None and scale.interval is not None
    assert scale.ordinal.value == 1.0 and scale.nominal.value == 1.0 and scale.ordinal.n == 80
    assert 0.95 < scale.interval.value < 1.0  # the model's raw values are 0.2 off
    assert len(scale.pairs) == 6
    for pair in scale.pairs:
        assert pair.items == 80 and pair.exact == 1.0
        assert pair.kappa is not None and pair.kappa.value == 1.0
        assert pair.quadratic is not None and pair.quadratic.value == 1.0
    raters = {r.rater: r for r in scale.raters}
    assert [r.kind for r in scale.raters] == ["human", "human", "human", "model"]
    ada, model = raters["human:ada"], raters["model:m"]
    assert ada.consensus is not None and ada.consensus.value == pytest.approx(1.0)
    assert model.bias == pytest.approx(0.2) and model.mean_abs_diff == pytest.approx(0.2)
    assert ada.bias == pytest.approx(0.2 / 3 * -1) and ada.shared == 80


def test_raters_who_rate_at_random_agree_at_chance(sqlite_store: Store) -> None:
    rng = random.Random(1)
    for _ in range(30):
        steps = [[{f"human:{p}": rng.randint(1, 5) for p in ("ada", "bob", "cy")} for _ in range(4)] for _ in range(5)]
        rated_run(sqlite_store, steps)
    scale = only_scale(rater_report(sqlite_store, FAST))
    for alpha in (scale.ordinal, scale.interval, scale.nominal):
        assert alpha is not None and abs(alpha.value) < 0.08 and alpha.low < 0 < alpha.high
    for pair in scale.pairs:
        assert pair.kappa is not None and abs(pair.kappa.value) < 0.08 and pair.kappa.high - pair.kappa.low < 0.12
        assert 0.1 < pair.exact < 0.3  # one chance in five
    for rater in scale.raters:
        assert rater.consensus is not None and rater.consensus.low < 0 < rater.consensus.high


def test_ratings_against_how_runs_ended(sqlite_store: Store) -> None:
    """A model rates the chosen option 5 in runs that succeed and 1 in runs that fail; a person rates at random.
    Options not chosen, and runs whose outcome is unknown, do not count."""
    rng = random.Random(2)
    for run in range(24):
        succeeded = run % 2 == 0
        steps: list[list[Ratings]] = []
        for _ in range(3):
            chosen = {"model:m": 5.0 if succeeded else 1.0, "human:ada": float(rng.randint(1, 5))}
            steps.append([chosen, {"model:m": 3.0, "human:ada": 3.0}])
        rated_run(sqlite_store, steps, score=1.0 if succeeded else 0.0)
    rated_run(sqlite_store, [[{"model:m": 5.0}]], status=RunStatus.FAILED, score=None)  # unknown outcome
    rated_run(sqlite_store, [[{"model:m": 1.0}]], status=RunStatus.OVER_LIMIT, score=None)  # a failure
    rated_run(sqlite_store, [[{"model:m": 2.0}]], score=0.5)  # a partial score: a failure with score 0.5
    raters = {r.rater: r for r in only_scale(rater_report(sqlite_store, FAST)).raters}
    model, person = raters["model:m"], raters["human:ada"]
    assert (model.outcomes, model.outcome_runs) == (74, 26)
    assert model.outcome_auc is not None and model.outcome_auc.value == 1.0
    assert model.outcome_auc.method == "cluster-bootstrap" and model.outcome_auc.clusters == 26
    assert model.outcome_rho is not None and model.outcome_rho.value > 0.9
    assert (person.outcomes, person.outcome_runs) == (72, 24)
    assert person.outcome_auc is not None and person.outcome_auc.low < 0.5 < person.outcome_auc.high


def test_what_cannot_be_measured_is_said(sqlite_store: Store) -> None:
    rated_run(sqlite_store, [[{"human:ada": 4}, {"human:ada": 2}]], task_id="demo/alone")
    rated_run(sqlite_store, [[{"human:ada": 3, "human:bob": 3}, {"human:ada": 3, "human:bob": 3}]], task_id="demo/same")
    alone = only_scale(rater_report(sqlite_store, RaterFilters(task="alone", resamples=50)))
    assert alone.ordinal is None and alone.pairs == [] and alone.rated_twice == 0
    assert any("no item is rated by two raters" in n for n in alone.notes)
    (ada,) = alone.raters
    assert ada.consensus is None and any("nobody else rated" in n for n in ada.notes)
    assert ada.outcome_auc is None and any("both successes and failures" in n for n in ada.notes)
    same = only_scale(rater_report(sqlite_store, RaterFilters(task="same", resamples=50)))
    assert same.ordinal is None and any("every rating has the same value" in n for n in same.notes)
    (pair,) = same.pairs
    assert pair.exact == 1.0 and pair.kappa is None and "one and the same value" in (pair.note or "")
    assert rater_report(sqlite_store, RaterFilters(task="nothing")).scales == []


def test_scales_latest_ratings_and_filters(sqlite_store: Store) -> None:
    first = rated_run(sqlite_store, [[{"human:ada": 1, "human:bob": 2}]], model="m/a", task_id="demo/t1")
    rated_run(sqlite_store, [[{"human:ada": 6, "human:bob": 7}]], scale="1-7", model="m/b", task_id="demo/t2")
    (option,) = sqlite_store.steps(first)[0].options
    from proctor.store import ops

    sqlite_store.write(
        ops.add_rating, option.id, {"rater": "human:ada", "value": 2.0, "scale": "1-5", "method": "human"}
    )
    report = rater_report(sqlite_store, RaterFilters(resamples=20))
    assert [x.scale for x in report.scales] == ["1-5", "1-7"]
    five = only_scale(report)
    assert five.ratings == 2 and five.pairs[0].exact == 1.0  # ada's second rating replaced her first
    assert [x.scale for x in rater_report(sqlite_store, RaterFilters(model="m/b")).scales] == ["1-7"]
    assert [x.scale for x in rater_report(sqlite_store, RaterFilters(runs=[first[:6]])).scales] == ["1-5"]
    only_bob = only_scale(rater_report(sqlite_store, RaterFilters(rater="bob")))
    assert [r.rater for r in only_bob.raters] == ["human:bob"]
    assert scale_points("1-7") == [1, 2, 3, 4, 5, 6, 7] and scale_points("good/bad") is None
    assert scale_points("5-1") is None


PEOPLE = ["ada", "bob", "cy", "dee"]


@pytest.fixture
def people(sqlite_store: Store) -> Store:
    for name in PEOPLE:
        sqlite_store.write(users.add_user, name, "rater", "correct-horse-1")
    return sqlite_store


def answer(store: Store, study_id: str, pick: str) -> None:
    """Everyone answers: `first` picks the first answer shown (what the scripted judge always does), `right` the
    correct one."""
    with store.engine.connect() as conn:
        pending = studies.judgments(conn, study_id=study_id)
    for j in pending:
        verdict = 0 if pick == "first" else j.correct
        store.write(studies.answer, j.id, j.user_id, verdict=verdict, confidence=0.8)


def test_people_who_judge_as_the_model_judge_does(people: Store) -> None:
    experiment = make_experiment(people, 10, ("debate", "naive"))
    study = create_study(people, experiment, "debate", PEOPLE, seed=0)
    answer(people, study.id, "first")
    (result,) = rater_report(people, RaterFilters(resamples=200)).studies
    assert (result.study, result.answered, result.people) == (study.id, 40, 4)
    rows = {(j.judge, j.condition): j for j in result.judges}
    assert set(rows) == {("double/study-judge", "assisted"), ("double/study-judge", "unassisted")}
    for row in rows.values():
        assert row.judgments == 20 and row.agreement.value == 1.0 and row.agreement.clusters == row.questions
        assert row.kappa is not None and row.kappa.value == 1.0
        assert row.people_accuracy == row.judge_accuracy
    assert {p.user for p in result.per_person} == set(PEOPLE)
    assert all(p.agreement == 1.0 and p.judgments == 10 for p in result.per_person)
    assert result.people_alpha is not None


def test_people_who_are_always_right(people: Store) -> None:
    experiment = make_experiment(people, 6)  # no naive protocol: nothing to compare unassisted judgments with
    study = create_study(people, experiment, "debate", PEOPLE[:2], seed=1)
    answer(people, study.id, "right")
    (result,) = rater_report(people, RaterFilters(studies=[study.id[:5]], resamples=200)).studies
    (row,) = result.judges
    with people.engine.connect() as conn:
        shown = [j for j in studies.judgments(conn, study_id=study.id) if j.condition == "assisted"]
    judge_right = sum(j.correct == 0 for j in shown) / len(shown)  # the judge picks the first answer shown
    assert row.condition == "assisted" and row.judgments == len(shown) and row.people_accuracy == 1.0
    assert row.judge_accuracy == judge_right and row.agreement.value == judge_right
    # Whenever one side gives a single value, κ is 0 in every resample: the report says it measures nothing.
    assert row.kappa is not None and (row.kappa.value, row.kappa.low, row.kappa.high) == (0.0, 0.0, 0.0)
    assert row.note is not None and "the people gave one value throughout" in row.note
    assert any("no naive verdicts" in n for n in result.notes)
    assert result.people_alpha is None and any(n.startswith("people α: ") for n in result.notes)
    assert all(p.kappa == 0.0 for p in result.per_person)
    with pytest.raises(StudyError):
        rater_report(people, RaterFilters(studies=["nope"]))


def test_a_study_without_answers(people: Store) -> None:
    experiment = make_experiment(people, 4)
    create_study(people, experiment, "debate", PEOPLE[:2])
    (result,) = rater_report(people).studies
    assert result.answered == 0 and result.judges == [] and result.notes == ["no judgment is answered yet"]
