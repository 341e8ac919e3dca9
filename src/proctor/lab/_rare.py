"""Low-probability estimation (Wu & Hilton 2024) on a tiny transformer trained here.

The model reads `length` tokens from a vocabulary of `vocab` and is trained (on uniformly random sequences) to
output their maximum at the last position. The **input distribution** D draws each token independently with
P(v) ∝ `decay`^rank(v), rank a seeded random permutation of the vocabulary (`permute`), so some tokens, and so the
model outputting them, are rare. A **target** is a token t whose probability P_{x∼D}[argmax logits(x) = t] lies
in [`low`, `high`] (default 1e-9 … 1e-5); its ground truth is exact, by enumerating all `vocab`^`length` inputs.
Each estimator gets the same budget of `budget` model calls per target:

- `naive`: the fraction of samples from D the model maps to t;
- `itgis`: independent token gradient importance sampling, adaptive: the budget is spent in 16 batches, each drawn
  from D tilted per position, q_i(v) ∝ P(v)·exp(ḡ_iv / `itgis_temperature`), ḡ a moving average of the gradient of
  the target logit with respect to each position's one-hot token over the batches before (the first batch is D);
  every sample is weighted by P(x)/q(x);
- `mhis`: Metropolis–Hastings importance sampling: 32 chains on π ∝ D·exp(s/T), s the target logit, T
  `mhis_temperature`; each step proposes a new token at a random position from P(v)·exp(∂s/∂x_v / T) and accepts
  it by the Metropolis–Hastings rule; after a quarter of the steps as burn-in the estimate is
  E_π[1{argmax = t}·exp(−s/T)] / E_π[exp(−s/T)] (as E_π[exp(−s/T)] is 1/Z);
- `gld`: Gaussian logit difference (activation extrapolation): fit a normal to logit_t − max_{j≠t} logit_j over
  samples of D; the estimate is its probability of being above 0.

**On your own model** (`subject: hf/<folder>`): nothing is trained. The inputs are `length` tokens drawn from the
word list `tokens` (each one token of the subject's tokenizer; `vocab` becomes its length; P(token i) ∝ `decay`^i,
so `decay: 1` is uniform), after the optional text `prefix`; a target is a token of `outputs` (default: `tokens`)
whose probability of being the model's greedy next token — the argmax over its whole vocabulary — lies in
[`low`, `high`], exact by enumerating every input. The estimators see one-hot inputs turned into `inputs_embeds`
(so ITGIS gets its gradients) and the logits of `outputs` plus the largest other logit; seeds draw new estimator
samples of the same model.

Scoring: per estimator, positive estimates are mapped by an affine fit in log space, exp(a·log q + b), chosen to
minimize the mean Itakura–Saito loss p/q − log(p/q) − 1 over those targets (in-sample, as in the paper), and zero
estimates by one fitted constant; the per-target losses after the fit are averaged with a 95% interval over targets,
and each estimator's loss minus naive sampling's is averaged the same way (paired by target).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from proctor.lab._common import Clock, Interval, LabResult, cached_train, one_thread, t_interval

ESTIMATORS = ("naive", "itgis", "mhis", "gld")
ITGIS_BATCHES = 16
"""ITGIS spends its budget in this many batches, each tilted by the gradients of the ones before."""
ITGIS_DECAY = 0.9
"""The decay of ITGIS's moving average of gradients (Wu & Hilton's default)."""
MHIS_CHAINS = 32
"""MHIS's parallel chains; the budget divided by this is each chain's length, burn-in included."""


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
    itgis_temperature: float = Field(default=0.5, gt=0)
    """ITGIS's temperature: lower tilts D harder toward the target."""
    mhis_temperature: float = Field(default=1.0, gt=0)
    """MHIS's temperature, of both its target distribution and its proposal."""
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
        return cls(seeds=2, width=16, steps=300, budget=1024)

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


