"""Weak-to-strong generalization (Burns et al. 2023) on scikit-learn's digits, and easy-to-hard generalization.

Per seed, on a fresh stratified split of the 1,797 digits into a weak-training set, a held-out pool and a test set:

1. The **weak supervisor** (a linear model on the image pooled to 4×4) is trained on ground truth of the
   weak-training set; its soft labels on the held-out pool are the **weak labels**.
2. The **strong model** (an MLP on all 64 pixels) is first pretrained, self-supervised, as a denoising autoencoder
   on every image outside the test set (no labels). From those weights it is fine-tuned (by default only its head:
   a linear probe on the pretrained features, `finetune: full` trains all of it) three ways on the pool:
   on the weak labels (**w2s**), on the weak labels with the auxiliary confidence loss (**w2s+aux**), and on ground
   truth (the **ceiling**).
3. PGR = (w2s − weak) / (ceiling − weak), test accuracies; seeds where the weak model is not weaker than the ceiling
   are excluded from PGR (and named in the notes).
4. Easy-to-hard: an example's difficulty is 1 − the probability a cross-fitted (5-fold) logistic regression on the
   raw pixels gives its true class. The pool is cut at the `easy_fraction` quantile of difficulty; the pretrained
   strong model is fine-tuned on ground truth of the easy part or of the hard part (equal sizes), and both are tested
   on the hard test examples (difficulty above the same cut).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from proctor.lab._common import Clock, Interval, LabError, LabResult, cached_train, digest, one_thread, t_interval

DIGITS = 1797


class W2SConfig(BaseModel):
    """The weak-to-strong experiment's settings (defaults finish in under 3 minutes on 2 cores)."""

    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(default=5, ge=1, le=100)
    """Seeds 0 … seeds−1: each a new split and new initial weights."""
    positive: list[int] = Field(default=[1, 3, 5, 7, 9], min_length=1, max_length=9)
    """Digits of the positive class (the task is binary: is the digit one of these?)."""
    test: int = Field(default=500, ge=20)
    """Test examples."""
    weak_train: int = Field(default=300, ge=10)
    """Ground-truth examples the weak supervisor is trained on; the rest (outside the test set) is the pool."""
    weak_hidden: int = Field(default=32, ge=0, le=1024)
    """Hidden units of the weak supervisor (0: a linear model) on the 4×4 pooled image."""
    strong_hidden: int = Field(default=256, ge=1, le=4096)
    """Hidden units of each of the strong model's two layers, on the 8×8 image."""
    pretrain_epochs: int = Field(default=60, ge=0, le=1000)
    """Epochs of self-supervised pretraining of the strong model (0: none)."""
    weak_epochs: int = Field(default=60, ge=1, le=1000)
    """Epochs of the weak supervisor's training."""
    epochs: int = Field(default=20, ge=1, le=1000)
    """Epochs of every fine-tuning of the strong model."""
    finetune: Literal["full", "head"] = "head"
    """Fine-tune the whole strong model, or only its head (a linear probe on the pretrained features)."""
    lr: float = Field(default=3e-3, gt=0, le=1)
    """Adam's learning rate."""
    aux_coef: float = Field(default=0.5, gt=0, le=1)
    """Weight of the auxiliary confidence loss at the end of its warm-up."""
    warmup: float = Field(default=0.1, ge=0, le=1)
    """Fraction of steps over which the auxiliary weight ramps up from 0."""
    easy_fraction: float = Field(default=0.5, gt=0, lt=1)
    """Quantile of difficulty below which an example is easy."""

    @model_validator(mode="after")
    def _fits(self) -> W2SConfig:
        if any(not 0 <= d <= 9 for d in self.positive):
            raise ValueError(f"positive digits are 0–9, got {self.positive}")
        if self.test + self.weak_train > DIGITS - 40:
            raise ValueError(f"test + weak_train must leave at least 40 of the {DIGITS} digits for the pool")
        return self

    @classmethod
    def tiny(cls) -> W2SConfig:
        """A few seconds' version for tests."""
        return cls(seeds=2, strong_hidden=32, pretrain_epochs=2, weak_epochs=10, epochs=5, finetune="full", test=300)


class Split(BaseModel):
    """Indices into the digits of one seed's split."""

    weak: list[int]
    pool: list[int]
    test: list[int]


