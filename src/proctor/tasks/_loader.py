"""Finding tasks: a native task folder, a METR family folder, a suite of either, or the bundled examples."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from proctor.tasks._base import Task, TaskError
from proctor.tasks._metr import family_tasks, read_family
from proctor.tasks._metr_env import default_cache_dir
from proctor.tasks._native import load_native_task

EXAMPLES = Path(__file__).parent / "examples"
"""The bundled example suite (package data)."""

T = TypeVar("T")
Kind = Literal["native", "metr", "suite"]


def examples_path() -> Path:
    """The folder of the bundled example suite, which `load_tasks("examples")` loads."""
    return EXAMPLES


def _kind(folder: Path) -> Kind:
    if (folder / "task.yaml").exists():
        return "native"
    if (folder / f"{folder.name}.py").is_file():
        return "metr"
    return "suite"


def _not_a_task(folder: Path) -> str:
    if any(folder.glob("*.py")):
        return (
            f"{folder / (folder.name + '.py')}: missing; a METR family folder needs a Python file named "
            f"after the folder (or add task.yaml for a native task)"
        )
    return f"{folder / 'task.yaml'}: missing task.yaml (a task folder needs one; see docs/tasks.md)"


async def _load_one(folder: Path, family: str, backend: str, cache_dir: Path, problems: list[str]) -> list[Task]:
    kind = _kind(folder)
    if kind == "native":
        task = load_native_task(folder, family, problems)
        return [] if task is None else [task]
    if kind == "metr":
        metr = await read_family(folder, backend, cache_dir, problems)
        return [] if metr is None else list(family_tasks(metr, cache_dir))
    problems.append(_not_a_task(folder))
    return []


async def _collect(path: str | Path, *, backend: str, cache_dir: Path | None) -> tuple[list[Task], list[str]]:
    """Every task under `path` and every problem found, one line each."""
    from proctor.interop import InteropError, is_inspect_spec, load_inspect_tasks  # interop imports this package

    if is_inspect_spec(str(path)):  # Inspect tasks: a .py file, FILE.py@name, or an installed task's name
        try:
            # A stored run's agent is in its config: the task's solver needs no mapping to reload the task.
            return list(await asyncio.to_thread(load_inspect_tasks, str(path), map_solvers=False)), []
        except InteropError as error:
            return [], [str(error)]
    folder = EXAMPLES if str(path) == "examples" else Path(path)
    cache = cache_dir or default_cache_dir()
    problems: list[str] = []
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return [], [f"{folder}: {what}; give a task folder, a METR family folder, a suite folder or 'examples'"]
    folder = folder.resolve()
    kind = _kind(folder)
    if kind != "suite":
        tasks = await _load_one(folder, folder.parent.name, backend, cache, problems)
        return tasks, problems
    entries = [child for child in folder.iterdir() if not child.name.startswith((".", "_"))]
    problems = [
        f"{child}: a symbolic link; tasks in a suite must be folders in it, never links out (copy the task in)"
        for child in sorted(entries)
        if child.is_symlink()
    ]
    children = sorted(child for child in entries if child.is_dir() and not child.is_symlink())
    if not children and not problems:
        return [], [_not_a_task(folder) + " (nor does it hold task sub-folders, as a suite does)"]
    # Each child reports its own problems, so that they come out in folder order.
    reports: list[list[str]] = [[] for _ in children]
    found = await asyncio.gather(
        *(
            _load_one(child, folder.name, backend, cache, report)
            for child, report in zip(children, reports, strict=True)
        )
    )
    problems += [line for report in reports for line in report]
    tasks = [task for group in found for task in group]
    seen: dict[str, str] = {}
    for task in tasks:
        if task.info.id in seen:
            problems.append(f"{task.info.source}: task id {task.info.id!r} is also used by {seen[task.info.id]}")
        seen[task.info.id] = task.info.source
    return tasks, problems


CHOICES_SHOWN = 10
"""Most task ids an error for a filter that matches none lists."""


def no_match(wanted: str, ids: Sequence[str]) -> TaskError:
    """The error for a task filter that matches no task: it names the first task ids, and how many more there are."""
    shown = ", ".join(ids[:CHOICES_SHOWN])
    more = f" and {len(ids) - CHOICES_SHOWN:,} more (proctor tasks list)" if len(ids) > CHOICES_SHOWN else ""
    return TaskError(f"no task matches {wanted!r}; give a task id, name or family from: {shown}{more}")


def _select(tasks: list[Task], only: Sequence[str]) -> list[Task]:
    for wanted in only:
        if not any(wanted in (t.info.id, t.info.name, t.info.family) for t in tasks):
            raise no_match(wanted, [t.info.id for t in tasks])
    return [t for t in tasks if any(w in (t.info.id, t.info.name, t.info.family) for w in only)]


async def load_tasks_async(
    path: str | Path,
    *,
    only: Sequence[str] | None = None,
    backend: str = "bwrap",
    cache_dir: Path | None = None,
) -> list[Task]:
    """Load the tasks at `path`; the async twin of `load_tasks`."""
    tasks, problems = await _collect(path, backend=backend, cache_dir=cache_dir)
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise TaskError(problems[0] + more)
    return _select(tasks, only) if only else tasks


async def validate_tasks_async(path: str | Path, *, backend: str = "bwrap") -> list[str]:
    """Check the tasks at `path`; the async twin of `validate_tasks`."""
    _, problems = await _collect(path, backend=backend, cache_dir=None)
    return problems


def _run(coroutine: Coroutine[None, None, T]) -> T:
    """Run a coroutine to completion, also from inside a running event loop (on a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def load_tasks(
    path: str | Path,
    *,
    only: Sequence[str] | None = None,
    backend: str = "bwrap",
    cache_dir: Path | None = None,
) -> list[Task]:
    """Load the tasks at `path`.

    `path` is a native task folder (with `task.yaml`), a METR family folder (with `<folder>.py`), a
    suite folder whose sub-folders are either, or the word `"examples"` for the bundled suite. METR
    families' read-only calls (`get_tasks`, `get_instructions`, `get_permissions`) run in a throwaway
    sandbox of `backend`, never on the host.

    Args:
        path: Where the tasks are.
        only: Keep only tasks whose id (`family/name`), name or family is listed.
        backend: The sandbox backend for METR families' read-only calls.
        cache_dir: Where installed METR families are cached (default: `default_cache_dir()`).

    Returns:
        The tasks, in folder order.

    Raises:
        TaskError: a task folder is malformed (the first problem, in one line; `validate_tasks` lists
            them all), or an `only` entry matches no task.

    Example:
        >>> [t.info.id for t in load_tasks("examples", only=["find-secret"])]
        ['examples/find-secret']
    """
    return _run(load_tasks_async(path, only=only, backend=backend, cache_dir=cache_dir))


def validate_tasks(path: str | Path, *, backend: str = "bwrap") -> list[str]:
    """Every problem with the tasks at `path`, one line each naming the file; empty when all is well.

    Args:
        path: As for `load_tasks`.
        backend: The sandbox backend for METR families' read-only calls.

    Returns:
        The problems (never a traceback).
    """
    return _run(validate_tasks_async(path, backend=backend))
