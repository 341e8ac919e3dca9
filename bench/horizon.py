"""A horizon bootstrap at METR's scale: 1,000 hierarchical resamples over 20,000 runs.

Synthetic runs in the format of METR's runs.jsonl: 25 models released 60 days apart whose true 50% horizons double
every 200 days, on 184 tasks in 60 families (1–5 tasks each) whose human minutes are log-uniform from 4 seconds to
32 hours, about 4–5 runs per task and model; success is drawn from a logistic curve in log2(minutes). The file is
written to a fresh temporary folder and read back. Timed, each repeat: `time_horizons` with METR's headline
settings (its weights and penalty, p50 and p80, family → task → run bootstrap of 1,000 resamples) and the trend's
doubling time — target under 10 s. For comparison, a port of METR's own bootstrap (pandas resampling and one
scikit-learn fit per model and resample, as eval-analysis-public does, without its joblib workers) is timed on a
few resamples and extrapolated to 1,000. Checks: every model's horizon within a factor of two of the truth where
tasks cover it, and the doubling time within 15% of 200 days.

Usage: python bench/horizon.py [--runs 20000] [--resamples 1000] [--repeats 3] [--reference 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from proctor.analysis import HorizonConfig, read_metr_runs, time_horizons

TARGET = 10.0
DOUBLING = 200.0
START = date(2022, 1, 1)


def truth(model: int) -> float:
    """The true 50% horizon of model `model`, in minutes."""
    return 0.1 * 2 ** (60 * model / DOUBLING)


def write_runs(path: Path, runs: int, seed: int = 0) -> dict[str, date]:
    """A runs.jsonl in METR's format (weights left for proctor to compute as METR's code does); the release dates."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, 60)
    minutes = 2 ** rng.uniform(-4, 11, sizes.sum())
    family = np.repeat(np.arange(sizes.size), sizes)
    models = 25
    rows = []
    task = rng.integers(0, minutes.size, runs)
    model = np.repeat(np.arange(models), math.ceil(runs / models))[:runs]
    p = 1 / (1 + 2 ** (0.7 * (np.log2(minutes[task]) - np.log2([truth(m) for m in model]))))
    success = rng.random(runs) < p
    for i in range(runs):
        rows.append(
            {
                "run_id": f"run{i}",
                "task_id": f"family{family[task[i]]}/task{task[i]}",
                "task_family": f"family{family[task[i]]}",
                "alias": f"model-{model[i]:02d}",
                "human_minutes": float(minutes[task[i]]),
                "score_binarized": int(success[i]),
                "score_cont": float(success[i]),
            }
        )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return {f"model-{m:02d}": START + timedelta(days=60 * m) for m in range(models)}


def metr_reference(path: Path, resamples: int) -> float:
    """Seconds per resample of a port of METR's `wrangle/bootstrap.py` (family → task → run, then one
    `LogisticRegression(C=10)` per model)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_json(path, lines=True)
    runs_in_task = frame.groupby(["alias", "task_id"])["task_id"].transform("count")
    tasks_in_family = frame.groupby(["alias", "task_family"])["task_id"].transform("nunique")
    frame["w"] = 1 / runs_in_task / np.sqrt(tasks_in_family)
    frame["w"] /= frame.groupby("alias")["w"].transform("sum")
    started = time.perf_counter()
    for i in range(resamples):
        rng = np.random.default_rng(42 + i)
        indices, splits = np.arange(len(frame)), np.zeros(len(frame), dtype=int)
        for column in ("task_family", "task_id"):
            values_all, chosen, new_splits, offset = frame[column].to_numpy(), [], [], 0
            for group in np.unique(splits):
                members = indices[splits == group]
                values, inverse = np.unique(values_all[members], return_inverse=True)
                for j, pick in enumerate(rng.choice(len(values), len(values))):
                    chosen.append(members[inverse == pick])
                    new_splits.append(np.full(len(chosen[-1]), offset + j))
                offset += len(values)
            indices, splits = np.concatenate(chosen), np.concatenate(new_splits)
        pairs = (frame["task_id"] + "|" + frame["alias"]).to_numpy()[indices]
        _, inverse, counts = np.unique(pairs, return_inverse=True, return_counts=True)
        picked = [indices[inverse == j][(rng.random(c) * c).astype(int)] for j, c in enumerate(counts)]
        sample = frame.iloc[np.concatenate(picked)]
        for _, agent in sample.groupby("alias"):
            y = agent["score_binarized"].to_numpy()
            if len(np.unique(y)) > 1:
                x = np.log2(agent["human_minutes"].to_numpy()).reshape(-1, 1)
                LogisticRegression(C=10).fit(x, y, sample_weight=agent["w"].to_numpy())
    return (time.perf_counter() - started) / resamples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", type=int, default=3, help="resamples of METR's bootstrap to time (0: none)")
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="proctor-bench-")) / "runs.jsonl"
    dates = write_runs(path, args.runs)
    started = time.perf_counter()
    runs = read_metr_runs(path)
    reading = time.perf_counter() - started
    times = []
    for repeat in range(args.repeats):
        started = time.perf_counter()
        report = time_horizons(runs, HorizonConfig(resamples=args.resamples, seed=repeat), release_dates=dates)
        times.append(time.perf_counter() - started)
    lengths = runs.human_minutes
    for model in report.models:
        true = truth(int(model.alias[-2:]))
        if 2 * lengths.min() < true < lengths.max() / 2:
            assert model.p50 is not None and 0.5 < model.p50 / true < 2, (model.alias, model.p50, true)
    assert report.trend is not None and report.trend.doubling_days is not None
    assert abs(report.trend.doubling_days / DOUBLING - 1) < 0.15, report.trend.doubling_days
    low, high = report.trend.doubling_days_ci
    median = statistics.median(times)
    each = ", ".join(f"{t:.2f}" for t in times)
    tasks = len(set(runs.task_id))
    shape = f"{len(runs):,} runs, {len(report.models)} models, {tasks} tasks, {args.resamples:,} resamples"
    print(f"horizon bootstrap: {shape}")
    print(f"  reading runs.jsonl     {reading:>8.2f} s")
    print(f"  fits and bootstrap     {median:>8.2f} s   median of {each} (target < {TARGET:.0f} s)")
    doubling = report.trend.doubling_days
    print(f"  doubling time          {doubling:>8.0f} days [{low:.0f}, {high:.0f}] (truth {DOUBLING:.0f})")
    if args.reference:
        per = metr_reference(path, args.reference)
        total = per * args.resamples
        print(f"  METR's bootstrap       {total:>8.0f} s   ({per:.2f} s per resample × {args.resamples:,}, 1 process)")
    assert median < TARGET, f"{median:.1f} s is over the {TARGET:.0f} s target"


if __name__ == "__main__":
    main()
