"""Engine overhead: 1,000 one-step runs through proctor against a bare loop of the `openai` SDK.

Both talk to the same scripted OpenAI-compatible server (tests/loopback_server.py, in its own process) that
answers every request after 100 ms, 100 requests at a time. The bare loop is the floor: 1,000 chat completions
through `AsyncOpenAI`, 100 in flight, on the SDK's default transport (httpx2). The same loop on the SDK's aiohttp
transport, which proctor uses, is timed too, so the engine's own cost shows apart from the transport's. proctor
runs 1,000 native tasks, one step each (the model's answer is `<submit>N</submit>`, scored by
`expected_submission`), stored in a fresh SQLite file like any run, with 100 concurrent runs. Each measurement is
repeated and the median reported; the stored result is checked (1,000 runs done, every score 1.0) so a broken
engine cannot post a fast time. The process's CPU seconds in each loop are printed too: on a shared machine they
swing less than wall time, and proctor's CPU less the aiohttp loop's is the engine's own cost per run.

With `--agent react` the server answers requests that offer tools with a `submit` tool call instead, and the
react runs are timed against the tags runs on the same server (target: within 10%).

Usage: python bench/engine.py [--samples 1000] [--concurrency 100] [--delay 0.1] [--repeats 3] [--agent react]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from proctor.models import close_clients
from proctor.runner import RunConfig, run_tasks_async
from proctor.store import RunStatus, Store
from proctor.store import _schema as schema
from proctor.tasks import Task, load_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_server import RecordedRequest, Reply, spawn_loopback_server

TARGET_RATIO = 1.25
TARGET_AGENT_RATIO = 1.10


@dataclass(frozen=True)
class Timing:
    """One timed loop."""

    seconds: float
    """Wall time."""
    cpu: float
    """CPU time of this process (all its threads) meanwhile: steadier than wall time on a shared machine."""


def respond(request: RecordedRequest) -> Reply:
    """The server's answer (in its own process): with tools offered, the `submit` call the instructions ask for;
    else an echo of the last message, whose `<submit>N</submit>` the tags agent parses."""
    last = str(request.body["messages"][-1]["content"])
    if not request.body.get("tools"):
        return Reply(text=f"echo: {last}")
    answer = re.search(r"<submit>(.*?)</submit>", last)
    arguments = json.dumps({"answer": answer.group(1) if answer else ""})
    return Reply(text="", tool_calls=[[{"id": "call-0", "name": "submit", "arguments": arguments}]])


def write_samples(folder: Path, count: int) -> list[Task]:
    """`count` native tasks whose instructions end in `<submit>i</submit>`: the echoing server's answer
    repeats the instructions, so the agent submits `i`, which the `expected_submission` scorer wants."""
    for i in range(count):
        task = folder / f"sample-{i:04d}"
        task.mkdir(parents=True)
        (task / "task.yaml").write_text(
            f"name: sample-{i:04d}\ninstructions: 'Submit this: <submit>{i}</submit>'\n"
            f"scorer:\n  expected_submission: '{i}'\n"
        )
    return load_tasks(folder)


async def bare_sdk(base_url: str, samples: int, concurrency: int, *, aiohttp: bool = False) -> Timing:
    """Seconds for `samples` chat completions through `AsyncOpenAI`, `concurrency` in flight; with `aiohttp`,
    on the SDK's aiohttp transport (which proctor uses) instead of its default httpx2 one."""
    import httpx2
    from openai import AsyncOpenAI, DefaultAioHttpClient

    transport = {"http_client": DefaultAioHttpClient(limits=httpx2.Limits(max_connections=0))} if aiohttp else {}
    client = AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, **transport)
    limit = asyncio.Semaphore(concurrency)
    answers: list[str] = []

    async def one(i: int) -> None:
        async with limit:
            response = await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": f"<submit>{i}</submit>"}], max_tokens=1024
            )
        answers.append(response.choices[0].message.content or "")

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(samples)))
    elapsed = Timing(time.perf_counter() - started, time.process_time() - cpu)
    await client.close()
    if len(answers) != samples or not all(a.startswith("echo: <submit>") for a in answers):
        raise SystemExit("the bare SDK loop got wrong answers from the loopback server")
    return elapsed


async def proctor_runs(base_url: str, tasks: list[Task], concurrency: int, folder: Path, agent: str = "tags") -> Timing:
    """Seconds for `run_tasks_async` to run every task once in a fresh store with `agent`; checks what it stored."""
    store = Store(f"sqlite:///{folder / 'proctor.db'}")
    workspaces = folder / "workspaces"
    config = RunConfig(
        model="openai/bench",
        agent=agent,
        model_options={"base_url": base_url, "api_key": "unused", "max_concurrency": concurrency},
    )
    try:
        started, cpu = time.perf_counter(), time.process_time()
        records = await run_tasks_async(tasks, config, store, concurrency=concurrency, workspaces=workspaces)
        elapsed = Timing(time.perf_counter() - started, time.process_time() - cpu)
        await close_clients()
        check(store, records_done=sum(r.status == RunStatus.DONE and r.score == 1.0 for r in records), n=len(tasks))
    finally:
        store.close()
    return elapsed


