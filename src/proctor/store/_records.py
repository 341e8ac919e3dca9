"""Records read from the store: what views (CLI, web, export) see."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, computed_field


class RunStatus(StrEnum):
    """Where a run is."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING_HUMAN = "waiting_human"
    WAITING_APPROVAL = "waiting_approval"
    WAITING_ANSWER = "waiting_answer"
    PAUSED = "paused"
    SCORING = "scoring"
    NEEDS_MANUAL_SCORE = "needs_manual_score"
    DONE = "done"
    FAILED = "failed"
    KILLED = "killed"
    OVER_LIMIT = "over_limit"

    @property
    def final(self) -> bool:
        """No more steps will be taken (a paused run, a run over a limit, and a killed run can be resumed)."""
        return self in {RunStatus.DONE, RunStatus.FAILED, RunStatus.NEEDS_MANUAL_SCORE}


class RunRecord(BaseModel):
    """A run as stored."""

    id: str
    """Run id."""
    task_id: str
    """The task, `family/name`."""
    status: RunStatus
    """Where the run is."""
    model: str
    """The agent's model."""
    config: dict[str, Any]
    """The full run config."""
    parent_run_id: str | None = None
    """The run that delegated this one."""
    parent_step_id: int | None = None
    """The parent's delegating step."""
    forked_from_run_id: str | None = None
    """The run this one forks."""
    forked_from_step: int | None = None
    """The step index it continues from."""
    workspace: str | None = None
    """The workspace folder."""
    submission: str | None = None
    """What the agent submitted."""
    score: float | None = None
    """The score in [0, 1], if scored."""
    error: str | None = None
    """Why it failed or stopped."""
    steps_done: int = 0
    """Completed steps."""
    pause_requested: bool = False
    """A person asked the run to pause at its next step."""
    input_tokens: int = 0
    """Prompt tokens over all calls."""
    output_tokens: int = 0
    """Generated tokens over all calls."""
    cost: float = 0.0
    """US dollars over all priced calls."""
    active_seconds: float = 0.0
    """Seconds running, pauses excluded."""
    created_at: datetime
    """When the run was created."""
    finished_at: datetime | None = None
    """When it reached a final status."""
    lease_owner: str | None = None
    """The worker holding the run's lease, if a worker drives it under one."""
    lease_expires: datetime | None = None
    """When that lease lapses unless renewed."""
    batch: str | None = None
    """The Ray executor's batch the run was created in."""


class ExperimentRuns(BaseModel):
    """An oversight experiment's finished runs of one protocol."""

    experiment: str
    """The experiment id."""
    protocol: str
    """The protocol."""
    runs: int
    """How many of its runs are done."""
    started: datetime
    """When the experiment's first run of it was created."""


class StuckRecord(BaseModel):
    """A finished agent run with its stuck checks (see `Store.stuck_checks`)."""

    run_id: str
    """The run."""
    task_id: str
    """Its task."""
    model: str
    """The agent's model."""
    status: RunStatus
    """done, failed or over_limit."""
    score: float | None
    """Its score, if scored."""
    restart: bool
    """Its config let a check that found it stuck restart it from a summary."""
    checks: int
    """Stuck checks that fired."""
    stuck: int
    """Checks the model answered stuck."""
    restarts: int
    """Checks that restarted it."""


class OptionRecord(BaseModel):
    """One proposed next action."""

    id: int
    """Option id."""
    index: int
    """Position among the step's options."""
    text: str
    """The raw proposal."""
    action: str | None
    """Parsed action kind, or None if unparseable."""
    argument: dict[str, Any] | None
    """Parsed arguments."""
    parse_error: str | None
    """Why it could not be parsed."""
    source: str
    """`model:<name>` or `human:<user>`."""
    added_by: str | None = None
    """Who added it to the step after the step was taken (an alternative to rate and compare, never run)."""
    ratings: list[RatingRecord] = Field(default_factory=list)
    """Ratings of this option."""


class RatingRecord(BaseModel):
    """A rating of an option."""

    id: int
    """Rating id."""
    rater: str
    """`model:<name>` or `human:<user>`."""
    value: float
    """The rating."""
    scale: str
    """The scale, e.g. `1-5`."""
    method: str
    """`logprobs`, `sampling` or `human`."""
    comment: str | None = None
    """The rater's comment."""


