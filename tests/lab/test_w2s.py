"""Weak-to-strong: the metrics against direct computations, and `proctor lab w2s` end to end at a tiny size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy import stats
from torch.nn import functional as F

from proctor.lab import LabError, W2SConfig, pgr, run_w2s, t_interval
from proctor.lab._nets import logconf_loss
from proctor.lab._w2s import difficulty, load_digits, split, summarize

ROOT = Path(__file__).resolve().parents[2]


def proctor(*args: str, results: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(results)}
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    results = tmp_path_factory.mktemp("lab")
    done = proctor("lab", "w2s", "--tiny", "--json", results=results)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), results


def test_t_interval_is_the_student_t_interval() -> None:
    values = [0.61, 0.7, 0.66, 0.58, 0.73]
    interval = t_interval(values)
    low, high = stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=stats.sem(values))
    assert interval.value == pytest.approx(np.mean(values))
    assert (interval.low, interval.high) == (pytest.approx(low), pytest.approx(high))
    assert t_interval([0.5]).low is None
    with pytest.raises(LabError, match="no values"):
        t_interval([])


def test_pgr_arithmetic() -> None:
    assert pgr(0.6, 0.7, 0.8) == pytest.approx(0.5)
    assert pgr(0.6, 0.55, 0.8) == pytest.approx(-0.25)
    assert pgr(0.8, 0.9, 0.8) is None  # the weak model is not weaker: excluded
    assert pgr(0.85, 0.9, 0.8) is None


def test_pgr_summary_excludes_seeds_where_the_weak_model_is_not_weaker() -> None:
    rows = []
    for seed, (weak, w2s, ceiling) in enumerate([(0.6, 0.7, 0.8), (0.7, 0.8, 0.9), (0.9, 0.8, 0.85)]):
        row = dict.fromkeys(("w2s_aux", "agreement", "agreement_aux", "easy_on_hard", "hard_on_hard"), 0.5)
        row |= {"seed": seed, "weak": weak, "w2s": w2s, "ceiling": ceiling}
        row |= {"pgr": pgr(weak, w2s, ceiling), "pgr_aux": pgr(weak, w2s, ceiling)}
        rows.append(row)
    summary, notes = summarize(rows)
    assert summary["pgr"].n == 2 and summary["pgr"].value == pytest.approx(0.5)
    assert summary["weak"].n == 3
    assert notes == ["PGR excludes seeds [2]: there the weak model is not weaker than the ceiling"]


def test_logconf_loss_mixes_weak_labels_with_hardened_predictions() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.5, 0.4], [-1.0, 1.0], [0.0, 3.0]])
    weak = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert logconf_loss(logits, weak, 0.0) == pytest.approx(float(F.cross_entropy(logits, weak)))
    # The weak labels put 0.5 on class 1: the threshold is the median of the strong class-0 probabilities, so the
    # two rows most confident in class 0 are hardened to class 0, the others to class 1.
    hard = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    mixed = 0.7 * weak + 0.3 * hard
    assert logconf_loss(logits, weak, 0.3) == pytest.approx(float(F.cross_entropy(logits, mixed)))


def test_split_is_disjoint_stratified_and_seeded() -> None:
    _, pooled, y = load_digits([1, 3, 5, 7, 9])
    config = W2SConfig()
    parts = split(y, config, 0)
    weak, pool, test = set(parts.weak), set(parts.pool), set(parts.test)
    assert not weak & pool and not weak & test and not pool & test
    assert len(weak | pool | test) == len(y) == 1797
    assert (len(weak), len(test)) == (config.weak_train, config.test)
    assert abs(y[parts.test].mean() - y.mean()) < 0.01
    assert split(y, config, 0) == parts and split(y, config, 1) != parts
    assert pooled.shape == (1797, 16)


def test_difficulty_is_one_minus_the_cross_fitted_probability_of_the_true_class() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    x, _, y = load_digits([0, 1, 2])
    direct = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=5, method="predict_proba")
    assert difficulty(x, y, 0) == pytest.approx(1 - direct[np.arange(len(y)), y])


def test_the_cli_runs_stores_and_reports(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, results = tiny_run
    folder = Path(result["folder"])
    assert folder.parent == results and (folder / "result.json").is_file() and (folder / "accuracy.png").is_file()
    assert (folder / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert result["seeds"] == [0, 1] and len(result["rows"]) == 2
    assert result["config"] == W2SConfig.tiny().model_dump()
    for row in result["rows"]:
        for name in ("weak", "w2s", "w2s_aux", "ceiling", "easy_on_hard", "hard_on_hard"):
            assert 0.0 <= row[name] <= 1.0
        expected = (row["w2s"] - row["weak"]) / (row["ceiling"] - row["weak"]) if row["ceiling"] > row["weak"] else None
        assert row["pgr"] == (pytest.approx(expected) if expected is not None else None)
    for name in ("weak", "ceiling", "w2s"):
        assert result["summary"][name]["value"] == pytest.approx(np.mean([r[name] for r in result["rows"]]))
    assert list(results.joinpath("cache").glob("*.pt"))  # trained models are cached by digest

    listed = proctor("lab", "list", "--json", results=results)
    assert [r["id"] for r in json.loads(listed.stdout)] == [result["id"]]
    shown = proctor("lab", "show", result["id"][:8], "--json", results=results)
    assert json.loads(shown.stdout)["rows"] == result["rows"]
    table = proctor("lab", "show", result["id"], results=results)
    assert "ceiling" in table.stdout and "95%" in table.stdout


def test_a_second_run_reads_the_cache_and_gives_the_same_numbers(tiny_run: tuple[dict[str, Any], Path]) -> None:
    result, results = tiny_run
    again = run_w2s(W2SConfig.tiny(), cache=results / "cache")
    assert [r | {} for r in again.model_dump(mode="json")["rows"]] == result["rows"]


def test_the_strong_ceiling_is_well_above_the_weak_supervisor() -> None:
    """Qualitative: one seed near the default config (fewer epochs), with a linear weak supervisor."""
    result = run_w2s(W2SConfig(seeds=1, pretrain_epochs=10, epochs=10, weak_hidden=0))
    row = result.rows[0]
    assert row["ceiling"] > row["weak"] + 0.05
    assert result.summary["ceiling"].value == row["ceiling"]


def test_the_strong_student_beats_its_weak_supervisor() -> None:
    """Burns et al.'s qualitative result on three seeds of the default models: fine-tuned on nothing but the weak
    supervisor's labels, the pretrained strong model is more accurate on the test set than that supervisor."""
    result = run_w2s(W2SConfig(seeds=3))
    assert result.summary["w2s"].value > result.summary["weak"].value
    assert result.summary["pgr"].n == 3 and result.summary["pgr"].value > 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("epochs: 0\n", "epochs: Input should be greater than or equal to 1"),
        ("epoch: 3\n", "epoch: Extra inputs are not permitted"),
        ("positive: [1, 12]\n", "positive digits are 0–9"),
        ("test: 1000\nweak_train: 800\n", "must leave at least 40"),
        ("- 1\n", "a config is a mapping"),
    ],
)
def test_a_bad_config_gets_one_line(tmp_path: Path, config: str, message: str) -> None:
    path = tmp_path / "w2s.yaml"
    path.write_text(config)
    done = proctor("lab", "w2s", "--config", str(path), results=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr and "Traceback" not in done.stderr
