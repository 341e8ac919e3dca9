"""Runs in task environments like METR's: processes `start` leaves running live for the run, the agent asks for
intermediate scores that `aggregate_scores` turns into the final score, options of any size, a refused permission
the agent is told of, and task resources that raise limits up to a ceiling."""

from __future__ import annotations

import os
import shutil
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from doubles import script, sequence, turns
from runner_tasks import online_task

from proctor.agents._actions import INTERNET_REFUSED, SCORE_HELP
from proctor.models import GenerateConfig, Message
from proctor.runner import RunConfig, Runner
from proctor.runner._config import with_task_limits
from proctor.sandbox import BwrapSandbox, Limits
from proctor.store import RunStatus, Store
from proctor.tasks import Task, TaskLimits, load_tasks
from proctor.tasks._spec import ManifestSpec, manifest_limits

SERVED_FAMILY = """
import subprocess
import time
import urllib.request
from pathlib import Path


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"served": {"secret": "blue-heron-17"}}

    @staticmethod
    def get_instructions(t):
        return "A server on 127.0.0.1:8123 serves secret.txt. Write its content to answer.txt."

    @staticmethod
    def start(t):
        site = Path("/root/site")
        site.mkdir()
        (site / "secret.txt").write_text(t["secret"])
        subprocess.Popen(
            ["python3", "-m", "http.server", "8123", "--bind", "127.0.0.1", "--directory", str(site)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        for _ in range(100):  # ready before the agent's first step
            try:
                urllib.request.urlopen("http://127.0.0.1:8123/secret.txt", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    @staticmethod
    def intermediate_score(t):
        answer = Path("/home/agent/answer.txt")
        right = answer.exists() and answer.read_text().strip() == t["secret"]
        return {"score": 1.0 if right else 0.0, "message": {"right": right}, "details": {"seen": answer.exists()}}

    @staticmethod
    def aggregate_scores(t, score_log):
        return max(entry["score"] for entry in score_log)

    @staticmethod
    def score(t, submission):
        raise RuntimeError("a family with intermediate scoring is scored by aggregate_scores")
"""

TOOLED_FAMILY = """
import json
import subprocess
from pathlib import Path


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def install():
        # As in METR's Dockerfile: system packages and Python packages, as root, with network.
        subprocess.check_call(["apt-get", "update", "-q"])
        subprocess.check_call(["apt-get", "install", "-y", "--no-install-recommends", "hello"])
        subprocess.check_call(
            ["python3", "-m", "pip", "install", "--break-system-packages", "--no-cache-dir", "tabulate"]
        )
        Path("/root/tasks.json").write_text(json.dumps({"greet": {"expected": "Hello, world!"}}))

    @staticmethod
    def get_tasks():
        # Called after install(), as the standard says: the tasks come from what install() wrote.
        return json.loads(Path("/root/tasks.json").read_text())

    @staticmethod
    def get_instructions(t):
        return "Run `hello` and submit what it prints."

    @staticmethod
    def score(t, submission):
        return 1.0 if submission.strip() == t["expected"] else 0.0
"""

FETCH = "python3 -c \"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8123/secret.txt').read().decode())\""
sequence(
    "scorer-asker",
    [
        f"<bash>{FETCH}</bash>",
        "<score></score>",
        "<bash>cp /dev/null answer.txt; echo blue-heron-17 > answer.txt</bash>",
        "<score></score>",
        '<write path="answer.txt">wrong now</write>',
        "<submit>done</submit>",
    ],
)
sequence(
    "tool-user",
    [
        "<bash>hello && python3 -c 'import tabulate; print(tabulate.tabulate([[1, 2]]))' && touch /usr/bin/mine</bash>",
        "<submit>Hello, world!</submit>",
    ],
)
sequence(
    "big-writer",
    ['<write path="big.txt">' + "x" * 2_000_000 + "</write>", "<bash>wc -c < big.txt</bash>", "<submit>42</submit>"],
)


@script("told")
def told(messages: list[Message], config: GenerateConfig) -> list[str]:
    said = messages[1].content
    answer = "told" if INTERNET_REFUSED in said else "untold"
    return [f"<submit>{answer}</submit>" if turns(messages) == 0 else "<submit>x</submit>"] * config.n


async def drive(store: Store, task: Task, config: RunConfig) -> str:
    async with Runner(store) as runner:
        run_id = await runner.create(task, config)
        await runner.drive(run_id)
    return run_id


async def test_start_processes_live_on_and_intermediate_scores_aggregate(
    sqlite_store: Store, reachable_tmp: Path
) -> None:
    family = reachable_tmp / "metr_served"
    family.mkdir()
    (family / "metr_served.py").write_text(textwrap.dedent(SERVED_FAMILY))
    [task] = load_tasks(family)
    assert task.info.intermediate_scoring
    run_id = await drive(sqlite_store, task, RunConfig(model="double/scorer-asker"))
    run = sqlite_store.run(run_id)
    steps = sqlite_store.steps(run_id)
    outputs = [s.observation.output.strip() for s in steps if s.observation]
    assert outputs[0] == "blue-heron-17"  # the server start() launched answered the agent
    assert outputs[1].startswith("score: 0.0") and outputs[3].startswith("score: 1.0")
    logged = [e["detail"]["score"] for e in sqlite_store.events(run_id, "intermediate_score")]
    assert logged == [0.0, 1.0, 0.0]  # the agent's two, and the last one taken at submission
    # aggregate_scores (the best) decides, not the last score nor score(t, submission).
    assert run.status is RunStatus.DONE and run.score == 1.0


