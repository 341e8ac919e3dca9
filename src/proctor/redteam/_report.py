"""Reading a red-team campaign back: attack success rate with its Wilson interval, per category and per batch,
diversity (self-BLEU, TF-IDF), novelty against earlier batches, the strongest attacks, and how well people's labels
agree with the classifier (Cohen's κ)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from pydantic import BaseModel, Field

from proctor.analysis import AnalysisError, Estimate, kappa_ci, wilson_interval
from proctor.redteam._classify import LABELS, Label
from proctor.redteam._config import RedTeamError
from proctor.redteam._diversity import novelty, self_bleu, tfidf_diversity
from proctor.store import RunStatus, Store


class AttackRow(BaseModel):
    """One run of a campaign (an attempt or one of its retries)."""

    run_id: str
    """The run."""
    attempt: int
    """The attempt it belongs to."""
    retry: int
    """0 for the attempt's first run, else which retry (a fork)."""
    batch: int
    """Its batch."""
    category: str
    """Its category."""
    method: str
    """How its red prompt was made: zero-shot, few-shot or stochastic-few-shot."""
    attack: str
    """The test case of its first own turn."""
    turns: int
    """Target replies in the run."""
    decided_by: str | None = None
    """Who decides: `model:<name>`, `python:<function>` or `human`; None for a run that failed before deciding."""
    classifier: Label | None
    """The classifier's verdict; None when unreadable, or when people decide."""
    strength: float
    """The classifier's score (for ranking)."""
    people: dict[str, Label] = Field(default_factory=dict)
    """People's labels: user name to their latest label."""
    verdict: Label | None
    """The verdict counted: the classifier's, or for a `human` classifier the people's majority."""
    failed: bool = False
    """A model failed for good."""


class Rate(BaseModel):
    """A success rate with its 95% Wilson interval."""

    successes: int
    """Successful attempts."""
    attempts: int
    """Attempts."""
    rate: float | None
    """successes / attempts."""
    low: float | None
    """Lower end of the interval."""
    high: float | None
    """Upper end of the interval."""


class Agreement(BaseModel):
    """People's labels against the classifier's verdicts."""

    pairs: int
    """(run, person) pairs where both decided."""
    agreed: int
    """Pairs where they agree."""
    kappa: Estimate | None = None
    """Cohen's κ with a bootstrap interval over runs; None when undefined."""
    note: str | None = None
    """Why κ is missing."""


class CampaignReport(BaseModel):
    """Everything `proctor redteam report` shows."""

    campaign: str
    """The campaign id."""
    behaviour: str
    """The behaviour attacked."""
    target: str
    """The target model."""
    method: str
    """The configured method."""
    attempts: int
    """Attempts made."""
    runs: int
    """Runs, retries included."""
    success: Rate
    """Attack success rate over attempts (an attempt succeeds when it or a retry does)."""
    self_bleu: float | None
    """Self-BLEU of the attacks (higher: more alike)."""
    tfidf_diversity: float | None
    """1 - mean pairwise TF-IDF cosine similarity of the attacks."""
    categories: dict[str, Rate]
    """Success rate per category."""
    batches: list[dict[str, Any]]
    """Per batch: success rate and novelty against the batches before."""
    strongest: list[AttackRow]
    """The strongest attacks, by the classifier's score then success."""
    novelty_against: dict[str, float | None] = Field(default_factory=dict)
    """Per earlier campaign asked for: the novelty of this campaign's attacks against that one's."""
    unparsed: int
    """Runs whose classifier output could not be read."""
    awaiting: int = 0
    """Runs people decide (a `human` classifier) that nobody has labelled yet."""
    failed: int
    """Runs a model failed for good."""
    agreement: Agreement
    """People against the classifier."""
    rows: list[AttackRow]
    """Every run."""

    def json_dict(self) -> dict[str, Any]:
        """The `--json` form: the headline figures first, then the details."""
        s = self.success
        return {
            "campaign": self.campaign,
            "behaviour": self.behaviour,
            "target": self.target,
            "method": self.method,
            "attempts": self.attempts,
            "runs": self.runs,
            "successes": s.successes,
            "attack_success_rate": s.rate,
            "attack_success_rate_ci": [s.low, s.high],
            "diversity": {
                "self_bleu": self.self_bleu,
                "self_bleu_diversity": None if self.self_bleu is None else 1.0 - self.self_bleu,
                "tfidf": self.tfidf_diversity,
            },
            "categories": {name: rate.model_dump() for name, rate in self.categories.items()},
            "batches": self.batches,
            "strongest": [r.model_dump(exclude={"people"}) for r in self.strongest],
            "novelty_against": self.novelty_against,
            "unparsed": self.unparsed,
            "awaiting": self.awaiting,
            "failed": self.failed,
            "agreement": self.agreement.model_dump(mode="json"),
        }


def rate(successes: int, attempts: int) -> Rate:
    """A success rate with its 95% Wilson interval (none without attempts)."""
    if attempts == 0:
        return Rate(successes=0, attempts=0, rate=None, low=None, high=None)
    low, high = wilson_interval(successes, attempts)
    return Rate(successes=successes, attempts=attempts, rate=successes / attempts, low=low, high=high)


