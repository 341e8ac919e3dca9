"""Web interface speed on SQLite: run pages of any size in real Chromium, the runs list, and the Results and
Reports pages over 100,000 runs.

Everything goes through a real uvicorn server on 127.0.0.1, logged in as a researcher. Run pages are opened in
Debian's Chromium driven by Playwright (as the browser tests do), which reports the load event's time (from the
navigation's start) and the first view's bytes (the page and what it loads): a flat 10,000-step run, a jump to
its step 5,000 (from the hash change until the step is in the page), a run of 10,000 steps over 50 subtasks, and
a 100,000-step run. The 10,000-step runs are written with the store's own operations, the 100,000-step run and the
100,000 runs are bulk inserted with executemany (the runs spread over 20 tasks, 6 models, 2 agents and every
status, a tenth of them tagged). Each figure is the median of the repeats. Targets: load event < 1 s (flat 10,000
steps), < 1.5 s (over 50 subtasks), < 2 s (100,000 steps); a jump < 300 ms; a first view < 300 KB; each list
query < 200 ms; the Results page < 1 s and the Reports page < 3 s (it draws plots). The messages the model saw at
steps 5,000 and the last are timed over HTTP, and the agent's rebuild of them in-process beside the step loop's
fold (see `rebuild_figures`).

Usage: python bench/web.py [--steps 10000] [--huge 100000] [--runs 100000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert

from proctor.store import RunStatus, Store, ops, users
from proctor.store import _schema as schema
from proctor.web import create_app

PAGE_TARGET = 1.0
SUBTASKS_TARGET = 1.5
HUGE_TARGET = 2.0
JUMP_TARGET = 0.3
BYTES_TARGET = 300_000
LIST_TARGET = 0.2
RESULTS_TARGET = 1.0
REPORTS_TARGET = 3.0  # the Reports page draws its plots with matplotlib
CHROMIUM = "/usr/bin/chromium"


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


def delegating_run(store: Store, steps: int, subtasks: int) -> str:
    """A run of `subtasks` steps, each delegating a subtask of `steps // subtasks` steps."""
    each = steps // subtasks
    with store.engine.begin() as conn:
        ops.upsert_task(conn, task_row("bench/delegating"))
        run_id = ops.create_run(conn, task_id="bench/delegating", model="double/bench", config={})
        for i in range(subtasks):
            option = {
                "text": f"<delegate>part {i}</delegate>",
                "action": "delegate",
                "argument": {"instructions": f"part {i}"},
                "parse_error": None,
                "source": "model:double/bench",
            }
            step_id, (chosen,) = ops.start_step(conn, run_id, i, "action", [option])
            ops.add_choice(conn, step_id, chosen, "first")
            child = ops.create_run(
                conn,
                task_id="bench/delegating",
                model="double/bench",
                config={"subtask": f"part {i}"},
                parent_run_id=run_id,
                parent_step_id=step_id,
            )
            for j in range(each):
                sub_step, (sub_chosen,) = ops.start_step(conn, child, j, "action", [bash_option(j)])
                ops.add_choice(conn, sub_step, sub_chosen, "first")
                ops.finish_step(conn, child, sub_step, {"kind": "bash", "output": f"{j} lines", "exit_code": 0}, 0.0)
            ops.set_status(conn, child, RunStatus.DONE)
            ops.finish_step(conn, run_id, step_id, {"kind": "delegate", "output": "done", "child_run_id": child}, 0.0)
        ops.set_status(conn, run_id, RunStatus.DONE)
    return run_id


def bash_option(i: int) -> dict[str, object]:
    """A model's bash option."""
    command = f"grep -n error log{i}.txt"
    return {
        "text": f"Looking at the logs.\n<bash>{command}</bash>",
        "action": "bash",
        "argument": {"command": command},
        "parse_error": None,
        "source": "model:double/bench",
    }


