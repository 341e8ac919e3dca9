"""Run configuration: typed, saved in full with every run, enough to reproduce it."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from proctor.agents._base import UnknownAgentError, get_agent_factory
from proctor.agents._react import ACTIONS as TOOL_ACTIONS
from proctor.models import GenerateConfig, redact
from proctor.sandbox import Limits
from proctor.store import Store
from proctor.store._records import MAIN_ARGUMENT, RunStatus
from proctor.tasks._base import TaskLimits

if TYPE_CHECKING:
    from proctor.tasks import Task


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChooserConfig(_Strict):
    """Which chooser picks among a step's options."""

    name: str = "first"
    """`first`, `rating` or `human` (or a registered chooser's name)."""
    model: str | None = None
    """The rating model for `rating` (None: the agent's own model)."""
    samples: int = Field(default=5, ge=1)
    """For `rating` without log-probabilities: how many sampled ratings are averaged."""
    logprobs: bool = True
    """For `rating`: use the expected rating from token log-probabilities when the provider returns them."""
    poll_seconds: float = Field(default=0.5, gt=0)
    """For `human`: how often the store is checked for a person's choice."""


class RunLimits(_Strict):
    """Limits on a run (None: no limit). Wall time excludes pauses and waits for a person."""

    steps: int | None = Field(default=30, ge=1)
    """Most action steps."""
    tokens: int | None = Field(default=None, ge=1)
    """Most tokens (prompt + generated) over all calls."""
    cost: float | None = Field(default=None, gt=0)
    """Most US dollars."""
    seconds: float | None = Field(default=None, gt=0)
    """Most seconds of wall time."""


class StuckConfig(_Strict):
    """When to ask the agent whether it is stuck, and what to do if it is."""

    every: int = Field(default=0, ge=0)
    """Ask every K steps (0: never on a schedule)."""
    after_failures: int = Field(default=3, ge=0)
    """Ask after this many failed actions in a row (0: never)."""
    restart: bool = True
    """When stuck: restart the context from a summary the model writes."""


APPROVABLE = ("bash", "python", "read", "write", "edit", "delegate", "submit", "score")
"""The actions approval rules may hold (by these names, or by a react tool's name)."""


class ApprovalConfig(_Strict):
    """Which actions wait for a person's approval before they run.

    Example:
        ApprovalConfig(rules={"bash": ["*rm -rf*", "re:curl|wget"], "write_file": ["/etc/*"]})
    """

    rules: dict[str, list[str]] = Field(default_factory=dict)
    """Per action — bash, python, read, write, edit, delegate, submit, score, a react tool's name (`write_file` is
    `write`), or `*` for any — patterns matched against the action's main argument (the command, the code, the
    path, the instructions, the answer): a glob matching the whole argument (`rm -rf *`), or a regular expression
    found anywhere in it after `re:` (`re:rm\\s+-rf`)."""
    poll_seconds: float = Field(default=0.5, gt=0)
    """How often the store is checked for a person's decision or answer."""

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, rules: dict[str, list[str]]) -> dict[str, list[str]]:
        known = {*APPROVABLE, *(tool for tool, action in TOOL_ACTIONS.items() if action in APPROVABLE), "*"}
        for name, patterns in rules.items():
            if name not in known:
                raise ValueError(f"approval rule for {name!r}: rules are on {', '.join(sorted(known))}")
            for pattern in patterns:
                if pattern.startswith("re:"):
                    try:
                        re.compile(pattern[3:])
                    except re.error as error:
                        raise ValueError(
                            f"approval rule {name}: {pattern!r} is not a regular expression: {error}"
                        ) from None
        return rules

    def rule_for(self, action: str, argument: dict[str, Any]) -> str | None:
        """The first rule that holds `action` with `argument`, as `name: pattern`, or None."""
        subject = str(argument.get(MAIN_ARGUMENT.get(action, ""), ""))
        for name, patterns in self.rules.items():
            if name != "*" and TOOL_ACTIONS.get(name, name) != action:
                continue
            for pattern in patterns:
                if _matches(pattern, subject):
                    return f"{name}: {pattern}"
        return None


