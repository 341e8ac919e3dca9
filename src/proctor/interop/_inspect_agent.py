"""The `inspect` agent: an Inspect task's own solver, run as it is, each of its model calls a step.

For solvers proctor has no agent for (`chain_of_thought()`, `prompt_template()`, `self_critique()`, a custom
`@solver` that only calls the model). The solver gets Inspect's `TaskState` of the sample and a `generate` that calls
the run's model through the `proctor` model API; every call is stored as a step of kind `generate` (its text and
usage), and the solver's output, when it returns, is submitted and scored by the task's scorers. Inspect's tools
need Inspect's sandbox, which proctor does not give: a solver whose model calls a tool fails the run, in one line.
"""

from __future__ import annotations

from proctor.agents import AgentRun, Proposal, Proposer, agent
from proctor.models import Message
from proctor.store import ObservationRecord, OptionRecord
from proctor.tasks import TaskRunError


@agent("inspect")
class InspectSolverAgent:
    """An Inspect task's own solver, run as it is: each model call a step, its output submitted (Inspect tasks)."""

    def start(self, run: AgentRun) -> list[Message]:
        return run.task_messages()

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        from proctor.interop._inspect_tasks import InspectTask

        if not isinstance(run.task, InspectTask) or run.task.solver is None:
            raise TaskRunError("the inspect agent runs Inspect tasks' solvers: give an Inspect task (FILE.py@task)")
        from proctor.interop._inspect_scoring import solve

        answer = await solve(run.task, proposer)
        return [Proposal(text=answer, action="submit", argument={"answer": answer})]

    def step_messages(self, run: AgentRun, option: OptionRecord, observation: ObservationRecord) -> list[Message]:
        return [Message(role="assistant", content=option.text)]

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        return [*messages, *self.step_messages(run, option, observation)]