def huge_run(store: Store, steps: int) -> str:
    """A run of `steps` steps (one option each, chosen, a third of them failing), bulk inserted."""
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        ops.upsert_task(conn, task_row("bench/huge"))
        run_id = ops.create_run(conn, task_id="bench/huge", model="double/bench", config={})
        base = 50_000_000
        conn.execute(
            insert(schema.steps),
            [{"id": base + i, "run_id": run_id, "index": i, "kind": "action", "created_at": now} for i in range(steps)],
        )
        conn.execute(
            insert(schema.options),
            [
                {"id": base + i, "step_id": base + i, "index": 0, "created_at": now, **bash_option(i)}
                for i in range(steps)
            ],
        )
        conn.execute(
            insert(schema.choices),
            [{"step_id": base + i, "option_id": base + i, "chooser": "first", "created_at": now} for i in range(steps)],
        )
        conn.execute(
            insert(schema.observations),
            [
                {
                    "step_id": base + i,
                    "kind": "bash",
                    "output": f"{i} lines",
                    "stderr": "",
                    "exit_code": i % 3,
                    "failed": False,
                    "timed_out": False,
                    "truncated": False,
                    "duration": 0.0,
                    "created_at": now,
                }
                for i in range(steps)
            ],
        )
        ops.set_status(conn, run_id, RunStatus.DONE, steps_done=steps)
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


LOAD = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const resources = performance.getEntriesByType("resource");
    const bytes = nav.encodedBodySize + resources.reduce((sum, r) => sum + (r.encodedBodySize || 0), 0);
    return [nav.loadEventEnd / 1000, bytes, nav.encodedBodySize, document.querySelectorAll("#steps > .step").length];
}"""
JUMP = """async (index) => {
    const started = performance.now();
    window.location.hash = "#step-" + index;
    await new Promise((done) => {
        const check = () => document.getElementById("step-" + index) ? done() : requestAnimationFrame(check);
        check();
    });
    return (performance.now() - started) / 1000;
}"""


def browser_figures(base: str, runs: dict[str, str], repeats: int) -> bool:
    """Open each run page in Chromium `repeats` times (after a warm-up) and print the load event's time and the
    first view's bytes, and the jump to step 5,000 of the flat run; returns whether every target was met."""
    from playwright.sync_api import sync_playwright

    ok = True
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login")
        page.fill("input[name=name]", "rob")
        page.fill("input[name=password]", "bench-password")
        page.click("button.primary")
        page.wait_for_url(lambda url: "/login" not in url)
        print(
            "\nrun pages in Chromium (load event from the navigation's start; first view: the page and what it loads):"
        )
        for label, (run_id, target) in {
            "flat, 10,000 steps": (runs["flat"], PAGE_TARGET),
            "10,000 steps over 50 subtasks": (runs["delegating"], SUBTASKS_TARGET),
            "flat, 100,000 steps": (runs["huge"], HUGE_TARGET),
        }.items():
            figures = []
            for _ in range(repeats + 1):
                page.goto(f"{base}/runs/{run_id}", wait_until="load")
                figures.append(page.evaluate(LOAD))
            seconds = statistics.median(f[0] for f in figures[1:])
            _, total, html, shown = figures[-1]
            good = seconds < target and total < BYTES_TARGET
            ok &= good
            print(
                f"  {label:<31} load {seconds * 1000:7.1f} ms, first view {total / 1000:6.1f} KB "
                f"(page {html / 1000:.1f} KB, {shown} steps)  {'ok' if good else 'SLOW'}"
            )
        jumps = []
        for _ in range(repeats + 1):
            page.goto(f"{base}/runs/{runs['flat']}", wait_until="load")
            jumps.append(page.evaluate(JUMP, 5000))
        seconds = statistics.median(jumps[1:])
        ok &= seconds < JUMP_TARGET
        print(f"  {'jump to step 5,000':<31} {seconds * 1000:7.1f} ms  {'ok' if seconds < JUMP_TARGET else 'SLOW'}")
        browser.close()
    return ok


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


