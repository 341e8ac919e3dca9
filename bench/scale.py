"""Scale: one-step runs on the Ray executor on one and two Ray nodes, against the local executor.

Every measurement runs the same one-step native tasks (the model answers `<submit>N</submit>`, scored by
`expected_submission`) against a scripted OpenAI-compatible server in its own process (tests/loopback_server.py)
that answers after `--delay` seconds, stored in a fresh PostgreSQL database each time (the store a cluster shares):

- local: `run_tasks_async` in this process, `--concurrency` runs at once;
- ray, one node: `run_on_ray` on a Ray instance of one node (`--cpus` CPUs), its actors together driving
  `--concurrency` runs at once;
- ray, two nodes: the same on a Ray cluster of two nodes (`ray.cluster_utils.Cluster`, both on this machine), with
  twice the actors.

Times include creating the runs and, for Ray, starting the actors (Ray's own start is not included). Each result is
checked (every run done, scored 1.0, one step) so a broken executor cannot post a fast time. It also times
`proctor --help` (the command's start-up).

Usage: python bench/scale.py [--runs 10000] [--concurrency 200] [--delay 0.05] [--cpus 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from proctor.models import close_clients
from proctor.runner import RunConfig, run_tasks_async
from proctor.runner._ray import RayConfig, run_on_ray
from proctor.store import RunStatus, Store
from proctor.store import _schema as schema
from proctor.tasks import Task, load_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_server import RecordedRequest, Reply, spawn_loopback_server

POSTGRES = os.environ.get("PROCTOR_TEST_POSTGRES", "postgresql+psycopg:///postgres?host=/var/run/postgresql")
TARGET_RAY_RATIO = 1.3
TARGET_HELP = 0.3


def respond(request: RecordedRequest) -> Reply:
    """The server's answer (in its own process): an echo of the last message, whose `<submit>N</submit>` the tags
    agent parses."""
    return Reply(text=f"echo: {request.body['messages'][-1]['content']}")


def write_samples(folder: Path, count: int) -> list[Task]:
    """`count` native tasks whose instructions end in `<submit>i</submit>`: the echo is the right answer."""
    for i in range(count):
        task = folder / f"sample-{i:05d}"
        task.mkdir(parents=True)
        (task / "task.yaml").write_text(
            f"name: sample-{i:05d}\ninstructions: 'Submit this: <submit>{i}</submit>'\n"
            f"scorer:\n  expected_submission: '{i}'\n"
        )
    return load_tasks(folder)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database on the test server, dropped afterwards."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"proctor_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def check(store: Store, n: int) -> None:
    """Fail unless every run is stored done with score 1.0 and one completed step."""
    with store.engine.connect() as conn:
        done = conn.execute(
            select(func.count()).select_from(schema.runs).where(schema.runs.c.status == RunStatus.DONE.value)
        ).scalar_one()
        scored = conn.execute(select(func.count()).select_from(schema.runs).where(schema.runs.c.score == 1.0))
        steps = conn.execute(select(func.count()).select_from(schema.observations)).scalar_one()
        score_count = scored.scalar_one()
    if not done == score_count == steps == n:
        raise SystemExit(f"wrong result: {done} done, {score_count} scored 1.0, {steps} steps (want {n} each)")


def config_for(base_url: str, concurrency: int) -> RunConfig:
    options = {"base_url": base_url, "api_key": "unused", "max_concurrency": concurrency}
    return RunConfig(model="openai/bench", model_options=options)


async def local(tasks: list[Task], base_url: str, concurrency: int, workspaces: Path) -> float:
    with fresh_database() as url:
        store = Store(url)
        started = time.perf_counter()
        await run_tasks_async(
            tasks, config_for(base_url, concurrency), store, concurrency=concurrency, workspaces=workspaces
        )
        elapsed = time.perf_counter() - started
        await close_clients()
        check(store, len(tasks))
        store.close()
    return elapsed


def on_ray(tasks: list[Task], base_url: str, concurrency: int, actors: int) -> float:
    with fresh_database() as url:
        store = Store(url)
        ray_config = RayConfig(actors=actors, concurrency=max(1, concurrency // actors), memory=0, lease=60.0)
        started = time.perf_counter()
        asyncio.run(run_on_ray(tasks, config_for(base_url, concurrency), store, ray_config))
        elapsed = time.perf_counter() - started
        check(store, len(tasks))
        store.close()
    return elapsed


def help_startup(repeats: int = 5) -> float:
    """Median seconds for `proctor --help` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "proctor", "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=200, help="runs in flight at once, over all actors")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the server takes per answer")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of each Ray node")
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-scale-", dir="/tmp"))
    folder.chmod(0o711)  # the sandbox's unprivileged host user reaches workspaces through it
    os.environ["PROCTOR_WORKSPACES"] = str(folder / "workspaces")
    try:
        tasks = write_samples(folder / "tasks", args.runs)
        with spawn_loopback_server(delay=args.delay, default=f"{Path(__file__).resolve()}:respond") as url:
            base_url = f"{url}/v1"
            rows: list[tuple[str, float]] = []
            rows.append(("local executor", asyncio.run(local(tasks, base_url, args.concurrency, folder / "ws"))))
            print(f"{rows[-1][0]}: {rows[-1][1]:.1f} s", flush=True)

            nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus, "include_dashboard": False})
            ray.init(address=nodes.address, logging_level="warning")
            try:
                rows.append(("ray, one node", on_ray(tasks, base_url, args.concurrency, args.cpus)))
                print(f"{rows[-1][0]}: {rows[-1][1]:.1f} s", flush=True)
                nodes.add_node(num_cpus=args.cpus)
                nodes.wait_for_nodes()
                rows.append(("ray, two nodes", on_ray(tasks, base_url, args.concurrency, 2 * args.cpus)))
                print(f"{rows[-1][0]}: {rows[-1][1]:.1f} s", flush=True)
            finally:
                ray.shutdown()
                nodes.shutdown()
        help_seconds = help_startup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    times = dict(rows)
    print(f"\n{args.runs} one-step runs, server delay {args.delay * 1000:.0f} ms, {args.concurrency} in flight")
    print(f"| {'executor':<16} | {'seconds':>8} | {'runs/s':>8} |")
    for name, seconds in rows:
        print(f"| {name:<16} | {seconds:>8.1f} | {args.runs / seconds:>8.0f} |")
    one_node = times["ray, one node"] / times["local executor"]
    two_nodes = times["ray, one node"] / times["ray, two nodes"]
    print(f"ray on one node / local: {one_node:.2f}x (target <= {TARGET_RAY_RATIO}x)")
    print(f"throughput, two nodes / one node: {two_nodes:.2f}x")
    print(f"proctor --help: {help_seconds:.2f} s (target < {TARGET_HELP} s)")


if __name__ == "__main__":
    main()
