"""The judged cases of an oversight experiment as stored, and the order protocols are shown in."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

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


def protocol_order(name: str) -> tuple[int, str]:
    base = name.split(" (")[0]
    return (ORDER.index(base) if base in ORDER else len(ORDER), name)
