"""Web interface speed on SQLite: a run page whose tree has 10,000 steps, the runs list and the Results page (the
results grid, and a cell's runs) over 100,000 runs.

Both are measured through a real uvicorn server on 127.0.0.1 with an HTTP client, logged in as a researcher.
The 10,000-step run is written with the store's own operations (one transaction); the 100,000 runs are bulk
inserted with executemany, spread over 20 tasks, 6 models and every status, a tenth of them tagged. Each request
is repeated and the median reported; the targets are 1 s for the run page and the results grid and 200 ms for
each list query.

Usage: python bench/web.py [--steps 10000] [--runs 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import insert

from proctor.store import RunStatus, Store, ops, users
from proctor.store import _schema as schema
from proctor.web import create_app

PAGE_TARGET = 1.0
LIST_TARGET = 0.2
RESULTS_TARGET = 1.0
REPORTS_TARGET = 3.0  # the Reports page draws its plots with matplotlib


def task_row(task_id: str) -> dict[str, object]:
    """A stored task description."""
    family, _, name = task_id.partition("/")
    return {
        "id": task_id,
        "family": family,
        "name": name,
        "format": "native",
        "source": "/nowhere",
        "instructions": f"Solve {name}.",
        "permissions": [],
        "tags": ["shell" if int(name[-2:] or 0) % 2 else "python"] if name.startswith("task-") else [],
    }


def big_run(store: Store, steps: int) -> str:
    """A run with `steps` steps, each with two options (one chosen), an observation and model usage."""
    with store.engine.begin() as conn:
        ops.upsert_task(conn, task_row("bench/big"))
        run_id = ops.create_run(conn, task_id="bench/big", model="double/bench", config={})
        for i in range(steps):
            options = [
                {
                    "text": f"Looking at the logs.\n<bash>grep -n error log{i}.txt</bash>",
                    "action": "bash",
                    "argument": {"command": f"grep -n error log{i}.txt"},
                    "parse_error": None,
                    "source": "model:double/bench",
                },
                {"text": "I give up.", "action": None, "argument": None, "parse_error": "no action", "source": "m"},
            ]
            step_id, (chosen, _) = ops.start_step(conn, run_id, i, "action", options)
            ops.add_choice(conn, step_id, chosen, "first")
            ops.add_usage(conn, run_id, step_id, {"model": "double/bench", "role": "agent", "input_tokens": 90})
            output = "\n".join(f"{j}: error {j} in line {i}" for j in range(5))
            ops.finish_step(conn, run_id, step_id, {"kind": "bash", "output": output, "exit_code": i % 3}, 0.0)
        ops.set_status(conn, run_id, RunStatus.DONE)
    return run_id


def many_runs(store: Store, count: int) -> None:
    """`count` runs, with tags on a tenth of them, inserted with executemany."""
    rng = random.Random(7)
    tasks = [f"suite/task-{i:02d}" for i in range(20)]
    models = ["openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku", "vllm/qwen-7b", "hf/llama", "x/y"]
    statuses = [s.value for s in RunStatus]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = []
    for i in range(count):
        runs.append(
            {
                "id": f"{i:012x}",
                "task_id": rng.choice(tasks),
                "status": rng.choice(statuses),
                "model": rng.choice(models),
                "agent": rng.choice(["tags", "react"]),
                "config": {},
                "score": rng.choice([None, 0.0, 0.5, 1.0]),
                "steps_done": 1,
                "pause_requested": False,
                "input_tokens": 100,
                "output_tokens": 10,
                "cost": rng.random() / 100,
                "active_seconds": 1.0,
                "created_at": start + timedelta(seconds=i),
            }
        )
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        for task_id in tasks:
            ops.upsert_task(conn, task_row(task_id))
        conn.execute(insert(schema.runs), runs)
        step_rows = [
            {"id": 10_000_000 + i, "run_id": r["id"], "index": 0, "kind": "action", "created_at": now}
            for i, r in enumerate(runs[::10])
        ]
        conn.execute(insert(schema.steps), step_rows)
        tags = [
            {"step_id": s["id"], "name": rng.choice(["search", "looping"]), "author": "bench", "created_at": now}
            for s in step_rows
        ]
        conn.execute(insert(schema.tags), tags)


def serve(store: Store) -> tuple[uvicorn.Server, str]:
    """The app under uvicorn on a free loopback port, in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def timed(client: httpx.Client, path: str, repeats: int) -> tuple[float, httpx.Response]:
    """The median seconds of `repeats` GETs of `path` (after one warm-up), and the last response."""
    response = client.get(path)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return statistics.median(times), response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-web-"))
    store = Store(f"sqlite:///{folder / 'web.db'}")
    store.write(users.add_user, "rob", "researcher", "bench-password")

    started = time.perf_counter()
    run_id = big_run(store, args.steps)
    print(f"wrote a run of {args.steps} steps in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    many_runs(store, args.runs)
    print(f"bulk inserted {args.runs} runs in {time.perf_counter() - started:.1f} s")

    server, base = serve(store)
    failed = False
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/api/login", json={"name": "rob", "password": "bench-password"}).raise_for_status()
        print(f"\nrun page, {args.steps}-step tree (map of every step, a 200-step window of the tree):")
        for label, path in [
            ("latest steps", f"/runs/{run_id}"),
            ("first steps", f"/runs/{run_id}?at=0"),
            ("live poll", f"/api/runs/{run_id}/live"),
        ]:
            seconds, response = timed(client, path, args.repeats)
            cells = response.text.count('class="cell o-') if "live" not in path else 0
            ok = seconds < PAGE_TARGET
            failed |= not ok
            extra = f", {len(response.content) / 1e6:.1f} MB, {cells} map cells" if cells else ""
            print(f"  {label:<14} {seconds * 1000:7.1f} ms{extra}  {'ok' if ok else 'SLOW'}")
        print(f"\nruns list over {args.runs} runs (50 a page):")
        first = client.get("/api/runs?limit=50").json()
        for label, path in [
            ("newest", "/runs"),
            ("next page", f"/runs?after={first['next']}"),
            ("status", "/runs?status=done"),
            ("free text", "/runs?q=task-07"),
            ("model+status", "/runs?model=haiku&status=failed"),
            ("run id prefix", "/runs?q=00000001"),
            ("tag", "/runs?tag=looping"),
            ("by score", "/runs?sort=score&order=asc"),
            ("rare match", "/runs?q=nothing-matches-this"),
            ("JSON API", "/api/runs?task=task-1&status=done"),
        ]:
            seconds, response = timed(client, path, args.repeats)
            ok = seconds < LIST_TARGET
            failed |= not ok
            print(f"  {label:<14} {seconds * 1000:7.1f} ms  {'ok' if ok else 'SLOW'}")
        print(f"\nresults grid and reports over {args.runs} runs (20 tasks × 6 models × 2 agents):")
        cell = client.get("/api/results").json()["links"][0]
        for label, path, target in [
            ("grid page", "/results", RESULTS_TARGET),
            ("grid JSON", "/api/results", RESULTS_TARGET),
            ("filtered", "/results?tag=shell&since=2026-01-01&agent=react", RESULTS_TARGET),
            ("a cell's runs", cell, LIST_TARGET),
            ("profile", "/reports", REPORTS_TARGET),
            ("comparison", "/reports?view=compare&a=agent=tags&b=agent=react", REPORTS_TARGET),
        ]:
            seconds, response = timed(client, path, args.repeats)
            ok = seconds < target
            failed |= not ok
            print(f"  {label:<14} {seconds * 1000:7.1f} ms  {'ok' if ok else 'SLOW'}")
    server.should_exit = True
    store.close()
    verdict = "FAILED" if failed else "met"
    targets = f"run page and results < {PAGE_TARGET:.0f} s, reports < {REPORTS_TARGET:.0f} s"
    print(f"\ntargets: {targets}, list < {LIST_TARGET * 1000:.0f} ms: {verdict}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
