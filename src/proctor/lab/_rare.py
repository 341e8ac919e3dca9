"""Low-probability estimation (Wu & Hilton 2024) on a tiny transformer trained here.

The model reads `length` tokens from a vocabulary of `vocab` and is trained (on uniformly random sequences) to
output their maximum at the last position. The **input distribution** D draws each token independently with
P(v) ∝ `decay`^rank(v), rank a seeded random permutation of the vocabulary (`permute`), so some tokens, and so the
model outputting them, are rare. A **target** is a token t whose probability P_{x∼D}[argmax logits(x) = t] lies
in [`low`, `high`] (default 1e-9 … 1e-5); its ground truth is exact, by enumerating all `vocab`^`length` inputs.
Each estimator gets the same budget of `budget` model calls per target:

- `naive`: the fraction of samples from D the model maps to t;
- `itgis`: independent token gradient importance sampling: the gradient of log softmax_t with respect to each
  position's one-hot token, averaged over `budget`/8 samples of D, tilts D per position,
  q_i(v) ∝ P(v)·exp(g_iv / `temperature`); the rest of the budget samples q, weighted by P(x)/q(x);
- `mhis`: Metropolis–Hastings importance sampling: half the budget estimates Z = E_D[exp(s(x)/T)], s = log
  softmax_t, the other half runs chains on π ∝ D·exp(s/T) (each step replaces one token by a uniformly random one,
  accepted by the Metropolis–Hastings rule); the estimate is Z · E_π[1{argmax = t}·exp(−s/T)];
- `gld`: Gaussian logit difference (activation extrapolation): fit a normal to logit_t − max_{j≠t} logit_j over
  samples of D; the estimate is its probability of being above 0.

**On your own model** (`subject: hf/<folder>`): nothing is trained. The inputs are `length` tokens drawn from the
word list `tokens` (each one token of the subject's tokenizer; `vocab` becomes its length; P(token i) ∝ `decay`^i,
so `decay: 1` is uniform), after the optional text `prefix`; a target is a token of `outputs` (default: `tokens`)
whose probability of being the model's greedy next token — the argmax over its whole vocabulary — lies in
[`low`, `high`], exact by enumerating every input. The estimators see one-hot inputs turned into `inputs_embeds`
(so ITGIS gets its gradients) and the logits of `outputs` plus the largest other logit; seeds draw new estimator
samples of the same model.

Scoring: per estimator, estimates floored at 1e-30 are mapped by an affine fit in log space, exp(a·log q + b),
chosen to minimize the mean Itakura–Saito loss p/q − log(p/q) − 1 over all targets (in-sample, as in the paper);
the per-target losses after that fit are averaged with a 95% interval over targets.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from proctor.lab._common import Clock, Interval, LabResult, cached_train, digest, now, one_thread, t_interval

ESTIMATORS = ("naive", "itgis", "mhis", "gld")
FLOOR = 1e-30


class RareConfig(BaseModel):
    """The rare-event experiment's settings (defaults finish in under 3 minutes on 2 cores)."""

    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(default=5, ge=1, le=100)
    """Seeds 0 … seeds−1: each a new model and new estimator samples."""
    vocab: int = Field(default=16, ge=4, le=64)
    """Tokens 0 … vocab−1."""
    length: int = Field(default=4, ge=2, le=8)
    """Tokens per input."""
    decay: float = Field(default=0.35, gt=0, le=1)
    """D draws token v with probability ∝ decay^rank(v)."""
    width: int = Field(default=32, ge=4, le=512)
    """The transformer's model width."""
    steps: int = Field(default=1000, ge=1, le=100_000)
    """Training steps (batches of 128)."""
    budget: int = Field(default=2048, ge=16, le=1_000_000)
    """Model calls per estimator per target."""
    temperature: float = Field(default=0.5, gt=0)
    """ITGIS's and MHIS's temperature."""
    low: float = Field(default=1e-9, gt=0, lt=1)
    """Smallest target probability."""
    high: float = Field(default=1e-5, gt=0, lt=1)
    """Largest target probability."""
    permute: bool = True
    """Each seed ranks the tokens by its own random permutation, P(v) ∝ decay^rank(v), so each seed has other
    targets (false: rank(v) = v for every seed). Not with a subject."""
    subject: str | None = None
    """Estimate on this local Hugging Face causal LM, `hf/<folder>`, instead of training one."""
    tokens: list[str] = []
    """With a subject: the input tokens (words that are one token each); default the tokenizer's ids 0 … vocab−1."""
    outputs: list[str] = []
    """With a subject: the candidate target tokens (default: `tokens`)."""
    prefix: str = ""
    """With a subject: text before the random tokens in every input."""
    device: str = "cpu"
    """With a subject: the torch device it runs on."""

    @model_validator(mode="after")
    def _fits(self) -> RareConfig:
        if (self.tokens or self.outputs or self.prefix) and self.subject is None:
            raise ValueError("tokens, outputs and prefix need a subject (hf/<folder>)")
        if self.tokens:
            if len(self.tokens) < 2:
                raise ValueError(f"tokens: at least 2 are needed, got {len(self.tokens)}")
            self.vocab = len(self.tokens)
        if self.vocab**self.length > 2_000_000:
            raise ValueError(f"vocab^length must be at most 2,000,000 to enumerate, got {self.vocab**self.length:,}")
        if self.low >= self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")
        return self

    @classmethod
    def tiny(cls) -> RareConfig:
        """A few seconds' version for tests."""
        return cls(seeds=2, width=16, steps=300, budget=512)

    _ranks: list[int] | None = PrivateAttr(default=None)

    def for_seed(self, seed: int) -> RareConfig:
        """This config with D's token ranks for `seed` (a seeded permutation when `permute`, without a subject)."""
        if not self.permute or self.subject is not None:
            return self
        seeded = self.model_copy()
        seeded._ranks = np.random.default_rng([seed, 7]).permutation(self.vocab).tolist()
        return seeded

    def token_probabilities(self) -> NDArray[np.float64]:
        ranks = np.arange(self.vocab) if self._ranks is None else np.array(self._ranks)
        weights = self.decay ** ranks.astype(np.float64)
        return np.asarray(weights / weights.sum(), dtype=np.float64)


