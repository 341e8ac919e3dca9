"""A capability report: the results grid, the capability profile and, when given, threshold verdicts, computed
once and shown as a table, JSON, PNG plots or one self-contained HTML file."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from proctor.analysis._filters import RunFilter
from proctor.analysis._grid import ProfileRow, ResultsGrid, capability_profile, results_grid
from proctor.analysis._thresholds import ThresholdResult, ThresholdsFile, evaluate_thresholds
from proctor.store import Store


class Report(BaseModel):
    """Everything `proctor report` shows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generated_at: datetime
    """When the report was computed (UTC)."""
    filter: str
    """The runs it reads (empty: every run)."""
    solved_at: float
    """A run is solved when its score is at least this."""
    confidence: float
    """Confidence level of every interval."""
    grid: ResultsGrid
    """Task × model × agent, and the per-model summary."""
    profile: list[ProfileRow]
    """Success per task tag and step tag, per model and agent."""
    thresholds: list[ThresholdResult] = Field(default_factory=list)
    """Verdicts on the thresholds given, if any."""

    @property
    def crossed(self) -> list[ThresholdResult]:
        """The thresholds some model crossed."""
        return [t for t in self.thresholds if t.crossed]


def build_report(
    store: Store,
    runs: RunFilter | None = None,
    *,
    solved_at: float = 1.0,
    confidence: float = 0.95,
    thresholds: ThresholdsFile | None = None,
) -> Report:
    """Compute a report over the runs `runs` selects.

    Args:
        store: The store to read.
        runs: Which runs (default: all).
        solved_at: A run is solved when its score is at least this.
        confidence: Confidence level of the intervals.
        thresholds: Thresholds to give verdicts on (each measured on its own runs within `runs`).

    Raises:
        AnalysisError: A bad `solved_at`, or a threshold whose runs match nothing.

    Example:
        report = build_report(Store(), RunFilter.parse("suite=examples"))
        print(report.grid.models[0].success)
    """
    runs = runs or RunFilter()
    grid = results_grid(store, runs, solved_at=solved_at, confidence=confidence)
    profile = capability_profile(store, runs, solved_at=solved_at, confidence=confidence, grid=grid)
    verdicts = evaluate_thresholds(store, thresholds, runs) if thresholds is not None else []
    return Report(
        generated_at=datetime.now(UTC),
        filter=str(runs),
        solved_at=solved_at,
        confidence=confidence,
        grid=grid,
        profile=profile,
        thresholds=verdicts,
    )
