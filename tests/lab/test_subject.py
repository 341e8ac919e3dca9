"""The lab on a user's own model: a tiny random GPT-2 written with save_pretrained (tests/lab/subject_models.py)
as `hf/<folder>`. Hooked activations against a direct computation, enumerated probabilities against the model's own
forward pass, and `proctor lab autointerp/rare --subject` end to end."""

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
import yaml
from subject_models import write_tiny_gpt2
from transformers import AutoTokenizer, GPT2LMHeadModel

from proctor.lab import (
    AutoInterpConfig,
    BackdoorConfig,
    LabError,
    RareConfig,
    load_config,
    run_autointerp,
    run_rare,
)
from proctor.lab._autointerp import WORDS, corpus
from proctor.lab._rare import exact_probabilities, logits_of
from proctor.lab._subject import load_subject, word_activations

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = ["one", "two", "three", "four", "five", "six", "cat", "dog"]


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gpt2(tmp_path_factory.mktemp("subject") / "gpt2")


def direct_units(folder: Path, words: list[str], layer: int, site: str) -> np.ndarray:
    """One sentence's units computed by hand from the GPT-2's modules (one token per word here)."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    ids = torch.tensor([tokenizer(" ".join(words))["input_ids"]])
    assert ids.shape[1] == len(words)
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states
        block = model.transformer.h[layer]
        if site == "residual":
            x = hidden[layer]
            x = x + block.attn(block.ln_1(x))[0]
            x = x + block.mlp(block.ln_2(x))
            return x[0].double().numpy()
        x = hidden[layer]
        x = x + block.attn(block.ln_1(x))[0]
        return block.mlp.act(block.mlp.c_fc(block.ln_2(x)))[0].double().numpy()


@pytest.mark.parametrize(("layer", "site"), [(0, "mlp"), (1, "mlp"), (0, "residual"), (-1, "residual")])
def test_hooked_units_are_the_direct_computation(gpt2: Path, layer: int, site: str) -> None:
    words, _ = corpus(5, 7, np.random.default_rng(0))
    sentences = [[WORDS[w] for w in row] for row in words]
    sentences[1] = [*sentences[1][:4], "seven", "eight", "nine"]  # words outside the synthetic language
    loaded = load_subject(f"hf/{gpt2}", "cpu")
    acts = word_activations(loaded, sentences, layer, site, batch=2)  # padded batches
    assert acts.shape == (5, 7, 128 if site == "mlp" else 32)
    for i, sentence in enumerate(sentences):
        assert acts[i] == pytest.approx(direct_units(gpt2, sentence, layer % 2, site), abs=1e-5)


def test_a_word_of_several_tokens_gets_their_maximum(gpt2: Path) -> None:
    loaded = load_subject(f"hf/{gpt2}", "cpu")
    acts = word_activations(loaded, [["the", "blue-green", "cat"]], 0, "mlp")
    tokens = direct_units(gpt2, ["the", "blue", "-", "green", "cat"], 0, "mlp")
    assert acts[0, 1] == pytest.approx(tokens[1:4].max(axis=0), abs=1e-5)
    assert acts[0, 2] == pytest.approx(tokens[4], abs=1e-5)


def test_autointerp_on_a_text_file_leaves_out_planted_features(gpt2: Path, tmp_path: Path) -> None:
    text = tmp_path / "corpus.txt"
    rng = np.random.default_rng(1)
    text.write_text("\n".join(" ".join(rng.choice([*NUMBERS, "the", "a", "lake"], size=9)) for _ in range(60)))
    config = AutoInterpConfig.tiny().model_copy(
        update={"subject": f"hf/{gpt2}", "text": text, "length": 6, "seeds": 1, "features": 3, "site": "residual"}
    )
    result = run_autointerp(config)
    assert len(result.rows) == 3 and set(result.summary) == {"simulation", "detection", "fuzzing"}
    for row in result.rows:
        assert "named" not in row and row["explanation"].startswith("words like ")
        assert set(row["explanation"].removeprefix("words like ").split(", ")) <= {*NUMBERS, "the", "a", "lake"}
    assert result.summary["detection"].value == pytest.approx(np.mean([r["detection"] for r in result.rows]))
    short = tmp_path / "short.txt"
    short.write_text("one two three")
    with pytest.raises(LabError, match=r"^text: .*short.txt: 3 words make 0 sentences of 6"):
        run_autointerp(config.model_copy(update={"text": short}))


def test_bad_subjects_are_one_line(gpt2: Path, tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"^subject: a lab subject is a local Hugging Face model"):
        run_autointerp(AutoInterpConfig.tiny().model_copy(update={"subject": "openai/gpt"}))
    with pytest.raises(LabError, match=r"^subject: could not load Hugging Face model"):
        run_autointerp(AutoInterpConfig.tiny().model_copy(update={"subject": f"hf/{tmp_path}"}))
    with pytest.raises(LabError, match=r"^layer: the subject has 2 layers \(0 … 1\); got 2"):
        run_autointerp(AutoInterpConfig.tiny().model_copy(update={"subject": f"hf/{gpt2}", "layer": 2}))
    config = RareConfig(subject=f"hf/{gpt2}", tokens=["one", "blue-green"], length=2)
    with pytest.raises(LabError, match=r"^tokens: 'blue-green' is 3 tokens of the subject's tokenizer, not one"):
        run_rare(config)


def test_rare_probabilities_are_the_models_own_greedy_tokens(gpt2: Path) -> None:
    """The one-hot view's argmax and exact probabilities against the model run on token ids, with a prefix."""
    from proctor.lab._rare import subject_model

    config = RareConfig(subject=f"hf/{gpt2}", tokens=NUMBERS, length=3, decay=0.5, prefix="the cat saw")
    model, names = subject_model(config)
    assert names == NUMBERS
    truth, _ = exact_probabilities(model, config)
    tokenizer = AutoTokenizer.from_pretrained(gpt2)
    lm = GPT2LMHeadModel.from_pretrained(gpt2).eval()
    ids = [tokenizer(w)["input_ids"][0] for w in NUMBERS]
    inputs = np.array(list(itertools.product(range(8), repeat=3)))
    prefix = tokenizer("the cat saw")["input_ids"]
    with torch.no_grad():
        full = lm(torch.tensor([[*prefix, *(ids[t] for t in row)] for row in inputs])).logits[:, -1]
    greedy = full.argmax(dim=1).numpy()
    weights = np.prod(config.token_probabilities()[inputs], axis=1)
    expected = [weights[greedy == ids[k]].sum() for k in range(8)]
    assert truth[:8] == pytest.approx(expected, rel=1e-9, abs=1e-15)
    assert truth[8] == pytest.approx(weights[~np.isin(greedy, ids)].sum(), rel=1e-9, abs=1e-15)
    assert truth.sum() == pytest.approx(1.0)
    mine = logits_of(model, inputs)
    assert mine[:, :8] == pytest.approx(full[:, ids].double().numpy(), abs=1e-4)