def build_model(config: RareConfig) -> Any:
    """A one-layer transformer; `forward_onehot` takes one-hot tokens `(B, T, V)` so gradients reach them."""
    import torch
    from torch import nn

    class TinyTransformer(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(config.vocab, config.width, bias=False)
            self.position = nn.Parameter(torch.randn(config.length, config.width) * 0.1)
            self.block = nn.TransformerEncoderLayer(
                config.width, 2, 4 * config.width, dropout=0.0, batch_first=True, norm_first=True
            )
            self.out = nn.Linear(config.width, config.vocab)

        def forward_onehot(self, onehot: torch.Tensor) -> torch.Tensor:  # (B, T, V) -> (B, V)
            hidden = self.block(self.embed(onehot) + self.position)  # (B, T, C)
            return self.out(hidden[:, -1])

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, V)
            return self.forward_onehot(nn.functional.one_hot(tokens, config.vocab).float())

    return TinyTransformer()


def train_max(model: Any, config: RareConfig, seed: int) -> None:
    """Train on uniform random sequences to output their maximum."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(config.steps):
        tokens = torch.randint(0, config.vocab, (128, config.length), generator=generator)
        loss = torch.nn.functional.cross_entropy(model(tokens), tokens.max(dim=1).values)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def logits_of(model: Any, tokens: NDArray[np.int64], batch: int = 65536) -> NDArray[np.float64]:
    import torch

    parts = []
    with torch.no_grad():
        for start in range(0, len(tokens), batch):
            parts.append(model(torch.from_numpy(tokens[start : start + batch])).double().numpy())
    return np.concatenate(parts)


def exact_probabilities(model: Any, config: RareConfig) -> tuple[NDArray[np.float64], float]:
    """P_{x∼D}[argmax = t] for every token t, by enumerating every input; and the fraction of all inputs whose
    maximum the model outputs (how well it learned its task)."""
    tokens = np.array(list(itertools.product(range(config.vocab), repeat=config.length)), dtype=np.int64)
    weights = np.prod(config.token_probabilities()[tokens], axis=1)
    logits = logits_of(model, tokens)
    outputs = logits.argmax(axis=1)
    learned = float((outputs == tokens.max(axis=1)).mean())
    return np.bincount(outputs, weights=weights, minlength=logits.shape[1]).astype(np.float64), learned


def sample(probabilities: NDArray[np.float64], n: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """`n` inputs `(n, T)`, position i drawn from `probabilities[i]` `(T, V)`."""
    return np.stack([rng.choice(len(p), size=n, p=p) for p in probabilities], axis=1).astype(np.int64)


def naive(model: Any, config: RareConfig, target: int, rng: np.random.Generator) -> float:
    base = np.tile(config.token_probabilities(), (config.length, 1))
    return float((logits_of(model, sample(base, config.budget, rng)).argmax(axis=1) == target).mean())


def importance_estimate(
    model: Any, base: NDArray[np.float64], proposal: NDArray[np.float64], target: int, n: int, rng: np.random.Generator
) -> float:
    """Mean of 1{argmax = target}·P(x)/q(x) over `n` samples of the per-position proposal q `(T, V)`."""
    tokens = sample(proposal, n, rng)
    positions = np.arange(tokens.shape[1])
    log_weights = (np.log(base[positions, tokens]) - np.log(proposal[positions, tokens])).sum(axis=1)
    hits = logits_of(model, tokens).argmax(axis=1) == target
    return float(np.mean(hits * np.exp(log_weights)))


def itgis_proposal(
    model: Any, config: RareConfig, target: int, rng: np.random.Generator, n: int
) -> NDArray[np.float64]:
    """D tilted per position by the mean gradient of log softmax_target w.r.t. the one-hot token `(T, V)`."""
    import torch

    base = np.tile(config.token_probabilities(), (config.length, 1))
    tokens = torch.from_numpy(sample(base, n, rng))
    onehot = torch.nn.functional.one_hot(tokens, config.vocab).float().requires_grad_(True)
    torch.log_softmax(model.forward_onehot(onehot), dim=-1)[:, target].sum().backward()
    gradient = onehot.grad.mean(dim=0).double().numpy()  # (T, V)
    tilted = np.log(base) + gradient / config.temperature
    tilted = np.exp(tilted - tilted.max(axis=1, keepdims=True))
    return np.asarray(tilted / tilted.sum(axis=1, keepdims=True), dtype=np.float64)


def itgis(model: Any, config: RareConfig, target: int, rng: np.random.Generator) -> float:
    gradient_samples = max(1, config.budget // 8)
    proposal = itgis_proposal(model, config, target, rng, gradient_samples)
    base = np.tile(config.token_probabilities(), (config.length, 1))
    return importance_estimate(model, base, proposal, target, config.budget - gradient_samples, rng)


def mhis(model: Any, config: RareConfig, target: int, rng: np.random.Generator) -> float:
    probabilities = config.token_probabilities()
    base = np.tile(probabilities, (config.length, 1))

    def score(tokens: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        logits = logits_of(model, tokens)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_softmax = shifted[:, target] - np.log(np.exp(shifted).sum(axis=1))
        return log_softmax, logits.argmax(axis=1) == target

    half = config.budget // 2
    s, _ = score(sample(base, half, rng))
    normalizer = float(np.mean(np.exp(s / config.temperature)))
    chains = max(1, int(np.sqrt(half)))
    steps = max(2, half // chains)
    current = sample(base, chains, rng)
    s_current, hit_current = score(current)
    kept_s, kept_hit = [], []
    for step in range(steps - 1):
        proposed = current.copy()
        position = rng.integers(0, config.length, size=chains)
        old = current[np.arange(chains), position]
        new = rng.integers(0, config.vocab, size=chains)  # a uniform, symmetric proposal
        proposed[np.arange(chains), position] = new
        s_new, hit_new = score(proposed)
        log_ratio = np.log(probabilities[new]) - np.log(probabilities[old]) + (s_new - s_current) / config.temperature
        accept = np.log(rng.random(chains)) < log_ratio
        current[accept], s_current[accept], hit_current[accept] = proposed[accept], s_new[accept], hit_new[accept]
        if step >= (steps - 1) // 4:  # the first quarter is burn-in
            kept_s.append(s_current.copy())
            kept_hit.append(hit_current.copy())
    s_kept, hit_kept = np.concatenate(kept_s), np.concatenate(kept_hit)
    return normalizer * float(np.mean(hit_kept * np.exp(-s_kept / config.temperature)))


def gld(model: Any, config: RareConfig, target: int, rng: np.random.Generator) -> float:
    from scipy.stats import norm

    base = np.tile(config.token_probabilities(), (config.length, 1))
    logits = logits_of(model, sample(base, config.budget, rng))
    others = np.delete(logits, target, axis=1).max(axis=1)
    gap = logits[:, target] - others
    sd = float(gap.std(ddof=1))
    return float(norm.sf(0.0, loc=float(gap.mean()), scale=sd)) if sd > 0 else float(gap.mean() > 0)


ESTIMATE = {"naive": naive, "itgis": itgis, "mhis": mhis, "gld": gld}


def itakura_saito(truth: NDArray[np.float64], estimate: NDArray[np.float64]) -> NDArray[np.float64]:
    """p/q − log(p/q) − 1, elementwise."""
    ratio = truth / estimate
    return np.asarray(ratio - np.log(ratio) - 1, dtype=np.float64)


def affine_fit(truth: NDArray[np.float64], estimates: NDArray[np.float64]) -> tuple[float, float]:
    """(a, b) minimizing the mean Itakura–Saito loss of exp(a·log q + b) against the truth."""
    from scipy.optimize import minimize

    log_q = np.log(np.maximum(estimates, FLOOR))

    def loss(ab: NDArray[np.float64]) -> float:
        log_fitted = ab[0] * log_q + ab[1]
        log_ratio = np.log(truth) - log_fitted
        return float(np.mean(np.exp(np.clip(log_ratio, -700, 700)) - log_ratio - 1))

    start = np.array([1.0, float(np.mean(np.log(truth) - log_q))])
    found = minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 4000})
    return float(found.x[0]), float(found.x[1])


def subject_model(config: RareConfig) -> tuple[Any, list[str]]:
    """The configured real model seen through one-hot inputs (see `_subject.one_hot_subject`), and the names of its
    output columns but the last (the largest other logit)."""
    from proctor.lab._subject import default_tokens, load_subject, one_hot_subject, token_ids

    assert config.subject is not None
    loaded = load_subject(config.subject, config.device)
    words = config.tokens or default_tokens(loaded, config.vocab)
    inputs = token_ids(loaded, words, "tokens")
    outputs = config.outputs or words
    prefix = loaded.tokenizer(config.prefix, add_special_tokens=False)["input_ids"] if config.prefix else []
    return one_hot_subject(loaded, inputs, token_ids(loaded, outputs, "outputs"), list(prefix)), outputs


def run_seed(
    config: RareConfig, seed: int, cache: Path | None, subject: tuple[Any, list[str], Any] | None = None
) -> list[dict[str, Any]]:
    """One seed's rows; `subject` is a real model, its output names and its exact probabilities."""
    import torch

    config = config.for_seed(seed)
    learned: float | None = None
    if subject is not None:
        model, names, (truth, _) = subject
        truth = truth[: len(names)]  # the last column (every other token) is never a target
    else:
        torch.manual_seed(seed)
        spec = {
            "model": "max-transformer",
            **config.model_dump(include={"vocab", "length", "width", "steps"}),
            "seed": seed,
        }
        model = cached_train(spec, build_model(config), lambda m: train_max(m, config, seed), cache)
        truth, learned = exact_probabilities(model, config)
    rows = []
    for target in np.flatnonzero((truth >= config.low) & (truth <= config.high)):
        rng = np.random.default_rng([seed, int(target)])
        row: dict[str, Any] = {"seed": seed, "target": int(target), "truth": float(truth[target])}
        if subject is not None:
            row["token"] = names[int(target)]
        else:
            row["learned"] = learned
        for name in ESTIMATORS:
            row[name] = ESTIMATE[name](model, config, int(target), rng)
        rows.append(row)
    return rows


