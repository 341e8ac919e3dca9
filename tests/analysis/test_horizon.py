"""Time horizons: the fit against scikit-learn and a port of METR's own code, recovery of known horizons, interval
coverage over repeated simulations, all-or-nothing outcomes, bad input, the store and the command."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from proctor.analysis import (
    AnalysisError,
    HorizonConfig,
    HorizonRuns,
    StoreSelection,
    plot_horizons,
    read_metr_runs,
    read_release_dates,
    store_runs,
    success_rates,
    time_horizons,
)
from proctor.analysis._logistic import fit_logistic
from proctor.cli import app
from proctor.store import RunStatus, Store, ops
from proctor.tasks import load_tasks, validate_tasks

runner = CliRunner()


# ---- METR's code, ported as the reference (eval-analysis-public, src/horizon) ------------------------------------


def metr_weights(df: pd.DataFrame) -> pd.DataFrame:
    """`compute_task_weights.add_task_weight_columns`: per alias, each task equal, then 1/√(tasks in family)."""
    parts = []
    for _, agent in df.groupby("alias"):
        runs_in_task = agent.groupby("task_id")["task_id"].transform("count")
        equal = 1 / runs_in_task
        family_sizes = agent.groupby("task_family")["task_id"].transform("nunique")
        invsqrt = equal / np.sqrt(family_sizes)
        parts.append(
            pd.DataFrame(
                {"equal_task_weight": equal / equal.sum(), "invsqrt_task_weight": invsqrt / invsqrt.sum()},
                index=agent.index,
            )
        )
    return df.join(pd.concat(parts))


def metr_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, regularization: float, **sklearn: Any) -> Any:
    """`utils.logistic.logistic_regression`: fractional y split into weighted 0s and 1s, sklearn with C = 1/reg."""
    frac = (y > 0) & (y < 1)
    if frac.any():
        x = np.vstack([x[~frac], x[frac], x[frac]])
        w = np.concatenate([w[~frac], (1 - y[frac]) * w[frac], y[frac] * w[frac]])
        y = np.concatenate([y[~frac], np.zeros(frac.sum()), np.ones(frac.sum())])
    return LogisticRegression(C=1 / regularization, **sklearn).fit(x, y, sample_weight=w)


def metr_horizons(df: pd.DataFrame, *, weight: str = "invsqrt_task_weight", score: str = "score_binarized") -> dict:
    """`wrangle.logistic.agent_regression` per alias: p50 and p80 in minutes (0 for an agent with no successes)."""
    out = {}
    for alias, agent in df.groupby("alias"):
        y = agent[score].to_numpy(dtype=float)
        if np.all(y == 0):
            out[alias] = (0.0, 0.0)
            continue
        x = np.log2(agent["human_minutes"].to_numpy()).reshape(-1, 1)
        model = metr_logistic(x, y, agent[weight].to_numpy(), 0.1)
        a, b = model.intercept_[0], model.coef_[0][0]
        out[alias] = tuple(float(np.exp2((np.log(q / (1 - q)) - a) / b)) for q in (0.5, 0.8))
    return out


def metr_bootstrap_sample(data: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """`wrangle.bootstrap.bootstrap_sample` with categories family → task → run, as METR's headline."""
    indices = np.arange(len(data))
    split_ids = np.zeros(len(data), dtype=np.int64)
    new_split = 0
    for level, category in enumerate(("task_family", "task_id")):
        values_all = data[category].to_numpy()
        new_indices, new_splits = [], []
        for group in np.unique(split_ids):
            group_indices = indices[split_ids == group]
            values, inverse = np.unique(values_all[group_indices], return_inverse=True)
            for j, sampled in enumerate(rng.choice(len(values), size=len(values), replace=True)):
                chosen = group_indices[inverse == sampled]
                new_indices.append(chosen)
                if level == 0:
                    new_splits.append(np.full(len(chosen), new_split + j))
            new_split += len(values)
        indices = np.concatenate(new_indices)
        if level == 0:
            split_ids = np.concatenate(new_splits)
    pairs = (data["task_id"] + "|||" + data["alias"]).to_numpy()[indices]
    _, inverse, counts = np.unique(pairs, return_inverse=True, return_counts=True)
    picks = [indices[inverse == j][(rng.random(c) * c).astype(int)] for j, c in enumerate(counts)]
    return data.iloc[np.concatenate(picks)]