def _majority(labels: dict[str, Label]) -> Label | None:
    if not labels:
        return None
    counts = Counter(labels.values()).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "unclear"
    return counts[0][0]


def rows(store: Store, campaign: str) -> list[AttackRow]:
    """The campaign's runs with their verdicts and people's labels.

    Raises:
        RedTeamError: no campaign with this id.
    """
    runs = [r for r in store.config_runs("redteam", campaign) if r.config.get("kind") == "attack"]
    if not runs:
        raise RedTeamError(f"no red-team campaign {campaign!r} in {store.url} (its id is printed by redteam run)")
    ids = [r.id for r in runs]
    verdicts = store.last_events(ids, "verdict")
    people: dict[str, dict[str, Label]] = defaultdict(dict)
    for tag in store.run_tags(ids):
        if tag["name"] in LABELS:
            people[tag["run_id"]][tag["author"]] = tag["name"]
    found = []
    for run in runs:
        detail = verdicts.get(run.id, {})
        human = detail.get("classifier") == "human"
        labels = people.get(run.id, {})
        classifier = None if human else detail.get("verdict")
        found.append(
            AttackRow(
                run_id=run.id,
                attempt=int(run.config["attempt"]),
                retry=int(run.config.get("retry", 0)),
                batch=int(run.config["batch"]),
                category=str(run.config["category"]),
                method=str(run.config["method"]),
                attack=str(detail.get("attack", "")),
                turns=int(detail.get("turns", 0)),
                decided_by=detail.get("classifier"),
                classifier=classifier,
                strength=float(detail.get("strength", 0.0)),
                people=labels,
                verdict=_majority(labels) if human else classifier,
                failed=run.status == RunStatus.FAILED,
            )
        )
    return found


def _agreement(found: list[AttackRow]) -> Agreement:
    pairs = [(r.classifier, label, r.run_id) for r in found if r.classifier for label in r.people.values()]
    agreement = Agreement(pairs=len(pairs), agreed=sum(a == b for a, b, _ in pairs))
    if not pairs:
        return agreement.model_copy(update={"note": "no run has both a classifier verdict and a person's label"})
    code = {label: float(i) for i, label in enumerate(LABELS)}
    try:
        kappa = kappa_ci(
            [code[a] for a, _, _ in pairs],
            [code[b] for _, b, _ in pairs],
            categories=list(code.values()),
            clusters=[run for _, _, run in pairs],
        )
    except AnalysisError as error:
        return agreement.model_copy(update={"note": str(error)})
    return agreement.model_copy(update={"kappa": kappa})


def campaign_report(store: Store, campaign: str, *, top: int = 10, against: list[str] | None = None) -> CampaignReport:
    """The campaign's report (see `CampaignReport`), with its novelty against each campaign in `against`.

    Raises:
        RedTeamError: no campaign with this id (or with an id in `against`).
    """
    found = rows(store, campaign)
    settings = store.run(found[0].run_id).config["settings"]
    by_attempt: dict[int, list[AttackRow]] = defaultdict(list)
    for row in found:
        by_attempt[row.attempt].append(row)
    won = {a: any(r.verdict == "success" for r in rs) for a, rs in by_attempt.items()}
    first = {a: min(rs, key=lambda r: r.retry) for a, rs in by_attempt.items()}
    categories: dict[str, list[bool]] = defaultdict(list)
    batches: dict[int, list[int]] = defaultdict(list)
    for attempt, row in sorted(first.items()):
        categories[row.category].append(won[attempt])
        batches[row.batch].append(attempt)
    attacks = [r.attack for r in found if r.attack]
    batch_rows = []
    for batch, attempts in sorted(batches.items()):
        texts = [r.attack for a in attempts for r in by_attempt[a] if r.attack]
        before = [r.attack for r in found if r.batch < batch and r.attack]
        figures = rate(sum(won[a] for a in attempts), len(attempts)).model_dump()
        batch_rows.append({"batch": batch, **figures, "novelty": novelty(texts, before)})
    ranked = sorted(
        (r for r in found if r.attack), key=lambda r: (-r.strength, r.verdict != "success", r.attempt, r.retry)
    )
    return CampaignReport(
        campaign=campaign,
        behaviour=str(settings["behaviour"]),
        target=str(settings["target"]),
        method=str(settings["method"]),
        attempts=len(by_attempt),
        runs=len(found),
        success=rate(sum(won.values()), len(won)),
        self_bleu=self_bleu(attacks),
        tfidf_diversity=tfidf_diversity(attacks),
        categories={name: rate(sum(v), len(v)) for name, v in sorted(categories.items())},
        batches=batch_rows,
        strongest=ranked[:top],
        novelty_against={
            other: novelty(attacks, [r.attack for r in rows(store, other) if r.attack]) for other in against or []
        },
        unparsed=sum(1 for r in found if r.decided_by not in (None, "human") and r.classifier is None),
        awaiting=sum(1 for r in found if r.decided_by == "human" and not r.people),
        failed=sum(1 for r in found if r.failed),
        agreement=_agreement(found),
        rows=found,
    )