def load_digits(positive: list[int]) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.int64]]:
    """Pixels scaled to [0, 1] `(N, 64)`, the 4×4 pooled image `(N, 16)` and the binary label `(N,)`."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    x = (digits.data / 16.0).astype(np.float32)
    pooled = x.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1, 16)  # (N, 8, 8) in 2×2 blocks -> (N, 16)
    y = np.isin(digits.target, positive).astype(np.int64)
    return x, pooled.astype(np.float32), y


def split(y: NDArray[np.int64], config: W2SConfig, seed: int) -> Split:
    """A stratified split into weak-training set, pool and test set."""
    from sklearn.model_selection import train_test_split

    everything = np.arange(len(y))
    rest, test = train_test_split(everything, test_size=config.test, stratify=y, random_state=seed)
    pool, weak = train_test_split(rest, test_size=config.weak_train, stratify=y[rest], random_state=seed)
    return Split(weak=sorted(weak.tolist()), pool=sorted(pool.tolist()), test=sorted(test.tolist()))


def difficulty(x: NDArray[np.float32], y: NDArray[np.int64], seed: int) -> NDArray[np.float64]:
    """1 − the probability a logistic regression fit on the other folds (5-fold) gives the true class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    probs = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=5, method="predict_proba")
    del seed  # the folds are deterministic (stratified, unshuffled); kept for the signature's symmetry
    return np.asarray(1.0 - probs[np.arange(len(y)), y], dtype=np.float64)


def pgr(weak: float, strong: float, ceiling: float) -> float | None:
    """Performance gap recovered, or None when the weak model is not weaker than the ceiling."""
    if ceiling <= weak:
        return None
    return (strong - weak) / (ceiling - weak)


def run_seed(config: W2SConfig, seed: int, cache: Path | None) -> dict[str, Any]:
    """Every model of one seed and their test accuracies."""
    import torch

    from proctor.lab._nets import MLP, accuracy, fit, one_hot, pretrain, probabilities

    x, pooled, y = load_digits(config.positive)
    parts = split(y, config, seed)
    weak_i, pool_i, test_i = np.array(parts.weak), np.array(parts.pool), np.array(parts.test)
    data = {"dataset": "digits", "positive": config.positive, "split": digest(parts.model_dump())}
    train = {"epochs": config.epochs, "lr": config.lr, "seed": seed}

    torch.manual_seed(seed)
    weak_spec = {"model": "weak", "hidden": config.weak_hidden, **data, **train, "epochs": config.weak_epochs}
    weak = cached_train(
        weak_spec,
        MLP(16, config.weak_hidden, 2),
        lambda m: fit(m, pooled[weak_i], one_hot(y[weak_i], 2), epochs=config.weak_epochs, seed=seed, lr=config.lr),
        cache,
    )
    weak_labels = probabilities(weak, pooled[pool_i])

    torch.manual_seed(seed)
    base_spec = {"model": "strong", "hidden": config.strong_hidden, "pretrain": config.pretrain_epochs, **data}
    unlabeled = x[np.concatenate([weak_i, pool_i])]
    base = cached_train(
        {**base_spec, "seed": seed},
        MLP(64, config.strong_hidden, 2),
        lambda m: pretrain(m, unlabeled, epochs=config.pretrain_epochs, seed=seed),
        cache,
    )

    def strong(name: str, index: NDArray[np.int64], labels: NDArray[np.float32], aux: float = 0.0) -> Any:
        spec = {
            **base_spec,
            **train,
            "labels": name,
            "aux": aux,
            "warmup": config.warmup,
            "finetune": config.finetune,
            "weak": weak_spec,
        }
        return cached_train(
            spec,
            copy.deepcopy(base),
            lambda m: fit(
                m,
                x[index],
                labels,
                epochs=config.epochs,
                seed=seed,
                lr=config.lr,
                aux_coef=aux,
                warmup=config.warmup,
                head_only=config.finetune == "head",
            ),
            cache,
        )

    w2s = strong("weak", pool_i, weak_labels)
    w2s_aux = strong("weak", pool_i, weak_labels, config.aux_coef)
    ceiling = strong("truth", pool_i, one_hot(y[pool_i], 2))

    hardness = difficulty(x, y, seed)
    cut = float(np.quantile(hardness[pool_i], config.easy_fraction))
    ranked = pool_i[np.argsort(hardness[pool_i], kind="stable")]
    size = min(int((hardness[pool_i] <= cut).sum()), int((hardness[pool_i] > cut).sum()))
    if size < 2:
        raise LabError(
            f"seed {seed}: too few easy or hard examples in the pool at easy_fraction {config.easy_fraction}"
        )
    easy_i, hard_i = ranked[:size], ranked[len(ranked) - size :]
    hard_test = test_i[hardness[test_i] > cut]
    if len(hard_test) == 0:
        raise LabError(f"seed {seed}: no hard test examples at easy_fraction {config.easy_fraction}; lower it")
    easy = strong(f"easy {config.easy_fraction}", easy_i, one_hot(y[easy_i], 2))
    hard = strong(f"hard {config.easy_fraction}", hard_i, one_hot(y[hard_i], 2))

    xt, pt, yt = x[test_i], pooled[test_i], y[test_i]
    row: dict[str, Any] = {
        "seed": seed,
        "weak": accuracy(weak, pt, yt),
        "w2s": accuracy(w2s, xt, yt),
        "w2s_aux": accuracy(w2s_aux, xt, yt),
        "ceiling": accuracy(ceiling, xt, yt),
        "weak_label_accuracy": float((weak_labels.argmax(axis=1) == y[pool_i]).mean()),
        "agreement": float((probabilities(w2s, xt).argmax(axis=1) == probabilities(weak, pt).argmax(axis=1)).mean()),
        "agreement_aux": float(
            (probabilities(w2s_aux, xt).argmax(axis=1) == probabilities(weak, pt).argmax(axis=1)).mean()
        ),
        "easy_on_hard": accuracy(easy, x[hard_test], y[hard_test]),
        "hard_on_hard": accuracy(hard, x[hard_test], y[hard_test]),
        "hard_test": len(hard_test),
    }
    row["pgr"] = pgr(row["weak"], row["w2s"], row["ceiling"])
    row["pgr_aux"] = pgr(row["weak"], row["w2s_aux"], row["ceiling"])
    return row


