"""Running an option's sandbox actions — shell, Python, reading, writing and editing files — as observations.

Every action runs inside the sandbox as the agent: a path or a link out of the workspace goes nowhere, and file
contents travel on standard input and output, so a file of any size fits (up to the output limit to read it).
"""

from __future__ import annotations

import shlex
from typing import Any

from proctor.sandbox import ExecResult, Limits, Sandbox
from proctor.store import ObservationRecord

SANDBOX_ACTIONS = ("bash", "python", "read", "write", "edit")
"""The actions that only touch the sandbox (a fork replays them, except `read`)."""


def write_command(path: str) -> str:
    """A shell command that writes its standard input to `path`, making the folders on the way."""
    quoted = shlex.quote(path)
    return f'mkdir -p "$(dirname {quoted})" && cat > {quoted}'


def _shell(kind: str, result: ExecResult) -> ObservationRecord:
    failed = result.exit_code != 0 or result.timed_out or result.truncated
    return ObservationRecord(
        kind=kind, failed=failed, **result.model_dump(exclude={"stdout", "duration"}), output=result.stdout
    )


def _failed(kind: str, message: str, exit_code: int | None = None) -> ObservationRecord:
    return ObservationRecord(kind=kind, output=message, exit_code=exit_code, failed=True)


async def run_action(sandbox: Sandbox, action: str, argument: dict[str, Any], limits: Limits) -> ObservationRecord:
    """Run one of `SANDBOX_ACTIONS` with its arguments (as parsed from an option)."""
    if action == "bash":
        return _shell("bash", await sandbox.exec(argument["command"], limits=limits))
    if action == "python":
        code = argument["code"].encode()
        return _shell("python", await sandbox.exec("exec python3 -", limits=limits, stdin=code))
    if action == "read":
        return _shell("read", await sandbox.exec(f"cat -- {shlex.quote(argument['path'])}", limits=limits))
    if action == "write":
        return await write_file(sandbox, argument["path"], argument["content"], limits)
    assert action == "edit", action
    return await edit_file(sandbox, argument["path"], argument["old"], argument["new"], limits)


async def write_file(sandbox: Sandbox, path: str, content: str, limits: Limits) -> ObservationRecord:
    """Write `content` to `path` in the workspace."""
    result = await sandbox.exec(write_command(path), limits=limits, stdin=content.encode())
    if result.exit_code != 0:
        return _failed("write", f"could not write {path}: {result.stderr.strip()}", result.exit_code)
    return ObservationRecord(kind="write", output=f"wrote {len(content.encode())} bytes to {path}", exit_code=0)


async def edit_file(sandbox: Sandbox, path: str, old: str, new: str, limits: Limits) -> ObservationRecord:
    """Replace the one occurrence of `old` in the file at `path` with `new`."""
    read = await sandbox.exec(f"cat -- {shlex.quote(path)}", limits=limits)
    if read.exit_code != 0 or read.truncated:
        reason = "it is larger than the output limit" if read.truncated else read.stderr.strip()
        return _failed("edit", f"could not read {path}: {reason}", read.exit_code)
    count = read.stdout.count(old) if old else 0
    if count != 1:
        where = "does not occur" if count == 0 else f"occurs {count} times (give more of the text around it)"
        return _failed("edit", f"the text to replace {where} in {path}")
    written = await write_file(sandbox, path, read.stdout.replace(old, new, 1), limits)
    if written.failed:
        return written.model_copy(update={"kind": "edit"})
    return ObservationRecord(kind="edit", output=f"edited {path}: replaced 1 occurrence", exit_code=0)
