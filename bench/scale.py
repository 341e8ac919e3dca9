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
from pathlib import Path

import ray
from sqlalchemy import func, select

from proctor.models import close_clients
from proctor.runner import RunConfig, run_tasks_async
from proctor.runner._ray import KEEPER, NAMESPACE, RayConfig, run_on_ray
from proctor.store import RunStatus, Store
from proctor.store import _schema as schema
from proctor.tasks import Task, load_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_server import RecordedRequest, Reply, spawn_loopback_server
from postgres import fresh_database

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


class Timing:
    """A batch's wall time, and its pace once runs were ending (from the first run ended to the last)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ends: list[tuple[float, int]] = []  # (when, runs ended by then)
        self.seconds = 0.0
        self.syncs_before = 0

    def ended(self, count: int) -> None:
        if count and (not self.ends or count > self.ends[-1][1]):
            self.ends.append((time.perf_counter(), count))

    def stop(self) -> Timing:
        self.seconds = time.perf_counter() - self.started
        return self

    @property
    def pace(self) -> float:
        """Runs a second from the first run ended to the last."""
        (first, before), (last, total) = self.ends[0], self.ends[-1]
        return (total - before) / (last - first) if last > first else float("nan")


async def local(tasks: list[Task], base_url: str, concurrency: int, workspaces: Path) -> Timing:
    with fresh_database(prefix="proctor_bench") as url:
        store = Store(url)
        timing = Timing()
        ended = iter(range(1, len(tasks) + 1))
        config = config_for(base_url, concurrency)
        done = lambda _: timing.ended(next(ended))  # noqa: E731
        await run_tasks_async(tasks, config, store, concurrency=concurrency, workspaces=workspaces, on_done=done)
        timing.stop()
        await close_clients()
        check(store, len(tasks))
        store.close()
    return timing


def keeper_syncs(base_url: str) -> int:
    """The syncs the limit keeper had so far for the server's limit (0 before its first batch)."""
    try:
        keeper = ray.get_actor(KEEPER, namespace=NAMESPACE)
    except ValueError:
        return 0
    limits = ray.get(keeper.report.remote())
    return sum(int(each["syncs"]) for key, each in limits.items() if base_url.rstrip("/") in key)


def on_ray(tasks: list[Task], base_url: str, concurrency: int, actors: int) -> Timing:
    with fresh_database(prefix="proctor_bench") as url:
        store = Store(url)
        ray_config = RayConfig(actors=actors, concurrency=max(1, concurrency // actors), memory=0, lease=60.0)
        timing = Timing()
        timing.syncs_before = keeper_syncs(base_url)
        config = config_for(base_url, concurrency)
        show = lambda progress: timing.ended(progress.done + progress.failed)  # noqa: E731
        asyncio.run(run_on_ray(tasks, config, store, ray_config, on_progress=show))
        timing.stop()
        syncs = keeper_syncs(base_url) - timing.syncs_before
        print(f"  limit keeper: {syncs} syncs for {len(tasks)} model requests", flush=True)
        check(store, len(tasks))
        store.close()
    return timing


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

    from ray.cluster_utils import Cluster

    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-scale-", dir="/tmp"))
    folder.chmod(0o711)  # the sandbox's unprivileged host user reaches workspaces through it
    os.environ["PROCTOR_WORKSPACES"] = str(folder / "workspaces")
    try:
        tasks = write_samples(folder / "tasks", args.runs)
        with spawn_loopback_server(delay=args.delay, default=f"{Path(__file__).resolve()}:respond") as url:
            base_url = f"{url}/v1"
            rows: list[tuple[str, Timing]] = []
            rows.append(("local executor", asyncio.run(local(tasks, base_url, args.concurrency, folder / "ws"))))
            print(f"{rows[-1][0]}: {rows[-1][1].seconds:.1f} s", flush=True)

            nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": args.cpus, "include_dashboard": False})
            ray.init(address=nodes.address, logging_level="warning")
            try:
                rows.append(("ray, one node", on_ray(tasks, base_url, args.concurrency, args.cpus)))
                print(f"{rows[-1][0]}: {rows[-1][1].seconds:.1f} s", flush=True)
                nodes.add_node(num_cpus=args.cpus)
                nodes.wait_for_nodes()
                rows.append(("ray, two nodes", on_ray(tasks, base_url, args.concurrency, 2 * args.cpus)))
                print(f"{rows[-1][0]}: {rows[-1][1].seconds:.1f} s", flush=True)
            finally:
                ray.shutdown()
                nodes.shutdown()
        help_seconds = help_startup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    times = dict(rows)
    print(f"\n{args.runs} one-step runs, server delay {args.delay * 1000:.0f} ms, {args.concurrency} in flight")
    print(f"| {'executor':<16} | {'seconds':>8} | {'runs/s':>8} | {'runs/s once running':>20} |")
    for name, timing in rows:
        print(f"| {name:<16} | {timing.seconds:>8.1f} | {args.runs / timing.seconds:>8.0f} | {timing.pace:>20.0f} |")
    local_, one, two = times["local executor"], times["ray, one node"], times["ray, two nodes"]
    print(f"ray on one node / local, wall time: {one.seconds / local_.seconds:.2f}x (target <= {TARGET_RAY_RATIO}x)")
    print(f"ray on one node / local, once running: {local_.pace / one.pace:.2f}x")
    print(
        f"throughput, two nodes / one node: {one.seconds / two.seconds:.2f}x wall, {two.pace / one.pace:.2f}x running"
    )
    print(f"proctor --help: {help_seconds:.2f} s (target < {TARGET_HELP} s)")


if __name__ == "__main__":
    main()
