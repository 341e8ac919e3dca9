"""The typed shape of task files: native `task.yaml` and METR `manifest.yaml`, and how their errors read."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.tasks._base import TaskError, TaskLimits

Permission = Literal["full_internet"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class TaskRunError(TaskError):
    """Setting up, scoring or tearing down a task failed; the message says which step and why."""


class ScorerSpec(BaseModel):
    """How a native task's submission is scored (`scorer:` in task.yaml)."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    command: str | None = None
    """Shell command run as root inside the sandbox, `scorer/` at /scorer, `SUBMISSION` in its env;
    its last stdout line is a number in [0, 1] or `None`."""
    expected_submission: str | None = None
    """Shortcut: the submission must equal this (both stripped) for 1.0, else 0.0."""
    timeout: float = 120.0
    """Seconds the scorer command may run."""


class LimitsSpec(TaskLimits):
    """`limits:` in task.yaml: suggestions the runner may apply (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid")


class TaskSpec(BaseModel):
    """A native task's `task.yaml`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    """The task's name, unique in its suite (letters, digits, `-`, `_`, `.`)."""
    instructions: str | None = None
    """What the agent is told; when absent it is read from `instructions_file`."""
    instructions_file: str = "instructions.md"
    """File (relative to the task folder) holding the instructions when `instructions` is absent."""
    permissions: list[Permission] = Field(default_factory=list)
    """`[]` or `["full_internet"]`; the runner grants network only when allowed to."""
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    """Suggested limits for a run."""
    scorer: ScorerSpec
    """How the submission is scored."""
    description: str | None = None
    """A note for researchers (not shown to the agent)."""
    tags: list[str] = Field(default_factory=list)
    """Labels for grouping tasks in reports (e.g. `shell`, `delegation`)."""
    human_minutes: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Minutes a qualified person takes to do the task; time-horizon reports need it (METR's `human_minutes`)."""


class GpuSpec(BaseModel):
    """`resources.gpu` in a METR manifest."""

    model_config = ConfigDict(extra="forbid")

    count_range: tuple[int, int]
    """Fewest and most GPUs."""
    model: str
    """GPU model name."""


class ResourcesSpec(BaseModel):
    """`resources` of one task in a METR manifest."""

    model_config = ConfigDict(extra="forbid")

    cpus: float | None = Field(default=None, gt=0)
    """CPUs requested (not enforced by the bubblewrap sandbox)."""
    memory_gb: float | None = Field(default=None, gt=0)
    """Memory requested; becomes the sandbox memory limit."""
    storage_gb: float | None = Field(default=None, gt=0)
    """Disk requested; becomes the workspace's disk limit."""
    gpu: GpuSpec | None = None
    """GPUs requested (not provided by proctor's sandboxes)."""


class ManifestTaskSpec(BaseModel):
    """One task's entry in a METR manifest; keys other than `resources` are kept as METR defines them."""

    model_config = ConfigDict(extra="allow")

    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    """Resources the task asks for."""
    human_minutes: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Minutes a qualified person takes to do the task (a proctor key; time-horizon reports need it)."""


class ManifestSpec(BaseModel):
    """A METR family's optional `manifest.yaml`."""

    model_config = ConfigDict(extra="allow")

    tasks: dict[str, ManifestTaskSpec] = Field(default_factory=dict)
    """Per-task settings, keyed by task name."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Free-form family metadata."""


def manifest_limits(manifest: ManifestSpec | None, task_name: str) -> TaskLimits:
    """The limits a manifest implies for one task (memory and disk: CPUs and GPUs are not enforced)."""
    if manifest is None or task_name not in manifest.tasks:
        return TaskLimits()
    resources = manifest.tasks[task_name].resources
    memory_mb, disk_mb = (None if gb is None else int(gb * 1024) for gb in (resources.memory_gb, resources.storage_gb))
    return TaskLimits(memory_mb=memory_mb, disk_mb=disk_mb)


def manifest_human_minutes(manifest: ManifestSpec | None, task_name: str) -> float | None:
    """The human minutes a manifest gives one task (its `human_minutes` key), or None."""
    if manifest is None or task_name not in manifest.tasks:
        return None
    return manifest.tasks[task_name].human_minutes


class DeclaredTask(BaseModel):
    """What a stored task's folder declares for reports, read again from the folder (see `declared_task`)."""

    human_minutes: float | None = None
    """Minutes a qualified person takes; None when not given."""
    tags: list[str] = Field(default_factory=list)
    """Native `tags:` (METR families have none)."""
    problem: str | None = None
    """Why the folder could not be read (missing, malformed); None when it was read."""


def declared_task(source: str | Path, format: str, name: str) -> DeclaredTask:
    """Read a task's `human_minutes` and `tags` from the folder it was loaded from, without loading the task (no
    family code runs): native `task.yaml`, or the task's entry in a METR family's `manifest.yaml`.

    Args:
        source: The task folder (native) or family folder (METR), as stored with its runs.
        format: `native` or `metr`.
        name: The task's name within its family.

    Returns:
        What the folder declares; `problem` says why nothing could be read.
    """
    folder = Path(source)
    problems: list[str] = []
    if format == "native":
        path = folder / "task.yaml"
        data = read_yaml(path, problems) if path.is_file() else None
        if not isinstance(data, dict):
            return DeclaredTask(problem=problems[0] if problems else f"{path}: not found or not a mapping")
        try:
            spec = TaskSpec.model_validate(data)
        except ValidationError as error:
            return DeclaredTask(problem=validation_problems(path, error)[0])
        return DeclaredTask(human_minutes=spec.human_minutes, tags=list(spec.tags))
    path = folder / "manifest.yaml"
    if not path.is_file():
        return DeclaredTask()
    data = read_yaml(path, problems)
    if not isinstance(data, dict):
        return DeclaredTask(problem=problems[0] if problems else f"{path}: not a mapping")
    try:
        manifest = ManifestSpec.model_validate(data)
    except ValidationError as error:
        return DeclaredTask(problem=validation_problems(path, error)[0])
    return DeclaredTask(human_minutes=manifest_human_minutes(manifest, name))


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader, in C (libyaml) when built with it: ten times faster on a suite of many task folders."""


def read_yaml(path: Path, problems: list[str]) -> Any:
    """Parse a YAML file, appending a one-line problem (with the line number) on failure.

    Returns:
        The parsed document, or None when it could not be read.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{path}: cannot read: {error}")
        return None
    try:
        return yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(error, "problem", None) or str(error).splitlines()[0]
        problems.append(f"{path}: YAML syntax error{where}: {what}")
        return None


def validation_problems(path: Path, error: ValidationError) -> list[str]:
    """One line per field error of a Pydantic validation, naming the file and the key."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"{path}: unknown key {key!r}")
        elif item["type"] == "missing":
            lines.append(f"{path}: missing required key {key!r}")
        elif item["type"] == "literal_error" and "permissions" in key:
            lines.append(f"{path}: bad permissions value {item['input']!r} at {key}; allowed: 'full_internet'")
        else:
            lines.append(f"{path}: {key}: {item['msg']} (got {item['input']!r})")
    return lines
