"""What the interop modules share: their error, their reports, and the check that inspect-ai is installed."""

from __future__ import annotations

import importlib.util

from pydantic import BaseModel, Field

INSPECT_MISSING = "inspect-ai is not installed: install proctor[inspect] (pip install 'proctor[inspect]')"


class InteropError(Exception):
    """A log or file cannot be read or written; the message names it and says why, in one line."""


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
