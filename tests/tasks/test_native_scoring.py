"""Native scorers: run as root in the sandbox with /scorer root's alone and SUBMISSION set; their score goes to
SCORE_FILE, what they print is only a log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from proctor.sandbox import Sandbox
from proctor.tasks import Task, TaskRunError, load_tasks

SCORER = """
import os, sys
from pathlib import Path
submission = os.environ.get("SUBMISSION") or Path(os.environ["SUBMISSION_FILE"]).read_text()
print("uid", os.getuid(), "cwd", os.getcwd())
def score(value):
    Path(os.environ["SCORE_FILE"]).write_text(f"{value}\\n")
mode = submission.split(":")[0]
if mode == "probe":
    whole = Path(os.environ["SUBMISSION_FILE"]).read_text() == submission
    score(1.0 if os.getuid() == 0 and os.getcwd() == "/home/agent" and whole else 0.0)
elif mode == "crash":
    sys.exit("boom")
elif mode == "garbage":
    score("lots of output\\nnot a score")
elif mode == "silent":
    print(1.0)
elif mode == "manual":
    score(None)
elif mode == "high":
    score(1.5)
elif mode == "long":
    whole = Path(os.environ["SUBMISSION_FILE"]).read_text()
    score(1.0 if len(whole) == 3_000_000 and "SUBMISSION" not in os.environ else 0.0)
else:
    score(Path("/home/agent/answer.txt").read_text().strip() == submission and 1.0 or 0.25)
"""


def make_task(folder: Path, scorer: str) -> Task:
    (folder / "scorer").mkdir(parents=True)
    (folder / "scorer" / "score.py").write_text(SCORER)
    (folder / "task.yaml").write_text(f"name: {folder.name}\ninstructions: Write answer.txt.\nscorer:\n{scorer}")
    [task] = load_tasks(folder)
    return task


@pytest.fixture
def scored(scratch: Path) -> Task:
    return make_task(scratch / "suite" / "scored", "  command: /usr/bin/python3 /scorer/score.py\n")


async def test_the_scorer_runs_as_root_with_the_submission(scored: Task, new_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = new_sandbox()
    await scored.setup(sandbox)
    await sandbox.exec("echo yes > answer.txt")
    assert await scored.score(sandbox, "yes") == 1.0
    assert await scored.score(sandbox, "no") == 0.25
    assert await scored.score(sandbox, "manual") is None
    # The scorer ran as root, in the workspace, with the whole submission in a file too.
    assert await scored.score(sandbox, "probe") == 1.0
    # A submission of any size reaches the scorer, through the file only when too long for a variable.
    assert await scored.score(sandbox, "long:" + "x" * (3_000_000 - 5)) == 1.0


@pytest.mark.parametrize(
    ("submission", "message"),
    [
        ("crash", r"exited 1: boom; a scorer should score 0 for a bad submission rather than fail"),
        ("garbage", r"wrote 'not a score' to \$SCORE_FILE; the score must be a number in \[0, 1\] or None"),
        ("high", r"wrote score 1.5, outside \[0, 1\]"),
        ("silent", r"wrote no score: a scorer writes its score .* what it prints is only a log"),
    ],
)
async def test_a_broken_scorer_raises_a_one_line_error(
    scored: Task, new_sandbox: Callable[..., Sandbox], submission: str, message: str
) -> None:
    sandbox = new_sandbox()
    await scored.setup(sandbox)
    with pytest.raises(TaskRunError, match=message) as caught:
        await scored.score(sandbox, submission)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("suite/scored: scorer command")


async def test_expected_submission_gates_the_command(scratch: Path, new_sandbox: Callable[..., Sandbox]) -> None:
    task = make_task(
        scratch / "suite" / "both",
        "  expected_submission: ' yes '\n  command: /usr/bin/python3 /scorer/score.py\n",
    )
    sandbox = new_sandbox()
    await task.setup(sandbox)
    await sandbox.exec("echo no > answer.txt")
    assert await task.score(sandbox, "maybe") == 0.0  # differs: the command does not run
    assert await task.score(sandbox, "yes\n") == 0.25  # matches: the command decides


async def test_expected_submission_alone(scratch: Path, new_sandbox: Callable[..., Sandbox]) -> None:
    folder = scratch / "suite" / "plain"
    folder.mkdir(parents=True)
    (folder / "task.yaml").write_text("name: plain\ninstructions: Say 42.\nscorer: {expected_submission: 42}\n")
    [task] = load_tasks(folder)
    sandbox = new_sandbox()
    await task.setup(sandbox)  # no files/: nothing to copy
    assert not sandbox.workspace.exists() or list(sandbox.workspace.iterdir()) == []
    assert await task.score(sandbox, "  42\n") == 1.0
    assert await task.score(sandbox, "43") == 0.0
