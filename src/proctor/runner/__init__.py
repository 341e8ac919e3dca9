"""The runner: the step loop, its choosers, and its configuration."""

from typing import TYPE_CHECKING, Any

from proctor.agents._actions import ACTION_HELP, Action, ParseError, option_fields, parse_action
from proctor.runner._batch import (
    SettingError,
    fork,
    fork_async,
    resume,
    resume_async,
    run_tasks,
    run_tasks_async,
    work,
)
from proctor.runner._choosers import (
    Choice,
    ChoiceRequest,
    Chooser,
    ChooserServices,
    UnknownChooserError,
    chooser,
    get_chooser,
    rate_1_to_5,
)
from proctor.runner._config import ApprovalConfig, ChooserConfig, RunConfig, RunLimits, StuckConfig
from proctor.runner._loop import Runner, ScoringRun
from proctor.runner._preflight import check_models, check_sandbox, models_of, preflight, preflight_async
from proctor.runner._stored_limits import StoredLimits
from proctor.runner._workers import WorkerConfig, worker_id

if TYPE_CHECKING:
    from proctor.runner._stuck import StuckEffect, StuckReport, StuckRow, stuck_report

_STUCK = ("StuckEffect", "StuckReport", "StuckRow", "stuck_report")
"""Imported on first use (PEP 562): the stuck report's statistics load numpy and scipy, which runs do not need."""


def __getattr__(name: str) -> Any:
    if name not in _STUCK:
        raise AttributeError(f"module 'proctor.runner' has no attribute {name!r}")
    from proctor.runner import _stuck

    return getattr(_stuck, name)


__all__ = [
    "ACTION_HELP",
    "Action",
    "ApprovalConfig",
    "Choice",
    "ChoiceRequest",
    "Chooser",
    "ChooserConfig",
    "ChooserServices",
    "ParseError",
    "RunConfig",
    "RunLimits",
    "Runner",
    "ScoringRun",
    "SettingError",
    "StoredLimits",
    "StuckConfig",
    "StuckEffect",
    "StuckReport",
    "StuckRow",
    "UnknownChooserError",
    "WorkerConfig",
    "check_models",
    "check_sandbox",
    "chooser",
    "fork",
    "fork_async",
    "get_chooser",
    "models_of",
    "option_fields",
    "parse_action",
    "preflight",
    "preflight_async",
    "rate_1_to_5",
    "resume",
    "resume_async",
    "run_tasks",
    "run_tasks_async",
    "stuck_report",
    "work",
    "worker_id",
]
