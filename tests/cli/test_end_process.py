"""A command run as the program ends without the interpreter's teardown, but with everything a normal exit does
first: other threads joined, exit functions run, output flushed, the exit code kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def ended(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` (which ends with `end_process`) in a fresh interpreter."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("code", "status", "stderr"), [(None, 0, ""), (3, 3, ""), ("stopped here", 1, "stopped here")])
def test_end_process_joins_threads_runs_exit_functions_and_keeps_the_code(
    code: object, status: int, stderr: str
) -> None:
    result = ended(
        f"""
        import atexit, sys, threading, time
        from concurrent.futures import ThreadPoolExecutor
        from proctor.cli._processes import end_process

        atexit.register(print, "exit function ran")
        pool = ThreadPoolExecutor(2)
        pool.submit(time.sleep, 0.2)
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread finished"))).start()
        sys.stdout.write("buffered, not flushed")
        end_process({code!r})
        print("never printed")
        """
    )
    assert result.returncode == status
    assert result.stdout == "buffered, not flushedthread finished\nexit function ran\n"
    assert result.stderr.strip() == stderr


def test_a_store_opened_by_a_command_is_closed_when_it_ends(tmp_path: Path) -> None:
    """`proctor runs` on a SQLite store: its connections are closed at exit, which folds the write-ahead log
    into the database and removes it."""
    db = tmp_path / "runs.db"
    result = subprocess.run(
        [sys.executable, "-m", "proctor", "runs", "--db", f"sqlite:///{db}"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "0 runs" in result.stdout
    assert db.exists() and not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
