"""The configuration of an oversight experiment: which protocols, which models, how many rounds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from proctor.models import redact


class OversightConfig(BaseModel):
    """How an oversight experiment runs. Saved with every run it makes.

    Example:
        OversightConfig(protocols=["naive", "debate"], debater="openai/gpt-4o", judges=["openai/gpt-4o-mini"])
    """

    model_config = ConfigDict(extra="forbid")

    protocols: list[str] = Field(default_factory=lambda: ["naive", "consultancy", "debate"])
    """Protocols to compare on the same questions: naive, oracle, consultancy, open_consultancy, critique,
    debate, open_debate, interactive-debate, market-making, decomposition."""
    debater: str = "scripted/baseline"
    """The stronger model: debaters, consultants and critics."""
    opponents: list[str] = Field(default_factory=list)
    """Other debater models for cross-play (debate): every ordered pair of `debater` and these is played."""
    tournament: Literal["round-robin", "swiss"] = "round-robin"
    """Cross-play debates: every ordered pair of debaters (`round-robin`), or a Swiss tournament, in which
    debaters meet opponents of similar score for `swiss_rounds` rounds (for many debaters; self-play is still
    played by every debater)."""
    swiss_rounds: int | None = Field(default=None, ge=1)
    """Rounds of a Swiss tournament (None: ceil(log2(debaters)))."""
    judges: list[str] = Field(default_factory=lambda: ["scripted/baseline"])
    """The weaker judge models (several: accuracy against the judge–debater strength gap)."""
    judge_prompt: Literal["default", "skeptical", "brief"] = "default"
    """The judge's prompt variant: `default`; `skeptical` (speakers may lie, only verified quotes count as evidence);
    `brief` (answer without reasoning)."""
    few_shot: int = Field(default=0, ge=0, le=8)
    """Solved examples shown to the judge: this many other questions of the dataset with their correct answers."""
    votes: int = Field(default=1, ge=1, le=32)
    """Judge verdicts sampled (at temperature 1 when more than one); the majority answer is the verdict."""
    verdict_logprobs: bool = False
    """The judge answers with one letter and the verdict is its probability of each answer, from the letters'
    log-probabilities where the provider returns them (else the share of sampled replies); the confidence is that
    of the answer chosen."""
    preference: str | None = None
    """The model that scores best-of-N candidates: its probability that the judge picks the speaker's answer,
    reading the transcript with the candidate (None: the first judge)."""
    model_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Provider options per model name (base_url, api_key, max_concurrency, …). Keys and other secrets are used,
    never saved: a saved config holds `"<redacted>"` instead."""
    rounds: int = Field(default=3, ge=1)
    """Rounds of argument (each debater or the consultant speaks once a round); in interactive debate, the most
    rounds, as the judge may end it sooner."""
    best_of: int = Field(default=1, ge=1)
    """Candidates per debater or consultant turn; the one the preference model finds most likely to win the judge
    over is used (best-of-N)."""
    refine: int = Field(default=0, ge=0, le=16)
    """Critique-and-refine (Khan et al. 2024): each debater or consultant turn is first a draft; the critic writes
    this many critiques of it (the most helpful, by the preference model, is used when there are several), and
    the speaker rewrites its turn with it. 0: off."""
    critic: str | None = None
    """The model that critiques drafts under `refine` (None: the debater)."""
    word_limit: int = Field(default=150, ge=10)
    """Most words per turn; longer turns are cut and marked so."""
    simultaneous: bool = False
    """Debate: both debaters argue each round without seeing the other's argument of that round."""
    cross_examination: bool = False
    """Debate: after the last round, each debater questions a fork of its opponent at the opponent's first turn."""
    judge_questions: bool = False
    """Consultancy: the judge asks the consultant a question between rounds."""
    market: str | None = None
    """Market making: the market model, which predicts the judge's final answer each round (None: the debater; the
    debater is the adversary)."""
    depth: int = Field(default=1, ge=1, le=4)
    """Decomposition: levels of sub-questions (1: the judge splits the question once and an untrusted model answers
    each sub-question; 2: each sub-question is itself split and judged, while the budget lasts)."""
    budget: int = Field(default=4, ge=1, le=32)
    """Decomposition: the most sub-questions asked over the whole tree of one case."""
    temperature: float | None = 0.7
    """Sampling temperature of debaters, consultants and critics."""
    max_tokens: int = 600
    """Most tokens per turn."""
    concurrency: int = Field(default=64, ge=1)
    """Questions in flight at once."""
    seed: int = 0
    """Seed for the choice of distractors and balanced assignments."""

    @field_serializer("model_options")
    def _without_secrets(self, options: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        # Every run of the experiment saves this config: the keys stay in memory only.
        return {name: redact(given) for name, given in options.items()}
