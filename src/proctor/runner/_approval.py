"""Holding actions for a person: an action an approval rule matches waits until a person approves, edits or
rejects it, and a question the agent asks waits for a person's answer. Each is stored as a hold on its step, the
run's status says what it waits for, and the time spent waiting is not the run's active time.

A runner killed while an action is held resumes holding it (the stored hold is found again, decided or not); the
calls of an option that ran before the hold, and a held action that ran, are not run again (their results are
kept with the hold).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from proctor.runner._config import RunConfig, stop_if_killed
from proctor.store import HoldRecord, ObservationRecord, OptionRecord, RunStatus, StepRecord, Store, Writer, ops

NOT_ASKING = "asking a person is not enabled in this run: decide on your own"
WAITING = {"approval": RunStatus.WAITING_APPROVAL, "question": RunStatus.WAITING_ANSWER}


@dataclass(frozen=True)
class Call:
    """Where an action sits in an option of tool calls."""

    index: int
    """Its position among the option's calls."""
    id: str
    """The call's id, as the model gave it."""
    tool: str
    """The tool called."""
    prior: list[dict[str, Any]]
    """The results of the calls before it."""


@dataclass(frozen=True)
class Decided:
    """What becomes of an action once it is through the gate."""

    argument: dict[str, Any]
    """The arguments to run it with: as proposed, or as a person edited them."""
    observation: ObservationRecord | None = None
    """Its observation instead of running it: a rejection, a person's answer, or its result from before the runner
    was killed."""
    hold: HoldRecord | None = None
    """Its hold, if it was held."""


def rejected(hold: HoldRecord) -> ObservationRecord:
    """What the agent is shown for a rejected action."""
    reason = f": {hold.text}" if hold.text else ""
    return ObservationRecord(kind=hold.action, output=f"not run: a person rejected this action{reason}", failed=True)


class Gate:
    """A run's approvals and questions: holds what its config says to, and waits for people through the store."""

    def __init__(self, run_id: str, config: RunConfig, store: Store, writer: Writer) -> None:
        self.run_id = run_id
        self.config = config
        self.store = store
        self.writer = writer
        self.waited = 0.0
        """Seconds spent waiting for people (not counted as the run's active time)."""

    def holds(self, option: OptionRecord) -> bool:
        """Whether running `option` may wait for a person: an approval rule matches one of its actions, or it
        asks a question."""
        if option.action == "calls":
            calls = (option.argument or {}).get("calls", [])
            actions = [(c["action"], c["argument"] or {}) for c in calls if c["action"] is not None]
        else:
            actions = [(option.action, option.argument or {})] if option.action is not None else []
        return any(a == "ask" or self.config.approval.rule_for(a, argument) for a, argument in actions)

    @staticmethod
    def done_calls(step: StepRecord) -> list[dict[str, Any]]:
        """The results of an option's calls that ran before the runner was killed at a hold (or after a held call
        ran): a resumed run goes on from the next call."""
        last = max(step.holds, key=lambda held: held.call, default=None)
        if last is None or last.prior is None:
            return []
        return [*last.prior, *([last.result] if last.result is not None else [])]

    async def check(self, step_id: int, action: str, argument: dict[str, Any], call: Call | None) -> Decided:
        """Let an action through, or hold it until a person decides (an approval) or answers (a question)."""
        if action == "ask" and not self.config.ask_human:
            return Decided(argument, ObservationRecord(kind="ask", output=NOT_ASKING, failed=True))
        rule = None if action == "ask" else self.config.approval.rule_for(action, argument)
        if action != "ask" and rule is None:
            return Decided(argument)
        kind = "question" if action == "ask" else "approval"
        index = call.index if call is not None else 0
        held = await asyncio.to_thread(self.store.held, step_id, index)
        if held is None:
            fields = {"call": index, "kind": kind, "action": action, "argument": argument, "rule": rule}
            fields |= {"tool": call.tool, "prior": call.prior} if call is not None else {}
            await self.writer.write(ops.hold, self.run_id, step_id, fields)
        elif held.verdict is None:  # held before the runner was killed: it waits again
            await self.writer.write(ops.set_status, self.run_id, WAITING[kind])
        if held is None or held.verdict is None:
            held = await self._wait(step_id, index)
            await self.writer.write(ops.set_status, self.run_id, RunStatus.RUNNING)
        return self._decided(held)

    async def _wait(self, step_id: int, index: int) -> HoldRecord:
        started = time.monotonic()
        try:
            while (held := await asyncio.to_thread(self.store.held, step_id, index)) is None or held.verdict is None:
                await stop_if_killed(self.store, self.run_id)
                await asyncio.sleep(self.config.approval.poll_seconds)
        finally:
            self.waited += time.monotonic() - started
        return held

    @staticmethod
    def _decided(held: HoldRecord) -> Decided:
        if held.verdict == "rejected":
            return Decided(held.argument, rejected(held), held)
        if held.verdict == "answered":
            return Decided(held.argument, ObservationRecord(kind="ask", output=held.text or ""), held)
        if held.result is not None:  # it ran before the runner was killed
            return Decided(held.argument, ObservationRecord.model_validate(held.result), held)
        edited = held.verdict == "edited" and held.edited is not None
        return Decided(held.edited if edited and held.edited is not None else held.argument, None, held)

    async def ran(self, decided: Decided, observation: ObservationRecord, call: Call | None) -> ObservationRecord:
        """The observation of an action that ran; a held one's is kept with its hold (a resumed run does not run it
        again), and an edited one's tells the agent what ran instead of its proposal."""
        held = decided.hold
        if held is None:
            return observation
        if held.verdict == "edited" and held.action != "submit":  # a submission's output is the answer itself
            note = f"[a person edited this action before it ran; it ran as: {held.replacement}]"
            observation = observation.model_copy(update={"output": f"{note}\n{observation.output}"})
        result = observation.model_dump(exclude={"calls"})
        result |= {"id": call.id, "tool": call.tool} if call is not None else {}
        await self.writer.write(ops.hold_ran, held.id, result)
        return observation