def test_the_cli_runs_both_experiments_on_a_subject(gpt2: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}

    def lab(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "proctor", "lab", *args, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout))

    result = lab("autointerp", "--tiny", "--subject", f"hf/{gpt2}")
    config = AutoInterpConfig.tiny()
    assert len(result["rows"]) == config.seeds * config.features
    assert (Path(result["folder"]) / "scores.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("simulation", "detection", "fuzzing", "named", "purity"):
        assert result["summary"][name]["value"] == pytest.approx(np.mean([r[name] for r in result["rows"]]))
    assert any("layer 0 mlp of hf/" in note for note in result["notes"])

    settings = tmp_path / "rare.yaml"
    settings.write_text(
        yaml.safe_dump({"tokens": NUMBERS, "length": 4, "decay": 0.5, "low": 1e-6, "high": 0.2, "budget": 512})
    )
    rare = lab("rare", "--config", str(settings), "--seeds", "2", "--subject", f"hf/{gpt2}")
    rows = rare["rows"]
    assert rows and {r["seed"] for r in rows} == {0, 1}
    for row in rows:
        assert 1e-6 <= row["truth"] <= 0.2 and row["token"] in NUMBERS
        assert all(row[name] >= 0 for name in ("naive", "itgis", "mhis", "gld"))
    truth = {(r["token"]): r["truth"] for r in rows}  # the same model on both seeds
    assert len(truth) * 2 == len(rows)
    assert (Path(rare["folder"]) / "estimates.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("naive", "itgis", "mhis", "gld"):
        losses = [r[f"{name}_loss"] for r in rows]
        assert rare["summary"][f"{name} IS loss"]["value"] == pytest.approx(np.mean(losses))


def test_detectors_on_a_subjects_residual_stream(gpt2: Path, tmp_path: Path) -> None:
    """Anomalies (texts ending in a word the clean texts never hold) against clean texts; the residual stream at
    the last token is the hooked block output, and AUROC is recomputed from the direct activations."""
    from proctor.lab._backdoor import detector_scores
    from proctor.lab._metrics import auroc

    rng = np.random.default_rng(0)
    clean = [" ".join(rng.choice(["the", "a", "cat", "dog", "saw", "red"], size=5)) for _ in range(40)]
    anomalous = [" ".join([*rng.choice(["the", "a", "cat", "dog"], size=4), "nine"]) for _ in range(15)]
    (tmp_path / "clean.txt").write_text("\n".join(clean))
    (tmp_path / "anomalous.txt").write_text("\n\n".join(anomalous))
    settings = tmp_path / "backdoor.yaml"
    settings.write_text(
        yaml.safe_dump({"clean": str(tmp_path / "clean.txt"), "anomalous": str(tmp_path / "anomalous.txt")})
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PROCTOR_LAB_DIR": str(tmp_path)}
    subject = ["--subject", f"hf/{gpt2}", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "proctor", "lab", "backdoor", "--config", str(settings), "--seeds", "2", *subject],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (Path(result["folder"]) / "detectors.png").read_bytes()[:4] == b"\x89PNG"
    assert "clean_accuracy" not in result["summary"]
    assert {r["layer"] for r in result["rows"]} == {"residual.0", "residual.1"} and len(result["rows"]) == 16

    tokenizer = AutoTokenizer.from_pretrained(gpt2)
    lm = GPT2LMHeadModel.from_pretrained(gpt2).eval()
    with torch.no_grad():
        direct = np.stack(
            [
                lm(torch.tensor([tokenizer(t)["input_ids"]]), output_hidden_states=True).hidden_states[1][0, -1].numpy()
                for t in clean + anomalous
            ]
        ).astype(np.float64)
    config = BackdoorConfig(subject=f"hf/{gpt2}", clean=tmp_path / "clean.txt", anomalous=tmp_path / "anomalous.txt")
    order = np.random.default_rng(1).permutation(40)
    trusted, tested = order[:20], order[20:]
    batch = np.concatenate([direct[tested], direct[40:]])
    labels = np.r_[np.zeros(20, dtype=bool), np.ones(15, dtype=bool)]
    expected = auroc(labels, detector_scores("mahalanobis", direct[trusted], batch, config, 1))
    row = next(
        r for r in result["rows"] if r["seed"] == 1 and r["layer"] == "residual.0" and r["detector"] == "mahalanobis"
    )
    assert row["auroc"] == pytest.approx(expected, abs=1e-3)
    assert result["summary"]["knn@residual.1 auroc"]["value"] == pytest.approx(
        np.mean([r["auroc"] for r in result["rows"] if r["layer"] == "residual.1" and r["detector"] == "knn"])
    )
    with pytest.raises(LabError, match=r"^config: a subject needs clean and anomalous text files"):
        load_config(BackdoorConfig, None, {"subject": f"hf/{gpt2}"})
