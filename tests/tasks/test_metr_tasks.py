"""METR Task Standard families run as root inside a real bubblewrap sandbox, never on the host."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from proctor.sandbox import Sandbox
from proctor.tasks import IntermediateScore, MetrTask, Task, TaskRunError, load_tasks

PROBE_FAMILY = """
import os
import socket
from pathlib import Path


class TaskFamily:
    standard_version = "0.3.0"
    required_environment_variables = ["PROCTOR_TEST_PROBE_TOKEN"]

    @staticmethod
    def get_tasks():
        return {"probe": {"note": "hello"}}

    @staticmethod
    def get_instructions(t):
        # Where the read-only calls run shows in the instructions.
        return f"uid={os.getuid()} host={socket.gethostname()} cwd={os.getcwd()}"

    @staticmethod
    def get_permissions(t):
        return ["full_internet"]

    @staticmethod
    def start(t):
        token = os.environ.get("PROCTOR_TEST_PROBE_TOKEN", "unset")
        Path("/home/agent/who.txt").write_text(f"{os.getuid()} {socket.gethostname()} {token}")
        Path("/root/kept").write_text("root's own")
        raise OSError("start failed on purpose")

    @staticmethod
    def score(t, submission):
        return 2.0
"""


@pytest.fixture
def assets_sum(examples: dict[str, Task]) -> MetrTask:
    task = examples["metr_assets/sum"]
    assert isinstance(task, MetrTask)
    return task


async def test_start_copies_assets_as_root_that_the_agent_can_use(
    assets_sum: MetrTask, new_sandbox: Callable[..., Sandbox], install_cache: Path
) -> None:
    sandbox = new_sandbox(**await assets_sum.sandbox_options("bwrap"))  # on the family's installed layer
    await assets_sum.setup(sandbox)
    # The agent (uid 1000) reads, changes and removes what start() created as root.
    used = await sandbox.exec(
        "id -u && stat -c %U data/numbers.txt && wc -l < data/numbers.txt"
        " && echo 1 >> data/numbers.txt && rm data/README.txt && touch data/new && ls data"
    )
    assert used.exit_code == 0, used.stderr
    assert used.stdout.split() == ["1000", "agent", "60", "new", "numbers.txt"]
    # The family folder is never visible to the agent.
    hidden = await sandbox.exec("ls /root/metr_assets.py")
    assert hidden.exit_code != 0
    # install() ran once, into the family's layer, not into the bundled folder.
    [installed] = list((install_cache / "layers").glob("metr_assets-*"))
    assert (installed / "root" / "assets" / "data" / "numbers.txt").is_file()
    assert not (Path(assets_sum.info.source) / "assets" / "data").exists()
    assert await assets_sum.score(sandbox, "11274") == 1.0
    assert await assets_sum.score(sandbox, "11275") == 0.0


async def test_install_is_cached_by_content(assets_sum: MetrTask, new_sandbox: Callable[..., Sandbox]) -> None:
    await assets_sum.setup(new_sandbox(**await assets_sum.sandbox_options("bwrap")))
    layer = next((assets_sum.cache_dir / "layers").glob("metr_assets-*"))
    stamp = layer.stat().st_mtime_ns
    await assets_sum.setup(new_sandbox(**await assets_sum.sandbox_options("bwrap")))
    assert layer.stat().st_mtime_ns == stamp
    # Without a layer (a backend that cannot layer, proctor not run by root), /root is what install() left.
    await assets_sum.setup(new_sandbox())
    assert next(assets_sum.cache_dir.glob("metr_assets-*/root/assets/data/numbers.txt")).is_file()


async def test_manual_scoring_returns_none(examples: dict[str, Task], new_sandbox: Callable[..., Sandbox]) -> None:
    poem = examples["metr_assets/poem"]
    sandbox = new_sandbox()
    await poem.setup(sandbox)
    await sandbox.exec("printf 'a\\nb\\nc\\nd\\n' > poem.txt")
    assert await poem.score(sandbox, "done") is None


async def test_teardown_runs_in_the_sandbox(assets_sum: MetrTask, new_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = new_sandbox()
    await assets_sum.setup(sandbox)
    assert (sandbox.workspace / "data" / "README.txt").is_file()
    await assets_sum.teardown(sandbox)
    assert not (sandbox.workspace / "data" / "README.txt").exists()


async def test_intermediate_and_aggregate_scores(
    examples: dict[str, Task], new_sandbox: Callable[..., Sandbox]
) -> None:
    task = examples["metr_arith/add"]
    assert isinstance(task, MetrTask)
    sandbox = new_sandbox()
    await task.setup(sandbox)
    first = await task.intermediate_score(sandbox)
    assert first == IntermediateScore(score=0.0, message={"answer.txt": "missing"})
    await sandbox.exec("echo 145679 > answer.txt")
    second = await task.intermediate_score(sandbox)
    assert second is not None and second.score == 1.0
    assert await task.aggregate_scores(sandbox, [first, second]) == 1.0
    assert await task.aggregate_scores(sandbox, [first]) == 0.0


async def test_family_code_runs_as_root_in_the_sandbox_not_on_the_host(
    scratch: Path, new_sandbox: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    family = scratch / "suite" / "metr_probe"
    family.mkdir(parents=True)
    (family / "metr_probe.py").write_text(textwrap.dedent(PROBE_FAMILY))
    [task] = load_tasks(family)
    assert task.info.id == "metr_probe/probe"
    # get_instructions ran inside a sandbox (its hostname), as root there, in the family folder.
    assert task.info.instructions == "uid=0 host=sandbox cwd=/root"
    assert socket.gethostname() != "sandbox"
    assert task.info.permissions == ["full_internet"]
    assert task.info.required_environment_variables == ["PROCTOR_TEST_PROBE_TOKEN"]

    sandbox = new_sandbox()
    monkeypatch.delenv("PROCTOR_TEST_PROBE_TOKEN", raising=False)
    with pytest.raises(TaskRunError, match="needs environment variables PROCTOR_TEST_PROBE_TOKEN; set them"):
        await task.setup(sandbox)
    monkeypatch.setenv("PROCTOR_TEST_PROBE_TOKEN", "s3cret")
    # start() wrote who.txt and to its copy of the family in /root, then failed: reported in one line.
    with pytest.raises(TaskRunError, match=r"metr_probe.py: TaskFamily.start\(t\) raised OSError: start failed on"):
        await task.setup(sandbox)
    assert (sandbox.workspace / "who.txt").read_text() == "0 sandbox s3cret"
    assert not (family / "kept").exists()  # the host's family folder is untouched
    assert (await sandbox.exec("cat /root/kept")).exit_code != 0  # /root is root's alone
    assert (await sandbox.exec("cat /root/kept", as_root=True)).stdout == "root's own"
    with pytest.raises(TaskRunError, match=r"TaskFamily.score returned 2.0, outside \[0, 1\]"):
        await task.score(sandbox, "x")


async def test_load_tasks_works_inside_a_running_event_loop(scratch: Path) -> None:
    family = scratch / "metr_inloop"
    family.mkdir()
    (family / "metr_inloop.py").write_text(textwrap.dedent(PROBE_FAMILY).replace('"probe"', '"inside"'))
    # The synchronous loader, called from async code (as the CLI or runner may), runs its sandbox calls
    # on a worker thread's loop.
    [task] = load_tasks(family)
    assert task.info.id == "metr_inloop/inside"
