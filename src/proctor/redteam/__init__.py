"""Red teaming language models with language models (Perez et al. 2022) and auditing agents: campaigns of attacks
and audits stored as runs, measured by attack success rate, diversity and judges' rubric scores."""

from proctor.redteam._audit import ACTIONS, Action, Scores, TargetState, parse_action, parse_scores, run_audit
from proctor.redteam._audit_report import AuditReport, DimensionRow, SeedRow, audit_report
from proctor.redteam._campaign import Attack, pick_examples, red_prompt, run_campaign, test_case
from proctor.redteam._classify import LABELS, Classifier, Decision, judge_prompt, load_function, parse_decision
from proctor.redteam._config import (
    EXAMPLES,
    AuditConfig,
    ClassifierConfig,
    Dimension,
    RedTeamConfig,
    RedTeamError,
    load_config,
)
from proctor.redteam._converters import convert, converter, converters
from proctor.redteam._diversity import bleu, novelty, self_bleu, tfidf_diversity, tokens
from proctor.redteam._report import AttackRow, CampaignReport, campaign_report, rate

__all__ = [
    "ACTIONS",
    "EXAMPLES",
    "LABELS",
    "Action",
    "Attack",
    "AttackRow",
    "AuditConfig",
    "AuditReport",
    "CampaignReport",
    "Classifier",
    "ClassifierConfig",
    "Decision",
    "Dimension",
    "DimensionRow",
    "RedTeamConfig",
    "RedTeamError",
    "Scores",
    "SeedRow",
    "TargetState",
    "audit_report",
    "bleu",
    "campaign_report",
    "convert",
    "converter",
    "converters",
    "judge_prompt",
    "load_config",
    "load_function",
    "novelty",
    "parse_action",
    "parse_decision",
    "parse_scores",
    "pick_examples",
    "rate",
    "red_prompt",
    "run_audit",
    "run_campaign",
    "self_bleu",
    "test_case",
    "tfidf_diversity",
    "tokens",
]