def check(store: Store, *, records_done: int, n: int) -> None:
    """Fail unless every run is stored done with score 1.0 and one completed step."""
    with store.engine.connect() as conn:
        done = conn.execute(
            select(func.count()).select_from(schema.runs).where(schema.runs.c.status == RunStatus.DONE.value)
        ).scalar_one()
        scored = conn.execute(select(func.count()).select_from(schema.runs).where(schema.runs.c.score == 1.0))
        steps = conn.execute(select(func.count()).select_from(schema.observations))  # one per completed step
        score_count, step_count = scored.scalar_one(), steps.scalar_one()
    if not records_done == done == score_count == step_count == n:
        raise SystemExit(
            f"proctor stored a wrong result: {records_done} records done, {done} runs done, "
            f"{score_count} scored 1.0, {step_count} steps completed (want {n} each)"
        )


def median(timings: list[Timing], *, cpu: bool = False) -> float:
    """The median wall (or CPU) seconds of `timings`."""
    return statistics.median(timing.cpu if cpu else timing.seconds for timing in timings)


def runs(timings: list[Timing], *, cpu: bool = False) -> str:
    """Each repeat's wall (or CPU) seconds."""
    return ", ".join(f"{timing.cpu if cpu else timing.seconds:.2f}" for timing in timings)


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the server takes per answer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--agent", default="tags", help="also time this agent against tags (e.g. react)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="proctor-bench-engine-", dir="/tmp"))
    root.chmod(0o755)  # the sandbox's unprivileged host user must reach the workspaces
    os.environ["PROCTOR_WORKSPACES"] = str(root / "workspaces")
    try:
        tasks = write_samples(root / "tasks", args.samples)
        with spawn_loopback_server(delay=args.delay, default=f"{__file__}:respond") as url:
            base_url = f"{url}/v1"
            asyncio.run(bare_sdk(base_url, min(args.samples, 200), args.concurrency))  # warm-up: imports, sockets
            sdk_times: list[Timing] = []
            aiohttp_times: list[Timing] = []
            proctor_times: list[Timing] = []
            agent_times: list[Timing] = []
            loads = [os.getloadavg()[0]]
            for repeat in range(args.repeats):
                sdk_times.append(asyncio.run(bare_sdk(base_url, args.samples, args.concurrency)))
                aiohttp_times.append(asyncio.run(bare_sdk(base_url, args.samples, args.concurrency, aiohttp=True)))
                folder = root / f"proctor-{repeat}"
                folder.mkdir()
                proctor_times.append(asyncio.run(proctor_runs(base_url, tasks, args.concurrency, folder)))
                if args.agent != "tags":
                    folder = root / f"proctor-{args.agent}-{repeat}"
                    folder.mkdir()
                    agent_times.append(asyncio.run(proctor_runs(base_url, tasks, args.concurrency, folder, args.agent)))
                loads.append(os.getloadavg()[0])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sdk, engine = median(sdk_times), median(proctor_times)
    same_transport = median(aiohttp_times)
    ratio = engine / sdk
    floor = args.samples / args.concurrency * args.delay
    engine_cpu = median(proctor_times, cpu=True) - median(aiohttp_times, cpu=True)
    rows = [
        ("samples", f"{args.samples}, {args.concurrency} concurrent, server answers after {args.delay * 1000:g} ms"),
        ("load average", f"{min(loads):.1f}-{max(loads):.1f} (1 minute, over the repeats)"),
        ("theoretical s", f"{floor:.2f}"),
        ("bare openai SDK s", f"{sdk:.2f}  (runs: {runs(sdk_times)})"),
        ("bare SDK, aiohttp s", f"{same_transport:.2f}  (runs: {runs(aiohttp_times)})"),
        ("proctor s", f"{engine:.2f}  (runs: {runs(proctor_times)})"),
        ("proctor / SDK", f"{ratio:.2f}x  (target <= {TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'missed'})"),
        ("proctor / SDK, aiohttp", f"{engine / same_transport:.2f}x  (the engine's own cost, same HTTP transport)"),
        ("CPU s: aiohttp, proctor", f"{runs(aiohttp_times, cpu=True)} | {runs(proctor_times, cpu=True)}"),
        ("engine CPU per run", f"{engine_cpu / args.samples * 1000:.2f} ms  (proctor's CPU less the aiohttp loop's)"),
        ("proctor runs/s", f"{args.samples / engine:.0f}"),
    ]
    if agent_times:
        agent = median(agent_times)
        met = "met" if agent / engine <= TARGET_AGENT_RATIO else "missed"
        rows += [
            (f"proctor, {args.agent} s", f"{agent:.2f}  (runs: {runs(agent_times)})"),
            (f"{args.agent} / tags", f"{agent / engine:.2f}x  (target <= {TARGET_AGENT_RATIO}x: {met})"),
        ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  median seconds over {args.repeats} repeats")
    print(f"{'-' * width}  {'-' * 50}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