def _matches(pattern: str, text: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], text) is not None
    return fnmatch.fnmatchcase(text, pattern)


class RunConfig(_Strict):
    """Everything that decides how a run goes.

    Example:
        RunConfig(model="openai/gpt-4o-mini", options=4, chooser=ChooserConfig(name="rating"))
    """

    model: str = "scripted/baseline"
    """The agent's model, `provider/model`."""
    agent: str = "tags"
    """The agent (scaffold) the model works through: `tags`, `react`, or a registered agent's name."""
    agent_options: dict[str, Any] = Field(default_factory=dict)
    """Options for the agent, passed to its factory."""
    model_options: dict[str, Any] = Field(default_factory=dict)
    """Provider options (base_url, device, …) for the agent's model. Keys and other secrets (api_key, tokens,
    passwords, authorization headers) are used, never saved: a saved config holds `"<redacted>"` instead."""
    options: int = Field(default=1, ge=1)
    """How many options the model proposes at each step."""
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    """Sampling settings for proposals (`n` is set from `options`)."""
    chooser: ChooserConfig = Field(default_factory=ChooserConfig)
    """Who picks among the options."""
    limits: RunLimits = Field(default_factory=RunLimits)
    """Hard limits: the run stops `over_limit`."""
    task_limits: bool = True
    """Apply the limits a task suggests (its `limits`) where they are tighter than these."""
    checkpoint: RunLimits = Field(default_factory=lambda: RunLimits(steps=None))
    """Soft limits: each multiple reached pauses the run until a person resumes it."""
    stuck: StuckConfig = Field(default_factory=StuckConfig)
    """Stuck checks."""
    sandbox: str = "bwrap"
    """The sandbox backend."""
    command_limits: Limits = Field(default_factory=Limits)
    """Limits on each command the agent runs."""
    allow_internet: bool = False
    """Grant `full_internet` to tasks that ask for it (refused by default)."""
    task_memory_ceiling_mb: int = Field(default=8192, ge=1)
    """The most memory (MiB) a task's suggested limits (a METR manifest's `memory_gb`) may give its sandbox: a task
    may raise `command_limits.memory_mb` up to this, never past it."""
    task_disk_ceiling_mb: int = Field(default=65536, ge=1)
    """The most disk (MiB) a task's suggested limits (a METR manifest's `storage_gb`) may give its workspace."""
    max_delegation_depth: int = Field(default=2, ge=0)
    """How deep subtasks may nest."""
    subtask: str | None = None
    """For a delegated run: the subtask's instructions (instead of the task's)."""
    observation_chars: int = Field(default=8000, ge=1)
    """Most characters of an observation shown to the model (the store keeps all it got)."""
    context_window: int | None = Field(default=None, ge=256)
    """Tokens of context the model has (None: known per model, else no compaction)."""
    compaction: Literal["summary", "truncate"] = "summary"
    """How a conversation near the context window is compacted: a summary the model writes, or the oldest steps
    dropped. Either way it is recorded as a `compaction` step."""
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    """Actions that wait for a person's approval (who may approve, edit or reject them) before they run."""
    ask_human: bool = False
    """Let the agent ask a person a question (`<ask>`, the `ask_human` tool); the run waits for the answer."""

    @model_validator(mode="before")
    @classmethod
    def _agent_defaults(cls, data: Any) -> Any:
        # An agent may bring defaults of its own (`config_defaults`: the human agent calls no model and takes no
        # step limit); whatever the config gives is kept over them.
        if not isinstance(data, dict) or not isinstance(data.get("agent"), str):
            return data
        try:
            defaults = getattr(get_agent_factory(data["agent"]), "config_defaults", None)
        except UnknownAgentError:
            return data  # refused, with the names there are, by `_known_agent`
        return _merged(defaults, data) if defaults else data

    @field_serializer("model_options")
    def _without_secrets(self, options: dict[str, Any]) -> dict[str, Any]:
        # Every saved copy (the stored run, exports, --json) is made by serializing: the key stays in memory only.
        return redact(options)

    @field_validator("agent")
    @classmethod
    def _known_agent(cls, name: str) -> str:
        get_agent_factory(name)  # an unknown name is refused with the names there are
        return name

    @field_validator("command_limits")
    @classmethod
    def _positive_limits(cls, limits: Limits) -> Limits:
        for name, value in limits.model_dump().items():
            if value <= 0:
                raise ValueError(f"command_limits.{name} must be more than 0, got {value}")
        return limits


