"""proctor: AI agents doing tasks under oversight, and oversight measured.

Example:
    from proctor import RunConfig, Store, load_tasks, run_tasks

    records = run_tasks(load_tasks("examples"), RunConfig(model="scripted/baseline"), Store())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from proctor.models import get_model
    from proctor.runner import ChooserConfig, RunConfig, RunLimits, StuckConfig, fork, resume, run_tasks
    from proctor.store import Store
    from proctor.tasks import load_tasks, validate_tasks

# Each public name and the module it comes from, imported on first use (PEP 562) so that `import proctor` and the
# command line start without loading the runner, the store and the model SDKs.
_LAZY = {
    "ChooserConfig": "proctor.runner",
    "RunConfig": "proctor.runner",
    "RunLimits": "proctor.runner",
    "Store": "proctor.store",
    "StuckConfig": "proctor.runner",
    "fork": "proctor.runner",
    "get_model": "proctor.models",
    "load_tasks": "proctor.tasks",
    "resume": "proctor.runner",
    "run_tasks": "proctor.runner",
    "validate_tasks": "proctor.tasks",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'proctor' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "ChooserConfig",
    "RunConfig",
    "RunLimits",
    "Store",
    "StuckConfig",
    "fork",
    "get_model",
    "load_tasks",
    "resume",
    "run_tasks",
    "validate_tasks",
]
