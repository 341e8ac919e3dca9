"""The `tags` agent: the model replies with its reasoning and one action in text tags."""

from __future__ import annotations

from proctor.agents._actions import parse_option
from proctor.agents._base import AgentRun, Proposal, Proposer, agent
from proctor.agents._context import show_observation, start
from proctor.models import Message
from proctor.store import ObservationRecord, OptionRecord


@agent("tags")
class TagsAgent:
    """Text tags: reasoning, then one <bash>, <write>, <delegate>, <score> or <submit> tag per reply."""

    def start(self, run: AgentRun) -> list[Message]:
        return start(run.instructions, ask_human=run.ask_human, task=run.task_messages())

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        generation = await proposer.generate(messages, run.generate.model_copy(update={"n": run.options}))
        return [parse_option(completion.text) for completion in generation.completions]

    def step_messages(self, run: AgentRun, option: OptionRecord, observation: ObservationRecord) -> list[Message]:
        shown = show_observation(observation, run.observation_chars)
        return [Message(role="assistant", content=option.text), Message(role="user", content=shown)]

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        return [*messages, *self.step_messages(run, option, observation)]
