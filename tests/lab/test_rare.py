"""Rare-event estimation: the importance-sampling estimator against exact values on a toy, the Itakura–Saito
scoring against its formula, and `proctor lab rare` end to end at a tiny size, where importance sampling beats naive
sampling on rare targets at equal budget."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from proctor.lab import RareConfig
from proctor.lab._rare import affine_fit, exact_probabilities, importance_estimate, itakura_saito, itgis_proposal

ROOT = Path(__file__).resolve().parents[2]


class SumModelDouble(nn.Module):  # type: ignore[misc]
    """A test double for a trained model: it outputs (sum of the tokens) mod V."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(tokens.sum(dim=1) % self.vocab, self.vocab).float() * 10


def test_importance_sampling_is_unbiased_on_a_toy_distribution() -> None:
    vocab, length, target = 5, 3, 4
    base = np.tile(np.array([0.6, 0.2, 0.1, 0.07, 0.03]), (length, 1))
    proposal = np.tile(np.full(vocab, 1 / vocab), (length, 1))
    model = SumModelDouble(vocab)
    inputs = list(itertools.product(range(vocab), repeat=length))
    truth = sum(np.prod(base[np.arange(length), x]) for x in inputs if sum(x) % vocab == target)
    # Exactly: E_q[1{hit}·p/q] summed over every input equals the probability.
    exact = sum(
        np.prod(proposal[np.arange(length), x]) * np.prod(base[np.arange(length), x] / proposal[np.arange(length), x])
        for x in inputs
        if sum(x) % vocab == target
    )
    assert exact == pytest.approx(truth)
    # By Monte Carlo: the mean of many estimates is within 4 standard errors of the truth.
    rng = np.random.default_rng(0)
    estimates = [importance_estimate(model, base, proposal, target, 200, rng) for _ in range(300)]
    error = np.std(estimates, ddof=1) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates) - truth) < 4 * error


def test_the_itgis_proposal_is_a_distribution_with_full_support() -> None:
    config = RareConfig(vocab=6, length=3, width=8, steps=1)
    torch.manual_seed(0)
    from proctor.lab._rare import build_model

    model = build_model(config)
    proposal = itgis_proposal(model, config, 5, np.random.default_rng(0), 64)
    assert proposal.shape == (3, 6) and (proposal > 0).all()
    assert proposal.sum(axis=1) == pytest.approx(np.ones(3))
    truth, learned = exact_probabilities(model, config)
    assert truth.sum() == pytest.approx(1.0) and 0.0 <= learned <= 1.0


def test_itakura_saito_and_the_affine_fit() -> None:
    truth = np.array([1e-6, 3e-7, 2e-8, 5e-9])
    estimate = np.array([2e-6, 1e-7, 4e-8, 1e-9])
    assert itakura_saito(truth, estimate) == pytest.approx(truth / estimate - np.log(truth / estimate) - 1)
    assert itakura_saito(truth, truth) == pytest.approx(np.zeros(4))
    # An estimator off by a constant factor is fixed exactly by the fit.
    a, b = affine_fit(truth, truth * 7.0)
    assert itakura_saito(truth, np.exp(a * np.log(truth * 7.0) + b)) == pytest.approx(np.zeros(4), abs=1e-6)


def test_the_cli_finds_importance_sampling_beats_naive_sampling(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "rare", "--tiny", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    config = RareConfig.tiny()
    assert (Path(result["folder"]) / "estimates.png").read_bytes()[:4] == b"\x89PNG"
    assert result["rows"]
    for row in result["rows"]:
        assert config.low <= row["truth"] <= config.high
        assert row["naive"] * config.budget == pytest.approx(round(row["naive"] * config.budget))  # a count / n
        assert row["itgis_loss"] == pytest.approx(
            float(itakura_saito(np.array([row["truth"]]), np.array([row["itgis_fitted"]]))[0])
        )
    summary = result["summary"]
    # Naive sampling never sees a target at this budget; importance sampling gets within 10x of some.
    assert summary["naive within 10x"]["value"] == 0.0 < summary["itgis within 10x"]["value"]
    assert summary["itgis IS loss"]["value"] < summary["naive IS loss"]["value"]
    within = [float(r["itgis"] > 0 and abs(np.log10(r["itgis"] / r["truth"])) <= 1) for r in result["rows"]]
    assert summary["itgis within 10x"]["value"] == pytest.approx(np.mean(within))
    losses = [r["naive_loss"] for r in result["rows"]]
    assert summary["naive IS loss"]["value"] == pytest.approx(np.mean(losses))


def test_a_bad_rare_config_gets_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    path = tmp_path / "r.yaml"
    path.write_text("vocab: 64\nlength: 8\n")
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "rare", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "vocab^length must be at most 2,000,000 to enumerate" in done.stderr


def test_each_seed_ranks_the_tokens_by_its_own_permutation() -> None:
    config = RareConfig()
    plain = config.model_copy(update={"permute": False}).for_seed(0).token_probabilities()
    assert plain == pytest.approx(0.35 ** np.arange(16) / (0.35 ** np.arange(16)).sum())
    seeded = [config.for_seed(seed).token_probabilities() for seed in range(3)]
    for probabilities in seeded:
        assert sorted(probabilities) == pytest.approx(sorted(plain))
    assert not np.allclose(seeded[0], seeded[1]) and not np.allclose(seeded[1], seeded[2])
    assert config.for_seed(1).token_probabilities() == pytest.approx(seeded[1])  # the same seed, the same D
    assert config.token_probabilities() == pytest.approx(plain)  # the config itself is unchanged
