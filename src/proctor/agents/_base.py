"""The agent extension point: how a run's model is prompted, how its replies become options, and how
observations return to its context. The step loop, store, choosers, forks, resume, delegation and limits are the
same for every agent; an agent only turns stored state into the next request and completions into options."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from proctor.models import GenerateConfig, Generation, Message
from proctor.store import ObservationRecord, OptionRecord, StepRecord, Writer


@dataclass(frozen=True)
class AgentRun:
    """What an agent knows of the run it drives."""

    instructions: str
    """The task's (or subtask's) instructions, with the runner's notes."""
    options: int
    """How many options to propose per step."""
    generate: GenerateConfig
    """The run's sampling settings."""
    observation_chars: int = 8000
    """Most characters of an observation to show the model."""
    intermediate_scoring: bool = False
    """The task scores work in progress on request."""
    delegation: bool = True
    """Subtasks may be delegated (the depth limit is not reached)."""
    ask_human: bool = False
    """The agent may ask a person a question (`<ask>`, the `ask_human` tool) and wait for the answer."""
    input: tuple[Message, ...] = ()
    """The task's input as a conversation (an Inspect sample's chat input), which agents send in place of the
    instructions as one user message; empty for tasks whose input is their instructions."""
    task: Any = None
    """The task being run, for agents that run the task's own code (`inspect` runs an Inspect task's solver)."""

    def task_messages(self) -> list[Message]:
        """The task as the model is first shown it: the input conversation, or the instructions as a user message."""
        return list(self.input) if self.input else [Message(role="user", content=self.instructions)]

    def restarted(self, summary: str, why: str = "were restarted") -> AgentRun:
        """The run as it continues from a summary (after a stuck check restarted it, or a compaction)."""
        note = f"\n\nYou have worked on this before and {why}. Your summary:\n{summary}"
        return dataclasses.replace(self, instructions=self.instructions + note, input=())


class Proposal(BaseModel):
    """One option an agent proposes: the model's text and the action parsed from it."""

    text: str
    """What the model wrote (its reasoning; for tags, the whole reply)."""
    action: str | None
    """`bash`, `write`, `python`, `read`, `edit`, `delegate`, `score`, `submit`, `calls` (tool calls), or None."""
    argument: dict[str, Any] | None
    """The action's arguments; for `calls`, `{"calls": [{id, tool, arguments, action, argument, error}]}`."""
    parse_error: str | None = None
    """Why no action could be parsed (shown to the model as the step's observation)."""
    source: str | None = None
    """Who proposed it, when not the run's model: `human:<user>` for a person doing the task."""


class Proposer(Protocol):
    """The model calls an agent may make for one step; their usage is stored with the step."""

    model: str
    """The run's model, `provider/model`."""
    run_id: str
    """The run being driven."""
    writer: Writer
    """The run's store writer (`writer.store` reads): for agents that wait for a person through the store."""

    async def generate(
        self, messages: list[Message], config: GenerateConfig, *, role: str = "agent", model: str | None = None
    ) -> Generation:
        """Call the run's model (or `model`, another one); `role` names the call in the usage rows."""
        ...

    async def record(self, kind: str, text: str) -> None:
        """Store a phase of the step before its options (e.g. an advisor's `advice`) as a step of its own, with
        the calls made so far; the options then go in the next step."""
        ...

    def idle(self, seconds: float) -> None:
        """Count `seconds` of this step as not the run's active time (a person's clock paused or not started)."""
        ...


class Agent(Protocol):
    """A scaffold: builds each request from the run's stored state and turns completions into options."""

    def start(self, run: AgentRun) -> list[Message]:
        """The conversation before the first step."""
        ...

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        """The step's options (usually `run.options` sampled completions of `messages`)."""
        ...

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        """The conversation after `option` was chosen and run. The option may be one a person wrote (text tags)."""
        ...


StepMessages = Callable[[AgentRun, OptionRecord, ObservationRecord], list[Message]]
"""An agent's optional `step_messages(run, option, observation)`: the messages a completed action step adds to the
conversation, when `observe` only appends them (`observe` is then `[*messages, *step_messages(...)]`). With it,
`rebuild` extends one list instead of copying the conversation at each step: linear in the run's steps, not
quadratic. Every built-in agent has one."""


DEFAULT_CHOOSER = "first"
"""An agent with a `chooser` attribute (a ChooserConfig's fields, e.g. triframe's rater) gets it in runs whose
chooser is left at this default."""


AgentFactory = Callable[..., Agent]
_agents: dict[str, AgentFactory] = {}


class UnknownAgentError(ValueError):
    """No agent of that name is registered."""


