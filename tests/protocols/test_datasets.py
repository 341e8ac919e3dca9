"""Question datasets: the shipped samples, QuALITY's release format, the two-choice reduction, and clear errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from proctor.protocols.datasets import (
    QUALITY_SAMPLE,
    QUESTIONS_SAMPLE,
    DatasetError,
    Question,
    load_quality,
    load_questions,
    two_choice,
)

QUALITY_KEYS = {"article_id", "set_unique_id", "batch_num", "writer_id", "source", "title", "year", "author",
                "topic", "article", "questions", "url", "license"}  # fmt: skip
QUESTION_KEYS = {"question", "question_unique_id", "options", "gold_label", "writer_label", "validation",
                 "speed_validation", "difficult"}  # fmt: skip


def _sample_articles() -> list[dict[str, object]]:
    return [json.loads(line) for line in QUALITY_SAMPLE.read_text().splitlines()]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_quality_sample_is_in_the_release_format() -> None:
    articles = _sample_articles()
    assert len(articles) == 3
    for article in articles:
        assert set(article) == QUALITY_KEYS
        text = article["article"]
        assert isinstance(text, str) and 250 <= len(text.split()) <= 350
        questions = article["questions"]
        assert isinstance(questions, list) and 3 <= len(questions) <= 4
        for question in questions:
            assert set(question) == QUESTION_KEYS and len(question["options"]) == 4
            assert set(question["validation"][0]) == {"untimed_annotator_id", "untimed_answer",
                                                      "untimed_eval1_answerability", "untimed_eval2_context",
                                                      "untimed_best_distractor"}  # fmt: skip
            assert set(question["speed_validation"][0]) == {"speed_annotator_id", "speed_answer"}


def test_load_quality_sample() -> None:
    loaded = load_quality(QUALITY_SAMPLE)
    assert (loaded.articles, loaded.skipped, len(loaded.questions)) == (3, 0, 10)
    raw = _sample_articles()[1]
    first = raw["questions"][0]  # type: ignore[index]
    question = next(q for q in loaded.questions if q.id == first["question_unique_id"])
    assert question.question == first["question"]
    assert question.answers == first["options"]
    assert question.correct == first["gold_label"] - 1
    assert question.source == raw["article"]
    assert question.metadata["title"] == "Salt and Copper"
    assert question.metadata["difficult"] == first["difficult"]
    assert question.metadata["question_unique_id"] == first["question_unique_id"]
    assert question.metadata["distractor_votes"] == [v["untimed_best_distractor"] - 1 for v in first["validation"]]
    assert question.metadata["speed_accuracy"] == 0.2
    assert len({q.id for q in loaded.questions}) == 10


def test_questions_without_gold_label_are_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    articles = _sample_articles()
    # The test split: no gold_label, writer_label or annotations at all.
    test_split = []
    for article in articles:
        for question in article["questions"]:  # type: ignore[attr-defined]
            for key in ("gold_label", "writer_label", "validation", "speed_validation"):
                del question[key]
        test_split.append(json.dumps(article))
    path = _write(tmp_path / "QuALITY.v1.0.1.htmlstripped.test", test_split)
    with pytest.raises(DatasetError, match=r"none of its 10 questions has a gold_label .* use the train or dev file"):
        load_quality(path)

    articles = _sample_articles()
    del articles[0]["questions"][2]["gold_label"]  # type: ignore[index]
    with caplog.at_level(logging.WARNING):
        loaded = load_quality(_write(tmp_path / "mixed.jsonl", [json.dumps(a) for a in articles]))
    assert (loaded.skipped, len(loaded.questions)) == (1, 9)
    assert "skipped 1 of 10 questions without gold_label" in caplog.text


def test_the_year_is_text_as_in_the_release(tmp_path: Path) -> None:
    """QuALITY's README gives `year` as a string, often approximate; numbers are read as their text."""
    articles = _sample_articles()
    years = ["1950s", 1957, 1957.5, None]
    for article, year in zip(articles, years, strict=False):
        article["year"] = year
    loaded = load_quality(_write(tmp_path / "years.jsonl", [json.dumps(a) for a in articles]))
    assert [q.metadata["year"] for q in loaded.questions][:1] == ["1950s"]
    assert {q.metadata["year"] for q in loaded.questions} == {"1950s", "1957", "1957.5"}


def test_a_quality_file_keeps_its_split_in_the_dataset_name(tmp_path: Path) -> None:
    from proctor.protocols import load_dataset

    dev = tmp_path / "QuALITY.v1.0.1.htmlstripped.dev"
    dev.write_text(QUALITY_SAMPLE.read_text())
    name, questions = load_dataset(str(dev))
    assert name == "QuALITY.v1.0.1.htmlstripped.dev" and len(questions) == 10
    plain = tmp_path / "my_questions.jsonl"
    plain.write_text(QUESTIONS_SAMPLE.read_text())
    assert load_dataset(str(plain))[0] == "my_questions"


