"""Replaying a fork's copied steps, so its fresh workspace is where the original run's was at the fork."""

from __future__ import annotations

import asyncio
from typing import Any

from proctor.runner._execute import SANDBOX_ACTIONS, run_action
from proctor.sandbox import Limits, Sandbox
from proctor.store import StepRecord, Store


async def replay(store: Store, sandbox: Sandbox, steps: list[StepRecord], limits: Limits | None = None) -> int:
    """Re-run the chosen actions that change the workspace (shell, Python, file writes and edits, each tool call
    of an option of calls) of the completed `steps`, and of the subtasks they delegated, in `sandbox`, as a person
    decided them (a rejected action is left out, an edited one runs as edited); returns how many actions were
    replayed."""
    count = 0
    for step in steps:
        chosen = step.chosen
        if not step.done or step.kind != "action" or chosen is None or chosen.action is None:
            continue
        argument: dict[str, Any] = chosen.argument or {}
        actions: list[dict[str, Any]] = (
            argument["calls"] if chosen.action == "calls" else [{"action": chosen.action, "argument": argument}]
        )
        held = {hold.call: hold for hold in step.holds}  # a person's decisions: rejected never ran, edited ran so
        for n, action in enumerate(actions):
            hold = held.get(n)
            if hold is not None and hold.verdict == "rejected":
                continue
            if action["action"] in SANDBOX_ACTIONS and action["action"] != "read":
                ran = hold.edited if hold is not None and hold.edited is not None else action["argument"]
                await run_action(sandbox, action["action"], ran, limits or Limits())
                count += 1
        children = {call.get("child_run_id") for call in step.observation.calls or []} if step.observation else set()
        children.add(step.observation.child_run_id if step.observation else None)
        for child in sorted(c for c in children if c is not None):
            count += await replay(store, sandbox, await asyncio.to_thread(store.steps, child), limits)
    return count
