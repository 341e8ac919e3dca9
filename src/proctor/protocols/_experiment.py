"""Running an oversight experiment: every protocol on the same questions, both answer orders, balanced roles.

Each judged case is a stored run (its task is the question) whose steps are the protocol's turns and whose score is
1 when the judge picked the correct answer. `report` reads them back.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Callable, Sequence
from itertools import product
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from proctor.models import Model, get_model
from proctor.protocols._config import OversightConfig
from proctor.protocols._protocols import PROTOCOLS, Item, ProtocolStop
from proctor.protocols._session import LETTERS, Session
from proctor.protocols._tournament import Match, swiss_tournament
from proctor.protocols.datasets import Question, two_choice
from proctor.store import RunStatus, Store, Writer, ops

Detail = dict[str, Any] | None
"""What a judged case's verdict stored, None when a model failed for good."""

DEBATES = ("debate", "open_debate", "interactive-debate")
"""Protocols played by two debaters: every ordered pair of debater models (self-play and cross-play)."""


class ExperimentError(ValueError):
    """An experiment that cannot run as configured; the message says what to change."""


def items(
    questions: Sequence[Question],
    config: OversightConfig,
    protocol: str,
    pairs: Sequence[tuple[str, str]] | None = None,
) -> list[tuple[Question, Item]]:
    """The judged cases of one protocol on two-answer questions: each question in both answer orders; consultancy
    and critique with the assigned answer correct in half of them; debate with every ordered pair of debater models
    (in a Swiss tournament, self-play only: the tournament adds its matches' `pairs` round by round). The oracle is
    also run with the debater as judge, to measure the judge–debater strength gap."""
    players = [config.debater, *config.opponents]
    if pairs is None:
        if not config.opponents:
            pairs = [(config.debater, config.debater)]
        elif config.tournament == "swiss":
            pairs = [(p, p) for p in players]
        else:
            pairs = [(a, b) for a in players for b in players]
    cases = []
    judges = [*config.judges, config.debater] if protocol == "oracle" else config.judges
    for question in questions:
        right, wrong = question.answers[question.correct], question.answers[1 - question.correct]
        for order, judge in product((0, 1), dict.fromkeys(judges)):
            answers = [right, wrong] if order == 0 else [wrong, right]
            base = Item(
                locate="bug_lines" in question.metadata,
                question=question.question,
                answers=answers,
                correct=order,
                source=question.source,
                judge=judge,
                quotable=quotable(question),
                examples=examples(questions, question, config),
                judge_prompt=config.judge_prompt,
            )
            if protocol in ("consultancy", "critique"):
                cases += [(question, base.model_copy(update={"assigned": side})) for side in (0, 1)]
            elif protocol in DEBATES:
                cases += [(question, base.model_copy(update={"debaters": pair})) for pair in pairs]
            else:
                cases.append((question, base))
    return cases