QUANTITIES = (
    "weak",
    "w2s",
    "w2s_aux",
    "ceiling",
    "pgr",
    "pgr_aux",
    "agreement",
    "agreement_aux",
    "easy_on_hard",
    "hard_on_hard",
)


def summarize(rows: list[dict[str, Any]]) -> tuple[dict[str, Interval], list[str]]:
    """Each quantity's mean and 95% interval over seeds; PGR over the seeds where the weak model is weaker."""
    summary: dict[str, Interval] = {}
    notes: list[str] = []
    for name in QUANTITIES:
        values = [float(r[name]) for r in rows if r[name] is not None]
        if values:
            summary[name] = t_interval(values, bounds=None if name.startswith("pgr") else (0, 1))
    summary["easy_minus_hard"] = t_interval([r["easy_on_hard"] - r["hard_on_hard"] for r in rows])
    excluded = [r["seed"] for r in rows if r["pgr"] is None]
    if excluded:
        notes.append(f"PGR excludes seeds {excluded}: there the weak model is not weaker than the ceiling")
    return summary, notes


def run_w2s(config: W2SConfig, *, cache: Path | None = None) -> LabResult:
    """Run every seed of the weak-to-strong experiment; models are read from `cache` when trained before.

    Raises:
        LabError: torch is missing, or the config leaves too few easy/hard examples.
    """
    clock = Clock()
    with one_thread():
        rows = [run_seed(config, seed, cache) for seed in range(config.seeds)]
    summary, notes = summarize(rows)
    if "pgr" not in summary:
        notes.append("no seed has a weak model weaker than the ceiling: PGR is undefined")
    return LabResult.of("w2s", config, clock, rows=rows, summary=summary, notes=notes)


def plot_w2s(result: LabResult, folder: Path) -> list[str]:
    """`accuracy.png`: test accuracy of each model and the PGRs, means with 95% intervals over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def bars(axis: Any, names: list[str], labels: list[str]) -> None:
        shown = [n for n in names if n in result.summary]
        means = [result.summary[n].value for n in shown]
        errors = np.array(
            [
                [result.summary[n].value - (result.summary[n].low or result.summary[n].value) for n in shown],
                [(result.summary[n].high or result.summary[n].value) - result.summary[n].value for n in shown],
            ]
        )
        axis.bar([labels[names.index(n)] for n in shown], means, yerr=errors, capsize=4, color="#4c72b0")

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = ["weak", "w2s", "w2s_aux", "ceiling", "easy_on_hard", "hard_on_hard"]
    bars(left, names, ["weak", "w2s", "w2s+aux", "ceiling", "easy→hard", "hard→hard"])
    left.set_ylabel("test accuracy")
    left.set_ylim(0.5, 1.0)
    left.tick_params(axis="x", rotation=30)
    bars(right, ["pgr", "pgr_aux"], ["PGR", "PGR (aux loss)"])
    right.axhline(0, color="black", linewidth=0.8)
    right.set_ylabel("performance gap recovered")
    figure.suptitle(f"weak-to-strong on digits, {len(result.seeds)} seeds, 95% intervals")
    figure.tight_layout()
    figure.savefig(folder / "accuracy.png", dpi=100)
    plt.close(figure)
    return ["accuracy.png"]
