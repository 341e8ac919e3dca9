"""What the interop modules share: their error, their reports, and the check that inspect-ai is installed."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

INSPECT_MISSING = "inspect-ai is not installed: install proctor[inspect] (pip install 'proctor[inspect]')"


SEPARATOR = " -T "
"""Between a stored Inspect task source's spec and each of its task arguments (`FILE.py@name -T key=value`)."""


class InteropError(Exception):
    """A log or file cannot be read or written; the message names it and says why, in one line."""


REGISTRY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*/[A-Za-z_][A-Za-z0-9_]*")
"""An installed package's Inspect task: `package/task_name`."""


def is_inspect_spec(text: str) -> bool:
    """Whether `proctor run` is given Inspect tasks: a `.py` file (`FILE.py`, `FILE.py@name`), or a name of the
    form `package/task_name` that is no folder (an installed package's task)."""
    spec = text.partition(SEPARATOR)[0]
    if (spec.rpartition("@")[0] or spec).endswith(".py"):
        return True
    return REGISTRY_NAME.fullmatch(spec) is not None and not Path(spec).exists()


def parse_task_args(pairs: list[str]) -> dict[str, Any]:
    """`-T key=value` arguments as Inspect reads them (values as YAML: `3` is a number, `[a, b]` a list).

    Raises:
        InteropError: an argument is not `key=value`.
    """
    args: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise InteropError(f"-T {pair}: a task argument is key=value (e.g. -T difficulty=hard)")
        try:
            args[key.strip().replace("-", "_")] = yaml.safe_load(value) if value else value
        except yaml.YAMLError:
            args[key.strip().replace("-", "_")] = value
    return args


def require_inspect() -> None:
    """Raise `InteropError` (one line: install proctor[inspect]) unless inspect-ai can be imported."""
    try:
        found = importlib.util.find_spec("inspect_ai") is not None
    except (ImportError, ValueError):  # a stub module without a spec, or a broken install
        found = False
    if not found:
        raise InteropError(INSPECT_MISSING)


class ExportReport(BaseModel):
    """What an export wrote."""

    logs: list[str] = Field(default_factory=list)
    """The log files written, one per task family × agent × model."""
    runs: int = 0
    """Runs written (one sample each)."""


class ImportReport(BaseModel):
    """What an import stored."""

    files: int = 0
    """Files read."""
    runs: int = 0
    """Runs stored."""
    skipped: int = 0
    """Records that were already stored (imported before): left as they were."""