def run_rare(config: RareConfig, *, cache: Path | None = None) -> LabResult:
    """Train a model per seed, find its targets, run every estimator on each, and score them.

    Raises:
        LabError: torch is missing, or no model has a target in [low, high].
    """
    from proctor.lab._common import LabError

    clock = Clock()
    with one_thread():
        subject = None
        if config.subject is not None:
            model, names = subject_model(config)
            subject = (model, names, exact_probabilities(model, config))
        rows = [row for seed in range(config.seeds) for row in run_seed(config, seed, cache, subject)]
    if len(rows) < 2:
        raise LabError(
            f"{len(rows)} targets in [{config.low:g}, {config.high:g}]: widen the range or change decay/vocab/length"
        )
    truth = np.array([r["truth"] for r in rows])
    summary: dict[str, Interval] = {}
    for name in ESTIMATORS:
        estimates = np.array([r[name] for r in rows])
        a, b = affine_fit(truth, estimates)
        fitted = np.exp(a * np.log(np.maximum(estimates, FLOOR)) + b)
        losses = itakura_saito(truth, fitted)
        for row, fit_value, loss in zip(rows, fitted, losses, strict=True):
            row[f"{name}_fitted"], row[f"{name}_loss"] = float(fit_value), float(loss)
        summary[f"{name} IS loss"] = t_interval(losses.tolist())
        summary[f"{name} zero estimates"] = t_interval([float(r[name] == 0) for r in rows], bounds=(0, 1))
        summary[f"{name} within 10x"] = t_interval(
            [float(r[name] > 0 and abs(np.log10(r[name] / r["truth"])) <= 1) for r in rows], bounds=(0, 1)
        )
    return LabResult(
        id=f"rare-{digest(config.model_dump())[:10]}",
        experiment="rare",
        created=now(),
        seconds=clock(),
        config=config.model_dump(),
        seeds=list(range(config.seeds)),
        rows=rows,
        summary=summary,
        notes=[
            f"{len(rows)} targets over {config.seeds} seeds; the intervals are over targets",
            f"the models output the maximum on {np.mean([r['learned'] for r in rows]):.1%} of all inputs"
            if config.subject is None
            else f"the greedy next token of {config.subject} after {config.length} tokens of {config.vocab}",
        ],
    )


def plot_rare(result: LabResult, folder: Path) -> list[str]:
    """`estimates.png`: each estimator's raw estimate against the exact probability, log–log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 5))
    truth = np.array([r["truth"] for r in result.rows])
    for name, marker in zip(ESTIMATORS, "osD^", strict=True):
        estimates = np.maximum(np.array([r[name] for r in result.rows]), 1e-14)
        axis.scatter(truth, estimates, label=name, marker=marker, alpha=0.7)
    axis.plot([truth.min(), truth.max()], [truth.min(), truth.max()], color="black", linewidth=0.8)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("exact probability")
    axis.set_ylabel("estimate (zeros shown at 1e-14)")
    axis.legend()
    axis.set_title(f"rare-event estimates, {len(result.rows)} targets")
    figure.tight_layout()
    figure.savefig(folder / "estimates.png", dpi=100)
    plt.close(figure)
    return ["estimates.png"]
