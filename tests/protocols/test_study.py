"""Human judging studies: the balanced, seeded assignment as stored, and the report's numbers on judgments whose
answers are known."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

import pytest
from study_doubles import make_experiment

from proctor.protocols import create_study, study_report, transcript
from proctor.protocols._study import _equitable_colours
from proctor.store import JudgmentRecord, Store, StudyError, studies, users

PASSWORD = "correct-horse-1"
PEOPLE = ["ada", "bob", "cy", "dee", "eve"]


@pytest.fixture
def people(sqlite_store: Store) -> Store:
    for name in PEOPLE:
        sqlite_store.write(users.add_user, name, "rater", PASSWORD)
    return sqlite_store


@pytest.fixture
def people_anywhere(store: Store) -> Store:
    """The people, on SQLite and on PostgreSQL."""
    for name in PEOPLE:
        store.write(users.add_user, name, "rater", PASSWORD)
    return store


def stored(store: Store, study_id: str) -> list[JudgmentRecord]:
    with store.engine.connect() as conn:
        return studies.judgments(conn, study_id=study_id)


def plan(judged: list[JudgmentRecord]) -> list[tuple[str, str, str, str | None, int, list[str]]]:
    return sorted((j.user, j.question_id, j.condition, j.run_id, j.position, j.answers) for j in judged)


def assert_balanced(judged: list[JudgmentRecord], per_person: int) -> None:
    by_person: dict[str, list[JudgmentRecord]] = defaultdict(list)
    by_question: dict[str, list[JudgmentRecord]] = defaultdict(list)
    for j in judged:
        by_person[j.user].append(j)
        by_question[j.question_id].append(j)
    for mine in by_person.values():
        assert len(mine) == per_person and len({j.question_id for j in mine}) == per_person  # each at most once
        assert sorted(j.position for j in mine) == list(range(per_person))
        assisted = sum(j.condition == "assisted" for j in mine)
        assert abs(2 * assisted - len(mine)) <= 1
    times = [len(v) for v in by_question.values()]
    assert max(times) - min(times) <= 1  # every question judged about equally often
    for theirs in by_question.values():
        assert abs(2 * sum(j.condition == "assisted" for j in theirs) - len(theirs)) <= 1


def test_the_assignment_is_balanced_stored_and_seeded(people: Store) -> None:
    experiment = make_experiment(people, 7)
    runs = {r.id: r for r in people.experiment_runs(experiment)}
    study = create_study(people, experiment, "debate", PEOPLE, seed=3)
    judged = stored(people, study.id)
    assert len(judged) == 35 and study.settings["seed"] == 3 and study.settings["per_person"] == 7
    assert_balanced(judged, 7)
    for j in judged:
        if j.condition == "assisted":
            run = runs[j.run_id or ""]
            case = run.config["case"]
            assert run.config["protocol"] == "debate" and case["question_id"] == j.question_id
            assert (case["answers"], case["correct"]) == (j.answers, j.correct)
        else:
            assert j.run_id is None and sorted(j.answers) == ["17", "42"] and j.answers[j.correct] == "42"
        assert j.question.startswith("How many ships") and j.verdict is None
    # Answer orders are balanced within each question and condition.
    orders = Counter((j.question_id, j.condition, j.correct) for j in judged)
    for (question, condition, order), count in orders.items():
        assert abs(count - orders.get((question, condition, 1 - order), 0)) <= 1

    again = create_study(people, experiment, "debate", PEOPLE, seed=3)
    other = create_study(people, experiment, "debate", PEOPLE, seed=4)
    assert again.id != study.id and plan(stored(people, again.id)) == plan(judged)
    assert plan(stored(people, other.id)) != plan(judged)


def test_an_incomplete_design_still_balances_people_and_questions(people: Store) -> None:
    experiment = make_experiment(people, 7)
    study = create_study(people, experiment, "debate", PEOPLE, seed=0, per_person=3)
    judged = stored(people, study.id)
    assert len(judged) == 15
    assert_balanced(judged, 3)


def test_the_colouring_is_equitable_on_random_bipartite_graphs() -> None:
    rng = random.Random(0)
    for _ in range(300):
        edges = sorted({(rng.randrange(6), rng.randrange(9)) for _ in range(rng.randrange(1, 40))})
        colours = _equitable_colours(edges, rng)
        for side in (0, 1):
            totals: dict[int, list[int]] = defaultdict(list)
            for edge, colour in zip(edges, colours, strict=True):
                totals[edge[side]].append(colour)
            assert all(abs(2 * sum(c) - len(c)) <= 1 for c in totals.values()), edges


def test_a_study_refuses_what_it_cannot_assign(people: Store) -> None:
    experiment = make_experiment(people, 2)
    with pytest.raises(StudyError, match="no finished 'consultancy' runs"):
        create_study(people, experiment, "consultancy", PEOPLE)
    with pytest.raises(StudyError, match="no user 'zed'"):
        create_study(people, experiment, "debate", ["ada", "zed"])
    with pytest.raises(StudyError, match="give each person once"):
        create_study(people, experiment, "debate", ["ada", "ada"])
    with pytest.raises(StudyError, match=r"--per-person must be 1\.\.2"):
        create_study(people, experiment, "debate", PEOPLE, per_person=3)
    with people.engine.connect() as conn:
        assert studies.list_studies(conn) == []


def test_the_transcript_is_what_the_judge_read(people: Store) -> None:
    experiment = make_experiment(people, 1, ("debate", "critique"))
    runs = people.experiment_runs(experiment)
    run = next(r for r in runs if r.config["protocol"] == "debate")
    turns = transcript(people, run.id)
    assert [t.speaker for t in turns] == ["Debater A", "Debater B"] and all(t.kind == "argument" for t in turns)
    kinds = {s.kind: s.text for t in turns for s in t.segments if s.kind != "text"}
    assert kinds == {"verified": "exactly forty-two ships", "unverified": "seventeen ships in all"}
    critique = next(r for r in runs if r.config["protocol"] == "critique")
    proposal, critic = transcript(people, critique.id)
    assigned = critique.config["case"]["assigned"]
    assert proposal.speaker == "Proposed answer" and proposal.kind == "proposal"
    assert proposal.segments[0].text == f"{'AB'[assigned]}: {critique.config['case']['answers'][assigned]}"
    assert critic.speaker == "Critic" and critic.kind == "argument"


def test_people_are_told_what_the_model_judge_was_told() -> None:
    """A person judging a debate learns who argued for which answer, as the model judge does; one judging an
    open consultancy is not told the consultant was assigned its answer."""
    from proctor.protocols._study import NOTES

    assert all("Debater A for answer A, Debater B for answer B" in NOTES[p] for p in ("debate", "open_debate"))
    assert "assigned" not in NOTES["open_consultancy"] and "chose" in NOTES["open_consultancy"]


def answer_all(store: Store, study_id: str, confidence: dict[str, float]) -> None:
    """Answer every judgment: assisted ones right, and every other unassisted one of each person right (by
    question), so each person is right on exactly half of their unassisted questions."""
    flip: dict[str, bool] = defaultdict(bool)
    for j in sorted(stored(store, study_id), key=lambda j: (j.user, j.question_id)):
        good = True
        if j.condition == "unassisted":
            good, flip[j.user] = flip[j.user], not flip[j.user]
        verdict = j.correct if good else 1 - j.correct
        store.write(studies.answer, j.id, j.user_id, verdict=verdict, confidence=confidence[j.condition], seconds=5.0)


def test_the_report_on_known_answers(people: Store) -> None:
    experiment = make_experiment(people, 20)
    study = create_study(people, experiment, "debate", PEOPLE[:4], seed=1)
    answer_all(people, study.id, {"assisted": 0.95, "unassisted": 0.65})
    result = study_report(people, study.id[:6])
    assert (result.assigned, result.answered, result.questions, result.people) == (80, 80, 20, 4)
    assisted, unassisted = result.conditions
    assert assisted.condition == "assisted" and assisted.answered == 40 and unassisted.answered == 40
    # Every assisted answer right: not a [100%, 100%] interval but Wilson at 20 effective answers (one a question).
    assert assisted.accuracy is not None and assisted.accuracy.value == 1.0
    assert assisted.accuracy.low == pytest.approx(20 / (20 + 1.959964**2), abs=1e-5)
    assert unassisted.accuracy is not None and unassisted.accuracy.value == 0.5
    assert assisted.accuracy.clusters == 20 and unassisted.accuracy.method == "wilson"
    assert assisted.confidence is not None and assisted.confidence.value == pytest.approx(0.95)
    assert unassisted.confidence is not None and unassisted.confidence.value == pytest.approx(0.65)
    assert assisted.median_seconds == 5.0
    effect = result.effect
    assert effect is not None and effect.value == pytest.approx(0.5) and effect.n == 80 and effect.clusters == 20
    assert 0.2 < effect.low < 0.5 < effect.high < 0.8 and effect.p_value is not None and effect.p_value < 0.01
    bins = {(b.condition, b.low): b for b in result.calibration}
    assert bins[("assisted", 0.9)].n == 40 and bins[("assisted", 0.9)].accuracy == 1.0
    assert bins[("unassisted", 0.6)].n == 40 and bins[("unassisted", 0.6)].accuracy == 0.5
    assert bins[("unassisted", 0.6)].mean_confidence == pytest.approx(0.65) and bins[("assisted", 0.5)].n == 0
    persons = {p.user: p for p in result.per_person}
    assert set(persons) == set(PEOPLE[:4]) and all(p.assigned == p.answered == 20 for p in persons.values())
    assert all(p.assisted == 1.0 and p.unassisted == 0.5 for p in persons.values())
    mine = [j for j in stored(people, study.id) if j.user == "ada"]
    assert persons["ada"].accuracy == sum(j.right for j in mine) / 20


def test_no_effect_when_help_changes_nothing(people: Store) -> None:
    experiment = make_experiment(people, 12)
    study = create_study(people, experiment, "debate", PEOPLE[:4], seed=2)
    # Questions are easy or hard whatever the condition: the difficulty is the question's, not the help's.
    for j in stored(people, study.id):
        easy = int(j.question_id[1:]) % 2 == 0
        people.write(studies.answer, j.id, j.user_id, verdict=j.correct if easy else 1 - j.correct, confidence=0.7)
    effect = study_report(people, study.id).effect
    assert effect is not None and effect.value == pytest.approx(0.0) and effect.low < 0.0 < effect.high


def test_answers_are_checked_and_final(people_anywhere: Store) -> None:
    people = people_anywhere
    experiment = make_experiment(people, 2)
    study = create_study(people, experiment, "debate", ["ada", "bob"], seed=0)
    first = next(j for j in stored(people, study.id) if j.user == "ada")
    bob = next(j for j in stored(people, study.id) if j.user == "bob")
    for kwargs, message in (
        ({"verdict": 2, "confidence": 0.8}, "pick one of the answers 0..1"),
        ({"verdict": 0, "confidence": 1.5}, "confidence must be between 0 and 1"),
        ({"verdict": 0, "confidence": 0.8, "seconds": -1.0}, "seconds taken must be 0 or more"),
    ):
        with pytest.raises(StudyError, match=message):
            people.write(studies.answer, first.id, first.user_id, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(StudyError, match="of yours"):
        people.write(studies.answer, first.id, bob.user_id, verdict=0, confidence=0.8)
    done = people.write(studies.answer, first.id, first.user_id, verdict=1, confidence=0.8, explanation="  hunch ")
    assert (done.verdict, done.confidence, done.explanation, done.answered_at is not None) == (1, 0.8, "hunch", True)
    with pytest.raises(StudyError, match="answered already"):
        people.write(studies.answer, first.id, first.user_id, verdict=0, confidence=0.9)
    result = study_report(people, study.id)
    assert result.answered == 1 and result.effect is None
    assert sum(c.pending for c in result.conditions) == len(stored(people, study.id)) - 1
