"""Exports: JSONL trajectories, and preference pairs from ratings."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from typing import Any

from proctor.store._records import RunRecord, StepRecord
from proctor.store._store import Store


def trajectory(store: Store, record: RunRecord) -> dict[str, Any]:
    """A run with its whole tree: every step's options (chosen marked, ratings), observation, tags; subtask runs
    nested under the step that delegated them; people's notes on the run."""
    steps = []
    for step in store.steps(record.id):
        item = step.model_dump(mode="json")
        if step.observation and step.observation.child_run_id:
            item["subtask"] = trajectory(store, store.run(step.observation.child_run_id))
        steps.append(item)
    notes = [e["detail"] | {"created_at": e["created_at"].isoformat()} for e in store.events(record.id, "note")]
    return record.model_dump(mode="json") | {"steps": steps, "notes": notes}


def trajectories(store: Store, records: list[RunRecord]) -> Iterator[dict[str, Any]]:
    """One trajectory per run."""
    for record in records:
        yield trajectory(store, record)


def _context(steps: list[StepRecord], upto: int) -> list[dict[str, str]]:
    """The chosen actions and observations before step `upto`, as the agent saw them."""
    turns = []
    for step in steps[:upto]:
        chosen = step.chosen
        if step.kind == "action" and chosen is not None and step.observation is not None:
            turns += [
                {"role": "assistant", "content": chosen.text},
                {"role": "user", "content": step.observation.output},
            ]
    return turns


def preference_pairs(store: Store, records: list[RunRecord]) -> Iterator[dict[str, Any]]:
    """For each step with two or more rated options, one pair per two options whose mean ratings differ: the
    higher-rated is `chosen`, the lower `rejected`."""
    for record in records:
        task = store.task(record.task_id)
        steps = store.steps(record.id)
        for position, step in enumerate(steps):
            rated = [(o, sum(r.value for r in o.ratings) / len(o.ratings)) for o in step.options if o.ratings]
            for (a, score_a), (b, score_b) in combinations(rated, 2):
                if score_a == score_b:
                    continue
                (best, best_score), (worst, worst_score) = sorted(
                    [(a, score_a), (b, score_b)], key=lambda pair: -pair[1]
                )
                yield {
                    "run_id": record.id,
                    "task_id": record.task_id,
                    "step": step.index,
                    "instructions": task["instructions"],
                    "context": _context(steps, position),
                    "chosen": best.text,
                    "rejected": worst.text,
                    "chosen_rating": best_score,
                    "rejected_rating": worst_score,
                    "raters": sorted({r.rater for o in (best, worst) for r in o.ratings}),
                }
