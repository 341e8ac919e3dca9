"""`proctor run` end to end against the bare OpenAI SDK loop: 1,000 one-step tasks, 100 at once.

One scripted OpenAI-compatible server (tests/loopback_server.py, in its own process) answers every request after
`--delay` seconds, echoing the last message, so the tags agent submits the number its instructions end with
(bench/engine.py's `respond`). 1,000 native task folders are generated (bench/engine.py's `write_samples`). Then,
alternately and each in a fresh process timed on the wall clock (imports included), `--repeats` times:

1. the bare SDK loop as a new user would write it: a small script that imports `openai`, makes an `AsyncOpenAI`
   client on its default transport (base URL and key from `OPENAI_BASE_URL` and `OPENAI_API_KEY`), and sends the
   1,000 chat completions, 100 in flight under a semaphore;
2. `proctor run FOLDER --model openai/bench --concurrency 100`, the server given the same way (`OPENAI_BASE_URL`,
   `OPENAI_API_KEY`), into a fresh SQLite file each time (`PROCTOR_DB`): start-up, checks, migrations, loading,
   the progress display, the results table and shutdown all included. The progress bar is drawn as on a terminal
   (`FORCE_COLOR`, `COLUMNS`), into a pipe the bench reads.

Both are checked — every SDK answer echoes its number; proctor stored 1,000 runs done, each scored 1.0 with one
completed step — so a broken path cannot post a fast time. Target: proctor ≤ 1.5 × the bare loop.

A last, separate `proctor run` is instrumented (its functions wrapped, not changed) to show where its time goes:
start-up and imports, task loading, the checks before runs (what is left of them once the tasks are loaded: they run
meanwhile), store creation, the runs, the end.

Usage: python bench/cli_run.py [--samples 1000] [--concurrency 100] [--delay 0.1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine import check, write_samples  # bench/engine.py: the same tasks, the same server answers

import proctor
from proctor.store import RunStatus, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_server import spawn_loopback_server

TARGET_RATIO = 1.5
MODEL = "bench"

BARE_SDK = """
import asyncio
import sys

from openai import AsyncOpenAI


async def main(samples: int, concurrency: int) -> None:
    client = AsyncOpenAI()  # OPENAI_BASE_URL and OPENAI_API_KEY
    limit = asyncio.Semaphore(concurrency)

    async def one(i: int) -> str:
        async with limit:
            response = await client.chat.completions.create(
                model="{model}", messages=[{{"role": "user", "content": f"Submit this: <submit>{{i}}</submit>"}}]
            )
        return response.choices[0].message.content or ""

    answers = await asyncio.gather(*(one(i) for i in range(samples)))
    await client.close()
    wrong = [i for i, answer in enumerate(answers) if not answer.endswith(f"<submit>{{i}}</submit>")]
    if wrong:
        sys.exit(f"wrong answers for samples {{wrong[:5]}}")


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""