def test_the_readme_name_of_the_best_distractor_is_read(tmp_path: Path) -> None:
    article = _sample_articles()[0]
    for question in article["questions"]:  # type: ignore[attr-defined]
        for vote in question["validation"]:
            vote["untimed_eval3_distractor"] = vote.pop("untimed_best_distractor")
    loaded = load_quality(_write(tmp_path / "readme-names.jsonl", [json.dumps(article)]))
    assert loaded.questions[0].metadata["distractor_votes"] == [2, 0, 2]


def test_two_choice_uses_the_annotators_best_distractor() -> None:
    questions = load_quality(QUALITY_SAMPLE).questions
    reduced = two_choice(questions)
    assert len(reduced) == 10
    for original, pair in zip(questions, reduced, strict=True):
        assert len(pair.answers) == 2 and pair.id == original.id and pair.source == original.source
        assert pair.correct_answer == original.correct_answer
        assert pair.metadata["distractor_rule"] == "best_distractor"
    # Votes [0, 0, 1] with the gold answer at 1: the vote for the gold answer is ignored, option 0 wins.
    sugar = next(q for q in reduced if q.id == "90002_PRCTRB02_1")
    assert set(sugar.answers) == {"Sugar dissolves without splitting into charged particles",
                                  "Sugar water is too thick for current to pass"}  # fmt: skip
    # Order is random per question, so the correct answer is not always first.
    assert {q.correct for q in reduced} == {0, 1}


def test_two_choice_is_deterministic_per_question_and_seed() -> None:
    questions = load_questions(QUESTIONS_SAMPLE)
    everything = two_choice(questions, seed=7)
    alone = two_choice([questions[4]], seed=7)
    assert alone[0] == everything[4]
    assert two_choice(questions, seed=7) == everything
    for original, pair in zip(questions, everything, strict=True):
        assert pair.metadata["distractor_rule"] == "random"  # plain questions have no annotator votes
        assert pair.correct_answer == original.correct_answer
        wrong = pair.answers[1 - pair.correct]
        assert wrong in original.answers and wrong != original.correct_answer
    random_rule = two_choice(load_quality(QUALITY_SAMPLE).questions, rule="random")
    assert {q.metadata["distractor_rule"] for q in random_rule} == {"random"}


def test_load_questions_sample() -> None:
    questions = load_questions(QUESTIONS_SAMPLE)
    assert len(questions) == 10
    assert all(q.source for q in questions)
    assert len({q.id for q in questions}) == 10
    assert questions[1].answers == ["Six weeks", "Eleven weeks"] and questions[1].correct_answer == "Eleven weeks"


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    line = json.dumps({"id": "a", "question": "Q?", "answers": ["x", "y"], "correct": 1})
    questions = load_questions(_write(tmp_path / "q.jsonl", ["", line, "   "]))
    assert [q.id for q in questions] == ["a"] and questions[0].source is None


GOOD = json.dumps({"id": "q1", "question": "Q?", "answers": ["x", "y"], "correct": 0})


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "q2", "question": "Q?"', "not valid JSON"),
        ("[1, 2]", "a JSON list where an object was expected"),
        (json.dumps({"id": "q2", "question": "Q?", "answers": ["x", "y"]}), "correct: Field required"),
        (json.dumps({"id": "q2", "question": "Q?", "answers": ["x", "y"], "correct": 2}), "only 2 answers"),
        (json.dumps({"id": "q2", "question": "Q?", "answers": ["x"], "correct": 0}), "answers: List should have"),
        (json.dumps({"id": "q2", "question": "Q?", "answers": ["x", "y"], "correct": 0, "sauce": "s"}), "sauce"),
        (GOOD, "id 'q1' was already used on line 1"),
    ],
)
def test_malformed_question_files_name_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", [GOOD, "", bad_line])
    with pytest.raises(DatasetError) as error:
        load_questions(path)
    text = str(error.value)
    assert text.startswith(f"{path}:3: ")
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a["questions"][0].update(gold_label=5), "questions[0]: gold_label is 5: QuALITY labels are 1-based"),
        (lambda a: a.pop("article"), "article: Field required"),
        (lambda a: a["questions"][1].update(options="abcd"), "questions[1].options"),
    ],
)
def test_malformed_quality_files_name_file_and_line(tmp_path: Path, change: object, message: str) -> None:
    articles = _sample_articles()
    change(articles[1])  # type: ignore[operator]
    path = _write(tmp_path / "bad.dev", [json.dumps(a) for a in articles])
    with pytest.raises(DatasetError) as error:
        load_quality(path)
    text = str(error.value)
    assert text.startswith(f"{path}:2: not a QuALITY article: ")
    assert message in text
    assert "\n" not in text


def test_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_questions(tmp_path / "absent.jsonl")


def test_question_validates_correct_index() -> None:
    with pytest.raises(ValidationError, match="0-based index"):
        Question(id="q", question="Q?", answers=["a", "b"], correct=3)