def _merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """`given` over `defaults`, nested dicts merged key by key."""
    merged = dict(defaults)
    for key, value in given.items():
        below = merged.get(key)
        merged[key] = _merged(below, value) if isinstance(below, dict) and isinstance(value, dict) else value
    return merged


def _tighter(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _raised(configured: int, suggested: int | None, ceiling: int) -> int:
    """A task's suggested size (memory, disk), which may also be larger than configured, up to `ceiling`."""
    return configured if suggested is None else min(suggested, max(ceiling, configured))


_NONE_SUGGESTED = TaskLimits()


def with_task_limits(config: RunConfig, task: Task) -> RunConfig:
    """The config with the limits the task suggests applied (when `task_limits` is set): where they are tighter,
    and its memory and disk also where they are larger, up to `task_memory_ceiling_mb` and
    `task_disk_ceiling_mb`. The task's step limit is left out for an agent whose `task_step_limit` is False (a
    person's)."""
    suggested = task.info.limits
    if not config.task_limits or suggested == _NONE_SUGGESTED:  # nothing to apply: the config as it is
        return config
    # A task's step limit budgets a model's actions; a person's steps (each file they open is one) are not those.
    counts_steps = getattr(get_agent_factory(config.agent), "task_step_limit", True)
    limits = config.limits.model_copy(
        update={
            "steps": _tighter(config.limits.steps, suggested.steps) if counts_steps else config.limits.steps,
            "tokens": _tighter(config.limits.tokens, suggested.tokens),
            "cost": _tighter(config.limits.cost, suggested.cost_usd),
            "seconds": _tighter(config.limits.seconds, suggested.time_seconds),
        }
    )
    command = config.command_limits.model_copy(
        update={
            "timeout": _tighter(config.command_limits.timeout, suggested.command_timeout),
            # A task may ask for more than the default (METR manifests do), up to the ceilings.
            "memory_mb": _raised(config.command_limits.memory_mb, suggested.memory_mb, config.task_memory_ceiling_mb),
            "disk_mb": _raised(config.command_limits.disk_mb, suggested.disk_mb, config.task_disk_ceiling_mb),
        }
    )
    return config.model_copy(update={"limits": limits, "command_limits": command})


def default_workspaces() -> Path:
    """Where run workspaces go: `PROCTOR_WORKSPACES`, else a folder the sandbox's unprivileged host user can
    reach — /var/lib/proctor/workspaces when running as root (whose home is private), else the user's data
    folder."""
    if folder := os.environ.get("PROCTOR_WORKSPACES"):
        return Path(folder)
    if os.geteuid() == 0:
        return Path("/var/lib/proctor/workspaces")
    return Path(platformdirs.user_data_dir("proctor")) / "workspaces"


class RunKilled(Exception):
    """Someone killed the run while its runner waited for a person (`proctor.store.ops.kill`): the runner stops
    driving it, and the run stays `killed`."""


async def stop_if_killed(store: Store, run_id: str) -> None:
    """Raise `RunKilled` when the run has been killed (checked while a runner waits for a person)."""
    status = await asyncio.to_thread(lambda: store.run(run_id).status)
    if status is RunStatus.KILLED:
        raise RunKilled(run_id)