@pytest.mark.usefixtures("as_root")
async def test_install_apt_and_pip_packages_the_agent_then_uses(sqlite_store: Store, reachable_tmp: Path) -> None:
    family = reachable_tmp / "metr_tooled"
    family.mkdir()
    (family / "metr_tooled.py").write_text(textwrap.dedent(TOOLED_FAMILY))
    before = sorted(os.listdir("/usr/bin"))
    started = time.perf_counter()
    cache = Path(tempfile.mkdtemp(prefix="proctor-layer-test-"))  # private, as proctor requires of its cache
    [task] = load_tasks(family, cache_dir=cache)  # installs: apt-get and pip, into the family's layer
    print(f"layer build with apt-get install hello and pip install tabulate: {time.perf_counter() - started:.2f} s")
    assert task.info.id == "metr_tooled/greet"
    run_id = await drive(sqlite_store, task, RunConfig(model="double/tool-user"))
    run = sqlite_store.run(run_id)
    shutil.rmtree(cache)
    assert run.status is RunStatus.DONE, run.error
    first = sqlite_store.steps(run_id)[0].observation
    assert first is not None and first.output.startswith("Hello, world!\n") and "-  -" in first.output
    assert "Permission denied" in first.stderr  # the agent uses the packages; it cannot change the system
    assert run.status is RunStatus.DONE and run.score == 1.0
    assert sorted(os.listdir("/usr/bin")) == before and shutil.which("hello") is None  # the host is untouched


async def test_the_agent_is_told_of_intermediate_scoring_only_where_offered(sqlite_store: Store, task: Task) -> None:
    run_id = await drive(sqlite_store, task, RunConfig(model="double/scorer-asker", options=1))
    scored = [s for s in sqlite_store.steps(run_id) if s.chosen and s.chosen.action == "score"]
    assert scored and scored[0].observation is not None
    assert scored[0].observation.failed and "offers no intermediate scoring" in scored[0].observation.output
    assert SCORE_HELP not in task.info.instructions


async def test_an_option_of_megabytes_is_a_step_like_any_other(sqlite_store: Store, task: Task) -> None:
    run_id = await drive(sqlite_store, task, RunConfig(model="double/big-writer"))
    run = sqlite_store.run(run_id)
    outputs = [s.observation.output.strip() for s in sqlite_store.steps(run_id) if s.observation]
    assert outputs[:2] == ["wrote 2000000 bytes to big.txt", "2000000"]
    assert run.status is RunStatus.DONE


async def test_a_refused_permission_is_told_to_the_agent(sqlite_store: Store, reachable_tmp: Path) -> None:
    run_id = await drive(sqlite_store, online_task(reachable_tmp), RunConfig(model="double/told"))
    assert sqlite_store.run(run_id).submission == "told"


async def test_the_runs_sandbox_gets_the_memory_the_task_asks_for(sqlite_store: Store, task: Task) -> None:
    task.info = task.info.model_copy(update={"limits": TaskLimits(memory_mb=3072)})
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, RunConfig(command_limits=Limits(memory_mb=1024)))
        sandbox = runner.sandbox(sqlite_store.run(run_id), task)
    assert isinstance(sandbox, BwrapSandbox) and sandbox.limits.memory_mb == 3072


def test_task_memory_raises_limits_up_to_the_ceiling(task: Task) -> None:
    task.info = task.info.model_copy(update={"limits": TaskLimits(memory_mb=4096)})  # a manifest's memory_gb: 4
    config = RunConfig(command_limits=Limits(memory_mb=1024), task_memory_ceiling_mb=2048)
    assert with_task_limits(config, task).command_limits.memory_mb == 2048
    roomy = config.model_copy(update={"task_memory_ceiling_mb": 8192})
    assert with_task_limits(roomy, task).command_limits.memory_mb == 4096
    task.info = task.info.model_copy(update={"limits": TaskLimits(memory_mb=512)})
    assert with_task_limits(config, task).command_limits.memory_mb == 512


@pytest.mark.usefixtures("as_root")
async def test_the_runs_workspace_gets_the_disk_the_task_asks_for(sqlite_store: Store, task: Task) -> None:
    manifest = ManifestSpec.model_validate({"tasks": {"one": {"resources": {"storage_gb": 0.0625}}}})
    task.info = task.info.model_copy(update={"limits": manifest_limits(manifest, "one")})  # 64 MiB
    async with Runner(sqlite_store) as runner:
        run_id = await runner.create(task, RunConfig(command_limits=Limits(disk_mb=1024)))
        sandbox = runner.sandbox(sqlite_store.run(run_id), task)
        try:
            size = await sandbox.exec("df -k --output=size . | tail -1")
            full = await sandbox.exec("head -c 100M /dev/zero > fill")
        finally:
            await sandbox.close()
    assert sandbox.limits.disk_mb == 64 and int(size.stdout) <= 64 << 10
    assert "No space left on device" in full.stderr


def test_task_disk_raises_limits_up_to_the_ceiling(task: Task) -> None:
    task.info = task.info.model_copy(update={"limits": TaskLimits(disk_mb=100_000)})
    config = RunConfig(command_limits=Limits(disk_mb=1024))
    assert with_task_limits(config, task).command_limits.disk_mb == config.task_disk_ceiling_mb == 65536
    small = config.model_copy(update={"task_disk_ceiling_mb": 512})
    assert with_task_limits(small, task).command_limits.disk_mb == 1024  # never below what is configured
