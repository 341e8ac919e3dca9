"""`proctor report` over 100,000 runs, on SQLite and on PostgreSQL.

A store is filled with synthetic finished runs by bulk inserts: 200 tasks in 20 families, each with ability and
difficulty tags; 5 models × 2 agents; runs spread over 60 days, 90 % done (scored 0 or 1 from a known success
probability per model and task), 5 % over a limit, 5 % failed; every run's config is a full `RunConfig` as the runner
stores it; 5 % of runs have a tagged step. Then the report is timed:

- `proctor report` as a user runs it (a fresh process: interpreter start and imports included), whole and with a
  tag, a suite and a date filter, and `--json`;
- `build_report` in the process (the queries and the statistics alone);
- `proctor report --html` with its plots (matplotlib's import and drawing included).

Each is repeated and the median reported. The script checks what it measured: the report's run count equals the
runs inserted that count, and the best model's success rate is near its known value.

Usage: python bench/report.py [--runs 100000] [--repeats 3] [--postgres URL] [--no-postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from proctor.analysis import RunFilter, build_report
from proctor.runner import RunConfig
from proctor.store import Store
from proctor.store import _schema as s

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres import POSTGRES, fresh_database

TARGET_SECONDS = 3.0
MODELS = ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-3-5-sonnet", "vllm/qwen2.5-7b", "hf/llama-3-8b"]
AGENTS = ["tags", "react"]
ABILITIES = ["shell", "python", "search", "data", "build", "debugging", "network", "delegation"]
DIFFICULTY = ["difficulty:easy", "difficulty:medium", "difficulty:hard"]
STEP_TAGS = ["loops", "gives-up", "hallucinated-file", "good-plan", "unsafe-command", "asks-human"]


def _tasks(rng: random.Random) -> list[dict[str, Any]]:
    tasks = []
    for i in range(200):
        family = f"family{i % 20:02d}"
        tags = [*rng.sample(ABILITIES, 2), DIFFICULTY[i % 3]]
        tasks.append(
            {
                "id": f"{family}/task{i:03d}",
                "family": family,
                "name": f"task{i:03d}",
                "format": "native",
                "source": f"/suites/bench/{family}/task{i:03d}",
                "instructions": "Do the task.",
                "permissions": [],
                "tags": tags,
                "created_at": datetime(2026, 1, 1, tzinfo=UTC),
            }
        )
    return tasks


def truth(model: int, agent: int, task: int) -> float:
    """The known success probability of a model and agent on a task."""
    ability = 0.85 - 0.15 * model + 0.05 * agent
    hardness = (task % 3) * 0.2
    return min(0.98, max(0.02, ability - hardness))


def fill(url: str, runs: int, seed: int = 0) -> int:
    """Store `runs` synthetic runs (see the module docstring); returns how many count towards success rates."""
    rng = random.Random(seed)
    store = Store(url)
    tasks = _tasks(rng)
    configs = {
        (m, a): RunConfig(model=model, agent=agent).model_dump(mode="json")
        for m, model in enumerate(MODELS)
        for a, agent in enumerate(AGENTS)
    }
    start = datetime(2026, 3, 1, tzinfo=UTC)
    counted = 0
    rows, steps, tags = [], [], []
    step_id = 0
    for i in range(runs):
        m, a, t = rng.randrange(len(MODELS)), rng.randrange(len(AGENTS)), rng.randrange(len(tasks))
        created = start + timedelta(seconds=rng.uniform(0, 60 * 86400))
        roll = rng.random()
        status = "done" if roll < 0.90 else ("over_limit" if roll < 0.95 else "failed")
        score = float(rng.random() < truth(m, a, t)) if status == "done" else None
        counted += status != "failed"
        run_id = uuid.uuid4().hex[:12]
        rows.append(
            {
                "id": run_id,
                "task_id": tasks[t]["id"],
                "status": status,
                "model": MODELS[m],
                "config": configs[(m, a)],
                "agent": AGENTS[a],
                "score": score,
                "steps_done": 8,
                "pause_requested": False,
                "input_tokens": rng.randrange(5_000, 50_000),
                "output_tokens": rng.randrange(500, 5_000),
                "cost": rng.uniform(0.001, 0.2),
                "active_seconds": rng.uniform(10, 600),
                "created_at": created,
                "finished_at": None if status == "over_limit" else created + timedelta(seconds=rng.uniform(20, 900)),
            }
        )
        if i % 20 == 0:
            step_id += 1
            steps.append({"id": step_id, "run_id": run_id, "index": 0, "kind": "action", "created_at": created})
            tags.append({"step_id": step_id, "name": rng.choice(STEP_TAGS), "author": "bench", "created_at": created})
    with store.engine.begin() as conn:
        conn.execute(insert(s.tasks), tasks)
        for chunk in range(0, len(rows), 10_000):
            conn.execute(insert(s.runs), rows[chunk : chunk + 10_000])
        conn.execute(insert(s.steps), steps)
        conn.execute(insert(s.tags), tags)
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    store.close()
    return counted


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli(url: str, *args: str, cpu: list[float]) -> float:
    """Wall seconds of one `proctor report` in a fresh process; its CPU seconds are appended to `cpu`."""
    started, spent = time.perf_counter(), _cpu()
    result = subprocess.run(
        [sys.executable, "-m", "proctor", "report", "--db", url, *args],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
    )
    elapsed = time.perf_counter() - started
    cpu.append(_cpu() - spent)
    if result.returncode != 0:
        raise SystemExit(f"proctor report {' '.join(args)} failed: {result.stderr.strip()}")
    return elapsed


class Timing:
    """One measured command: wall and CPU seconds of each repeat."""

    def __init__(self, database: str, label: str) -> None:
        self.database, self.label = database, label
        self.wall: list[float] = []
        self.cpu: list[float] = []

    @property
    def gated(self) -> bool:
        """The target applies: `proctor report` as a user runs it (the HTML file with plots is reported only)."""
        return self.label.startswith("proctor report") and "--html" not in self.label


def bench(database: str, url: str, runs: int, repeats: int, folder: Path) -> list[Timing]:
    started = time.perf_counter()
    counted = fill(url, runs)
    print(f"{database}: {runs:,} runs stored in {time.perf_counter() - started:.1f} s", flush=True)
    store = Store(url)
    report = build_report(store)
    assert sum(m.runs for m in report.grid.models) == counted, "the report lost runs"
    best = next(m for m in report.grid.models if m.model == MODELS[0] and m.agent == "react")
    # runs over a limit (5 % of the 95 % that count) are failures
    expected = statistics.mean(truth(0, 1, t) for t in range(200)) * 0.90 / 0.95
    assert best.success is not None and abs(best.success.value - expected) < 0.03, (best.success, expected)
    cases = [
        ("proctor report", ()),
        ("proctor report --tag shell", ("--tag", "shell")),
        ("proctor report --suite family03", ("--suite", "family03")),
        ("proctor report --since 2026-04-01", ("--since", "2026-04-01")),
        ("proctor report --json", ("--json",)),
        ("proctor report --html (plots)", ("--html", str(folder / f"{database}.html"))),
    ]
    timings = []
    for label, args in cases:
        timing = Timing(database, label)
        for _ in range(repeats):
            timing.wall.append(_cli(url, *args, cpu=timing.cpu))
        timings.append(timing)
    timing = Timing(database, "build_report (in process)")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        build_report(store, RunFilter())
        timing.wall.append(time.perf_counter() - wall)
        timing.cpu.append(time.process_time() - cpu)
    timings.append(timing)
    store.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", default=POSTGRES, help="a server URL; a database is created in it and dropped")
    parser.add_argument("--no-postgres", action="store_true")
    options = parser.parse_args()
    timings: list[Timing] = []
    with tempfile.TemporaryDirectory(prefix="proctor-bench-report-", dir="/tmp") as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'report.db'}"
        timings += bench("SQLite", sqlite_url, options.runs, options.repeats, Path(folder))
        if not options.no_postgres:
            with fresh_database(options.postgres, prefix="proctor_bench") as url:
                timings += bench("PostgreSQL", url, options.runs, options.repeats, Path(folder))
    print(f"\n{options.runs:,} runs · median of {options.repeats} · target: proctor report < {TARGET_SECONDS:.0f} s")
    print(f"load average now: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"{'database':<11} {'what':<34} {'wall':>7} {'CPU':>7}   wall of each run")
    for t in timings:
        wall, cpu = statistics.median(t.wall), statistics.median(t.cpu)
        mark = (" ✓" if wall < TARGET_SECONDS else " ✗") if t.gated else ""
        each = ", ".join(f"{w:.2f}" for w in t.wall)
        print(f"{t.database:<11} {t.label:<34} {wall:>6.2f}s {cpu:>6.2f}s   {each}{mark}")
    slow = [f"{t.database}: {t.label}" for t in timings if t.gated and statistics.median(t.wall) >= TARGET_SECONDS]
    if slow:
        raise SystemExit(f"over the target: {slow}")


if __name__ == "__main__":
    main()
