"""The store: tasks, runs and their trees in SQLite (default) or PostgreSQL."""

from proctor.store import _leases as leases
from proctor.store import _ops as ops
from proctor.store import _preferences as preferences
from proctor.store import _studies as studies
from proctor.store import _users as users
from proctor.store._records import (
    ExperimentRuns,
    HoldRecord,
    ObservationRecord,
    OptionRecord,
    RatingRecord,
    RunRecord,
    RunStatus,
    StepRecord,
    StuckRecord,
)
from proctor.store._store import Store, StoreError, default_url
from proctor.store._studies import JudgmentRecord, StudyError, StudyRecord
from proctor.store._users import Role, UserError, UserRecord
from proctor.store._writer import Writer

__all__ = [
    "ExperimentRuns",
    "HoldRecord",
    "JudgmentRecord",
    "ObservationRecord",
    "OptionRecord",
    "RatingRecord",
    "Role",
    "RunRecord",
    "RunStatus",
    "StepRecord",
    "Store",
    "StoreError",
    "StuckRecord",
    "StudyError",
    "StudyRecord",
    "UserError",
    "UserRecord",
    "Writer",
    "default_url",
    "leases",
    "ops",
    "preferences",
    "studies",
    "users",
]
