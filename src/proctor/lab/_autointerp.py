"""Automated interpretability (Bills et al. 2023; EleutherAI's delphi) on a tiny transformer trained here on a
synthetic language with planted features.

The language: sentences of `length` words, each either a filler word or a word of one of four planted
**features** (animals, colours, numbers, places; six words each), the category of each word drawn from a fixed
Markov chain (a colour is mostly followed by an animal, a number by an animal or a place, …) and the word uniformly
within it. Per seed, a one-layer transformer (causal attention, then an MLP of `neurons` ReLU units:
`mlp.hidden`) is trained on next-word prediction. Each of the `features` most variable MLP units is then:

1. **explained**: the explainer model sees its `examples` top-activating sentences, with the words where it fires
   (above half its maximum) marked `<<like this>>`, and writes one line of explanation;
2. **simulated** (Bills et al.'s score): the simulator model, given only the explanation, predicts the unit's
   activation (0–10) on each word of 5 top-activating and 5 random held-out sentences; the score is the Pearson
   correlation of predicted with true activations over all those words;
3. **detection** (delphi): shown 10 activating and 10 non-activating held-out sentences one at a time, the scorer
   (the simulator model) says whether the unit fires anywhere in each; the score is its accuracy;
4. **fuzzing** (delphi): shown 10 activating sentences with the firing words marked and 10 with as many words
   marked at random, the scorer says whether the marks are the ones the explanation describes; accuracy;
5. **named**: whether the explanation names the unit's **planted feature** — the category whose membership
   correlates most with the unit's activation — by its name or by at least half its words.

**On your own model** (`subject: hf/<folder>`): nothing is trained; the units are the MLP neurons (`site: mlp`,
the input of the MLP's output projection) or the residual dimensions (`site: residual`, the block's output) of
layer `layer` of a local Hugging Face causal LM, read with forward hooks on `sentences`/5 sentences per seed: of the
synthetic language (joined by spaces; a word's activation is the maximum over its tokens), or, with `text`, windows
of `length` consecutive words of a text file. A text file has no planted features, so `feature`, `purity` and
`named` are left out there.

Both models are proctor models (`provider/model`); `scripted/interpreter` (the default) answers by fixed rules
offline. A reply that cannot be read is an error naming the model, the unit and the prompt.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from proctor.lab._common import Clock, LabError, LabResult, cached_train, one_thread, t_interval

FEATURES: dict[str, list[str]] = {
    "animals": ["cat", "dog", "horse", "cow", "sheep", "goat"],
    "colours": ["red", "blue", "green", "yellow", "black", "white"],
    "numbers": ["one", "two", "three", "four", "five", "six"],
    "places": ["city", "river", "forest", "mountain", "village", "lake"],
}
FILLER = ["the", "a", "of", "and", "to", "in", "is", "was", "it", "on", "with", "saw"]
CATEGORIES = ["filler", *FEATURES]
WORDS = [*FILLER, *(w for words in FEATURES.values() for w in words)]
# Category transitions (rows: from filler, animals, colours, numbers, places).
TRANSITIONS = np.array(
    [
        [0.40, 0.15, 0.15, 0.15, 0.15],
        [0.70, 0.05, 0.05, 0.05, 0.15],
        [0.20, 0.70, 0.00, 0.00, 0.10],
        [0.10, 0.50, 0.00, 0.00, 0.40],
        [0.80, 0.05, 0.05, 0.05, 0.05],
    ]
)


class AutoInterpConfig(BaseModel):
    """The automated interpretability experiment's settings."""

    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(default=3, ge=1, le=100)
    """Seeds 0 … seeds−1: each a new corpus and model."""
    length: int = Field(default=12, ge=4, le=64)
    """Words per sentence."""
    sentences: int = Field(default=3000, ge=200)
    """Training sentences (and a fifth as many held out)."""
    width: int = Field(default=32, ge=4, le=512)
    """The transformer's width."""
    neurons: int = Field(default=32, ge=2, le=1024)
    """MLP units."""
    steps: int = Field(default=600, ge=1, le=100_000)
    """Training batches (of 64)."""
    features: int = Field(default=8, ge=1, le=1024)
    """Units explained per seed (the most variable ones)."""
    examples: int = Field(default=10, ge=1, le=100)
    """Top-activating sentences shown to the explainer."""
    explainer: str = "scripted/interpreter"
    """The explainer model, provider/model."""
    simulator: str = "scripted/interpreter"
    """The simulator and scorer model, provider/model."""
    concurrency: int = Field(default=8, ge=1, le=256)
    """Model calls in flight at once."""
    model_options: dict[str, dict[str, Any]] = {}
    """Options per model name, passed to its provider (e.g. `{"openai/m": {"base_url": ...}}`)."""
    subject: str | None = None
    """Interpret this local Hugging Face causal LM, `hf/<folder>`, instead of training one (width, neurons and
    steps then do not apply)."""
    layer: int = 0
    """With a subject: the layer whose units are read (negative counts from the last)."""
    site: Literal["mlp", "residual"] = "mlp"
    """With a subject: its MLP neurons, or its residual stream's dimensions after the layer."""
    text: Path | None = None
    """With a subject: a UTF-8 text file whose windows of `length` words are the sentences (default: the synthetic
    language)."""
    device: str = "cpu"
    """With a subject: the torch device it runs on."""

    @model_validator(mode="after")
    def _subject_only(self) -> AutoInterpConfig:
        if self.subject is None and self.text is not None:
            raise ValueError("a text corpus needs a subject (hf/<folder>): the lab's own model reads only its language")
        return self

    @classmethod
    def tiny(cls) -> AutoInterpConfig:
        """A few seconds' version for tests."""
        return cls(seeds=2, sentences=600, steps=200, features=4)


