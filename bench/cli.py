"""Start-up of the command line: `proctor --help`, `import proctor`, and loading 1,000 task folders.

`proctor --help` and `import proctor` are timed in fresh interpreters (a subprocess each, as a user starts them),
repeated, and the median reported. Loading is `proctor.tasks.load_tasks` on a suite of 1,000 generated native
task folders (a task.yaml, an instructions.md and a files/ folder each), timed in this process after one warm-up
load, so the figure is the loader's own work rather than its imports. The loaded tasks are checked (1,000 of them,
with the generated ids) so that a broken loader cannot post a fast time. Target: 0.3 s each.

Usage: python bench/cli.py [--repeats 7] [--tasks 1000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.3
"""Seconds: the target for each figure."""


def subprocess_seconds(code: str, repeats: int) -> float:
    """The median wall time of `python -c code` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def write_suite(folder: Path, count: int) -> None:
    """`count` native task folders under `folder`, each scored by its expected submission."""
    for index in range(count):
        task = folder / f"task-{index:04d}"
        (task / "files").mkdir(parents=True)
        (task / "files" / "data.txt").write_text(f"{index}\n")
        (task / "instructions.md").write_text(f"Submit the number in data.txt ({index}).\n")
        (task / "task.yaml").write_text(
            f"name: task-{index:04d}\n"
            f"description: Submit the number {index}.\n"
            "tags: [bench]\n"
            "human_minutes: 1\n"
            "limits:\n  steps: 5\n"
            f"scorer:\n  expected_submission: '{index}'\n"
        )


def load_seconds(count: int, repeats: int) -> float:
    """The median time to load a suite of `count` task folders, checked."""
    from proctor.tasks import load_tasks

    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-tasks-")) / "suite"
    try:
        write_suite(folder, count)
        load_tasks(folder)  # warm-up: imports and the file system's cache
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            tasks = load_tasks(folder)
            times.append(time.perf_counter() - start)
            ids = [task.info.id for task in tasks]
            if ids != [f"suite/task-{index:04d}" for index in range(count)]:
                raise SystemExit(f"loaded the wrong tasks: {len(ids)} tasks, first {ids[:3]}")
        return statistics.median(times)
    finally:
        shutil.rmtree(folder.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    figures = {
        "proctor --help": subprocess_seconds(
            "import sys; sys.argv = ['proctor', '--help']; from proctor.cli import main; main()", args.repeats
        ),
        "import proctor": subprocess_seconds("import proctor", args.repeats),
        "import proctor.cli": subprocess_seconds("import proctor.cli", args.repeats),
        f"load {args.tasks:,} task folders": load_seconds(args.tasks, args.repeats),
    }
    print(f"{'what':<28} {'seconds':>8} {'target':>7}")
    for what, seconds in figures.items():
        verdict = "ok" if seconds <= TARGET else "SLOW"
        print(f"{what:<28} {seconds:8.3f} {TARGET:7.1f}  {verdict}")


if __name__ == "__main__":
    main()
