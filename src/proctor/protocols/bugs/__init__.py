"""Planted-bug code review: small correct programs, single planted bugs their tests catch, and a verdict scorer.

Example:
    from proctor.protocols.bugs import build_dataset, save_jsonl, score_verdict

    items = build_dataset(seed=0, per_program=2)
    save_jsonl(items, "bugs.jsonl")
    score_verdict(items[0], says_buggy=False, line=None)
"""

from proctor.protocols.bugs._dataset import (
    BugItem,
    Census,
    OperatorCensus,
    build_dataset,
    load_jsonl,
    mutation_census,
    run_report,
    save_jsonl,
    score_verdict,
)
from proctor.protocols.bugs._mutate import (
    Mutant,
    SeedProgram,
    changed_lines,
    find_sites,
    generate_mutants,
    gives_itself_away,
    load_seeds,
    make_mutant,
    self_evident,
)
from proctor.protocols.bugs._operators import OPERATORS
from proctor.protocols.bugs._questions import BUGGY, CLEAN, bug_questions, hidden_source, item_question, numbered
from proctor.protocols.bugs._runner import BugDatasetError, TestOutcome, TestRunner

__all__ = [
    "BUGGY",
    "CLEAN",
    "OPERATORS",
    "BugDatasetError",
    "BugItem",
    "Census",
    "Mutant",
    "OperatorCensus",
    "SeedProgram",
    "TestOutcome",
    "TestRunner",
    "bug_questions",
    "build_dataset",
    "changed_lines",
    "find_sites",
    "generate_mutants",
    "gives_itself_away",
    "hidden_source",
    "item_question",
    "load_jsonl",
    "load_seeds",
    "make_mutant",
    "mutation_census",
    "numbered",
    "run_report",
    "save_jsonl",
    "score_verdict",
    "self_evident",
]
