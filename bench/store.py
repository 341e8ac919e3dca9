"""Store throughput and resume cost, on a fresh SQLite file.

1. Tree nodes inserted per second: many concurrent writers (as many runs at once) each store steps through the
   runner's `Writer` and `ops`, the way the step loop does — `start_step` (the step and its option), `add_choice`,
   `finish_step` (the observation) — each awaited before the next, so every node is committed before the next
   begins. A node is a step with its option, choice and observation.
2. Resuming a 1,000-step run: a run with 1,000 completed steps is stored, then `Runner.drive` resumes it; the time
   is from the call until the model is asked for step 1,001 (claiming the run, reading its steps and events, and
   rebuilding the conversation included). Separately: `store.steps()` alone, and `store.steps()` plus the context
   rebuild. Each is repeated and the median reported.

With `--list-runs N` it measures instead the runs list over N runs (bulk inserted as `bench/web.py` does: 20
tasks, 6 models, 2 agents, every status, a tenth tagged), on SQLite and on PostgreSQL (a fresh database on the
local server, `PROCTOR_TEST_POSTGRES`; `--db sqlite` or `--db postgresql` for one): every query the web page and
the JSON API make (through a real uvicorn server, as `bench/web.py`) and `proctor runs` (`Store.runs`), with each
filter, counted and exact, and a page deep in the list. Target: each < 200 ms.

Usage: python bench/store.py [--writers 100] [--nodes 20000] [--resume-steps 1000] [--repeats 5]
       python bench/store.py --list-runs 100000 [--db both|sqlite|postgresql] [--repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from proctor.agents import AgentRun, TagsAgent, rebuild
from proctor.models import Completion, GenerateConfig, Generation, Message, Model, provider
from proctor.runner import RunConfig, RunLimits, Runner
from proctor.store import RunStatus, Store, Writer, ops, users
from proctor.store import _schema as schema
from proctor.tasks import load_tasks

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres import fresh_database
from web import many_runs, serve, timed

TARGET_NODES_PER_SECOND = 5000
TARGET_LIST = 0.2
OUTPUT = "line of output from a command\n" * 8  # a typical short observation, ~250 characters


class _ClockModel:
    """A model that notes when it is first asked for a step, and submits."""

    name = "bench/clock"
    asked_at: float | None = None

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        if _ClockModel.asked_at is None:
            _ClockModel.asked_at = time.perf_counter()
        return Generation(model=self.name, completions=[Completion(text="<submit>done</submit>")])


@provider("bench")
def _bench_model(model: str, **options: Any) -> Model:
    return _ClockModel()


def _task_row(i: int) -> dict[str, Any]:
    return {
        "id": f"bench/t{i}",
        "family": "bench",
        "name": f"t{i}",
        "format": "native",
        "source": "/nonexistent",
        "instructions": "bench",
        "permissions": [],
    }


def _option(i: int) -> dict[str, Any]:
    text = f"Let me look.\n<bash>cat file-{i}.txt</bash>"
    return {
        "text": text,
        "action": "bash",
        "argument": {"command": f"cat file-{i}.txt"},
        "parse_error": None,
        "source": "model:bench",
    }


def _observation() -> dict[str, Any]:
    return {"kind": "bash", "output": OUTPUT, "stderr": "", "exit_code": 0, "duration": 0.01}


async def insert_nodes(store: Store, writers: int, nodes: int) -> float:
    """Nodes per second written by `writers` concurrent runs through one `Writer`."""
    run_ids = [
        store.write(ops.create_run, task_id="bench/t0", model="bench/clock", config={}, status=RunStatus.RUNNING)
        for _ in range(writers)
    ]
    per_writer = nodes // writers

    async def one(writer: Writer, run_id: str) -> None:
        for index in range(per_writer):
            step_id, (option_id,) = await writer.write(ops.start_step, run_id, index, "action", [_option(index)])
            await writer.write(ops.add_choice, step_id, option_id, "first")
            await writer.write(ops.finish_step, run_id, step_id, _observation(), 0.0)

    async with Writer(store) as writer:
        started = time.perf_counter()
        await asyncio.gather(*(one(writer, run_id) for run_id in run_ids))
        elapsed = time.perf_counter() - started
    stored = sum(store.run(run_id).steps_done for run_id in run_ids)
    if stored != per_writer * writers:
        raise SystemExit(f"stored {stored} completed steps, want {per_writer * writers}")
    return per_writer * writers / elapsed


def long_run(store: Store, task_id: str, steps: int) -> str:
    """A queued run of `task_id` with `steps` completed bash steps, written in one transaction."""
    config = RunConfig(model="bench/clock", limits=RunLimits(steps=steps + 10)).model_dump(mode="json")
    with store.engine.begin() as conn:
        run_id = ops.create_run(conn, task_id=task_id, model="bench/clock", config=config)
        ops.add_event(conn, run_id, "setup", {"network": False})
        for index in range(steps):
            step_id, (option_id,) = ops.start_step(conn, run_id, index, "action", [_option(index)])
            ops.add_choice(conn, step_id, option_id, "first")
            ops.finish_step(conn, run_id, step_id, _observation(), 0.0)
    return run_id


async def resume_once(store: Store, run_id: str, workspaces: Path) -> float:
    """Seconds from `Runner.drive` on a stored run until the model is asked for the next step."""
    _ClockModel.asked_at = None
    async with Runner(store, workspaces=workspaces) as runner:
        started = time.perf_counter()
        record = await runner.drive(run_id)
    if _ClockModel.asked_at is None or record.status != RunStatus.DONE or record.score != 1.0:
        raise SystemExit(f"the resumed run did not take its next step: {record.status} {record.error}")
    return _ClockModel.asked_at - started


def list_figures(store: Store, runs: int, repeats: int) -> list[tuple[str, float]]:
    """Fill `store` with `runs` runs and time every runs list query: (label, median seconds)."""
    from proctor.web._queries import _encode

    started = time.perf_counter()
    many_runs(store, runs)
    if store.engine.dialect.name == "postgresql":  # as after any bulk load: else autovacuum runs mid-measurement
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    print(f"  bulk inserted {runs:,} runs in {time.perf_counter() - started:.1f} s", flush=True)
    store.write(users.add_user, "rob", "researcher", "bench-password")
    with store.engine.connect() as conn:
        deep = conn.execute(
            select(schema.runs.c.created_at, schema.runs.c.id)
            .where(schema.runs.c.parent_run_id.is_(None))
            .order_by(schema.runs.c.created_at.desc(), schema.runs.c.id.desc())
            .offset(runs // 2)
            .limit(1)
        ).one()
    figures: list[tuple[str, float]] = []
    server, base = serve(store)
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            client.post("/api/login", json={"name": "rob", "password": "bench-password"}).raise_for_status()
            first = client.get("/api/runs?limit=50").json()
            for label, path in [
                ("newest", "/runs"),
                ("next page", f"/runs?after={first['next']}"),
                ("a page half way down", f"/runs?after={_encode(deep.created_at, deep.id)}"),
                ("status", "/runs?status=done"),
                ("status, next page", "/runs?status=done&after=" + client.get("/api/runs?status=done").json()["next"]),
                ("task", "/runs?task=task-07"),
                ("model", "/runs?model=haiku"),
                ("agent", "/runs?agent=react"),
                ("model+status", "/runs?model=haiku&status=failed"),
                ("free text", "/runs?q=task-07"),
                ("run id prefix", "/runs?q=00000001"),
                ("tag", "/runs?tag=looping"),
                ("by score", "/runs?sort=score&order=asc"),
                ("by cost", "/runs?sort=cost"),
                ("rare match", "/runs?q=nothing-matches-this"),
                ("counted+exact (a cell)", "/api/runs?task=suite/task-03&model=x/y&agent=tags&exact=true&counted=true"),
                ("JSON API", "/api/runs?task=task-1&status=done"),
            ]:
                seconds, _ = timed(client, path, repeats)
                figures.append((label, seconds))
    finally:
        server.should_exit = True
    for label, kwargs in [
        ("proctor runs", {}),
        ("proctor runs --status done", {"status": "done"}),
        ("proctor runs --task task-07", {"task": "task-07"}),
        ("proctor runs --model haiku", {"model": "haiku"}),
        ("proctor runs --all", {"top_level": False}),
    ]:
        options: dict[str, Any] = {"top_level": True, "limit": 100} | kwargs
        store.runs(**options)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            store.runs(**options)
            times.append(time.perf_counter() - started)
        figures.append((label, statistics.median(times)))
    return figures


def list_main(args: argparse.Namespace) -> None:
    """The runs list over `args.list_runs` runs on each database asked for, side by side."""
    columns: dict[str, list[tuple[str, float]]] = {}
    root = Path(tempfile.mkdtemp(prefix="proctor-bench-list-", dir="/tmp"))
    try:
        if args.db in ("both", "sqlite"):
            print("SQLite:", flush=True)
            store = Store(f"sqlite:///{root / 'list.db'}")
            columns["SQLite"] = list_figures(store, args.list_runs, args.repeats)
            store.close()
        if args.db in ("both", "postgresql"):
            print("PostgreSQL:", flush=True)
            with fresh_database(prefix="proctor_bench") as url:
                store = Store(url)
                columns["PostgreSQL"] = list_figures(store, args.list_runs, args.repeats)
                store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    names = list(columns)
    labels = [label for label, _ in next(iter(columns.values()))]
    slow = False
    print(f"\nruns list over {args.list_runs:,} runs, median of {args.repeats} (ms; target < {TARGET_LIST * 1000:.0f})")
    print(f"| {'query':<28} | " + " | ".join(f"{name:>10}" for name in names) + " |")
    for n, label in enumerate(labels):
        cells = []
        for name in names:
            seconds = columns[name][n][1]
            slow |= seconds >= TARGET_LIST
            cells.append(f"{seconds * 1000:>7.1f}{'' if seconds < TARGET_LIST else ' !!'}")
        print(f"| {label:<28} | " + " | ".join(f"{cell:>10}" for cell in cells) + " |")
    print("every query under the target" if not slow else "SLOW: some query over the target (!!)")
    if slow:
        raise SystemExit(1)


def main() -> None:
    """Run both measurements and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=100)
    parser.add_argument("--nodes", type=int, default=20000)
    parser.add_argument("--resume-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--list-runs", type=int, default=0, help="measure the runs list over this many runs instead")
    parser.add_argument("--db", choices=["both", "sqlite", "postgresql"], default="both", help="with --list-runs")
    args = parser.parse_args()
    if args.list_runs:
        list_main(args)
        return
    root = Path(tempfile.mkdtemp(prefix="proctor-bench-store-", dir="/tmp"))
    root.chmod(0o755)  # the sandbox's unprivileged host user must reach the workspaces
    os.environ["PROCTOR_WORKSPACES"] = str(root / "workspaces")
    try:
        rates = []
        for repeat in range(args.repeats):
            store = Store(f"sqlite:///{root / f'nodes-{repeat}.db'}")
            store.write(ops.upsert_task, _task_row(0))
            rates.append(asyncio.run(insert_nodes(store, args.writers, args.nodes)))
            store.close()

        task_folder = root / "tasks" / "resume"
        task_folder.mkdir(parents=True)
        (task_folder / "task.yaml").write_text(
            "name: resume\ninstructions: go on\nscorer:\n  expected_submission: done\n"
        )
        (task,) = load_tasks(task_folder)
        store = Store(f"sqlite:///{root / 'resume.db'}")
        info = task.info.model_dump(include={"id", "family", "name", "format", "source", "instructions", "permissions"})
        store.write(ops.upsert_task, info)
        resumes, reads, rebuilds = [], [], []
        for _ in range(args.repeats):
            run_id = long_run(store, task.info.id, args.resume_steps)
            started = time.perf_counter()
            steps = store.steps(run_id)
            reads.append(time.perf_counter() - started)
            rebuild(
                TagsAgent(), AgentRun(instructions=task.info.instructions, options=1, generate=GenerateConfig()), steps
            )
            rebuilds.append(time.perf_counter() - started)
            resumes.append(asyncio.run(resume_once(store, run_id, root / "workspaces")))
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rate = statistics.median(rates)
    verdict = "met" if rate >= TARGET_NODES_PER_SECOND else "missed"
    rows = [
        ("nodes/s", f"{rate:,.0f}  (target >= {TARGET_NODES_PER_SECOND:,}: {verdict})"),
        ("", f"{args.writers} concurrent writers, {args.nodes:,} nodes; runs: {', '.join(f'{r:,.0f}' for r in rates)}"),
        (
            f"resume {args.resume_steps} steps ms",
            f"{statistics.median(resumes) * 1000:.0f}  (drive until the next step is asked for)",
        ),
        ("store.steps() ms", f"{statistics.median(reads) * 1000:.0f}"),
        ("steps() + rebuild ms", f"{statistics.median(rebuilds) * 1000:.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  median over {args.repeats} repeats")
    print(f"{'-' * width}  {'-' * 50}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