# ---- synthetic data in METR's format --------------------------------------------------------------------------------


def metr_rows(
    rng: np.random.Generator, models: dict[str, float], *, families: int = 25, slope: float = -0.8, runs: int = 3
) -> list[dict[str, Any]]:
    """Runs of `models` (alias → true 50% horizon in minutes) on families of 1–4 tasks of log-uniform length, each
    success drawn from the logistic curve with `slope` per doubling; METR's fields and weight columns."""
    tasks = []
    for f in range(families):
        for t in range(int(rng.integers(1, 5))):
            tasks.append((f"fam{f}/task{t}", f"fam{f}", float(2 ** rng.uniform(-2, 10))))
    rows = []
    for alias, p50 in models.items():
        for task_id, family, minutes in tasks:
            p = 1 / (1 + math.exp(-slope * (math.log2(minutes) - math.log2(p50))))
            for r in range(int(rng.integers(1, runs + 1))):
                success = int(rng.random() < p)
                cont = float(np.clip(success * 0.7 + rng.random() * 0.3, 0, 1))
                rows.append(
                    {
                        "run_id": f"{alias}/{task_id}/{r}",
                        "task_id": task_id,
                        "task_family": family,
                        "alias": alias,
                        "human_minutes": minutes,
                        "score_binarized": success,
                        "score_cont": cont,
                        "task_source": "synthetic",
                    }
                )
    frame = metr_weights(pd.DataFrame(rows))
    return frame.to_dict(orient="records")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def simulated(rng: np.random.Generator, p50: float, *, families: int = 25, slope: float = -0.8) -> HorizonRuns:
    """One model's runs as `metr_rows` makes them, built directly (fast enough for hundreds of simulations)."""
    sizes = rng.integers(1, 5, families)
    minutes = 2 ** rng.uniform(-2, 10, sizes.sum())
    family = np.repeat(np.arange(families), sizes)
    task = np.repeat(np.arange(minutes.size), rng.integers(1, 4, minutes.size))
    p = 1 / (1 + np.exp(-slope * (np.log2(minutes[task]) - math.log2(p50))))
    return HorizonRuns(
        alias=["m"] * task.size,
        task_id=[f"t{t}" for t in task],
        task_family=[f"f{family[t]}" for t in task],
        score=(rng.random(task.size) < p).astype(float),
        human_minutes=minutes[task],
    )


@pytest.fixture(scope="module")
def metr_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    rows = metr_rows(rng, {"Old": 2.0, "Mid": 15.0, "New": 90.0, "Hopeless": 1.0}, families=30)
    for row in rows:
        if row["alias"] == "Hopeless":
            row["score_binarized"] = 0
    return write_jsonl(tmp_path_factory.mktemp("metr") / "runs.jsonl", rows)


# ---- the fit ------------------------------------------------------------------------------------------------------


def test_the_vectorised_fit_is_scikit_learns_optimum() -> None:
    rng = np.random.default_rng(0)
    x = np.log2(2 ** rng.uniform(-2, 10, 40))
    for _ in range(5):
        w = rng.random(40)
        w /= w.sum()
        y = rng.binomial(3, 1 / (1 + np.exp(-(2 - 0.6 * x)))) / 3  # fractional outcomes too
        a, b = fit_logistic(x, w[None], (w * y)[None], regularization=0.1)
        tight = metr_logistic(x.reshape(-1, 1), y, w, 0.1, tol=1e-12, max_iter=10_000)
        assert a[0] == pytest.approx(tight.intercept_[0], abs=1e-6)
        assert b[0] == pytest.approx(tight.coef_[0][0], abs=1e-6)


