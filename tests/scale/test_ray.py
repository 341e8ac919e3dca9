"""The Ray executor on a two-node Ray cluster started here (both nodes on this machine), PostgreSQL as the store:
an actor or a node killed mid-run has its runs finished elsewhere with every step stored once, and model
concurrency limits hold across the whole fleet and back off on 429s."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from loopback_server import LoopbackServer
from ray.cluster_utils import Cluster
from scale_runs import Refusing, check_steps_once, config_for, stepping, write_tasks
from sqlalchemy import select

from proctor.runner._ray import KEEPER, NAMESPACE, RayConfig, run_on_ray
from proctor.store import RunRecord, Store
from proctor.store import _schema as schema

LEASE = 2.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Cluster, Any]]:
    """A head node and a second node, two CPUs each (one cluster for the module: Ray is slow to start)."""
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    second = nodes.add_node(num_cpus=2)
    ray.init(address=nodes.address, namespace=NAMESPACE, logging_level="warning")
    nodes.wait_for_nodes()
    yield nodes, second
    ray.shutdown()
    nodes.shutdown()


class Batch:
    """`run_on_ray` in a background thread, as the command runs it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.records: list[RunRecord] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=args, kwargs=kwargs, daemon=True)
        self.thread.start()

    def _run(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.records = asyncio.run(run_on_ray(*args, **kwargs))
        except BaseException as error:
            self.error = error

    def join(self) -> list[RunRecord]:
        self.thread.join(180)
        assert not self.thread.is_alive(), "the batch did not end"
        if self.error is not None:
            raise self.error
        return self.records


def runner_actors() -> dict[str, Any]:
    """The live runner actors by worker id."""
    found = {}
    for named in ray.util.list_named_actors(all_namespaces=True):
        if named["name"].startswith("proctor-runner-"):
            handle = ray.get_actor(named["name"], namespace=named["namespace"])
            try:
                found[ray.get(handle.worker_id.remote(), timeout=10)] = handle
            except ray.exceptions.RayError:
                continue
    return found


def wait_for(condition: Callable[[], Any], what: str, seconds: float = 90) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def mid_run(store: Store) -> RunRecord | None:
    return next((r for r in store.runs(status="running") if r.steps_done >= 2 and r.lease_owner), None)


def test_killed_actor_runs_finish_elsewhere(cluster: Any, postgres_store: Store, reachable_tmp: Path) -> None:
    tasks = write_tasks(reachable_tmp / "tasks", 4)
    with LoopbackServer(default=stepping(5), delay=0.3) as server:
        batch = Batch(
            tasks, config_for(server), postgres_store, RayConfig(actors=2, concurrency=4, lease=LEASE, memory=0)
        )
        victim = wait_for(lambda: mid_run(postgres_store), "a run two steps in")
        actors = wait_for(lambda: runner_actors().get(victim.lease_owner) and runner_actors(), "its actor")
        ray.kill(actors[victim.lease_owner], no_restart=False)  # Ray restarts it, under a new worker id
        records = batch.join()
    check_steps_once(postgres_store, [r.id for r in records])
    after = postgres_store.run(victim.id)
    assert after.lease_owner is not None and after.lease_owner != victim.lease_owner  # taken over by another worker
    running = [e for e in postgres_store.events(victim.id, "status") if e["detail"]["status"] == "running"]
    assert len(running) == 2  # claimed twice: by the killed actor, then by its successor


def test_sqlite_on_one_machine_is_accepted_and_cli_shows_the_batch(cluster: Any, reachable_tmp: Path) -> None:
    """`proctor run --executor ray` joins the cluster (two nodes, one machine: SQLite works) and prints results."""
    nodes, _ = cluster
    task_folder = reachable_tmp / "tasks"
    write_tasks(task_folder, 3)
    db = f"sqlite:///{reachable_tmp / 'runs.db'}"
    with LoopbackServer(default=stepping(1)) as server:
        config = reachable_tmp / "config.json"
        config.write_text(config_for(server).model_dump_json().replace('"<redacted>"', '"test"'))
        command = [sys.executable, "-m", "proctor", "run", str(task_folder), "--config", str(config)]
        command += ["--executor", "ray", "--ray-address", nodes.address, "--db", db]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "solved 3/3" in done.stdout
    runs = Store(db).runs()
    assert len(runs) == 3 and all(r.status == "done" and r.lease_owner for r in runs)


def test_a_stopped_batch_leaves_no_run_open(cluster: Any, postgres_store: Store, reachable_tmp: Path) -> None:
    """SIGTERM to `proctor run --executor ray` mid-batch: the actors are stopped and the batch's runs in flight
    and not started are stored killed, as with the local executor. (On PostgreSQL: on SQLite, the actors' writes
    and the command's own may meet a locked file on a loaded machine.)"""
    nodes, _ = cluster
    task_folder = reachable_tmp / "tasks"
    write_tasks(task_folder, 6)
    db = postgres_store.url
    with LoopbackServer(default=stepping(20), delay=0.3) as server:
        config = reachable_tmp / "config.json"
        config.write_text(config_for(server).model_dump_json().replace('"<redacted>"', '"test"'))
        command = [sys.executable, "-m", "proctor", "run", str(task_folder), "--config", str(config)]
        command += ["--executor", "ray", "--ray-address", nodes.address, "--db", db, "--concurrency", "2"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ)
        store = Store(db)
        wait_for(lambda: any(r.steps_done >= 1 for r in store.runs()), "a run one step in")
        process.terminate()
        assert process.wait(60) == 130, process.stderr.read().decode() if process.stderr else ""
    runs = store.runs()
    assert len(runs) == 6
    assert {r.status for r in runs} == {"killed"}
    assert all((r.error or "").startswith("the batch stopped") for r in runs)


def test_max_concurrency_holds_across_the_fleet(cluster: Any, postgres_store: Store, reachable_tmp: Path) -> None:
    """Two actors driving 8 runs each at once share one limit of 3 requests in flight."""
    tasks = write_tasks(reachable_tmp / "tasks", 16)
    with LoopbackServer(default=stepping(2), delay=0.2) as server:
        config = config_for(server, max_concurrency=3)
        records = Batch(tasks, config, postgres_store, RayConfig(actors=2, concurrency=8, memory=0)).join()
        peak = server.max_in_flight
    assert all(r.status == "done" for r in records)
    assert len({r.lease_owner for r in records}) == 2  # both actors drove runs
    assert 2 <= peak <= 3


def test_requests_take_slots_from_each_actors_share(cluster: Any, postgres_store: Store, reachable_tmp: Path) -> None:
    """Under a limit the fleet does not fill, the actors take their requests' slots from the shares the keeper
    granted them: they sync with the keeper far fewer times than they make requests (not once or twice a request)."""
    tasks = write_tasks(reachable_tmp / "tasks", 8)
    with LoopbackServer(default=stepping(6), delay=0.2) as server:
        config = config_for(server, max_concurrency=16)
        records = Batch(tasks, config, postgres_store, RayConfig(actors=2, concurrency=4, memory=0)).join()
        requests = len(server.requests)
        peak = server.max_in_flight
    assert all(r.status == "done" for r in records)
    assert len({r.lease_owner for r in records}) == 2
    keeper = ray.get_actor(KEEPER, namespace=NAMESPACE)
    (limit,) = [each for key, each in ray.get(keeper.report.remote()).items() if str(server.port) in key]
    assert requests >= 48 and peak <= 16
    assert 2 <= limit["syncs"] < requests / 3, (limit, requests)
    assert limit["peak"] <= 16 and limit["held"] == 0  # every share given back as its actor ended


def test_fleet_backs_off_on_429_and_stays_under_the_threshold(
    cluster: Any, postgres_store: Store, reachable_tmp: Path
) -> None:
    """A server answering 429 above 4 requests in flight: the shared limit (ceiling 16) is cut to fit it (AIMD),
    after which the fleet stays within it but for the one request over that each additive probe sends; the
    effective limit is stored with each call's usage."""
    threshold = 4
    answer = Refusing(threshold)
    tasks = write_tasks(reachable_tmp / "tasks", 24)
    with LoopbackServer(default=answer, delay=0.2) as server:
        answer.server = server
        retry = {"max_attempts": 30, "base_delay": 0.2, "max_delay": 1.0}
        config = config_for(server, max_concurrency=16, retry=retry)
        records = Batch(tasks, config, postgres_store, RayConfig(actors=2, concurrency=12, memory=0)).join()
    assert all(r.status == "done" for r in records)
    # After two rounds of cuts (16 to 8 to 4), each taking a round trip of 0.2 s, the limit fits the server.
    answer.check_backed_off(settle=1.0)
    with postgres_store.engine.connect() as conn:
        limits = list(conn.execute(select(schema.usage.c.concurrency_limit).order_by(schema.usage.c.id)).scalars())
    assert limits and all(limit is not None for limit in limits)
    assert min(limits) <= threshold and max(limits) <= 16


def test_killed_node_runs_finish_on_the_other(cluster: Any, postgres_store: Store, reachable_tmp: Path) -> None:
    """The second node dies mid-batch: its actor is restarted on the head and its runs are taken over."""
    nodes, second = cluster
    tasks = write_tasks(reachable_tmp / "tasks", 4)
    with LoopbackServer(default=stepping(5), delay=0.3) as server:
        batch = Batch(
            tasks, config_for(server), postgres_store, RayConfig(actors=2, concurrency=4, lease=LEASE, memory=0)
        )
        wait_for(lambda: mid_run(postgres_store), "a run two steps in")
        nodes.remove_node(second, allow_graceful=False)
        records = batch.join()
    check_steps_once(postgres_store, [r.id for r in records])
