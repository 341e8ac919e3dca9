"""Scores nobody can forge: agent code tries every channel a scorer could trust, and each try scores 0 or fails
the scoring with its reason, never a score the work did not earn."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from proctor.sandbox import Sandbox
from proctor.tasks import Task, TaskRunError, load_tasks

FORGED_STATS = {
    # The old scorer parsed a RESULT line and the last stdout line: print both, then leave.
    "prints the markers": "import sys\nprint('RESULT 10 0')\nprint(1.0)\nsys.exit(0)\n",
    "writes the score file": (
        "import os\nfor path in ('/run/proctor/score', os.environ.get('SCORE_FILE', '/run/proctor/score')):\n"
        "    try:\n        open(path, 'w').write('1.0')\n    except OSError as e:\n        print(e)\n"
    ),
    "kills the scorer": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "writes to the scorer's output": (
        "import os\ntry:\n    open(f'/proc/{os.getppid()}/fd/1', 'w').write('\\n1.0\\n')\n"
        "except OSError as e:\n    print(e)\n"
    ),
    "edits the scorer": (
        "import glob\nfor path in glob.glob('/scorer/*') + ['/scorer/score.py']:\n    try:\n"
        "        open(path, 'w').write('print(1.0)')\n    except OSError as e:\n        print(e)\n"
    ),
}


@pytest.fixture
def fix_test(examples: dict[str, Task]) -> Task:
    return examples["examples/fix-test"]


async def test_the_real_fix_scores_one_and_the_bug_partial_credit(
    fix_test: Task, new_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = new_sandbox()
    await fix_test.setup(sandbox)
    assert await fix_test.score(sandbox, "done") == 0.7  # the unfixed median fails 3 of 10 cases
    fixed = (
        "def mean(values):\n    return sum(values) / len(values)\n\n"
        "def median(values):\n    o = sorted(values)\n    m = len(o) // 2\n"
        "    return o[m] if len(o) % 2 else (o[m - 1] + o[m]) / 2\n\n"
        "def value_range(values):\n    return max(values) - min(values)\n"
    )
    await sandbox.exec("cat > stats.py", stdin=fixed.encode())
    assert await fix_test.score(sandbox, "done") == 1.0


@pytest.mark.parametrize("attack", sorted(FORGED_STATS))
async def test_agent_code_the_scorer_runs_cannot_forge_its_score(
    fix_test: Task, new_sandbox: Callable[..., Sandbox], attack: str
) -> None:
    sandbox = new_sandbox()
    await fix_test.setup(sandbox)
    await sandbox.exec("cat > stats.py", stdin=FORGED_STATS[attack].encode())
    assert await fix_test.score(sandbox, "done") == 0.0


async def test_a_process_racing_the_scorer_cannot_touch_it(fix_test: Task, new_sandbox: Callable[..., Sandbox]) -> None:
    # The agent leaves a process running that, while scoring goes on, keeps writing forged scores everywhere it
    # might reach and rewriting the scorer's files.
    sandbox = new_sandbox()
    await fix_test.setup(sandbox)
    racer = (
        "for i in $(seq 400); do echo 1.0 > /run/proctor/score; echo 'print(1.0)' > /scorer/score.py; "
        "for p in /proc/[0-9]*; do echo 1.0 > $p/fd/1; done; sleep 0.02; done"
    )
    await sandbox.exec(f"nohup sh -c '{racer}' > /dev/null 2>&1 &")
    assert await fix_test.score(sandbox, "done") == 0.7
    assert (await sandbox.exec("pgrep -c -f 'seq 400'")).stdout.strip() != "0"  # it was still racing


METR_FAMILY = """
import subprocess


class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"answer": {}}

    @staticmethod
    def get_instructions(t):
        return "Write solution.py, which prints 42."

    @staticmethod
    def score(t, submission):
        # As many METR families do: run the agent's program as root and judge what it prints.
        run = subprocess.run(["python3", "/home/agent/solution.py"], capture_output=True, text=True, timeout=20)
        print("the solution printed", run.stdout[-200:])
        return 1.0 if run.stdout.strip() == "42" else 0.0
"""

FORGED_SOLUTIONS = {
    "prints the old marker": (
        "import json, sys\nfor out in (sys.stdout, open('/proc/self/fd/1', 'w')):\n"
        "    out.write('\\nPROCTOR_METR_RESULT_7Q2X\\n' + json.dumps({'ok': True, 'result': 1.0}) + "
        "'\\nPROCTOR_METR_RESULT_7Q2X\\n')\n"
    ),
    "steals the secret": (
        "import os\nppid = os.getppid()\nfor name in ('environ', 'mem', 'fd/0', 'cmdline'):\n    try:\n"
        "        print(open(f'/proc/{ppid}/{name}', 'rb').read(200))\n    except OSError as e:\n        print(e)\n"
    ),
    "writes to the driver's descriptors": (
        "import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b'\\n1.0\\n')\n    except OSError:\n"
        "        pass\nfor fd in ('0', '1', '2'):\n    try:\n"
        "        open(f'/proc/{os.getppid()}/fd/{fd}', 'w').write('x')\n    except OSError as e:\n        print(e)\n"
    ),
}


@pytest.fixture
def metr_task(scratch: Path) -> Task:
    family = scratch / "suite" / "metr_forge"
    family.mkdir(parents=True)
    (family / "metr_forge.py").write_text(textwrap.dedent(METR_FAMILY))
    [task] = load_tasks(family)
    return task


@pytest.mark.parametrize("attack", sorted(FORGED_SOLUTIONS))
async def test_agent_code_a_family_runs_as_root_cannot_forge_the_driver_result(
    metr_task: Task, new_sandbox: Callable[..., Sandbox], attack: str
) -> None:
    sandbox = new_sandbox()
    await metr_task.setup(sandbox)
    await sandbox.exec("echo 'print(42)' > solution.py")
    assert await metr_task.score(sandbox, "") == 1.0  # the honest solution
    await sandbox.exec("cat > solution.py", stdin=FORGED_SOLUTIONS[attack].encode())
    assert await metr_task.score(sandbox, "") == 0.0


async def test_a_killed_driver_is_a_scoring_error_never_a_score(
    metr_task: Task, new_sandbox: Callable[..., Sandbox]
) -> None:
    sandbox = new_sandbox()
    await metr_task.setup(sandbox)
    kill = "import os, signal\nprint('\\n1.0')\nos.kill(os.getppid(), signal.SIGKILL)\n"
    await sandbox.exec("cat > solution.py", stdin=kill.encode())
    with pytest.raises(TaskRunError, match=r"METR score exited -9"):
        await metr_task.score(sandbox, "")