def test_one_class_data_has_no_fit() -> None:
    x = np.array([0.0, 1.0, 2.0])
    w = np.full((2, 3), 1 / 3)
    a, b = fit_logistic(x, w, np.array([[0.0, 0, 0], w[1]]), regularization=0.1)
    assert np.isnan(a).all() and np.isnan(b).all()


def test_defaults_reproduce_metrs_horizons_on_its_format(metr_file: Path) -> None:
    """The command's defaults on a runs.jsonl in METR's format give METR's numbers: its weights (the file's
    invsqrt_task_weight), its penalty, p50 and p80 from the coefficients, 0 for an agent with no successes."""
    expected = metr_horizons(pd.read_json(metr_file, lines=True))
    result = runner.invoke(app, ["report", "horizon", "--runs", str(metr_file), "--json", "--resamples", "50"])
    assert result.exit_code == 0, result.output
    models = {m["alias"]: m for m in json.loads(result.stdout)["models"]}
    assert set(models) == set(expected)
    for alias, (p50, p80) in expected.items():
        # scikit-learn stops at its tolerance (1e-4); ours goes to the optimum: agree to 0.5%.
        assert models[alias]["p50"] == pytest.approx(p50, rel=5e-3, abs=1e-9), alias
        assert models[alias]["p80"] == pytest.approx(p80, rel=5e-3, abs=1e-9), alias
    assert models["Hopeless"]["p50"] == 0.0 and models["Hopeless"]["p80"] == 0.0


def test_partial_scores_and_the_equal_weighting_match_metr(metr_file: Path) -> None:
    frame = pd.read_json(metr_file, lines=True)
    frame = frame[frame["alias"] != "Hopeless"]
    expected = metr_horizons(frame, weight="equal_task_weight", score="score_cont")
    runs = read_metr_runs(metr_file, score="score_cont")
    report = time_horizons(
        runs.only(np.array([a != "Hopeless" for a in runs.alias])), HorizonConfig(weighting="equal", resamples=0)
    )
    for model in report.models:
        assert model.p50 == pytest.approx(expected[model.alias][0], rel=5e-3)
        assert model.p80 == pytest.approx(expected[model.alias][1], rel=5e-3)


def test_weights_computed_when_absent_are_metrs(metr_file: Path) -> None:
    runs = read_metr_runs(metr_file)
    given = time_horizons(runs, HorizonConfig(resamples=0))
    computed = time_horizons(
        HorizonRuns(runs.alias, runs.task_id, runs.task_family, runs.score, runs.human_minutes),
        HorizonConfig(resamples=0),
    )
    assert [m.p50 for m in given.models] == pytest.approx([m.p50 for m in computed.models], rel=1e-9)


def test_the_bootstrap_is_metrs_in_distribution(metr_file: Path) -> None:
    """Our vectorised bootstrap against a port of METR's `bootstrap_sample` (family → task → run): the resampled
    log2 horizons have the same centre and spread (Monte Carlo tolerances). Each resample is fitted with our fit,
    which the tests above check against scikit-learn's, because scikit-learn's takes a minute for these."""
    frame = pd.read_json(metr_file, lines=True)
    frame = frame[frame["alias"].isin(["Mid", "New"])].reset_index(drop=True)
    reference: dict[str, list[float]] = {"Mid": [], "New": []}
    for i in range(300):
        sample = metr_bootstrap_sample(frame, np.random.default_rng(42 + i))
        for alias, agent in sample.groupby("alias"):
            y = agent["score_binarized"].to_numpy(dtype=float)
            if len(np.unique(y)) < 2:
                continue
            w = agent["invsqrt_task_weight"].to_numpy()
            a, b = fit_logistic(np.log2(agent["human_minutes"].to_numpy()), w[None], (w * y)[None], regularization=0.1)
            reference[str(alias)].append(-a[0] / b[0])
    runs = read_metr_runs(metr_file)
    report = time_horizons(runs.only(np.array([a in reference for a in runs.alias])), HorizonConfig(resamples=2000))
    for model in report.models:
        ours = np.log2(np.array(model.p50_draws))
        theirs = np.array(reference[model.alias])
        assert abs(ours.mean() - theirs.mean()) < 0.2 * theirs.std(), model.alias
        assert ours.std() == pytest.approx(theirs.std(), rel=0.15), model.alias


