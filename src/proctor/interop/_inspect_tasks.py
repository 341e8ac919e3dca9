"""Inspect tasks as proctor tasks: each sample of a `@task` is a task, run by the proctor agent its solver maps to.

`FILE.py` (every `@task` in it), `FILE.py@name` and an installed package's registry name (`pkg/task_name`) are
loaded by Inspect's own loader with the task arguments (`-T key=value`). A sample's input is the instructions (a
chat input is kept as messages), its `files` and `setup` are put in the run's workspace, and the task's scorers
score the run's transcript (see `_inspect_scoring`). Solvers and sandboxes are mapped where proctor has a
counterpart; what has none is refused in one line naming it.

Inspect's loader works in the task file's folder (it changes the working directory, so the task's relative paths
resolve there). Runs in flight in the same process must not see that: loading happens in a thread with a working
directory of its own (Linux `unshare(CLONE_FS)`), and the process's stays where it is throughout.
"""

from __future__ import annotations

import ctypes
import io
import json
import logging
import os
import shlex
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml
from inspect_ai import Task as InspectTaskDef
from inspect_ai._eval.loader import create_file_tasks, load_file_tasks
from inspect_ai._eval.loader import load_tasks as inspect_load_tasks
from inspect_ai._eval.task.constants import TASK_FILE_ATTR
from inspect_ai._eval.task.sandbox import read_sandboxenv_file, resolve_sample_files
from inspect_ai._util.registry import is_registry_object, registry_info, registry_params
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessage
from inspect_ai.scorer import Scorer

from proctor.interop._common import SEPARATOR, InteropError, parse_task_args
from proctor.models import Message, ToolCall
from proctor.sandbox import Sandbox
from proctor.tasks import TaskInfo, TaskLimits, TaskRunError

AGENT_TOOLS = {"bash": "bash", "python": "python"}
"""Inspect's tools (by registry name) proctor's react agent has, and the react tool each becomes."""

logger = logging.getLogger(__name__)

_CLONE_FS = 0x200  # from <linux/sched.h>: the working directory, root and umask
T = TypeVar("T")

SOLVERS = "generate(), basic_agent() and react() (with bash() and python() tools), or system_message() then generate()"
"""What `proctor run` runs, for the line refusing another solver."""


