"""The `answer` agent: one reply, submitted as the answer (Inspect's `generate()` solver)."""

from __future__ import annotations

from proctor.agents._base import AgentRun, Proposal, Proposer, agent
from proctor.models import Message
from proctor.store import ObservationRecord, OptionRecord


@agent("answer")
class AnswerAgent:
    """One reply to the task, submitted as the answer: no tools, no system prompt (Inspect's generate())."""

    def start(self, run: AgentRun) -> list[Message]:
        return run.task_messages()

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        generation = await proposer.generate(messages, run.generate.model_copy(update={"n": run.options}))
        return [
            Proposal(text=completion.text, action="submit", argument={"answer": completion.text})
            for completion in generation.completions
        ]

    def step_messages(self, run: AgentRun, option: OptionRecord, observation: ObservationRecord) -> list[Message]:
        return [Message(role="assistant", content=option.text)]

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        return [*messages, *self.step_messages(run, option, observation)]