def planned(questions: Sequence[Question], config: OversightConfig, protocol: str) -> int:
    """How many cases `protocol` will judge: its items, and in a Swiss tournament each round's matches too."""
    count = len(items(questions, config, protocol))
    if protocol in DEBATES and config.opponents and config.tournament == "swiss":
        players = [config.debater, *config.opponents]
        rounds = config.swiss_rounds or max(1, math.ceil(math.log2(len(players))))
        match = items(questions, config, protocol, pairs=[(players[0], players[1]), (players[1], players[0])])
        count += rounds * (len(players) // 2) * len(match)
    return count


def examples(questions: Sequence[Question], question: Question, config: OversightConfig) -> list[str]:
    """The judge's solved examples for `question` (`few_shot`): the next `few_shot` other questions of the dataset
    in its order, wrapping around, each with its answers and the correct one."""
    if not config.few_shot:
        return []
    at = next(i for i, q in enumerate(questions) if q is question)
    others = [questions[(at + k) % len(questions)] for k in range(1, len(questions))]
    return [
        f"Question: {q.question}\n"
        + "\n".join(f"{LETTERS[i]}: {a}" for i, a in enumerate(q.answers))
        + f"\nCorrect answer: {LETTERS[q.correct]}"
        for q in others[: config.few_shot]
    ]


def quotable(question: Question) -> list[str]:
    """What a speaker may quote: the hidden source and, in code review, the program under review (as written and
    as shown, with line numbers)."""
    texts = [question.source] if question.source else []
    program = question.metadata.get("program")
    if isinstance(program, str):
        from proctor.protocols.bugs import numbered

        texts += [program, numbered(program)]
    return texts


def question_task(dataset: str, question: Question) -> dict[str, Any]:
    """The stored task row of a question (see `ops.upsert_task`): its runs are that task's runs."""
    return {
        "id": f"{dataset}/{question.id}",
        "family": dataset,
        "name": question.id,
        "format": "question",
        "source": dataset,
        "instructions": question.question,
        "permissions": [],
    }


def _models(config: OversightConfig) -> dict[str, Model]:
    extra = [name for name in (config.preference, config.market) if name]
    names = {config.debater, *config.opponents, *config.judges, *extra}
    return {name: get_model(name, **config.model_options.get(name, {})) for name in names}


async def run_experiment(
    questions: Sequence[Question],
    config: OversightConfig,
    store: Store,
    *,
    dataset: str,
    on_done: Callable[[], None] | None = None,
) -> str:
    """Run every protocol of `config` on `questions`; returns the experiment id (runs carry it in their config).

    Raises:
        ExperimentError: an unknown protocol, or no questions.
    """
    unknown = [p for p in config.protocols if p not in PROTOCOLS]
    if unknown:
        raise ExperimentError(f"unknown protocol {unknown[0]!r} (protocols: {', '.join(sorted(PROTOCOLS))})")
    if not questions:
        raise ExperimentError(f"dataset {dataset!r} has no questions")
    questions = two_choice(questions, seed=config.seed) if any(len(q.answers) != 2 for q in questions) else questions
    models = _models(config)
    experiment = uuid.uuid4().hex[:10]
    limit = asyncio.Semaphore(config.concurrency)
    async with Writer(store) as writer:
        for question in questions:
            await writer.write(ops.upsert_task, question_task(dataset, question))

        async def judged(protocol: str, question: Question, item: Item, round: int | None = None) -> Detail:
            async with limit:
                detail = await _judge_one(writer, models, config, experiment, protocol, question, item, dataset, round)
            if on_done is not None:
                on_done()
            return detail

        def match(protocol: str) -> Match:
            async def play(player: str, opponent: str, round: int) -> list[Detail]:
                cases = items(questions, config, protocol, pairs=[(player, opponent), (opponent, player)])
                return list(await asyncio.gather(*(judged(protocol, q, item, round) for q, item in cases)))

            return play

        async with asyncio.TaskGroup() as group:
            for protocol in config.protocols:
                for question, item in items(questions, config, protocol):
                    group.create_task(judged(protocol, question, item))
                if protocol in DEBATES and config.opponents and config.tournament == "swiss":
                    players = [config.debater, *config.opponents]
                    group.create_task(swiss_tournament(players, match(protocol), config.swiss_rounds))
    return experiment


async def _judge_one(
    writer: Writer,
    models: dict[str, Model],
    config: OversightConfig,
    experiment: str,
    protocol: str,
    question: Question,
    item: Item,
    dataset: str,
    round: int | None = None,
) -> Detail:
    """Judge one case as a stored run; returns what its verdict stored (None when a model failed for good)."""
    speaker = item.debaters[0] if protocol in DEBATES else config.debater
    model = item.judge if protocol in ("naive", "oracle") else speaker
    case: dict[str, Any] = item.model_dump(exclude={"source", "question", "quotable", "examples"})
    case |= {"question_id": question.id, "metadata": question.metadata}
    if round is not None:
        case["tournament_round"] = round
    run_config = {
        "experiment": experiment,
        "protocol": protocol,
        "case": case,
        "oversight": config.model_dump(mode="json"),
    }
    run_id = await writer.write(
        ops.create_run, task_id=f"{dataset}/{question.id}", model=model, config=run_config, status=RunStatus.RUNNING
    )
    session = Session(
        run_id=run_id,
        writer=writer,
        config=config,
        models=models,
        question=item.question,
        answers=item.answers,
        source=item.source,
        quotable=[*item.quotable] or None,
    )
    try:
        verdict = await PROTOCOLS[protocol](session, item)
    except asyncio.CancelledError:  # stopped (Ctrl-C): never left `running`
        await writer.write(ops.abort, run_id, RunStatus.KILLED, "cancelled")
        raise
    except ProtocolStop as stop:  # e.g. no side chosen: recorded and counted apart, never given a verdict
        detail = {"answer": None, "correct": False, "parsed": False, "stopped": stop.reason}
        await writer.write(_record_verdict, run_id, detail, "", None, f"{stop.reason}: {stop} (not judged)")
        return detail
    except Exception as error:  # a model that failed for good: the case is recorded as failed, the rest go on
        await writer.write(ops.abort, run_id, RunStatus.FAILED, f"{type(error).__name__}: {error}")
        return None
    correct = verdict.answer == item.correct
    detail = verdict.model_dump(exclude={"text"}) | session.detail
    detail |= {"correct": correct, "parsed": verdict.answer is not None}
    submission = LETTERS[verdict.answer] if verdict.answer is not None else ""
    note = None if verdict.answer is not None else "unparseable verdict: counted as wrong"
    await writer.write(_record_verdict, run_id, detail, submission, 1.0 if correct else 0.0, note)
    return detail


def _record_verdict(
    conn: Connection, run_id: str, detail: dict[str, Any], submission: str, score: float | None, note: str | None
) -> None:
    """A judged case's verdict, submission, score and final status, in one transaction."""
    ops.add_event(conn, run_id, "verdict", detail)
    ops.update_run(conn, run_id, submission=submission, score=score)
    ops.set_status(conn, run_id, RunStatus.DONE, note)


def load_dataset(spec: str) -> tuple[str, list[Question]]:
    """A dataset's name and questions: `sample` (bundled questions with sources), `quality-sample` (bundled
    QuALITY-format articles), `bugs` (planted-bug code review), or a JSONL file — QuALITY's own release format
    (detected by its `article` key) or plain question lines.

    Raises:
        DatasetError: the file is missing or malformed (one line naming file and line), or holds no question with
            a known answer (QuALITY's test split).
    """
    from proctor.protocols.datasets import QUALITY_SAMPLE, QUESTIONS_SAMPLE, load_quality, load_questions

    if spec == "sample":
        return "sample", load_questions(QUESTIONS_SAMPLE)
    if spec == "quality-sample":
        return "quality-sample", load_quality(QUALITY_SAMPLE).questions
    if spec == "bugs":
        from proctor.protocols.bugs import bug_questions

        return "bugs", bug_questions()
    path = Path(spec)
    head = ""
    if path.is_file():
        with path.open() as file:
            head = file.readline()
    loaded = load_quality(path).questions if '"article"' in head else load_questions(path)
    return dataset_name(path), loaded


def dataset_name(path: Path) -> str:
    """A question file's dataset name: its file name without a `.jsonl` or `.json` extension, so that QuALITY's
    `QuALITY.v1.0.1.htmlstripped.dev` keeps its split."""
    return path.stem if path.suffix.lower() in (".jsonl", ".json") else path.name