class InspectTask:
    """One sample of an Inspect task, as a proctor task (see the module's docstring)."""

    def __init__(
        self,
        info: TaskInfo,
        *,
        sample: Sample,
        input_messages: tuple[Message, ...],
        files: dict[str, bytes],
        scorers: list[Scorer],
        agent: tuple[str, dict[str, Any]],
        epochs: int,
        system_prompts: list[str],
        solver: Any = None,
    ) -> None:
        self.info = info
        self.sample = sample
        """The Inspect sample (input, target, metadata, files, setup)."""
        self.input_messages = input_messages
        """The sample's chat input as proctor messages (empty when the input is text: the instructions)."""
        self.files = files
        """The files put in the workspace at set-up: path (relative to the workspace) → content."""
        self.scorers = scorers
        """The Inspect task's scorers; the first one's score is the run's score."""
        self.agent, self.agent_options = agent
        """The proctor agent the task's solver maps to, and its options."""
        self.epochs = epochs
        """How many runs of the sample `proctor run` makes (the task's epochs)."""
        self.system_prompts = system_prompts
        """The system messages the task's system_message() solvers put before the input."""
        self.solver = solver
        """The Inspect task's solver, which the `inspect` agent runs as it is."""

    def __repr__(self) -> str:
        return f"InspectTask({self.info.id!r})"

    async def setup(self, sandbox: Sandbox) -> None:
        """Put the sample's files in the workspace, then run its `setup` script, both as the agent.

        Raises:
            TaskRunError: the files could not be written, or the setup script exited non-zero.
        """
        if self.files:
            result = await sandbox.exec("tar -x -f - --no-same-owner", stdin=_tar(self.files))
            if result.exit_code != 0:
                raise TaskRunError(f"{self.info.id}: writing the sample's files failed: {result.stderr.strip()}")
        if self.sample.setup:
            result = await sandbox.exec(f"bash -c {shlex.quote(self.sample.setup)}")
            if result.exit_code != 0:
                last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
                raise TaskRunError(f"{self.info.id}: the sample's setup exited {result.exit_code}: {last[0]}")

    async def score(self, sandbox: Sandbox, submission: str) -> float | None:
        """Inspect tasks are scored from the run's transcript (`score_run`), never from the submission alone."""
        raise TaskRunError(f"{self.info.id}: an Inspect task is scored by its scorers over the run's transcript")

    async def score_run(self, sandbox: Sandbox, submission: str, run: Any) -> float | None:
        """The task's scorers over the run's transcript as Inspect's TaskState; the first scorer's score."""
        from proctor.interop._inspect_scoring import score_transcript

        return await score_transcript(self, submission, run)

    async def teardown(self, sandbox: Sandbox) -> None:
        """Nothing is held beyond the workspace."""


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in files.items():
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(content), 0o644
            archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def load_inspect_tasks(spec: str, args: dict[str, Any] | None = None, *, map_solvers: bool = True) -> list[InspectTask]:
    """The samples of the Inspect tasks `spec` names, each a proctor task.

    Args:
        spec: `FILE.py`, `FILE.py@name` or a registry name; a stored task source (`spec -T key=value …`) also.
        args: Task arguments (`-T`), added to those in a stored source.
        map_solvers: Map each task's solver to a proctor agent, refusing one that has none; without it (the runs'
            agent is given), `agent` is `react` with every tool.

    Raises:
        InteropError: the file or task cannot be loaded, or a task's solver, tool or sandbox has no counterpart in
            proctor (one line naming it).
    """
    return _with_own_cwd(lambda: _load(spec, args, map_solvers))