# ---- known truth, coverage, edge cases ----------------------------------------------------------------------------


def test_known_horizons_are_recovered() -> None:
    rng = np.random.default_rng(3)
    runs = simulated(rng, 30.0, families=300, slope=-1.0)
    model = time_horizons(runs, HorizonConfig(resamples=300, regularization=0.001)).models[0]
    assert model.p50 == pytest.approx(30.0, rel=0.25)
    assert model.p80 == pytest.approx(30.0 * 2 ** -math.log(4), rel=0.25)  # logit(0.8) = ln 4 doublings below p50
    assert model.p50_ci[0] < 30.0 < model.p50_ci[1]
    assert model.slope == pytest.approx(-1.0, rel=0.2)


@pytest.mark.parametrize(("bootstrap", "low", "high"), [("ftr", 0.93, 0.995), ("ft", 0.91, 0.985)])
def test_intervals_cover_the_true_horizon_about_95_percent(bootstrap: str, low: float, high: float) -> None:
    """300 small simulated models (25 families, ~60 tasks, ~120 runs) with a known 50% horizon: METR's
    three-level bootstrap is conservative (measured 0.97), tasks without runs resampled about right (0.96)."""
    rng = np.random.default_rng(1)
    covered = 0
    for s in range(300):
        runs = simulated(rng, 20.0, families=25, slope=-0.8)
        lo, hi = time_horizons(runs, HorizonConfig(resamples=200, seed=s, bootstrap=bootstrap)).models[0].p50_ci
        covered += (lo or 0.0) <= 20.0 <= (hi or math.inf)
    assert low <= covered / 300 <= high


def test_a_model_that_never_succeeds_gets_0_and_an_interval_bounded_by_task_lengths() -> None:
    minutes = np.array([1.0, 2, 4, 8, 16, 32, 64, 128])
    runs = HorizonRuns(["m"] * 8, [f"t{i}" for i in range(8)], [f"f{i}" for i in range(8)], np.zeros(8), minutes)
    model = time_horizons(runs, HorizonConfig(resamples=100)).models[0]
    # 95%: 0.5^6 < 0.025 < 0.5^5 → the 6th shortest task bounds p50; 0.2^3 < 0.025 → the 3rd bounds p80.
    assert (model.p50, model.p50_ci) == (0.0, (0.0, 32.0))
    assert (model.p80, model.p80_ci) == (0.0, (0.0, 4.0))
    assert model.note is not None and "no successes" in model.note
    assert model.success_rate == 0 and model.success_rate_ci == pytest.approx((0.0, 1 - 0.025 ** (1 / 8)))
    few = time_horizons(runs.only(np.arange(8) < 4), HorizonConfig(resamples=100)).models[0]
    assert few.p50_ci == (0.0, None)  # four tasks cannot bound it


def test_a_model_that_always_succeeds_has_no_point_estimate_and_a_lower_bound() -> None:
    minutes = 2.0 ** np.arange(20)
    runs = HorizonRuns(["m"] * 20, [f"t{i}" for i in range(20)], ["f"] * 20, np.ones(20), minutes)
    model = time_horizons(runs, HorizonConfig(resamples=50)).models[0]
    assert model.p50 is None and model.p50_ci == (2.0**14, None)  # the 6th longest task
    assert model.p80 is None and model.p80_ci == (2.0**3, None)  # the 17th longest
    assert model.success_rate_ci == pytest.approx((0.025 ** (1 / 20), 1.0))


