"""Reading an audit back: the judge's scores per seed and per dimension, and how many branches each seed took."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pydantic import BaseModel

from proctor.analysis import mean_ci
from proctor.redteam._config import RedTeamError
from proctor.store import RunStatus, Store


class SeedRow(BaseModel):
    """One seed instruction's audit."""

    seed: str
    """The seed instruction."""
    seed_index: int
    """Its position in the config."""
    run_id: str
    """The audit's first run."""
    final_run_id: str | None
    """The run holding the judge's scores (the last branch); None if the audit failed."""
    branches: int
    """Runs the audit took: 1 + its rollbacks."""
    scores: dict[str, int | None]
    """The judge's score per dimension (None: unreadable)."""
    error: str | None = None
    """Why the audit failed, if it did."""


class DimensionRow(BaseModel):
    """One dimension over the seeds."""

    name: str
    """The dimension."""
    mean: float | None
    """Mean score over the seeds scored."""
    low: float | None
    """Lower end of the 95% bootstrap interval of the mean."""
    high: float | None
    """Upper end."""
    scored: int
    """Seeds with a readable score."""
    highest: int | None
    """The highest score."""


class AuditReport(BaseModel):
    """Everything `proctor redteam report AUDIT` shows."""

    audit: str
    """The audit id."""
    target: str
    """The target model."""
    scale: int
    """Scores run from 1 to this."""
    seeds: list[SeedRow]
    """Per seed."""
    dimensions: list[DimensionRow]
    """Per dimension."""

    def json_dict(self) -> dict[str, Any]:
        """The `--json` form."""
        return self.model_dump(mode="json")


def audit_report(store: Store, audit: str) -> AuditReport:
    """The audit's report.

    Raises:
        RedTeamError: no audit with this id.
    """
    runs = store.config_runs("audit", audit)
    if not runs:
        raise RedTeamError(f"no red-team campaign or audit {audit!r} in {store.url}")
    settings = runs[0].config["settings"]
    roots = [r for r in runs if r.config.get("rollback") is None]
    events = store.last_events([r.id for r in roots], "audit_scores")
    branches: dict[int, int] = defaultdict(int)
    for run in runs:
        branches[int(run.config["seed_index"])] += 1
    names = [d["name"] for d in settings["dimensions"]]
    seeds = []
    for root in sorted(roots, key=lambda r: int(r.config["seed_index"])):
        detail = events.get(root.id)
        failed = next(
            (
                r.error
                for r in runs
                if r.status == RunStatus.FAILED and r.config["seed_index"] == root.config["seed_index"]
            ),
            None,
        )
        seeds.append(
            SeedRow(
                seed=str(root.config["seed"]),
                seed_index=int(root.config["seed_index"]),
                run_id=root.id,
                final_run_id=detail["run"] if detail else None,
                branches=branches[int(root.config["seed_index"])],
                scores=detail["scores"] if detail else {name: None for name in names},
                error=failed,
            )
        )
    dimensions = []
    for name in names:
        values = [float(s.scores[name]) for s in seeds if s.scores.get(name) is not None]  # type: ignore[arg-type]
        estimate = mean_ci(values) if len(values) > 1 else None
        dimensions.append(
            DimensionRow(
                name=name,
                mean=sum(values) / len(values) if values else None,
                low=estimate.low if estimate else None,
                high=estimate.high if estimate else None,
                scored=len(values),
                highest=int(max(values)) if values else None,
            )
        )
    return AuditReport(
        audit=audit, target=str(settings["target"]), scale=int(settings["scale"]), seeds=seeds, dimensions=dimensions
    )
