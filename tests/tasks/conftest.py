"""Fixtures for the task tests: folders the sandbox can reach, real bubblewrap sandboxes, the examples."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from proctor.sandbox import Sandbox, get_sandbox
from proctor.tasks import Task, load_tasks


def reachable_folder(prefix: str) -> Path:
    """A fresh folder under /tmp that the sandbox's unprivileged host uid can reach (unlike tmp_path)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A reachable scratch folder, removed afterwards."""
    folder = reachable_folder("proctor-tasks-test-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def new_sandbox(scratch: Path) -> AsyncIterator[Callable[..., Sandbox]]:
    """Build real bubblewrap sandboxes, each on its own fresh workspace; closed afterwards."""
    count = 0
    built: list[Sandbox] = []

    def build(network: bool = False, **options: Any) -> Sandbox:
        nonlocal count
        count += 1
        box = get_sandbox("bwrap", workspace=scratch / f"workspace{count}", network=network, **options)
        built.append(box)
        return box

    yield build
    for box in built:
        await box.close()


@pytest.fixture(scope="session")
def install_cache() -> Iterator[Path]:
    """A METR install cache used by this test session only, so `install()` really runs (private, as proctor
    requires of a cache folder)."""
    folder = Path(tempfile.mkdtemp(prefix="proctor-metr-cache-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def examples(install_cache: Path) -> dict[str, Task]:
    """The bundled example suite, by task id."""
    return {task.info.id: task for task in load_tasks("examples", cache_dir=install_cache)}
