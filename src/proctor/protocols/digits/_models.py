"""The configuration and results of the digits debate reproduction."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proctor.analysis import Estimate

MIN_NONZERO_PIXELS = 16
"""The fewest nonzero pixels of any image in scikit-learn's digits: no debate can reveal more."""

PAPER_MNIST: dict[int, tuple[float, float]] = {4: (0.482, 0.852), 6: (0.594, 0.889)}
"""Irving, Christiano & Amodei (2018), MNIST: pixels -> (judge alone, judge after debate) accuracy."""


class DigitsDebateError(ValueError):
    """The digits debate cannot run with the settings given."""


class DigitsConfig(BaseModel):
    """Settings of the digits debate reproduction; saved with results, enough to reproduce them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pixels: list[int] = Field(default_factory=lambda: [4, 6], min_length=1)
    """Pixels revealed in total, one judge and one debate per entry (the paper used 6 and 4)."""
    images: int = Field(default=300, ge=1)
    """Test images debated (each against all nine wrong labels)."""
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    """Seed of the split, the judge's training and the choice of test images."""
    first: Literal["liar", "honest"] = "liar"
    """Who reveals the first pixel in the reported `debate` figure (both orders are always measured)."""
    candidates: int = Field(default=5, ge=1, le=10)
    """Candidate pixels per debater (`--search`): the search considers the `candidates` nonzero pixels that most
    favour each side's label by a class-mean heuristic, so the branching factor is at most twice this. A wider pool
    (up to 10 per debater, 20 pixels: more than the 16 nonzero pixels of the sparsest digit, whose pool is then all
    its nonzero pixels) gives both debaters more moves to choose from, at the cost of C(2·candidates, k) judge calls
    per game."""
    masks_per_image: int = Field(default=20, ge=1)
    """Random masks per training image when training the judge."""
    hidden: int = Field(default=128, ge=1)
    """Hidden units of the judge's MLP."""
    epochs: int = Field(default=20, ge=1)
    """Training epochs of the judge."""
    alone_masks: int = Field(default=10, ge=1)
    """Random masks per test image when measuring the judge alone."""
    test_fraction: float = Field(default=1 / 3, gt=0.0, lt=1.0)
    """Fraction of the 1,797 digits held out for debates; the judge trains on the rest."""

    @model_validator(mode="after")
    def _check_pixels(self) -> DigitsConfig:
        limit = min(MIN_NONZERO_PIXELS, 2 * self.candidates)
        for k in self.pixels:
            if not 1 <= k <= limit:
                raise ValueError(
                    f"cannot reveal {k} pixels with {self.candidates} candidates per debater: use between 1 "
                    f"and {limit} pixels, or widen the search with --search (at most 10 per debater; every digit has "
                    ">= 16 nonzero pixels)"
                )
        if len(set(self.pixels)) != len(self.pixels):
            raise ValueError(f"pixels {self.pixels} repeats a value: give each pixel count once")
        return self


class DigitsResult(BaseModel):
    """Judge accuracy without and with debate at one number of revealed pixels."""

    model_config = ConfigDict(frozen=True)

    pixels: int
    """Pixels revealed to the judge in total."""
    judge_alone: float
    """Accuracy of the judge from `pixels` random nonzero pixels (averaged over several random masks)."""
    debate: float
    """Fraction of images on which the honest debater beats every one of the nine wrong labels, with the
    first mover set in the config."""
    n: int
    """Test images debated."""
    first: Literal["liar", "honest"]
    """Who moved first in `debate` and `honest_win_rate`."""
    debate_liar_first: float
    """`debate` with the liar revealing the first pixel."""
    debate_honest_first: float
    """`debate` with the honest debater revealing the first pixel."""
    honest_win_rate: float
    """Fraction of single (image, wrong label) debates the honest debater wins, with the configured order."""
    paper_judge_alone: float | None
    """The paper's MNIST judge-alone accuracy at this pixel count, where it reported one."""
    paper_debate: float | None
    """The paper's MNIST accuracy after debate at this pixel count, where it reported one."""
    intervals: dict[str, Estimate] = Field(default_factory=dict)
    """95% Wilson intervals of `judge_alone`, `debate`, `debate_liar_first`, `debate_honest_first` and
    `honest_win_rate`; the first and last pool several outcomes per image (masks, wrong labels), so they are taken
    at the effective size of outcomes clustered by image."""