def _with_own_cwd(call: Callable[[], T]) -> T:
    """`call()` in a thread whose working directory is its own: a `chdir` there (Inspect's, the task's) moves no
    other thread's. Where threads cannot have their own (not Linux), `call()` runs here as it is."""
    try:
        unshare = ctypes.CDLL(None, use_errno=True).unshare
    except (AttributeError, OSError):
        return call()
    results: list[T] = []
    errors: list[BaseException] = []

    def own() -> None:
        try:
            if unshare(_CLONE_FS) != 0:  # forbidden (a seccomp profile): the process's moves, as Inspect's does
                logger.warning("cannot give the task loader its own folder: %s", os.strerror(ctypes.get_errno()))
            results.append(call())
        except BaseException as error:  # raised again in the caller's thread
            errors.append(error)

    thread = threading.Thread(target=own, name="inspect-task-loader", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return results[0]


def _load(spec: str, args: dict[str, Any] | None, map_solvers: bool) -> list[InspectTask]:
    spec, *stored = spec.split(SEPARATOR)
    args = parse_task_args(stored) | (args or {})
    file = spec.rpartition("@")[0] or spec
    if file.endswith(".py") and not Path(file).is_file():
        raise InteropError(f"{file}: no such file (give FILE.py, FILE.py@task or an installed task's name)")
    try:
        if file.endswith(".py"):  # as Inspect's loader does for one file, named by any path
            path, name = Path(file).resolve(), spec.rpartition("@")[2] if "@" in spec else None
            load_file_tasks(path)
            tasks = create_file_tasks(path, [name] if name else None, args)
        else:
            tasks = inspect_load_tasks([spec], args)
    except Exception as error:  # the task's own code raised: one line naming it
        raise InteropError(f"{spec}: cannot load the Inspect task: {_first_line(error)}") from None
    if not tasks and not file.endswith(".py"):
        raise InteropError(f"{spec}: no such task folder, nor an installed Inspect task of that name")
    if not tasks:
        raise InteropError(f"{spec}: no Inspect @task in it")
    return [sample for task in tasks for sample in _samples(task, spec, args, map_solvers)]


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def _source(task: InspectTaskDef, spec: str, args: dict[str, Any]) -> str:
    """Where the task can be loaded again (a resumed run reloads it): the file and task name, or the registry
    name, and the task arguments."""
    file = getattr(task, TASK_FILE_ATTR, None)
    where = f"{Path(file).resolve()}@{task.name}" if file else spec
    return where + "".join(f"{SEPARATOR}{key}={json.dumps(value)}" for key, value in args.items())


def _samples(task: InspectTaskDef, spec: str, args: dict[str, Any], map_solvers: bool) -> list[InspectTask]:
    where = f"{spec} ({task.name})" if task.name not in spec else spec
    agent = solver_agent(task, where) if map_solvers else ("react", {})
    file = getattr(task, TASK_FILE_ATTR, None)
    source = _source(task, spec, args)
    limits = TaskLimits(
        tokens=task.token_limit if isinstance(task.token_limit, int) else None,
        time_seconds=task.time_limit,
    )
    found = []
    with _inside(Path(file).parent if file else None):
        for n, sample in enumerate(task.dataset, start=1):
            sample_id = str(sample.id if sample.id is not None else n)
            sample_where = f"{where} sample {sample_id}"
            check_sandbox(sample.sandbox or task.sandbox, sample_where, Path(file).parent if file else Path.cwd())
            info = TaskInfo(
                id=f"{task.name}/{sample_id}",
                family=task.name,
                name=sample_id,
                format="inspect",
                source=source,
                instructions=_text(sample.input),
                limits=limits,
            )
            messages = chat_messages(sample.input)
            prompts = system_prompt(task, sample)
            if prompts:  # system_message() solvers: the input's first messages
                task_input = messages or (Message(role="user", content=info.instructions),)
                messages = (*(Message(role="system", content=p) for p in prompts), *task_input)
            found.append(
                InspectTask(
                    info,
                    sample=sample,
                    input_messages=messages,
                    files=_files(sample, sample_where),
                    scorers=list(task.scorer or []),
                    agent=agent,
                    epochs=task.epochs or 1,
                    system_prompts=prompts,
                    solver=task.solver,
                )
            )
    return found


@contextmanager
def _inside(folder: Path | None) -> Iterator[None]:
    """Sample files named relative to the task's file are read from its folder (as `inspect eval` reads them); in
    the loader's own thread (`_with_own_cwd`), so only that thread moves."""
    if folder is None:
        yield
        return
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _text(value: str | list[ChatMessage]) -> str:
    if isinstance(value, str):
        return value
    return "\n\n".join(m.text for m in value if m.role in ("system", "user") and m.text)


def chat_messages(value: str | list[ChatMessage]) -> tuple[Message, ...]:
    """A chat input as proctor messages (tool calls kept); a text input has none (it is the instructions)."""
    if isinstance(value, str):
        return ()
    messages = []
    for m in value:
        calls = [
            ToolCall(id=c.id, name=c.function, arguments=json.dumps(c.arguments))
            for c in (getattr(m, "tool_calls", None) or [])
        ]
        call_id = getattr(m, "tool_call_id", None) if m.role == "tool" else None
        messages.append(Message(role=m.role, content=m.text, tool_calls=calls, tool_call_id=call_id))
    return tuple(messages)


def _files(sample: Sample, where: str) -> dict[str, bytes]:
    """The sample's files, read now (paths are relative to the task's file): inline text, data URIs or files."""
    if not sample.files:
        return {}
    found = {}
    for name, contents in resolve_sample_files(sample.files).items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise InteropError(
                f"{where}: file {name!r}: proctor puts sample files in the workspace; give a relative path"
            )
        if contents.startswith(("http://", "https://")):
            raise InteropError(f"{where}: file {name!r} is a URL ({contents}); runs are offline: give the file itself")
        try:
            found[name] = _run_sync(read_sandboxenv_file(contents))
        except OSError as error:
            raise InteropError(f"{where}: file {name!r}: cannot read {contents}: {error}") from None
    return found


def _run_sync(coroutine: Any) -> bytes:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return bytes(asyncio.run(coroutine))
    with ThreadPoolExecutor(max_workers=1) as pool:
        return bytes(pool.submit(asyncio.run, coroutine).result())


def solver_agent(task: InspectTaskDef, where: str) -> tuple[str, dict[str, Any]]:
    """The proctor agent (and its options) a task's solver maps to: generate() → `answer`; basic_agent() and
    react() → `react` offering the task's bash() and python() tools; system_message() then generate() → `answer`
    (the system message joins the input, see `system_prompt`).

    Raises:
        InteropError: another solver, or a tool proctor's react agent does not have.
    """
    name = _name(task.solver)
    if name == "generate":
        return "answer", {}
    if name in ("basic_agent", "react"):
        tools = []
        for tool in registry_params(task.solver).get("tools") or []:
            tool_name = str(tool.get("name", "?")) if isinstance(tool, dict) else "?"
            if tool_name not in AGENT_TOOLS:
                raise InteropError(
                    f"{where}: {name}() tool {tool_name}() has no counterpart in proctor's react agent "
                    f"(it has {', '.join(f'{t}()' for t in AGENT_TOOLS)})"
                )
            tools.append(AGENT_TOOLS[tool_name])
        return "react", {"tools": tools}
    if name == "chain":
        parts = [_name(part) for part in getattr(task.solver, "_solvers", [])]
        if parts and parts[-1] == "generate" and all(part == "system_message" for part in parts[:-1]):
            return "answer", {}
        name = next((part for part in parts if part not in ("system_message", "generate")), "chain")
    raise InteropError(f"{where}: solver {name}() has no counterpart in proctor: proctor runs {SOLVERS}")


def system_prompt(task: InspectTaskDef, sample: Sample) -> list[str]:
    """The system messages a chain of system_message() solvers adds, their templates filled from the sample's
    metadata (as Inspect fills them)."""
    if _name(task.solver) != "chain":
        return []
    prompts = []
    for part in getattr(task.solver, "_solvers", []):
        if _name(part) == "system_message":
            template = str(registry_params(part).get("template", ""))
            try:
                prompts.append(template.format(**(sample.metadata or {})))
            except (KeyError, IndexError, ValueError):
                prompts.append(template)
    return prompts


def _name(solver: object) -> str:
    if not is_registry_object(solver):
        return getattr(solver, "__name__", type(solver).__name__)
    return registry_info(solver).name.rpartition("/")[2]


def check_sandbox(spec: Any, where: str, folder: Path) -> None:
    """Refuse, in one line, an Inspect sandbox proctor cannot give: `local` and `docker` (no config, a Dockerfile-less
    compose file with one service) become proctor's sandbox; a compose file with several services, a Dockerfile,
    or another kind of sandbox do not.

    Raises:
        InteropError: the sandbox cannot be mapped.
    """
    if spec is None:
        return
    kind, config = (spec, None) if isinstance(spec, str) else (spec.type, spec.config)
    if isinstance(spec, tuple):
        kind, config = spec
    if kind == "local" or (kind == "docker" and config is None):
        return
    if kind != "docker":
        raise InteropError(f"{where}: sandbox {kind!r} has no counterpart in proctor (it maps local and docker)")
    if not isinstance(config, str):
        raise InteropError(f"{where}: docker sandbox config {config!r} has no counterpart in proctor")
    path = folder / config
    if path.name == "Dockerfile" or path.suffix.lower() not in (".yaml", ".yml"):
        raise InteropError(f"{where}: sandbox docker {config}: proctor's sandbox builds no images (give none)")
    try:
        compose = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InteropError(f"{where}: sandbox docker {config}: cannot read it ({_first_line(error)})") from None
    services = sorted((compose or {}).get("services") or {}) if isinstance(compose, dict) else []
    if len(services) != 1:
        raise InteropError(
            f"{where}: sandbox docker {config} has {len(services)} services ({', '.join(services)}): "
            "proctor gives a run one sandbox, so a compose file with one service at most"
        )
