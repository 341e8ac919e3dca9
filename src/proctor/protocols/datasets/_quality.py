"""QuALITY (Pang et al., 2022, "QuALITY: Question Answering with Long Input Texts, Yes!"), read from its own release
files without conversion.

Each line of `QuALITY.v1.0.1.{train,dev,test}` (or the `.htmlstripped` variants, whose `article` is plain text) is
one article with the questions one writer wrote about it: `article_id`, `set_unique_id`, `batch_num`, `writer_id`,
`source`, `title`, `year`, `author`, `topic`, `article`, `url`, `license` and `questions`. Each question has
`question`, `question_unique_id`, `options` (four strings), `gold_label` (1-based; absent in the test split),
`writer_label`, `validation` (untimed annotators: `untimed_annotator_id`, `untimed_answer`,
`untimed_eval1_answerability`, `untimed_eval2_context`, `untimed_best_distractor`), `speed_validation`
(`speed_annotator_id`, `speed_answer`) and `difficult` (0/1). Keys not listed are kept out of the way, not errors.

The data's README calls the best-distractor answer `untimed_eval3_distractor`, while the files name it
`untimed_best_distractor`; both are read.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator

from proctor.protocols.datasets._questions import DatasetError, Question, describe, read_jsonl

logger = logging.getLogger(__name__)


class QualitySet(BaseModel):
    """The questions read from one QuALITY file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    """The file read."""
    questions: list[Question]
    """One Question per QuALITY question with a gold label, in file order; `source` is the article."""
    articles: int = Field(ge=0)
    """Lines (article, writer) read."""
    skipped: int = Field(ge=0)
    """Questions left out because they have no `gold_label`."""


class _Validation(BaseModel):
    model_config = ConfigDict(extra="allow")

    untimed_annotator_id: JsonValue = None
    untimed_answer: int | None = None
    untimed_eval1_answerability: int | None = None
    untimed_eval2_context: int | None = None
    untimed_best_distractor: int | None = None
    untimed_eval3_distractor: int | None = None

    @property
    def best_distractor(self) -> int | None:
        return (
            self.untimed_best_distractor if self.untimed_best_distractor is not None else self.untimed_eval3_distractor
        )


class _SpeedValidation(BaseModel):
    model_config = ConfigDict(extra="allow")

    speed_annotator_id: JsonValue = None
    speed_answer: int | None = None


class _QualityQuestion(BaseModel):
    model_config = ConfigDict(extra="allow")

    question: str
    question_unique_id: str | None = None
    options: list[str] = Field(min_length=2)
    gold_label: int | None = None
    writer_label: int | None = None
    validation: list[_Validation] = Field(default_factory=list)
    speed_validation: list[_SpeedValidation] = Field(default_factory=list)
    difficult: int = 0

    @model_validator(mode="after")
    def _check_labels(self) -> _QualityQuestion:
        for name in ("gold_label", "writer_label"):
            label = getattr(self, name)
            if label is not None and not 1 <= label <= len(self.options):
                raise ValueError(f"{name} is {label}: QuALITY labels are 1-based, from 1 to {len(self.options)}")
        return self


class _Article(BaseModel):
    model_config = ConfigDict(extra="allow")

    article_id: str | int
    set_unique_id: str | None = None
    title: str
    author: str | None = None
    year: str | None = None
    """A string in the release (its README: "often approximate", e.g. the midpoint of the author's life); numbers
    are read as their text."""
    topic: str | None = None
    source: str | None = None
    article: str
    questions: list[_QualityQuestion]

    @field_validator("year", mode="before")
    @classmethod
    def _year_as_text(cls, value: object) -> object:
        if isinstance(value, bool):
            return value
        return f"{value:g}" if isinstance(value, int | float) else value


def load_quality(path: str | Path) -> QualitySet:
    """Load one QuALITY release file (JSONL, one article per line) as it is distributed.

    Each question with a `gold_label` becomes a Question: `answers` are its options, `correct` is gold_label - 1,
    `source` is the article, and metadata holds `title`, `author`, `year`, `article_id`, `set_unique_id`,
    `question_unique_id`, `difficult`, `writer_label` (0-based), `distractor_votes` (the untimed annotators' best
    distractors, 0-based, used by `two_choice`) and `speed_accuracy` (fraction of speed annotators right).
    Questions without a gold label are skipped and counted in `skipped`; a file with none (the test split) is
    refused.

    Args:
        path: A QuALITY `.train`, `.dev` or `.test` file, raw or `.htmlstripped`.

    Returns:
        The questions and counts.

    Raises:
        DatasetError: The file is missing, a line is not a QuALITY article (the one-line message names the file and
            line), or no question has a gold label (the test split).
    """
    questions: list[Question] = []
    seen: dict[str, int] = {}
    articles = skipped = 0
    for line_number, record in read_jsonl(path):
        try:
            article = _Article.model_validate(record)
        except ValidationError as error:
            raise DatasetError(
                f"{path}:{line_number}: not a QuALITY article: {describe(error)} (each line must be one article "
                "object with article_id, title, article and questions, as in the QuALITY release files)"
            ) from None
        articles += 1
        for position, item in enumerate(article.questions, start=1):
            gold = item.gold_label
            if gold is None:
                skipped += 1
                continue
            question_id = item.question_unique_id or f"{article.set_unique_id or article.article_id}_{position}"
            if question_id in seen:
                raise DatasetError(
                    f"{path}:{line_number}: question id {question_id!r} was already used on line "
                    f"{seen[question_id]}: each question_unique_id must be unique"
                )
            seen[question_id] = line_number
            questions.append(_question(article, item, question_id, gold))
    if skipped and not questions:
        raise DatasetError(
            f"{path}: none of its {skipped} questions has a gold_label (QuALITY's test split has none): "
            "use the train or dev file"
        )
    if skipped:
        logger.warning(
            "%s: skipped %d of %d questions without gold_label (the test split has none; use train or dev)",
            path,
            skipped,
            skipped + len(questions),
        )
    return QualitySet(path=str(path), questions=questions, articles=articles, skipped=skipped)


def _question(article: _Article, item: _QualityQuestion, question_id: str, gold: int) -> Question:
    votes = [v.best_distractor - 1 for v in item.validation if v.best_distractor is not None]
    speed = [s.speed_answer for s in item.speed_validation if s.speed_answer is not None]
    metadata: dict[str, JsonValue] = {
        "title": article.title,
        "author": article.author,
        "year": article.year,
        "article_id": str(article.article_id),
        "set_unique_id": article.set_unique_id,
        "question_unique_id": question_id,
        "difficult": item.difficult,
        "writer_label": None if item.writer_label is None else item.writer_label - 1,
        "distractor_votes": list(votes),
        "speed_accuracy": sum(a == gold for a in speed) / len(speed) if speed else None,
    }
    return Question(
        id=question_id,
        question=item.question,
        answers=item.options,
        correct=gold - 1,
        source=article.article,
        metadata=metadata,
    )
