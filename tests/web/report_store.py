"""A store seeded for the Results and Reports pages: tasks (one named and tagged with markup), two models through
two agents, runs that count and runs that do not (failed, still running, a subtask), a person's timed runs, and a
thresholds file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from report_runs import START, Run, add_runs, add_tasks
from web_runs import PASSWORD, PEOPLE

from proctor.store import Store, users

XSS_TASK = "lab/<img src=x onerror=window.__xss=1>"
"""A task id with markup: every page must show it as text."""
XSS_TAG = "<script>window.__xss=2</script>"
"""A task tag with markup."""
TASKS = {"lab/shell-a": ["shell"], "lab/shell-b": ["shell", "difficulty:hard"], XSS_TASK: [XSS_TAG], "lab/quiet": []}
MINUTES = {"lab/shell-a": 2.0, "lab/shell-b": 30.0, "lab/quiet": None}
"""human_minutes in task.yaml (None: none; lab/quiet is timed by people's runs)."""
THRESHOLDS = """\
thresholds:
  - name: shell autonomy
    where: {tag: shell}
    level: 0.1
    precaution: review before <b>network</b> access
"""
RELEASE_DATES = "date:\n  lab/alpha: 2025-06-01\n  lab/beta: 2024-01-01\n"
"""Release dates of both models, for the trend of horizons."""


def write_tasks(folder: Path) -> None:
    """task.yaml files for the tasks that have a folder name the loader accepts."""
    for task_id, minutes in MINUTES.items():
        task = folder / task_id
        task.mkdir(parents=True)
        extra = f"human_minutes: {minutes}\n" if minutes else ""
        name = task_id.split("/")[1]
        (task / "task.yaml").write_text(f"name: {name}\ninstructions: x\n{extra}scorer: {{expected_submission: x}}\n")


def seed(store: Store, folder: Path) -> list[Run]:
    """People, tasks and runs; returns the runs."""
    for name, role in PEOPLE.items():
        store.write(users.add_user, name, role, PASSWORD)
    write_tasks(folder / "suite")
    add_tasks(store, TASKS, source=str(folder / "suite"))
    runs: list[Run] = []
    plan = {  # (model, agent): solved of 4 runs, per task
        ("lab/alpha", "tags"): {"lab/shell-a": 4, "lab/shell-b": 3, XSS_TASK: 2, "lab/quiet": 1},
        ("lab/beta", "react"): {"lab/shell-a": 2, "lab/shell-b": 0, XSS_TASK: 1, "lab/quiet": 0},
    }
    for (model, agent), solved in plan.items():
        for task_id, wins in solved.items():
            for i in range(4):
                day = START + timedelta(days=40 * (i % 2), minutes=i)  # half in March, half in April
                score = 1.0 if i < wins else (0.5 if i == 3 else 0.0)
                runs.append(
                    Run(
                        task_id,
                        model=model,
                        agent=agent,
                        score=score,
                        created_at=day,
                        cost=0.01 * (i + 1),
                        active=10.0 * (i + 1),
                    )
                )
    runs.append(Run("lab/shell-a", status="failed", score=None))  # not the model's failure: apart
    runs.append(Run("lab/shell-a", status="running", score=None, wall=None))  # not finished: left out
    runs.append(Run("lab/shell-a", status="over_limit", score=None, wall=None))  # a failure that counts
    parent = runs[0].id
    runs.append(Run("lab/shell-a", parent=parent))  # a subtask: left out
    runs += [Run("lab/quiet", model="person", agent="human", active=s) for s in (240.0, 960.0)]  # 8 minutes
    add_runs(store, runs)
    return runs
