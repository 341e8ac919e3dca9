"""Replaying a fork's copied steps, so its fresh workspace is where the original run's was at the fork."""

from __future__ import annotations

import asyncio
from typing import Any

from proctor.runner._actions import write_command
from proctor.sandbox import Sandbox
from proctor.store import StepRecord, Store


async def replay(store: Store, sandbox: Sandbox, steps: list[StepRecord]) -> int:
    """Re-run the chosen shell commands and file writes of the completed `steps`, and of the subtasks they
    delegated, in `sandbox`; returns how many actions were replayed."""
    count = 0
    for step in steps:
        chosen = step.chosen
        if not step.done or step.kind != "action" or chosen is None or chosen.action is None:
            continue
        argument: dict[str, Any] = chosen.argument or {}
        if chosen.action == "bash":
            await sandbox.exec(argument["command"])
            count += 1
        elif chosen.action == "write":
            await sandbox.exec(write_command(argument["path"]), stdin=argument["content"].encode())
            count += 1
        elif chosen.action == "delegate" and step.observation and step.observation.child_run_id:
            child_steps = await asyncio.to_thread(store.steps, step.observation.child_run_id)
            count += await replay(store, sandbox, child_steps)
    return count
