"""Backdoor detection: AUROC and AP against scikit-learn, each detector against a direct computation, and
`proctor lab backdoor` end to end at a tiny size, where the backdoor is detected well above chance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

from proctor.lab import BackdoorConfig, LabError, auroc, average_precision
from proctor.lab._backdoor import LAYERS, activations, add_trigger, detector_scores
from proctor.lab._nets import MLP

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", range(20))
def test_auroc_and_average_precision_match_scikit_learn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = rng.random(60) < 0.3
    labels[:2] = [True, False]
    scores = np.round(rng.normal(size=60) + labels, 1)  # rounded: ties
    assert auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_the_metrics_refuse_one_class() -> None:
    with pytest.raises(LabError, match="both normal and anomalous"):
        auroc([True, True], [0.1, 0.2])
    with pytest.raises(LabError, match="differ in shape"):
        average_precision([True, False], [0.1])


def test_each_detector_against_a_direct_computation() -> None:
    rng = np.random.default_rng(0)
    trusted, batch = rng.normal(size=(200, 5)), rng.normal(size=(30, 5)) + 0.5
    config = BackdoorConfig(shrinkage=0.0, neighbours=3)
    inverse = np.linalg.inv(np.cov(trusted, rowvar=False))
    direct = [mahalanobis(b, trusted.mean(axis=0), inverse) ** 2 for b in batch]
    assert detector_scores("mahalanobis", trusted, batch, config, 0) == pytest.approx(direct)

    centred = batch - trusted.mean(axis=0)
    top = np.linalg.eigh(centred.T @ centred)[1][:, -1]  # the top singular vector of the batch
    assert detector_scores("spectral", trusted, batch, config, 0) == pytest.approx((centred @ top) ** 2)

    forest = IsolationForest(n_estimators=100, random_state=3).fit(trusted)
    assert detector_scores("isolation_forest", trusted, batch, config, 3) == pytest.approx(-forest.score_samples(batch))

    sd = trusted.std(axis=0) + 1e-6
    distances = np.linalg.norm((batch / sd)[:, None, :] - (trusted / sd)[None, :, :], axis=2)
    assert detector_scores("knn", trusted, batch, config, 0) == pytest.approx(np.sort(distances, axis=1)[:, 2])


def test_the_trigger_and_the_named_activations() -> None:
    x = np.zeros((3, 64), dtype=np.float32)
    triggered = add_trigger(x, 2).reshape(3, 8, 8)
    assert triggered[:, 6:, 6:].min() == 1.0 and triggered.sum() == 3 * 4 and x.sum() == 0
    centred = add_trigger(x, 2, "centre").reshape(3, 8, 8)
    assert centred[:, 3:5, 3:5].min() == 1.0 and centred.sum() == 3 * 4
    torch.manual_seed(0)
    model = MLP(64, 8, 10)
    found = activations(model, np.random.default_rng(0).random((4, 64), dtype=np.float32))
    assert list(found) == list(LAYERS) and found["hidden.0"].shape == (4, 8) and found["input"].shape == (4, 64)
    with torch.no_grad():
        expected = model(torch.from_numpy(np.random.default_rng(0).random((4, 64), dtype=np.float32))).numpy()
    assert found["logits"] == pytest.approx(expected, abs=1e-6)


def test_the_cli_detects_the_backdoor_well_above_chance(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "backdoor", "--tiny", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (Path(result["folder"]) / "detectors.png").read_bytes()[:4] == b"\x89PNG"
    assert len(result["rows"]) == 2 * len(LAYERS) * 4  # seeds × layers × detectors
    summary = result["summary"]
    assert summary["attack_success"]["value"] > 0.8  # the organism has its backdoor
    assert summary["clean_accuracy"]["value"] > 0.8  # and still does its job
    for layer in ("hidden.0", "hidden.1"):
        assert summary[f"mahalanobis@{layer} auroc"]["value"] > 0.9
        chosen = [r["auroc"] for r in result["rows"] if r["layer"] == layer and r["detector"] == "mahalanobis"]
        assert summary[f"mahalanobis@{layer} auroc"]["value"] == pytest.approx(np.mean(chosen))
    for row in result["rows"]:
        assert 0.0 <= row["auroc"] <= 1.0 and 0.0 < row["ap"] <= 1.0


def test_a_bad_backdoor_config_gets_one_line(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"poison": 1.5}')
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "backdoor", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == f"error: {path}: poison: Input should be less than 1 (got 1.5)\n"
