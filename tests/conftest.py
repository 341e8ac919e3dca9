"""Shared fixtures: stores on SQLite and on a real PostgreSQL server, and the test-double models."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from postgres import fresh_database

from proctor.store import Store


@pytest.fixture
def as_root() -> None:
    """For tests of what proctor does only when run by root (uid mapping, cgroups, layers): they fail, never skip,
    elsewhere. `make test` runs as root, as CI does."""
    assert os.geteuid() == 0, "this test needs root: run `make test` as root (uid mapping, cgroups and layers)"


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store in a temporary folder."""
    store = Store(f"sqlite:///{tmp_path / 'proctor.db'}")
    yield store
    store.close()


def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on the test server; dropped afterwards."""
    with fresh_database() as url:
        yield url


@pytest.fixture
def postgres_databases() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases on the test server, one per call, each dropped afterwards."""
    made: list[Iterator[str]] = []

    def make() -> str:
        database = postgres_database()
        made.append(database)
        return next(database)

    yield make
    for database in made:
        database.close()  # runs its `finally`: the database is dropped


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'proctor.db'}")
        yield store
        store.close()
        return
    for url in postgres_database():
        store = Store(url)
        yield store
        store.close()


@pytest.fixture
def postgres_store() -> Iterator[Store]:
    """A fresh store on PostgreSQL only (for what only a shared server can do: workers on several machines)."""
    for url in postgres_database():
        store = Store(url)
        yield store
        store.close()


@pytest.fixture(autouse=True, scope="session")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Run workspaces under /tmp: pytest's own temporary folders are private to root, and the sandbox's
    unprivileged host user must be able to reach a workspace."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="proctor-test-workspaces-", dir="/tmp"))
    folder.chmod(0o711)
    previous = os.environ.get("PROCTOR_WORKSPACES")
    os.environ["PROCTOR_WORKSPACES"] = str(folder)
    yield folder
    # A runner killed by a test leaves its run's workspace disk mounted (a resume would unmount it).
    for workspace in folder.iterdir():
        if os.path.ismount(workspace):
            subprocess.run(["umount", "--lazy", str(workspace)], check=False)
    if previous is None:
        del os.environ["PROCTOR_WORKSPACES"]
    else:
        os.environ["PROCTOR_WORKSPACES"] = previous
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def reachable_tmp(workspaces: Path, request: pytest.FixtureRequest) -> Path:
    """A fresh folder the sandbox's unprivileged host user can read (task folders mounted into sandboxes)."""
    folder = workspaces.parent / f"{workspaces.name}-data" / f"{request.node.name[:60]}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    for part in (folder.parent, folder):
        part.chmod(0o755)
    return folder