def rebuild_figures(store: Store, run_id: str, last: int, repeats: int) -> None:
    """In-process, the conversation before steps a quarter, half and all the way to `last`: the agent's `rebuild`
    (one list extended), and the same conversation folded with `advance` as the step loop builds it (the agent's
    `observe` copies the list at each step: quadratic), which is how `rebuild` worked before. Medians of
    `repeats`, timed with the garbage collector off (a full collection of the heap, about as long as the rebuild,
    lands in one or the other at random), then once more with it on at `last`; with the load average."""
    import gc

    from proctor.agents import AgentRun, advance, get_agent, rebuild
    from proctor.models import GenerateConfig
    from proctor.web import _queries as queries

    with store.engine.connect() as conn:
        everything = queries.steps_window(conn, run_id, 0, last)
    agent, run = get_agent("tags"), AgentRun(instructions="Solve it.", options=1, generate=GenerateConfig())

    def folded(steps: list[Any]) -> None:
        messages = agent.start(run)
        for step in steps:
            messages = advance(agent, run, messages, step) if step.done else messages

    def median(call: Any, steps: list[Any], collect: bool) -> float:
        times = []
        for _ in range(repeats):
            gc.collect()
            if not collect:
                gc.disable()
            started = time.perf_counter()
            call(steps)
            times.append(time.perf_counter() - started)
            gc.enable()
        return statistics.median(times)

    def rebuilt(steps: list[Any]) -> None:
        rebuild(agent, run, steps)

    for at, collect in [(last // 4, False), (last // 2, False), (last, False), (last, True)]:
        new, old = median(rebuilt, everything[:at], collect), median(folded, everything[:at], collect)
        print(
            f"  the conversation at step {at:,} in-process (collector {'on' if collect else 'off'}): rebuild "
            f"{new * 1000:.0f} ms, fold with observe {old * 1000:.0f} ms ({old / new:.1f}x; load average "
            f"{os.getloadavg()[0]:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--huge", type=int, default=100_000)
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
    delegating = delegating_run(store, args.steps, 50)
    print(f"wrote a run of {args.steps} steps over 50 subtasks in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    huge = huge_run(store, args.huge)
    print(f"bulk inserted a run of {args.huge} steps in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    many_runs(store, args.runs)
    print(f"bulk inserted {args.runs} runs in {time.perf_counter() - started:.1f} s")

    server, base = serve(store)
    failed = False
    with httpx.Client(base_url=base, timeout=60) as client:
        client.post("/api/login", json={"name": "rob", "password": "bench-password"}).raise_for_status()
        print(f"\nrun page over HTTP, {args.steps}-step run (the map, a window of steps):")
        for label, path in [
            ("latest steps", f"/runs/{run_id}"),
            ("step 5,000", f"/runs/{run_id}?at=5000"),
            ("a window", f"/runs/{run_id}/steps?at=5000"),
            ("live poll", f"/api/runs/{run_id}/live"),
        ]:
            seconds, response = timed(client, path, args.repeats)
            ok = seconds < PAGE_TARGET
            failed |= not ok
            print(
                f"  {label:<14} {seconds * 1000:7.1f} ms, {len(response.content) / 1000:.1f} KB",
                "ok" if ok else "SLOW",
            )
        for at in (5000, args.steps - 1):
            # The first request at a step rebuilds the conversation (each repeat at a step not asked before); the
            # page again and "show earlier" read the rebuilt one, kept for the run's version.
            cold = []
            for back in range(args.repeats):
                started = time.perf_counter()
                fragment = client.get(f"/runs/{run_id}/steps/{at - back}/messages")
                cold.append(time.perf_counter() - started)
                fragment.raise_for_status()
            shown = client.get(f"/api/runs/{run_id}/steps/{at}/messages").json()
            again, _ = timed(client, f"/runs/{run_id}/steps/{at}/messages", args.repeats)
            earlier, _ = timed(client, f"/runs/{run_id}/steps/{at}/messages?before={shown['start']}", args.repeats)
            print(
                f"  messages at step {at:,} (rebuilt on demand: {shown['total']} messages, the last "
                f"{len(shown['messages'])} shown, {len(fragment.content) / 1000:.0f} KB) first "
                f"{statistics.median(cold) * 1000:.0f} ms, again {again * 1000:.0f} ms, show earlier "
                f"{earlier * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}"
            )
        rebuild_figures(store, run_id, args.steps - 1, args.repeats)
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
    failed |= not browser_figures(base, {"flat": run_id, "delegating": delegating, "huge": huge}, args.repeats)
    server.should_exit = True
    store.close()
    verdict = "FAILED" if failed else "met"
    print(
        f"\ntargets: load < {PAGE_TARGET:.0f} s (flat), < {SUBTASKS_TARGET} s (subtasks), < {HUGE_TARGET:.0f} s "
        f"(100,000 steps), jump < {JUMP_TARGET * 1000:.0f} ms, first view < {BYTES_TARGET // 1000} KB, "
        f"list < {LIST_TARGET * 1000:.0f} ms, results < {RESULTS_TARGET:.0f} s, reports < {REPORTS_TARGET:.0f} s: "
        f"{verdict}"
    )
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
