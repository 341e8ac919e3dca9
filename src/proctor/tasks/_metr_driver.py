"""Runs one METR TaskFamily operation inside the sandbox; executed as a script by /usr/bin/python3.

Not imported by proctor: its source is passed to `python3 -c` in the sandbox, with the family at /root (the
working directory) and the workspace at /home/agent. The request comes as JSON on standard input, read whole
before any family code runs: family, operation, task, submission, scores, agent_uid, agent_gid and a secret.
The driver then makes itself undumpable (no other process may read its memory or descriptors) and prints its
result last as one line: the secret, a space, then JSON {"ok": true, "result": ...} or {"ok": false, "file": ...,
"error": "one line"}. Agent code the family runs may print anything, but cannot know the secret.
"""

from __future__ import annotations

import ctypes
import importlib
import inspect
import json
import os
import sys
import traceback
from typing import Any

AGENT_HOME = "/home/agent"


class DriverError(Exception):
    """A one-line problem with the family, reported back to the host."""


def _where(error: BaseException, family: str) -> str:
    """The last traceback frame inside the family folder, as ` (at file:line)`."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.startswith("/root/")]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at {frame.filename[len('/root/') :]}:{frame.lineno})"


def _call(family: str, what: str, func: Any, *args: Any) -> Any:
    try:
        return func(*args)
    except Exception as error:
        message = str(error).splitlines()[0] if str(error) else ""
        raise DriverError(f"{what} raised {type(error).__name__}: {message}{_where(error, family)}") from None


def _load(family: str) -> Any:
    sys.path.insert(0, "/root")
    try:
        module = importlib.import_module(family)
    except SyntaxError as error:
        raise DriverError(f"syntax error at line {error.lineno}: {error.msg}") from None
    except Exception as error:
        raise DriverError(f"importing it raised {type(error).__name__}: {error}{_where(error, family)}") from None
    task_family = getattr(module, "TaskFamily", None)
    if not isinstance(task_family, type):
        raise DriverError("defines no class TaskFamily (see the METR Task Standard)")
    return task_family


def _tasks(family: str, task_family: Any) -> dict[str, Any]:
    tasks = _call(family, "TaskFamily.get_tasks()", task_family.get_tasks)
    if not isinstance(tasks, dict) or not all(isinstance(name, str) for name in tasks):
        raise DriverError(f"TaskFamily.get_tasks() returned {type(tasks).__name__}, not a dict keyed by name")
    if not tasks:
        raise DriverError("TaskFamily.get_tasks() returned no tasks")
    return tasks


def _metadata(family: str, task_family: Any) -> dict[str, Any]:
    if not hasattr(task_family, "standard_version"):
        raise DriverError("TaskFamily has no standard_version (e.g. standard_version = '0.3.0')")
    if not hasattr(task_family, "get_instructions"):
        raise DriverError("TaskFamily has no get_instructions(t) method")
    env_vars = getattr(task_family, "required_environment_variables", [])
    if not isinstance(env_vars, list) or not all(isinstance(v, str) for v in env_vars):
        raise DriverError("TaskFamily.required_environment_variables must be a list of strings")
    tasks = {}
    for name, task in _tasks(family, task_family).items():
        instructions = _call(family, f"get_instructions({name!r})", task_family.get_instructions, task)
        if not isinstance(instructions, str):
            raise DriverError(f"get_instructions({name!r}) returned {type(instructions).__name__}, not str")
        permissions: Any = []
        if hasattr(task_family, "get_permissions"):
            permissions = _call(family, f"get_permissions({name!r})", task_family.get_permissions, task)
        if permissions not in ([], ["full_internet"]):
            raise DriverError(
                f"bad permissions value {permissions!r} from get_permissions({name!r}); "
                "allowed: [] or ['full_internet']"
            )
        tasks[name] = {"instructions": instructions, "permissions": permissions}
    methods = ("install", "start", "score", "teardown", "intermediate_score", "aggregate_scores")
    return {
        "standard_version": str(task_family.standard_version),
        "required_environment_variables": env_vars,
        "tasks": tasks,
        "methods": [m for m in methods if callable(getattr(task_family, m, None))],
    }


def _chown_home(uid: int, gid: int) -> None:
    # As METR does: files that start() copies in as root must belong to the agent.
    for root, dirs, files in os.walk(AGENT_HOME):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)
    os.lchown(AGENT_HOME, uid, gid)


def _run(request: dict[str, Any]) -> Any:
    family, operation = request["family"], request["operation"]
    task_family = _load(family)
    if operation == "methods":
        methods = ("install", "start", "score", "teardown", "intermediate_score", "aggregate_scores")
        return {
            "methods": [m for m in methods if callable(getattr(task_family, m, None))],
            "required_environment_variables": getattr(task_family, "required_environment_variables", []),
        }
    if operation == "metadata":
        return _metadata(family, task_family)
    if operation == "install":
        return _call(family, "TaskFamily.install()", task_family.install)
    name = request["task"]
    tasks = _tasks(family, task_family)
    if name not in tasks:
        raise DriverError(f"get_tasks() has no task {name!r} (tasks: {', '.join(sorted(tasks))})")
    task = tasks[name]
    if operation == "start":
        if hasattr(task_family, "start"):
            _call(family, "TaskFamily.start(t)", task_family.start, task)
        if not getattr(task_family, "skip_chown_after_start", False):
            _chown_home(int(request["agent_uid"]), int(request["agent_gid"]))
        return None
    if operation == "score":
        if not hasattr(task_family, "score"):
            return None
        return _call(family, "TaskFamily.score(t, submission)", task_family.score, task, request["submission"])
    if operation == "intermediate_score":
        if not hasattr(task_family, "intermediate_score"):
            return None
        return _call(family, "TaskFamily.intermediate_score(t)", task_family.intermediate_score, task)
    if operation == "aggregate_scores":
        scores = request["scores"]
        return _call(family, "TaskFamily.aggregate_scores(t, scores)", task_family.aggregate_scores, task, scores)
    if operation == "teardown":
        if not hasattr(task_family, "teardown"):
            return None
        # The standard's teardown takes the task; some families define it without arguments.
        if inspect.signature(task_family.teardown).parameters:
            return _call(family, "TaskFamily.teardown(t)", task_family.teardown, task)
        return _call(family, "TaskFamily.teardown()", task_family.teardown)
    raise DriverError(f"unknown operation {operation!r}")


def _seal() -> None:
    """Read nothing more from proctor, and let no other process read this one's memory or descriptors."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    PR_SET_DUMPABLE = 4
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SystemExit("cannot make the driver undumpable")


def main() -> None:
    """Run the requested operation and print its result, marked with the request's secret, last."""
    request = json.loads(sys.stdin.buffer.read())
    secret = request.pop("secret")
    _seal()
    try:
        output: dict[str, Any] = {"ok": True, "result": _run(request)}
    except DriverError as error:
        output = {"ok": False, "file": f"{request['family']}.py", "error": str(error)}
    sys.stdout.flush()
    print(f"\n{secret} {json.dumps(output, default=repr)}", flush=True)


if __name__ == "__main__":
    main()