class ObservationRecord(BaseModel):
    """What executing the chosen option produced."""

    kind: str
    """bash, write, delegate, submit, or error."""
    output: str
    """What the agent is shown."""
    stderr: str = ""
    """Standard error of a shell action."""
    exit_code: int | None = None
    """Shell exit status."""
    failed: bool = False
    """The action failed."""
    timed_out: bool = False
    """Killed at the time limit."""
    truncated: bool = False
    """Output cut at the limit."""
    duration: float = 0.0
    """Seconds the action took."""
    child_run_id: str | None = None
    """The subtask run of a delegate action."""
    calls: list[dict[str, Any]] | None = None
    """For an option of tool calls: per call, `id`, `tool`, `output` (what the model is shown) and `failed`."""


MAIN_ARGUMENT = {
    "bash": "command",
    "python": "code",
    "read": "path",
    "write": "path",
    "edit": "path",
    "delegate": "instructions",
    "submit": "answer",
    "ask": "question",
}
"""Each action's main argument: what approval rules match and what a person's edit replaces."""


class HoldRecord(BaseModel):
    """An action held for a person: a risky action waiting for approval, or a question the agent asked."""

    id: int
    """Hold id."""
    step_id: int
    """The step whose chosen option holds the action."""
    call: int
    """Which tool call of an option of calls (0 for an option of one action)."""
    kind: str
    """`approval` (an approval rule matched) or `question` (the agent asked a person)."""
    action: str
    """The held action: bash, python, read, write, edit, delegate, submit, score, or ask."""
    tool: str | None = None
    """The tool the model called, for a call of a react option."""
    argument: dict[str, Any]
    """The action's arguments as proposed."""
    rule: str | None = None
    """The approval rule that matched, `action: pattern`."""
    prior: list[dict[str, Any]] | None = None
    """Results of the option's calls that ran before this one was held."""
    verdict: str | None = None
    """`approved`, `edited`, `rejected` or `answered`; None while the action waits."""
    edited: dict[str, Any] | None = None
    """The arguments a person replaced them with (verdict `edited`)."""
    text: str | None = None
    """The reason for a rejection, or the answer to a question."""
    decided_by: str | None = None
    """Who decided or answered (a user name, or `cli`)."""
    decided_at: datetime | None = None
    """When."""
    result: dict[str, Any] | None = None
    """The held action's result once it ran."""
    created_at: datetime
    """When the action was held."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def subject(self) -> str:
        """The main argument as proposed: the command, code, path, instructions, answer, or the question."""
        return str(self.argument.get(MAIN_ARGUMENT.get(self.action, ""), ""))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def replacement(self) -> str | None:
        """The main argument as a person edited it."""
        return None if self.edited is None else str(self.edited.get(MAIN_ARGUMENT.get(self.action, ""), ""))

    def with_subject(self, text: str) -> dict[str, Any]:
        """The arguments with the main one replaced by `text` (a person's edit)."""
        return self.argument | {MAIN_ARGUMENT.get(self.action, "text"): text}


class StepRecord(BaseModel):
    """A step with its options, choice, observation and tags."""

    id: int
    """Step id."""
    index: int
    """Position in the run."""
    kind: str
    """`action`, `stuck_check` or `restart`."""
    summary: str | None = None
    """The restart summary, for a `restart` step."""
    options: list[OptionRecord] = Field(default_factory=list)
    """The proposals, in order."""
    chosen_option_id: int | None = None
    """The chosen option."""
    chooser: str | None = None
    """Who chose it."""
    observation: ObservationRecord | None = None
    """What the chosen action produced."""
    tags: list[str] = Field(default_factory=list)
    """Tags on the step."""
    holds: list[HoldRecord] = Field(default_factory=list)
    """Actions of the chosen option held for a person (approvals, questions), by call."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def done(self) -> bool:
        """The step is complete: its observation is stored."""
        return self.observation is not None

    @property
    def chosen(self) -> OptionRecord | None:
        """The chosen option, if any."""
        return next((o for o in self.options if o.id == self.chosen_option_id), None)


OptionRecord.model_rebuild()
