"""The results grid, filters and the capability profile on SQLite and PostgreSQL, checked against a direct
computation over the runs stored, and recovered from synthetic runs with known success probabilities."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from alembic import command
from report_runs import START, Run, add_runs, add_tasks
from sqlalchemy import JSON, column, insert, select, table

from proctor.analysis import AnalysisError, RunFilter, capability_profile, results_grid, task_rate, wilson_interval
from proctor.runner import RunConfig
from proctor.store import Store, ops
from proctor.store import _schema as s
from proctor.store._migrate import alembic_config

TASKS = {
    "lab/shell-easy": ["shell", "difficulty:easy"],
    "lab/shell-hard": ["shell", "difficulty:hard"],
    "lab/python": ["python", "difficulty:hard"],
    "other/search": ["search"],
}


def mixed_runs() -> list[Run]:
    """Runs of every kind a report must sort out: two models, two agents, statuses, forks, subtasks, dates."""
    rng = random.Random(5)
    runs = []
    for i in range(160):
        task = sorted(TASKS)[rng.randrange(4)]
        status = ["done", "done", "done", "over_limit", "failed", "killed"][i % 6]
        score = {"done": float(rng.random() < 0.6), "over_limit": None, "failed": None, "killed": None}[status]
        if status == "done" and i % 7 == 0:
            score = 0.5  # a partial score: solved only at --solved-at 0.5
        runs.append(
            Run(
                task,
                model=["lab/alpha", "lab/beta"][i % 2],
                agent=["tags", "react"][(i // 2) % 2],
                status=status,
                score=score,
                created_at=START + timedelta(days=i % 20, hours=i % 5),
                wall=None if status == "over_limit" else 10.0 + i,
                active=5.0 + i,
                input_tokens=100 * i,
                output_tokens=i,
                cost=0.001 * i,
                config={"options": 1 + i % 3, "experiment": "exp1" if i % 10 == 0 else None},
                step_tags=["gives-up"] if i % 9 == 0 else [],
            )
        )
    return runs


def counted(run: Run) -> bool:
    return run.parent is None and (run.status == "over_limit" or (run.status == "done" and run.score is not None))


def direct_cells(runs: list[Run], solved_at: float = 1.0) -> dict[tuple[str, str, str], tuple[int, int, int, float]]:
    """(task, model, agent) → (counted runs, solved, failed, mean score), computed run by run."""
    cells: dict[tuple[str, str, str], list[Run]] = defaultdict(list)
    for run in runs:
        if run.parent is None and run.status in ("done", "over_limit", "failed"):
            cells[(run.task_id, run.model, run.agent)].append(run)
    found = {}
    for key, group in cells.items():
        scored = [r for r in group if counted(r)]
        scores = [r.score or 0.0 for r in scored]
        solved = sum(1 for s in scores if s >= solved_at)
        failed = sum(1 for r in group if r.status == "failed")
        found[key] = (len(scored), solved, failed, sum(scores) / len(scores) if scores else float("nan"))
    return found


def test_the_grid_matches_a_direct_computation(store: Store) -> None:
    add_tasks(store, TASKS)
    runs = mixed_runs()
    parent = runs[0].id
    runs.append(Run("lab/python", parent=parent, score=1.0))  # a delegated subtask: never counted
    add_runs(store, runs)
    for solved_at in (1.0, 0.5):
        grid = results_grid(store, solved_at=solved_at)
        expected = direct_cells(runs, solved_at)
        assert {(c.task_id, c.model, c.agent) for c in grid.cells} == set(expected)
        for cell in grid.cells:
            n, solved, failed, mean = expected[(cell.task_id, cell.model, cell.agent)]
            assert (cell.runs, cell.solved, cell.failed) == (n, solved, failed)
            assert cell.mean_score == pytest.approx(mean)
            assert cell.success == task_rate(solved, n)
            assert cell.tags == TASKS[cell.task_id] and cell.family == cell.task_id.split("/")[0]
            mine = [r for r in runs if (r.task_id, r.model, r.agent) == (cell.task_id, cell.model, cell.agent)]
            mine = [r for r in mine if counted(r)]
            assert cell.costs is not None
            assert cell.costs.tokens == pytest.approx(sum(r.input_tokens + r.output_tokens for r in mine) / n)
            assert cell.costs.total_cost == pytest.approx(sum(r.cost for r in mine))
            assert cell.costs.active_seconds == pytest.approx(sum(r.active for r in mine) / n)
            ended = [r.wall for r in mine if r.wall is not None]
            assert cell.costs.ended == len(ended)
            assert cell.costs.wall_seconds == pytest.approx(sum(ended) / len(ended), abs=1e-3)
        for summary in grid.models:
            mine = [c for c in grid.cells if (c.model, c.agent) == (summary.model, summary.agent)]
            assert summary.runs == sum(c.runs for c in mine) and summary.solved == sum(c.solved for c in mine)
            assert summary.tasks == 4 and summary.success is not None
            assert summary.success.low < summary.success.value < summary.success.high


@pytest.mark.parametrize(
    ("terms", "keep"),
    [
        ("model=lab/alpha", lambda r: r.model == "lab/alpha"),
        ("model=lab/*", lambda r: True),
        ("model=lab/a*|nobody", lambda r: r.model == "lab/alpha"),
        ("agent=react", lambda r: r.agent == "react"),
        ("task=lab/python", lambda r: r.task_id == "lab/python"),
        ("family=other", lambda r: r.task_id.startswith("other/")),
        ("suite=lab", lambda r: True),  # the folder the tasks were loaded from: /suites/lab/…
        ("suite=/suites/lab/lab", lambda r: r.task_id.startswith("lab/")),
        ("tag=shell", lambda r: "shell" in TASKS[r.task_id]),
        ("tag=difficulty:hard|search", lambda r: r.task_id != "lab/shell-easy"),
        ("tag=shell,tag=difficulty:hard", lambda r: r.task_id == "lab/shell-hard"),
        ("tag=diff*", lambda r: r.task_id.startswith("lab/")),
        ("step-tag=gives-up", lambda r: r.step_tags == ["gives-up"]),
        ("experiment=exp1", lambda r: r.config["experiment"] == "exp1"),
        ("since=2026-03-10", lambda r: r.created_at.date().isoformat() >= "2026-03-10"),
        ("until=2026-03-10", lambda r: r.created_at.date().isoformat() <= "2026-03-10"),
        (
            "since=2026-03-05T14:00:00,until=2026-03-06",
            lambda r: "2026-03-05T14" <= r.created_at.isoformat()[:13] < "2026-03-07",
        ),
        (  # 17:00 at UTC+2 is 15:00 UTC: the runs of 16:00 UTC that day are kept
            "since=2026-03-05T17:00:00+02:00,until=2026-03-06",
            lambda r: "2026-03-05T15" <= r.created_at.isoformat()[:13] < "2026-03-07",
        ),
        ("config.options=2", lambda r: r.config["options"] == 2),
        ("config.options=2|3", lambda r: r.config["options"] in (2, 3)),
        ("config.agent=react", lambda r: r.agent == "react"),
        ("config.chooser.name=first", lambda r: True),
        ("config.allow_internet=false", lambda r: True),
        ("config.allow_internet=true", lambda r: False),
        ("config.experiment=null", lambda r: r.config["experiment"] is None),
        ("fork=no", lambda r: True),
        ("fork=yes", lambda r: False),
    ],
)
def test_each_filter_keeps_exactly_the_runs_it_names(store: Store, terms: str, keep: object) -> None:
    add_tasks(store, TASKS)
    runs = mixed_runs()
    add_runs(store, runs)
    grid = results_grid(store, RunFilter.parse(terms))
    assert callable(keep)
    expected = direct_cells([r for r in runs if keep(r)])
    assert {(c.task_id, c.model, c.agent): (c.runs, c.solved, c.failed) for c in grid.cells} == {
        key: value[:3] for key, value in expected.items()
    }
    assert grid.filter == terms


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ("modle=x", "unknown filter key 'modle' in 'modle=x': use one of model, agent"),
        ("model", "filter term 'model' has no '='"),
        ("model=", "has an empty value"),
        ("since=yesterday", "since=yesterday: not a date"),
        ("fork=maybe", "fork takes yes or no"),
        ("config.=4", "unknown filter key 'config.'"),
    ],
)
def test_bad_filters_get_one_line_naming_the_problem(terms: str, message: str) -> None:
    with pytest.raises(AnalysisError, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        RunFilter.parse(terms)
    assert "\n" not in str(raised.value)


def test_the_grid_recovers_known_success_probabilities(store: Store) -> None:
    # Each model and task has a known success probability; 400 runs each recover it within its interval.
    truth = {("lab/alpha", "lab/shell-easy"): 0.9, ("lab/alpha", "lab/python"): 0.3, ("lab/beta", "lab/python"): 0.05}
    add_tasks(store, TASKS)
    rng = random.Random(11)
    runs = [
        Run(task, model=model, score=float(rng.random() < p)) for (model, task), p in truth.items() for _ in range(400)
    ]
    add_runs(store, runs)
    grid = results_grid(store)
    for cell in grid.cells:
        p = truth[(cell.model, cell.task_id)]
        assert cell.success is not None and cell.success.low <= p <= cell.success.high
        assert abs(cell.success.value - p) < 0.05


def test_all_or_nothing_and_small_samples_get_honest_intervals(store: Store) -> None:
    add_tasks(store, TASKS)
    add_runs(store, [Run("lab/python", score=1.0), *[Run("lab/shell-easy", score=0.0) for _ in range(3)]])
    cells = {c.task_id: c for c in results_grid(store).cells}
    one = cells["lab/python"].success
    none = cells["lab/shell-easy"].success
    assert one is not None and (one.low, one.high) == pytest.approx(wilson_interval(1, 1)) and one.low > 0.2
    assert none is not None and none.low == 0.0 and none.high == pytest.approx(wilson_interval(0, 3)[1])
    assert none.high > 0.5
    summary = results_grid(store).models[0]
    assert summary.success is not None and summary.success.effective_runs == pytest.approx(1.6)


def test_the_capability_profile_pools_tasks_by_tag_and_runs_by_step_tag(store: Store) -> None:
    add_tasks(store, TASKS)
    runs = mixed_runs()
    add_runs(store, runs)
    profile = capability_profile(store)
    rows = {(r.kind, r.tag, r.model, r.agent): r.success for r in profile}
    for (kind, tag, model, agent), rate in rows.items():
        mine = [r for r in runs if counted(r) and (r.model, r.agent) == (model, agent)]
        if kind == "task":
            mine = [r for r in mine if tag in TASKS[r.task_id]]
        else:
            mine = [r for r in mine if tag in r.step_tags]
        assert rate.runs == len(mine)
        assert rate.successes == sum(1 for r in mine if (r.score or 0) >= 1.0)
        assert rate.tasks == len({r.task_id for r in mine})
        assert rate.low < rate.high
    tags = {(kind, tag) for kind, tag, _, _ in rows}
    assert ("task", "difficulty:hard") in tags and ("task", "search") in tags and ("step", "gives-up") in tags
    assert [r.kind for r in profile] == sorted(r.kind for r in profile)  # task tags first
    only_alpha = capability_profile(store, RunFilter.parse("model=lab/alpha"))
    assert {r.model for r in only_alpha} == {"lab/alpha"}


def test_an_empty_store_gives_an_empty_report(store: Store) -> None:
    grid = results_grid(store, RunFilter.parse("tag=shell"))
    assert grid.cells == [] and grid.models == []
    assert capability_profile(store) == []
    with pytest.raises(AnalysisError, match="solved_at"):
        results_grid(store, solved_at=0)


def test_oversight_cases_are_left_out_unless_their_experiment_is_named(store: Store) -> None:
    add_tasks(store, TASKS)
    add_runs(store, [Run("lab/python", score=1.0), Run("other/search", agent=None, model="lab/judge", score=0.0)])
    assert [(c.task_id, c.agent) for c in results_grid(store).cells] == [("lab/python", "tags")]
    judged = results_grid(store, RunFilter.parse("experiment=e1")).cells
    assert [(c.task_id, c.model, c.agent, c.solved) for c in judged] == [("other/search", "lab/judge", "debate", 0)]


def test_runs_stored_before_the_agent_column_get_theirs(store: Store) -> None:
    add_tasks(store, {"lab/a": []})
    config = alembic_config(store.engine)
    command.downgrade(config, "0006")
    configs = [
        RunConfig(agent="react").model_dump(mode="json"),
        {k: v for k, v in RunConfig().model_dump(mode="json").items() if k != "agent"},  # before configs named it
        {"experiment": "e1", "protocol": "debate", "case": {}},  # an oversight case
        {"model": "m/x", "agent": "basic_agent", "inspect": {}},  # an imported run
    ]
    with store.engine.begin() as conn:
        for i, value in enumerate(configs):
            row = {"id": f"r{i}", "task_id": "lab/a", "status": "done", "model": "m/x", "config": value}
            columns = {**row, "steps_done": 0, "pause_requested": False, "input_tokens": 0, "output_tokens": 0}
            columns |= {"cost": 0.0, "active_seconds": 0.0, "created_at": START}
            # the runs table as it was before: no agent column
            before = table("runs", *(column(name, JSON) if name == "config" else column(name) for name in columns))
            conn.execute(insert(before), columns)
    command.upgrade(config, "head")
    with store.engine.connect() as conn:
        agents = dict(conn.execute(select(s.runs.c.id, s.runs.c.agent)).all())
    assert agents == {"r0": "react", "r1": "tags", "r2": None, "r3": "basic_agent"}
    for i, value in enumerate(configs):  # new runs get theirs from ops.create_run
        store.write(ops.create_run, task_id="lab/a", model="m/x", config=value, run_id=f"n{i}")
    with store.engine.connect() as conn:
        fresh = dict(conn.execute(select(s.runs.c.id, s.runs.c.agent).where(s.runs.c.id.like("n%"))).all())
    assert fresh == {"n0": "react", "n1": "tags", "n2": None, "n3": "basic_agent"}