def scored(
    model: Any, tokens: NDArray[np.int64], target: int, vocab: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """The target's logit `(B,)` (the score both importance samplers tilt by), its gradient with respect to each
    position's one-hot token `(B, T, V)`, and whether the target is the argmax `(B,)` — one forward and backward."""
    import torch

    onehot = torch.nn.functional.one_hot(torch.from_numpy(tokens), vocab).float().requires_grad_(True)
    logits = model.forward_onehot(onehot)  # (B, V)
    logits[:, target].sum().backward()
    score = logits[:, target].detach().double().numpy()
    hits = (logits.detach().argmax(dim=1) == target).numpy()
    return score, onehot.grad.double().numpy(), hits


def tilted(base: NDArray[np.float64], scores: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    """q_i(v) ∝ P_i(v)·exp(scores_iv / temperature), per position `(T, V)`."""
    logits = np.log(base) + scores / temperature
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return np.asarray(weights / weights.sum(axis=-1, keepdims=True), dtype=np.float64)


def itgis(model: Any, config: RareConfig, target: int, rng: np.random.Generator) -> float:
    """Independent token gradient importance sampling, adaptive as in Wu & Hilton: the budget is spent in 16
    batches; each batch samples the tilted proposal q_k, is weighted by P(x)/q_k(x) (so each batch is unbiased given
    the ones before), and its mean gradient of the target logit joins an exponential moving average (decay 0.9) of
    the gradients, which tilts the next batch. The first batch is D itself."""
    base = np.tile(config.token_probabilities(), (config.length, 1))
    batch = max(1, config.budget // ITGIS_BATCHES)
    average = np.zeros_like(base)  # the moving sum of mean gradients (T, V)
    positions = np.arange(config.length)
    weighted = []
    for k in range(config.budget // batch):
        # The moving sum's weights add up to (1 − decay^k)/(1 − decay): dividing by that makes it an average.
        scale = config.itgis_temperature * (1 - ITGIS_DECAY**k) / (1 - ITGIS_DECAY) if k else 1.0
        proposal = tilted(base, average, scale)
        tokens = sample(proposal, batch, rng)
        log_weights = (np.log(base[positions, tokens]) - np.log(proposal[positions, tokens])).sum(axis=1)
        _, gradient, hits = scored(model, tokens, target, config.vocab)
        weighted.append(hits * np.exp(log_weights))
        average = ITGIS_DECAY * average + gradient.mean(axis=0)
    return float(np.mean(np.concatenate(weighted)))


def mhis_log_acceptance(
    probabilities: NDArray[np.float64],
    old: NDArray[np.int64],
    new: NDArray[np.int64],
    score: tuple[NDArray[np.float64], NDArray[np.float64]],
    gradient: tuple[NDArray[np.float64], NDArray[np.float64]],
    temperature: float,
) -> NDArray[np.float64]:
    """log of the Metropolis–Hastings ratio for changing each chain's token at one position from `old` to `new`,
    with target π(x) ∝ D(x)·exp(s(x)/T) and the gradient-informed proposal φ(v | x) ∝ P(v)·exp(∂s/∂x_v / T) at that
    position. `score` is s `(B,)` and `gradient` its gradient at the position `(B, V)`, each (current, proposed)."""
    rows = np.arange(len(old))
    forward = tilted(probabilities[None, :], gradient[0], temperature)  # φ(· | current) (B, V)
    backward = tilted(probabilities[None, :], gradient[1], temperature)  # φ(· | proposed) (B, V)
    log_p = np.log(probabilities)
    return np.asarray(
        (score[1] - score[0]) / temperature
        + log_p[new]
        - log_p[old]
        + np.log(backward[rows, old])
        - np.log(forward[rows, new]),
        dtype=np.float64,
    )


def mhis(model: Any, config: RareConfig, target: int, rng: np.random.Generator) -> float:
    """Metropolis–Hastings importance sampling (Wu & Hilton): `MHIS_CHAINS` chains on π ∝ D·exp(s/T), s the target
    logit; each step picks a position per chain and proposes a token from P(v)·exp(gradient/T) there, accepted by
    the Metropolis–Hastings rule (the proposal is not symmetric: the ratio includes it). After the burn-in (a
    quarter of the steps) the estimate is the self-normalized E_π[1{argmax = t}·exp(−s/T)] / E_π[exp(−s/T)]:
    since E_π[exp(−s/T)] = 1/Z, no separate estimate of Z under D is needed. Every state is one model call."""
    probabilities = config.token_probabilities()
    temperature = config.mhis_temperature
    chains = min(MHIS_CHAINS, config.budget)
    steps = max(2, config.budget // chains)
    rows = np.arange(chains)
    current = sample(np.tile(probabilities, (config.length, 1)), chains, rng)
    score, gradient, hit = scored(model, current, target, config.vocab)
    kept_score, kept_hit = [], []
    for step in range(1, steps):
        position = rng.integers(0, config.length, size=chains)
        proposal = tilted(probabilities[None, :], gradient[rows, position], temperature)  # (chains, V)
        cumulative = proposal.cumsum(axis=1)
        new = (cumulative > rng.random((chains, 1)) * cumulative[:, -1:]).argmax(axis=1)
        proposed = current.copy()
        proposed[rows, position] = new
        score_new, gradient_new, hit_new = scored(model, proposed, target, config.vocab)
        log_ratio = mhis_log_acceptance(
            probabilities,
            current[rows, position],
            new,
            (score, score_new),
            (gradient[rows, position], gradient_new[rows, position]),
            temperature,
        )
        accept = np.log(rng.random(chains)) < log_ratio
        current[accept], score[accept], gradient[accept], hit[accept] = (
            proposed[accept],
            score_new[accept],
            gradient_new[accept],
            hit_new[accept],
        )
        if step >= steps // 4:
            kept_score.append(score.copy())
            kept_hit.append(hit.copy())
    s, hits = np.concatenate(kept_score), np.concatenate(kept_hit)
    weights = np.exp(-(s - s.min()) / temperature)  # at most 1, so no overflow; the shift cancels in the ratio
    return float(np.sum(hits * weights) / np.sum(weights))


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
    """(a, b) minimizing the mean Itakura–Saito loss of exp(a·log q + b) against the truth; estimates positive."""
    from scipy.optimize import minimize

    log_q = np.log(estimates)

    def loss(ab: NDArray[np.float64]) -> float:
        log_fitted = ab[0] * log_q + ab[1]
        log_ratio = np.log(truth) - log_fitted
        return float(np.mean(np.exp(np.clip(log_ratio, -700, 700)) - log_ratio - 1))

    start = np.array([1.0, float(np.mean(np.log(truth) - log_q))])
    found = minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 4000})
    return float(found.x[0]), float(found.x[1])


def fitted_estimates(truth: NDArray[np.float64], estimates: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each estimate after the fit: positive ones by the affine fit in log space, exp(a·log q + b), fitted to the
    positive ones; every zero estimate by one constant, the mean truth of the zero-estimate targets (the constant
    that minimizes their Itakura–Saito loss). A zero says nothing about scale: mapped through log q (at any floor) it
    would pull the slope a of the whole fit toward 0."""
    found = np.empty_like(truth)
    positive = estimates > 0
    if positive.any():
        a, b = affine_fit(truth[positive], estimates[positive])
        found[positive] = np.exp(a * np.log(estimates[positive]) + b)
    if not positive.all():
        found[~positive] = truth[~positive].mean()
    return found


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
        row: dict[str, Any] = {"seed": seed, "target": int(target), "truth": float(truth[target])}
        if subject is not None:
            row["token"] = names[int(target)]
        else:
            row["learned"] = learned
        for index, name in enumerate(ESTIMATORS):  # each its own samples: changing one leaves the others
            row[name] = ESTIMATE[name](model, config, int(target), np.random.default_rng([seed, int(target), index]))
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
    losses_of: dict[str, NDArray[np.float64]] = {}
    for name in ESTIMATORS:
        estimates = np.array([r[name] for r in rows])
        fitted = fitted_estimates(truth, estimates)
        losses = losses_of[name] = itakura_saito(truth, fitted)
        for row, fit_value, loss in zip(rows, fitted, losses, strict=True):
            row[f"{name}_fitted"], row[f"{name}_loss"] = float(fit_value), float(loss)
        summary[f"{name} IS loss"] = t_interval(losses.tolist())
        summary[f"{name} zero estimates"] = t_interval([float(r[name] == 0) for r in rows], bounds=(0, 1))
        summary[f"{name} within 10x"] = t_interval(
            [float(r[name] > 0 and abs(np.log10(r[name] / r["truth"])) <= 1) for r in rows], bounds=(0, 1)
        )
    for name in ESTIMATORS[1:]:  # paired over targets: the targets' spread in difficulty cancels
        summary[f"{name} minus naive IS loss"] = t_interval((losses_of[name] - losses_of["naive"]).tolist())
    return LabResult.of(
        "rare",
        config,
        clock,
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