def test_a_single_success_gets_a_wide_non_degenerate_interval() -> None:
    rng = np.random.default_rng(5)
    runs = simulated(rng, 0.05, families=20)
    score = runs.score.copy()
    score[:] = 0
    score[int(np.argmin(runs.human_minutes))] = 1
    runs = HorizonRuns(runs.alias, runs.task_id, runs.task_family, score, runs.human_minutes)
    for mode in ("skip", "bound"):
        model = time_horizons(runs, HorizonConfig(resamples=400, one_class_resamples=mode)).models[0]
        low, high = model.p50_ci
        assert low is not None and high is not None and low < model.p50 < high, mode
        assert high / max(low, 1e-9) > 5, mode
    bound = time_horizons(runs, HorizonConfig(resamples=400, one_class_resamples="bound")).models[0]
    assert bound.p50_ci[0] == 0.0  # resamples that lost the success count as horizon 0


def test_draws_are_one_joint_resample_for_all_models(metr_file: Path) -> None:
    """Families and tasks are drawn once for all models: a twin with the same runs as Mid gets the same draws when
    runs are not resampled, and the seed fixes them."""
    runs = read_metr_runs(metr_file)
    mid = np.array([a == "Mid" for a in runs.alias])
    twin = runs.only(mid)
    both = HorizonRuns(
        alias=[*runs.alias, *(["Twin"] * len(twin))],
        task_id=[*runs.task_id, *twin.task_id],
        task_family=[*runs.task_family, *twin.task_family],
        score=np.concatenate([runs.score, twin.score]),
        human_minutes=np.concatenate([runs.human_minutes, twin.human_minutes]),
    )
    report = time_horizons(both, HorizonConfig(resamples=300, seed=4, bootstrap="ft"))
    draws = {m.alias: m.p50_draws for m in report.models}
    assert np.array_equal(draws["Mid"], draws["Twin"]) and np.std(draws["Mid"]) > 0
    again = time_horizons(both, HorizonConfig(resamples=300, seed=4, bootstrap="ft"))
    assert np.array_equal(draws["New"], next(m.p50_draws for m in again.models if m.alias == "New"))
    resampled = {m.alias: m.p50_draws for m in time_horizons(both, HorizonConfig(resamples=300)).models}
    assert np.corrcoef(resampled["Mid"], resampled["Twin"])[0, 1] > 0.5  # runs resampled apart, tasks together


def test_success_rates_need_no_human_minutes() -> None:
    runs = HorizonRuns(
        ["a"] * 4 + ["b"] * 4, ["t1", "t2", "t3", "t4"] * 2, ["f", "f", "g", "g"] * 2,
        np.array([1, 1, 0, 0, 1, 1, 1, 0.0]), np.full(8, np.nan),
    )  # fmt: skip
    report = success_rates(runs, HorizonConfig(resamples=200, weighting="equal"))
    rates = {m.alias: m.success_rate for m in report.models}
    assert rates == pytest.approx({"a": 0.5, "b": 0.75})
    with pytest.raises(AnalysisError, match="no positive human_minutes"):
        time_horizons(runs)