def corpus(n: int, length: int, rng: np.random.Generator) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """`n` sentences of word ids `(n, length)` and their categories `(n, length)` (0: filler)."""
    categories = np.empty((n, length), dtype=np.int64)
    categories[:, 0] = rng.choice(len(CATEGORIES), size=n, p=TRANSITIONS[0])
    for t in range(1, length):
        cumulative = TRANSITIONS[categories[:, t - 1]].cumsum(axis=1)
        categories[:, t] = (rng.random((n, 1)) > cumulative).sum(axis=1)
    offsets = np.array([0, *np.cumsum([len(FILLER), *(len(w) for w in FEATURES.values())])[:-1]])
    sizes = np.array([len(FILLER), *(len(w) for w in FEATURES.values())])
    words = offsets[categories] + (rng.random((n, length)) * sizes[categories]).astype(np.int64)
    return words, categories


def build_model(config: AutoInterpConfig) -> Any:
    """A one-layer causal transformer whose MLP units are readable as `mlp.hidden`."""
    import torch
    from torch import nn

    class Block(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(len(WORDS), config.width)
            self.position = nn.Parameter(torch.randn(config.length, config.width) * 0.1)
            self.attention = nn.MultiheadAttention(config.width, 2, batch_first=True)
            self.norm = nn.LayerNorm(config.width)
            self.up = nn.Linear(config.width, config.neurons)
            self.down = nn.Linear(config.neurons, config.width)
            self.out = nn.Linear(config.width, len(WORDS))

        def hidden(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(B, T) -> the residual after attention (B, T, C) and `mlp.hidden` (B, T, neurons)."""
            x = self.embed(words) + self.position[: words.shape[1]]
            mask = torch.triu(torch.ones(words.shape[1], words.shape[1], dtype=torch.bool), diagonal=1)
            attended, _ = self.attention(x, x, x, attn_mask=mask, need_weights=False)
            x = x + attended
            return x, torch.relu(self.up(self.norm(x)))

        def forward(self, words: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, V)
            x, units = self.hidden(words)
            return self.out(x + self.down(units))

    return Block()


def train(model: Any, words: NDArray[np.int64], config: AutoInterpConfig, seed: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(seed)
    data = torch.from_numpy(words)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(config.steps):
        batch = data[torch.randint(0, len(data), (64,), generator=generator)]
        logits = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(WORDS)), batch[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


def unit_activations(model: Any, words: NDArray[np.int64]) -> NDArray[np.float64]:
    """`mlp.hidden` on every word `(N, T, neurons)`."""
    import torch

    with torch.no_grad():
        return np.asarray(model.hidden(torch.from_numpy(words))[1].double().numpy(), dtype=np.float64)


def show(sentence: NDArray[np.int64], marked: NDArray[np.bool_], vocabulary: list[str] = WORDS) -> str:
    return " ".join(f"<<{vocabulary[w]}>>" if m else vocabulary[w] for w, m in zip(sentence, marked, strict=True))


def explain_prompt(examples: list[str]) -> str:
    return (
        "TASK: explain\nWe study a neuron of a language model. Below are sentences where it activates most; the words "
        "where it fires are marked <<like this>>. Say in one line what the neuron responds to, as "
        "'Explanation: ...'.\n\n" + "\n".join(f"Example {i + 1}: {e}" for i, e in enumerate(examples))
    )


def simulate_prompt(explanation: str, sentence: list[str]) -> str:
    return (
        f"TASK: simulate\nA neuron of a language model is explained as follows.\nExplanation: {explanation}\n"
        f"Predict its activation from 0 (none) to 10 (most) on each word of the text below. Reply with exactly "
        f"{len(sentence)} lines, one integer per line, in the order of the words.\nText: {' '.join(sentence)}"
    )


def detect_prompt(explanation: str, sentence: list[str]) -> str:
    return (
        f"TASK: detect\nA neuron of a language model is explained as follows.\nExplanation: {explanation}\n"
        f"Does the neuron fire anywhere in the text below? Answer yes or no.\nText: {' '.join(sentence)}"
    )


def fuzz_prompt(explanation: str, marked: str) -> str:
    return (
        f"TASK: fuzz\nA neuron of a language model is explained as follows.\nExplanation: {explanation}\n"
        "In the text below some words are marked <<like this>>. Are the marked words the ones where this neuron "
        f"fires? Answer yes or no.\nText: {marked}"
    )


def read_explanation(reply: str) -> str:
    found = re.search(r"Explanation:\s*(.+)", reply)
    text = (found.group(1) if found else reply).strip().splitlines()
    return text[0].strip() if text else ""


def read_numbers(reply: str, count: int) -> list[float]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", reply)]
    if len(numbers) != count:
        raise ValueError(f"expected {count} numbers, found {len(numbers)}")
    return numbers


def read_yes_no(reply: str) -> bool:
    first = re.match(r"\W*(yes|no)\b", reply.strip().lower())
    if first is None:
        raise ValueError("expected yes or no")
    return first.group(1) == "yes"


async def ask(model: Any, prompt: str, limit: asyncio.Semaphore) -> str:
    from proctor.models import GenerateConfig, Message

    async with limit:
        generation = await model.generate([Message(role="user", content=prompt)], GenerateConfig(temperature=0.0))
    return str(generation.completions[0].text)


def named(explanation: str, feature: str) -> bool:
    """The explanation names `feature` by its name (or its singular) or by at least half its words."""
    said = set(re.findall(r"[a-z]+", explanation.lower()))
    names = {feature, feature.rstrip("s")} | ({"colors", "color"} if feature == "colours" else set())
    return bool(names & said) or len(said & set(FEATURES[feature])) * 2 >= len(FEATURES[feature])


async def interpret_unit(
    unit: int,
    acts: NDArray[np.float64],
    words: NDArray[np.int64],
    categories: NDArray[np.int64] | None,
    models: tuple[Any, Any],
    config: AutoInterpConfig,
    rng: np.random.Generator,
    limit: asyncio.Semaphore,
    vocabulary: list[str] = WORDS,
) -> dict[str, Any]:
    """Explain, simulate, detect and fuzz one unit; `acts` `(N, T)` on held-out sentences `words` `(N, T)` (ids
    into `vocabulary`); the planted feature is scored when `categories` are known."""
    explainer, simulator = models
    peak = acts.max(axis=1)
    order = np.argsort(-peak, kind="stable")
    top = float(acts.max()) or 1.0
    fires = acts > 0.5 * top
    shown = order[: config.examples]
    explanation = read_explanation(
        await ask(explainer, explain_prompt([show(words[i], fires[i], vocabulary) for i in shown]), limit)
    )

    def reading(model: Any, prompt: str, read: Any, *args: Any) -> Any:
        async def go() -> Any:
            reply = await ask(model, prompt, limit)
            try:
                return read(reply, *args)
            except ValueError as error:
                first = reply.strip().splitlines()[0][:80] if reply.strip() else "(empty)"
                raise LabError(
                    f"{model.name}: unit {unit}: {error} in the reply {first!r} to a {prompt[6:14].strip()} prompt"
                ) from None

        return go()

    held = order[config.examples :]
    active = held[peak[held] > 0.5 * top][:10]
    silent = order[::-1][:10]
    randoms = rng.choice(len(words), size=5, replace=False)
    simulated = np.concatenate([active[:5], randoms])
    sentences = [[vocabulary[w] for w in words[i]] for i in range(len(words))]
    predictions = await asyncio.gather(
        *(
            reading(simulator, simulate_prompt(explanation, sentences[i]), read_numbers, config.length)
            for i in simulated
        )
    )
    predicted, true = np.concatenate(predictions), acts[simulated].reshape(-1)
    simulation = float(np.corrcoef(predicted, true)[0, 1]) if predicted.std() > 0 and true.std() > 0 else 0.0

    detect_items = [(i, True) for i in active] + [(i, False) for i in silent]
    said = await asyncio.gather(
        *(reading(simulator, detect_prompt(explanation, sentences[i]), read_yes_no) for i, _ in detect_items)
    )
    detection = float(np.mean([s == truth for s, (_, truth) in zip(said, detect_items, strict=True)]))

    fuzz_items = []
    for i in active:
        fuzz_items.append((show(words[i], fires[i], vocabulary), True))
        decoy = np.zeros(config.length, dtype=bool)
        decoy[rng.choice(config.length, size=max(1, int(fires[i].sum())), replace=False)] = True
        fuzz_items.append((show(words[i], decoy, vocabulary), bool((decoy == fires[i]).all())))
    judged = await asyncio.gather(
        *(reading(simulator, fuzz_prompt(explanation, text), read_yes_no) for text, _ in fuzz_items)
    )
    fuzzing = (
        float(np.mean([j == truth for j, (_, truth) in zip(judged, fuzz_items, strict=True)])) if fuzz_items else 0.0
    )

    scores = {"simulation": simulation, "detection": detection, "fuzzing": fuzzing}
    if categories is None:
        return {"unit": unit, "explanation": explanation, **scores}
    correlations = []
    for k in range(1, len(FEATURES) + 1):
        member = (categories == k).reshape(-1).astype(float)
        flat = acts.reshape(-1)
        correlations.append(float(np.corrcoef(member, flat)[0, 1]) if flat.std() > 0 else 0.0)
    best = int(np.argmax(correlations))
    feature = list(FEATURES)[best]
    return {
        "unit": unit,
        "explanation": explanation,
        "feature": feature,
        "purity": correlations[best],
        "simulation": simulation,
        "detection": detection,
        "fuzzing": fuzzing,
        "named": float(named(explanation, feature)),
    }


def text_corpus(path: Path, length: int) -> tuple[NDArray[np.int64], list[str]]:
    """Every window of `length` consecutive words of a text file, as ids `(N, length)` into its sorted words.

    Raises:
        LabError: the file is unreadable or has too few words.
    """
    try:
        words = path.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as error:
        raise LabError(f"text: {path}: {error}") from None
    count = len(words) // length
    if count < 20:
        raise LabError(f"text: {path}: {len(words)} words make {count} sentences of {length}; at least 20 are needed")
    vocabulary = sorted(set(words))
    index = {w: i for i, w in enumerate(vocabulary)}
    ids = np.array([index[w] for w in words[: count * length]], dtype=np.int64).reshape(count, length)
    return ids, vocabulary


def subject_units(
    config: AutoInterpConfig, seed: int, loaded: Any
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.int64] | None, list[str]]:
    """A real model's unit activations `(N, T, units)` on this seed's sentences, their word ids, categories (None
    for a text file) and vocabulary."""
    from proctor.lab._subject import word_activations

    rng = np.random.default_rng(seed)
    n = config.sentences // 5
    categories: NDArray[np.int64] | None
    if config.text is None:
        words, categories = corpus(n, config.length, rng)
        vocabulary = WORDS
    else:
        words, vocabulary = text_corpus(config.text, config.length)
        words, categories = words[rng.permutation(len(words))[:n]], None
    sentences = [[vocabulary[w] for w in row] for row in words]
    return word_activations(loaded, sentences, config.layer, config.site), words, categories, vocabulary


def run_seed(
    config: AutoInterpConfig, seed: int, cache: Path | None, models: tuple[Any, Any], loaded: Any = None
) -> list[dict[str, Any]]:
    import torch

    rng = np.random.default_rng(seed)
    held_categories: NDArray[np.int64] | None
    if loaded is not None:
        acts, held_words, held_categories, vocabulary = subject_units(config, seed, loaded)
    else:
        words, _ = corpus(config.sentences, config.length + 1, rng)
        held_words, held_categories = corpus(config.sentences // 5, config.length, rng)
        torch.manual_seed(seed)
        spec = {
            "model": "autointerp",
            **config.model_dump(include={"length", "sentences", "width", "neurons", "steps"}),
            "seed": seed,
        }
        model = cached_train(spec, build_model(config), lambda m: train(m, words, config, seed), cache)
        acts, vocabulary = unit_activations(model, held_words), WORDS  # (N, T, neurons)
    units = np.argsort(-acts.reshape(-1, acts.shape[-1]).var(axis=0), kind="stable")[: config.features]

    async def every() -> list[dict[str, Any]]:
        limit = asyncio.Semaphore(config.concurrency)
        return list(
            await asyncio.gather(
                *(
                    interpret_unit(
                        int(u),
                        acts[:, :, u],
                        held_words,
                        held_categories,
                        models,
                        config,
                        np.random.default_rng([seed, int(u)]),
                        limit,
                        vocabulary,
                    )
                    for u in units
                )
            )
        )

    return [{"seed": seed, **row} for row in asyncio.run(every())]


def run_autointerp(config: AutoInterpConfig, *, cache: Path | None = None) -> LabResult:
    """Train a model per seed and interpret its most variable units with the configured models.

    Raises:
        LabError: torch is missing, or a model's reply cannot be read.
        ModelError: a model cannot be built or called.
    """
    from proctor.models import get_model

    options = config.model_options
    models = (
        get_model(config.explainer, **options.get(config.explainer, {})),
        get_model(config.simulator, **options.get(config.simulator, {})),
    )
    clock = Clock()
    with one_thread():
        loaded = None
        if config.subject is not None:
            from proctor.lab._subject import load_subject

            loaded = load_subject(config.subject, config.device)
        rows = [row for seed in range(config.seeds) for row in run_seed(config, seed, cache, models, loaded)]
    planted = "named" in rows[0]
    summary = {
        name: t_interval([r[name] for r in rows], bounds=(-1, 1) if name == "simulation" else (0, 1))
        for name in ("simulation", "detection", "fuzzing", *(["named"] if planted else []))
    }
    if planted:
        summary["purity"] = t_interval([r["purity"] for r in rows], bounds=(-1, 1))
    where = f"layer {config.layer} {config.site} of {config.subject}" if config.subject else "models trained here"
    corpus_note = f"sentences from {config.text}" if config.text else "sentences of the synthetic language"
    notes = [f"{len(rows)} units over {config.seeds} seeds; the intervals are over units", f"{where}; {corpus_note}"]
    return LabResult.of("autointerp", config, clock, rows=rows, summary=summary, notes=notes)


def plot_autointerp(result: LabResult, folder: Path) -> list[str]:
    """`scores.png`: each unit's simulation score against its purity, coloured by whether it was named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4.5))
    if result.rows and "named" not in result.rows[0]:  # a text corpus: no planted features
        axis.scatter([r["detection"] for r in result.rows], [r["simulation"] for r in result.rows], c="#2a9d8f")
        axis.set_xlabel("detection accuracy")
    else:
        for flag, colour, label in ((1.0, "#2a9d8f", "named its feature"), (0.0, "#e76f51", "did not")):
            chosen = [r for r in result.rows if r["named"] == flag]
            axis.scatter([r["purity"] for r in chosen], [r["simulation"] for r in chosen], c=colour, label=label)
        axis.legend()
        axis.set_xlabel("purity (correlation with the planted feature)")
    axis.set_ylabel("simulation score (correlation)")
    axis.set_title(f"automated interpretability, {len(result.rows)} units")
    figure.tight_layout()
    figure.savefig(folder / "scores.png", dpi=100)
    plt.close(figure)
    return ["scores.png"]