def agent(name: str) -> Callable[[AgentFactory], AgentFactory]:
    """Register an agent under `name`: a class or function called with the run's `agent_options`.

    Example:
        @agent("terse")
        class Terse(TagsAgent):
            \"\"\"Text tags, told to be brief.\"\"\"
    """

    def register(factory: AgentFactory) -> AgentFactory:
        _agents[name] = factory
        return factory

    return register


ELSEWHERE = {"inspect": "proctor.interop._inspect_agent"}
"""Agents registered by modules outside this package, imported when first named (or listed)."""


def agents() -> dict[str, str]:
    """Registered agents and the first line of each one's docstring."""
    for module in ELSEWHERE.values():
        importlib.import_module(module)
    return {name: (factory.__doc__ or "").strip().splitlines()[0] for name, factory in sorted(_agents.items())}


def get_agent_factory(name: str) -> AgentFactory:
    """The factory registered under `name`.

    Raises:
        UnknownAgentError: no such agent (the message lists those there are).
    """
    if name not in _agents and name in ELSEWHERE:
        importlib.import_module(ELSEWHERE[name])
    if name not in _agents:
        raise UnknownAgentError(f"unknown agent {name!r} (agents: {', '.join(sorted(_agents))})")
    return _agents[name]


def get_agent(name: str, **options: Any) -> Agent:
    """Build the agent registered under `name` with `options`.

    Raises:
        UnknownAgentError: no such agent (the message lists those there are).
    """
    return get_agent_factory(name)(**options)


def tokens_of(messages: list[Message]) -> int:
    """About how many tokens `messages` take (four characters a token, and a few per message)."""
    chars = sum(len(m.content) + sum(len(c.name) + len(c.arguments) for c in m.tool_calls) for m in messages)
    return chars // 4 + 4 * len(messages)


def kept_after_truncation(messages: list[Message], budget: int) -> int:
    """How many of the last messages to keep after the task (the first two) so they take at most `budget` tokens:
    whole turns only, from an assistant message on (a tool call and its results stay together)."""
    keep = 0
    for start in range(len(messages) - 1, 1, -1):
        if tokens_of(messages[start:]) > budget:
            break
        if messages[start].role == "assistant":
            keep = len(messages) - start
    return keep


def describe_option(option: OptionRecord) -> str:
    """An option as a person or a rater reads it: its text, and each tool call as `tool(arguments)`."""
    calls = (option.argument or {}).get("calls", []) if option.action == "calls" else []
    return "\n".join([option.text, *(f"{call['tool']}({call['arguments']})" for call in calls)]).strip()


def transcript(messages: list[Message], turns: int | None = None) -> str:
    """A conversation as text for another model to read (a rater, an advisor): the task, then the last `turns`
    messages (all by default), tool calls written as `tool(arguments)`."""
    recent = messages[2:] if turns is None else messages[2:][-turns:]
    shown = [messages[1], *recent] if len(messages) > 1 else messages
    lines = [[m.content, *(f"{c.name}({c.arguments})" for c in m.tool_calls)] for m in shown]
    return "\n\n".join(f"[{m.role}]\n" + "\n".join(each).strip() for m, each in zip(shown, lines, strict=True))


def advance(agent: Agent, run: AgentRun, messages: list[Message], step: StepRecord) -> list[Message]:
    """The conversation after a completed step: an action step's chosen option and observation, as the agent
    shows them; a restart step starts over from its summary; a compaction from its summary, or keeps the task and
    its last messages; other steps leave it as it was."""
    if step.kind == "restart" and step.summary is not None:
        return agent.start(run.restarted(step.summary))
    if step.kind == "compaction":
        if step.summary is not None:
            return agent.start(run.restarted(step.summary, "your earlier steps were summarized to save room"))
        keep = (step.options[0].argument or {})["keep"]
        return [*messages[:2], *messages[len(messages) - keep :]]
    if step.kind != "action" or step.chosen is None or step.observation is None:
        return messages
    return agent.observe(run, messages, step.chosen, step.observation)


def rebuild(agent: Agent, run: AgentRun, steps: Iterable[StepRecord]) -> list[Message]:
    """The conversation after a run's completed steps: what a resumed run continues from, and what the model saw
    at a step. The same as `advance` over the steps, in time linear in them for an agent with `step_messages`.
    The steps are read once, in order: they may be streamed (a window at a time) rather than held in a list."""
    adds: StepMessages | None = getattr(agent, "step_messages", None)
    messages = list(agent.start(run))
    for step in steps:
        if not step.done:
            continue
        if adds is not None and step.kind == "action" and step.chosen is not None and step.observation is not None:
            messages.extend(adds(run, step.chosen, step.observation))  # in place: `observe` would copy the list
            continue
        following = advance(agent, run, messages, step)
        if following is not messages:  # a list of the agent's (or a compaction's): extended here from now on
            messages = list(following)
    return messages
