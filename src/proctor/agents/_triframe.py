"""The `triframe` agent: METR's advisor / actor / rater pattern on proctor's tree.

Each step has three phases, each stored: an **advisor** model reads the conversation and writes advice (an `advice`
step of its own); the **actor** (the run's model, through the `react` tools or the `tags` format) proposes the
step's options with that advice in view; a **rater** model rates every option and the best one runs — the `rating`
chooser, with the rater's ratings stored on the options. Advisor and rater default to the run's model.
"""

from __future__ import annotations

from typing import Any

from proctor.agents._base import AgentRun, Proposal, Proposer, StepMessages, agent, get_agent, transcript
from proctor.models import Message
from proctor.store import ObservationRecord, OptionRecord

ADVISOR_PROMPT = """You advise an agent doing a task in a Linux shell; you do not act yourself. The task and the
agent's work so far:

{transcript}

Say, in a few sentences, what it should do next and what to watch out for (mistakes so far, checks it skipped).
Plain text; no tool calls or action tags."""


@agent("triframe")
class TriframeAgent:
    """Advisor, actor, rater: advice each step, N proposals, the best-rated one runs (METR's triframe)."""

    def __init__(self, advisor: str | None = None, rater: str | None = None, actor: str = "react") -> None:
        """
        Args:
            advisor: The advisor's model (default: the run's).
            rater: The rater's model (default: the run's); a run whose chooser is left at `first` uses the
                `rating` chooser with it.
            actor: How the actor acts: `react` (native tool calls) or `tags`.
        """
        self.advisor = advisor
        self.actor = get_agent(actor)
        self.step_messages: StepMessages | None = getattr(self.actor, "step_messages", None)
        """The actor's, when it says what a step adds (`rebuild` then appends; see `StepMessages`)."""
        self.chooser: dict[str, Any] = {"name": "rating", "model": rater}

    def start(self, run: AgentRun) -> list[Message]:
        return self.actor.start(run)

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        asked = [Message(role="user", content=ADVISOR_PROMPT.format(transcript=transcript(messages)))]
        config = run.generate.model_copy(update={"n": 1, "tools": None})
        advice = (await proposer.generate(asked, config, role="advisor", model=self.advisor)).completions[0].text
        await proposer.record("advice", advice)
        advised = [*messages, Message(role="user", content=f"Advice for your next step:\n{advice.strip()}")]
        return await self.actor.propose(run, advised, proposer)

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        return self.actor.observe(run, messages, option, observation)