PHASES = """
import atexit, functools, json, sys, time

marks = []


def mark(name):
    marks.append((name, time.time()))


import proctor.cli

mark("start-up: interpreter, proctor.cli")
import proctor.models, proctor.runner, proctor.store, proctor.tasks, proctor.models._openai, proctor.runner._loop

mark("imports on the run path")


def timed_async(name, before, fn):
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        if before:  # the checks run while the tasks load: their start is no phase's end
            mark(before)
        try:
            return await fn(*args, **kwargs)
        finally:
            mark(name)
    return wrapper


def timed(name, before, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        mark(before)
        try:
            return fn(*args, **kwargs)
        finally:
            mark(name)
    return wrapper


OWN = "the command's own work"
proctor.runner.preflight_async = timed_async("checks before runs (the rest)", None, proctor.runner.preflight_async)
proctor.tasks.load_tasks = timed("task loading", OWN, proctor.tasks.load_tasks)
proctor.tasks.load_tasks_async = timed_async("task loading", OWN, proctor.tasks.load_tasks_async)
proctor.store.Store.__init__ = timed("store creation", OWN, proctor.store.Store.__init__)
proctor.runner.run_tasks_async = timed_async("the runs", OWN, proctor.runner.run_tasks_async)
sys.argv = ["proctor", *sys.argv[1:]]
atexit.register(lambda: sys.stderr.write("PHASES " + json.dumps(marks) + "\\n"))  # the command ends the process
proctor.cli.main()
"""


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds for `command` in a fresh process, its CPU seconds (user and system, of it and its children),
    and its standard error (it must exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if result.returncode != 0:
        shown = " ".join(part for part in command if len(part) < 200)
        raise SystemExit(f"{shown} exited {result.returncode}: {result.stderr[-2000:]}")
    return seconds, cpu, result.stderr


def proctor_command(folder: Path, concurrency: int) -> list[str]:
    """`proctor run` as a user types it: the installed script if there is one."""
    script = Path(sys.executable).parent / "proctor"
    start = [str(script)] if script.exists() else [sys.executable, "-m", "proctor"]
    return [*start, "run", str(folder), "--model", f"openai/{MODEL}", "--concurrency", str(concurrency)]


def checked(db: str, samples: int) -> None:
    """Fail unless proctor stored `samples` runs, every one done with score 1.0 and one completed step."""
    store = Store(db)
    try:
        records = store.runs(limit=samples + 1)
        done = sum(r.status == RunStatus.DONE and r.score == 1.0 for r in records)
        check(store, records_done=done, n=samples)
    finally:
        store.close()


def phases(marks: list[tuple[str, float]], started: float, ended: float) -> list[tuple[str, float]]:
    """Seconds per phase from the instrumented run's marks (each names the phase that ends there); time between
    wrapped calls is the command's own work (options, configs, the progress bar)."""
    totals: dict[str, float] = {}
    last = started
    for name, at in marks:
        totals[name] = totals.get(name, 0.0) + at - last
        last = at
    totals["the end: results table, shutdown"] = ended - last
    return list(totals.items())


def runs(seconds: list[float]) -> str:
    """The median and each figure."""
    return f"{statistics.median(seconds):.2f}  (runs: {', '.join(f'{t:.2f}' for t in seconds)})"


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the server takes per answer")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="proctor-bench-cli-run-", dir="/tmp"))
    root.chmod(0o755)  # the sandbox's unprivileged host user must reach the workspaces
    (root / "bare_sdk.py").write_text(BARE_SDK.format(model=MODEL))
    keys = ("OPENAI_", "ANTHROPIC_", "PROCTOR_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(keys)}
    source = str(Path(proctor.__file__).resolve().parents[1])  # the commands run the proctor this script imports
    base["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])])
    base |= {"OPENAI_API_KEY": "bench", "PROCTOR_WORKSPACES": str(root / "workspaces")}
    base |= {"FORCE_COLOR": "1", "COLUMNS": "120", "TERM": "xterm-256color"}  # progress drawn as on a terminal
    tasks = root / "tasks"
    sdk_times: list[float] = []
    proctor_times: list[float] = []
    sdk_cpu: list[float] = []
    proctor_cpu: list[float] = []
    loads: list[float] = []
    try:
        if len(write_samples(tasks, args.samples)) != args.samples:
            raise SystemExit("the generated tasks did not load")
        with spawn_loopback_server(delay=args.delay, default=f"{Path(__file__).parent / 'engine.py'}:respond") as url:
            env = base | {"OPENAI_BASE_URL": f"{url}/v1"}
            bare = [sys.executable, str(root / "bare_sdk.py"), str(args.samples), str(args.concurrency)]
            timed([*bare[:2], "10", "10"], env, root)  # warm-up: the file system's cache, the server's sockets
            for repeat in range(args.repeats):
                seconds, cpu, _ = timed(bare, env, root)
                sdk_times.append(seconds)
                sdk_cpu.append(cpu)
                db = f"sqlite:///{root / f'runs-{repeat}.db'}"
                loads.append(os.getloadavg()[0])
                seconds, cpu, _ = timed(proctor_command(tasks, args.concurrency), env | {"PROCTOR_DB": db}, root)
                proctor_times.append(seconds)
                proctor_cpu.append(cpu)
                checked(db, args.samples)
            db = f"sqlite:///{root / 'runs-phases.db'}"
            arguments = proctor_command(tasks, args.concurrency)
            command = [sys.executable, "-c", PHASES, *arguments[arguments.index("run") :]]
            started = time.time()
            _, _, stderr = timed(command, env | {"PROCTOR_DB": db}, root)
            ended = time.time()
            checked(db, args.samples)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    marks = json.loads(next(line for line in stderr.splitlines() if line.startswith("PHASES "))[7:])
    sdk, proctor_s = statistics.median(sdk_times), statistics.median(proctor_times)
    ratio = proctor_s / sdk
    rows = [
        ("samples", f"{args.samples}, {args.concurrency} at once, server answers after {args.delay * 1000:g} ms"),
        ("theoretical s", f"{args.samples / args.concurrency * args.delay:.2f}"),
        ("bare openai SDK s", runs(sdk_times)),
        ("proctor run s", runs(proctor_times)),
        ("proctor / SDK", f"{ratio:.2f}x  (target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'missed'})"),
        ("bare SDK, CPU s", runs(sdk_cpu)),
        ("proctor run, CPU s", runs(proctor_cpu)),
        ("load average", f"{min(loads):.1f}-{max(loads):.1f} (1 min, at each proctor run)"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  wall seconds, fresh process, median over {args.repeats} repeats")
    print(f"{'-' * width}  {'-' * 50}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"\nwhere one instrumented `proctor run` spends its {ended - started:.2f} s:")
    for name, seconds in phases([(n, t) for n, t in marks], started, ended):
        print(f"  {name:<36} {seconds:6.2f}")


if __name__ == "__main__":
    main()
