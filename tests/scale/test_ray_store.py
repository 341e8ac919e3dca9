"""The Ray executor refuses SQLite when the cluster spans machines (one line), and a missing Ray says how to get it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from proctor.runner import _ray
from proctor.store import RunStatus, Store, ops


def ray_double(machines: list[str]) -> Any:
    """A stand-in for the `ray` module of a joined cluster whose nodes are on `machines` (a test double)."""
    nodes = [{"NodeManagerAddress": address, "Alive": True} for address in machines]
    return SimpleNamespace(is_initialized=lambda: True, nodes=lambda: nodes)


def test_sqlite_is_refused_on_a_cluster_of_several_machines(
    monkeypatch: pytest.MonkeyPatch, sqlite_store: Store
) -> None:
    monkeypatch.setattr(_ray, "_ray", lambda: ray_double(["10.0.0.1", "10.0.0.2", "10.0.0.2"]))
    with pytest.raises(_ray.RayError, match=r"spans 2 machines.*PostgreSQL"):
        _ray.connect("auto", sqlite_store)


def test_sqlite_is_accepted_on_one_machine(monkeypatch: pytest.MonkeyPatch, sqlite_store: Store) -> None:
    monkeypatch.setattr(_ray, "_ray", lambda: ray_double(["10.0.0.1", "10.0.0.1"]))  # two nodes, one machine
    assert _ray.connect("auto", sqlite_store) == 1


def test_the_cli_refuses_an_unknown_executor_in_one_line(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "proctor",
        "run",
        "examples",
        "--executor",
        "spark",
        "--db",
        f"sqlite:///{tmp_path}/x.db",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --executor: unknown executor 'spark' (local or ray)"


def test_batch_progress_counts_the_whole_batch(store: Store) -> None:
    task = {"id": "f/t", "family": "f", "name": "t", "format": "native", "source": "/x", "instructions": "do"}
    store.write(ops.upsert_task, task | {"permissions": [], "tags": []})
    statuses = [RunStatus.DONE] * 3 + [RunStatus.FAILED, RunStatus.RUNNING, RunStatus.WAITING_HUMAN, RunStatus.QUEUED]
    for status in statuses:
        run_id = store.write(ops.create_run, task_id="f/t", model="m", config={}, batch="b1")
        store.write(ops.update_run, run_id, status=status)
    store.write(ops.create_run, task_id="f/t", model="m", config={}, batch="other")

    progress = _ray.batch_progress(store, "b1", time.monotonic() - 8.0)

    assert (progress.total, progress.done, progress.failed, progress.running, progress.queued) == (7, 3, 1, 2, 1)
    assert progress.eta is not None and 5.0 < progress.eta < 7.0  # 4 ended in 8 s: 3 more take 6 s
    assert progress.line().startswith("done 3 · failed 1 · running 2 · queued 1 of 7 · 8s · ETA 6s")