# ---- input ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("human_minutes"), "runs.jsonl:3: missing field 'human_minutes'"),
        (lambda r: r.update(human_minutes=0), "runs.jsonl:3: field 'human_minutes' must be positive"),
        (lambda r: r.update(human_minutes="ten"), "runs.jsonl:3: field 'human_minutes' must be a number"),
        (lambda r: r.pop("alias"), "runs.jsonl:3: missing field 'alias'"),
        (lambda r: r.update(score_binarized=2), "runs.jsonl:3: field 'score_binarized' must be in [0, 1]"),
        (lambda r: r.pop("invsqrt_task_weight"), "runs.jsonl:3: missing field 'invsqrt_task_weight'"),
        (lambda r: r.update(human_minutes=r["human_minutes"] + 1), "runs.jsonl:3: task 'fam0/task0' has human_minutes"),
        (lambda r: r.update(task_family="other"), "runs.jsonl:3: task 'fam0/task0' has task_family 'other'"),
    ],
)
def test_bad_rows_are_one_line_naming_file_line_and_field(tmp_path: Path, change: Any, message: str) -> None:
    rows = [
        {"task_id": "fam0/task0", "task_family": "fam0", "alias": "m", "human_minutes": 5, "score_binarized": s}
        | {"invsqrt_task_weight": 1 / 3, "equal_task_weight": 1 / 3}
        for s in (0, 1, 1)
    ]
    change(rows[2])
    path = write_jsonl(tmp_path / "runs.jsonl", rows)
    with pytest.raises(AnalysisError, match=r"^" + re.escape(f"{tmp_path}/{message}")):
        read_metr_runs(path)
    result = runner.invoke(app, ["report", "horizon", "--runs", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and result.stderr.startswith("error: ")
    assert message in result.stderr


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "junk.jsonl").write_text('{"task_id": 1\n')
    with pytest.raises(AnalysisError, match="no runs"):
        read_metr_runs(tmp_path / "empty.jsonl")
    with pytest.raises(AnalysisError, match=r"junk.jsonl:1: not JSON"):
        read_metr_runs(tmp_path / "junk.jsonl")
    with pytest.raises(AnalysisError, match="cannot read"):
        read_metr_runs(tmp_path / "absent.jsonl")
    (tmp_path / "dates.yaml").write_text("date:\n  A: 2024-01-02\n  B: '2024-03-04'\n")
    assert {k: str(v) for k, v in read_release_dates(tmp_path / "dates.yaml").items()} == {
        "A": "2024-01-02",
        "B": "2024-03-04",
    }
    (tmp_path / "bad.yaml").write_text("date:\n  A: soon\n")
    with pytest.raises(AnalysisError, match=r"bad.yaml: date.A: not a date"):
        read_release_dates(tmp_path / "bad.yaml")
    (tmp_path / "flat.yaml").write_text("A: 2024-01-02\n")
    with pytest.raises(AnalysisError, match="a 'date' mapping"):
        read_release_dates(tmp_path / "flat.yaml")


# ---- tasks and the store ------------------------------------------------------------------------------------------


def test_task_yaml_and_manifests_carry_human_minutes(tmp_path: Path) -> None:
    minutes = {t.info.id: t.info.human_minutes for t in load_tasks("examples", only=["find-secret", "fix-test"])}
    assert minutes == {"examples/find-secret": 5, "examples/fix-test": 15}
    task = tmp_path / "suite" / "quick"
    task.mkdir(parents=True)
    spec = "name: quick\ninstructions: hi\nhuman_minutes: -3\nscorer: {expected_submission: x}\n"
    (task / "task.yaml").write_text(spec)
    (problem,) = validate_tasks(tmp_path / "suite")
    assert problem.startswith(f"{task / 'task.yaml'}: human_minutes:") and "greater than 0" in problem


def make_task(root: Path, name: str, minutes: float | None, tags: list[str]) -> dict[str, Any]:
    folder = root / name
    folder.mkdir(parents=True)
    extra = f"human_minutes: {minutes}\n" if minutes is not None else ""
    (folder / "task.yaml").write_text(
        f"name: {name}\ninstructions: do it\ntags: {json.dumps(tags)}\n{extra}scorer: {{expected_submission: x}}\n"
    )
    info = {"id": f"suite/{name}", "family": "suite", "name": name, "format": "native", "source": str(folder)}
    return info | {"instructions": "do it", "permissions": []}


def test_store_runs_take_finished_top_level_runs_of_tasks_with_minutes(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    tasks = [make_task(tmp_path / "suite", f"t{i}", 2.0**i, ["odd" if i % 2 else "even"]) for i in range(8)]
    tasks.append(make_task(tmp_path / "suite", "untimed", None, []))
    rng = np.random.default_rng(0)
    for task in tasks:
        store.write(ops.upsert_task, task)
        for model, p50 in (("a/old", 4.0), ("a/new", 60.0)):
            for _ in range(3):
                minutes = float(task["name"][1:]) if task["name"] != "untimed" else 0
                solved = rng.random() < 1 / (1 + (2**minutes / p50))
                run = store.write(ops.create_run, task_id=task["id"], model=model, config={"agent": "tags"})
                store.write(ops.finish_run, run, RunStatus.DONE, score=1.0 if solved else 0.3)
    parent = store.write(ops.create_run, task_id="suite/t0", model="a/old", config={})
    store.write(ops.finish_run, parent, RunStatus.OVER_LIMIT)  # a failure
    child = store.write(ops.create_run, task_id="suite/t0", model="a/old", config={}, parent_run_id=parent)
    store.write(ops.finish_run, child, RunStatus.DONE, score=1.0)  # a subtask: not counted
    broken = store.write(ops.create_run, task_id="suite/t1", model="a/old", config={})
    store.write(ops.finish_run, broken, RunStatus.FAILED, error="sandbox died")  # not the model's doing

    runs, notes = store_runs(store)
    assert len(runs) == 8 * 3 * 2 + 1
    assert set(runs.alias) == {"a/old", "a/new"} and set(runs.score) <= {0.0, 1.0}
    assert any("left out 6 runs of 1 tasks without human_minutes: suite/untimed" in n for n in notes)
    odd, _ = store_runs(store, StoreSelection(tag="odd", success_threshold=0.3))
    assert set(odd.task_id) == {f"suite/t{i}" for i in (1, 3, 5, 7)} and odd.score.min() == 1.0
    everything, _ = store_runs(store, StoreSelection(need_minutes=False, models=["a/new"]))
    assert len(everything) == 27 and "suite/untimed" in everything.task_id

    result = runner.invoke(app, ["report", "horizon", "--db", store.url, "--json", "--resamples", "100"])
    assert result.exit_code == 0, result.output
    models = {m["alias"]: m for m in json.loads(result.stdout)["models"]}
    assert models["a/new"]["runs"] == 24 and models["a/old"]["runs"] == 25
    assert "suite/untimed" in result.stderr
    result = runner.invoke(app, ["report", "horizon", "--db", store.url, "--tag", "nothing"])
    assert result.exit_code == 2 and "no runs to report" in result.stderr

    # The same runs through `proctor export runs-jsonl` (METR's format) give the same horizons.
    exported = tmp_path / "exported.jsonl"
    result = runner.invoke(app, ["export", "runs-jsonl", "--db", store.url, "--alias", "model", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    again = runner.invoke(app, ["report", "horizon", "--runs", str(exported), "--json", "--resamples", "0"])
    assert again.exit_code == 0, again.output
    for model in json.loads(again.stdout)["models"]:
        assert model["runs"] == models[model["alias"]]["runs"]
        assert model["p50"] == pytest.approx(models[model["alias"]]["p50"], rel=1e-9)
        assert model["p80"] == pytest.approx(models[model["alias"]]["p80"], rel=1e-9)

    (tmp_path / "suite").rename(tmp_path / "moved")  # the task folders are gone from where they were loaded
    everything, notes = store_runs(store, StoreSelection(need_minutes=False))
    assert len(everything) == 9 * 3 * 2 + 1  # success rates need no minutes, nor task files
    assert any("could not read task suite/t0" in n for n in notes)
    with pytest.raises(AnalysisError, match="no runs to report"):
        store_runs(store)
    found, _ = store_runs(store, StoreSelection(tasks=tmp_path / "moved"))
    assert len(found) == 8 * 3 * 2 + 1
    store.close()


def test_the_table_the_plot_and_release_dates(metr_file: Path, tmp_path: Path) -> None:
    (tmp_path / "dates.yaml").write_text("date:\n  Old: 2022-01-01\n  Mid: 2023-01-01\n  New: 2024-01-01\n")
    args = ["report", "horizon", "--runs", str(metr_file), "--release-dates", str(tmp_path / "dates.yaml")]
    result = runner.invoke(app, [*args, "--resamples", "100", "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 0, result.output
    assert "time horizons" in result.stdout and "Hopeless" in result.stdout and "doubles every" in result.stdout
    assert "no release date, left out of the trend: Hopeless" in result.stderr
    for name in ("horizons.png", "trend.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = time_horizons(read_metr_runs(metr_file), HorizonConfig(resamples=20))
    assert plot_horizons(report, tmp_path / "alone.png").stat().st_size > 10_000
