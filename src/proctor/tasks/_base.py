"""The task interface shared by the native format and METR Task Standard families."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from proctor.sandbox import Sandbox


class TaskError(Exception):
    """A task folder is malformed; the message names the file and what is wrong, in one line."""


class TaskLimits(BaseModel):
    """Limits a task suggests for its runs; the runner may apply them or override them."""

    steps: int | None = None
    """Most steps (agent actions) in a run."""
    tokens: int | None = None
    """Most model tokens, input and output, over the run."""
    cost_usd: float | None = None
    """Most model cost in US dollars over the run."""
    time_seconds: float | None = None
    """Most wall-clock seconds for the whole run."""
    command_timeout: float | None = None
    """Wall-clock seconds before one command is killed (sandbox `Limits.timeout`)."""
    memory_mb: int | None = None
    """Memory per command in MiB (sandbox `Limits.memory_mb`)."""
    disk_mb: int | None = None
    """Disk of the workspace in MiB (sandbox `Limits.disk_mb`)."""


class TaskInfo(BaseModel):
    """What is known of a task without running it."""

    id: str
    """`family/name`, unique across loaded tasks."""
    family: str
    """The suite (native) or the METR task family."""
    name: str
    """The task's name within its family."""
    format: Literal["native", "metr", "inspect"]
    """Which task format it was loaded from (`inspect`: a sample of an Inspect task, see docs/interop.md)."""
    source: str
    """The folder it was loaded from."""
    instructions: str
    """What the agent is told."""
    permissions: list[str] = Field(default_factory=list)
    """`[]` or `["full_internet"]`: the sandbox has network only with `full_internet`."""
    tags: list[str] = Field(default_factory=list)
    """Labels reports group and filter tasks by: abilities (`shell`) and difficulty (`difficulty:hard`)."""
    required_environment_variables: list[str] = Field(default_factory=list)
    """Host environment variables the task needs (METR); passed to set-up and scoring only."""
    limits: TaskLimits = Field(default_factory=TaskLimits)
    """Limits the task suggests (native `limits:`, METR `manifest.yaml` resources)."""
    intermediate_scoring: bool = False
    """The agent may ask for intermediate scores (a METR family with `intermediate_score`)."""
    human_minutes: float | None = None
    """Minutes a qualified person takes to do the task (native `human_minutes:`, or the task's `human_minutes` in a
    METR `manifest.yaml`); None when not given. Time-horizon reports use it."""
    scored_from_log: bool = False
    """The final score is the family's `aggregate_scores` over the intermediate scores, not `score(submission)`
    (a METR family defining `aggregate_scores`, as METR's drivers do)."""


class Task(Protocol):
    """A loaded task: knows how to set up a workspace and how to score a submission.

    Set-up and scoring run inside the run's sandbox (as root inside it, never on the host as root);
    the task's own data (scorer, solutions) is mounted only for them and never placed in the workspace.
    """

    info: TaskInfo
    """The task's description."""

    async def setup(self, sandbox: Sandbox) -> None:
        """Place the task's files in the workspace and start it (METR `start`)."""
        ...

    async def score(self, sandbox: Sandbox, submission: str) -> float | None:
        """A score in [0, 1], or None when a person must score it (METR `score`)."""
        ...

    async def teardown(self, sandbox: Sandbox) -> None:
        """Clean up after the run (METR `teardown`)."""
        ...

    # A task may also define `async def score_run(self, sandbox, submission, run: ScoringRun) -> float | None`:
    # it is then scored from the run's stored transcript (an Inspect task's scorers) instead of by `score`.
    # A task may also define `async def sandbox_options(self, backend: str) -> dict[str, Any]`: options its run's
    # sandbox is built with (a METR family's installed layer); the runner awaits it before building the sandbox.
