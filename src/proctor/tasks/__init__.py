"""Tasks: the native folder format and METR Task Standard families."""

from proctor.tasks._base import Task, TaskError, TaskInfo, TaskLimits
from proctor.tasks._loader import (
    examples_path,
    load_tasks,
    load_tasks_async,
    validate_tasks,
    validate_tasks_async,
)
from proctor.tasks._metr import IntermediateScore, MetrTask
from proctor.tasks._metr_env import default_cache_dir
from proctor.tasks._native import NativeTask
from proctor.tasks._spec import DeclaredTask, ManifestSpec, ScorerSpec, TaskRunError, TaskSpec, declared_task

__all__ = [
    "DeclaredTask",
    "IntermediateScore",
    "ManifestSpec",
    "MetrTask",
    "NativeTask",
    "ScorerSpec",
    "Task",
    "TaskError",
    "TaskInfo",
    "TaskLimits",
    "TaskRunError",
    "TaskSpec",
    "declared_task",
    "default_cache_dir",
    "examples_path",
    "load_tasks",
    "load_tasks_async",
    "validate_tasks",
    "validate_tasks_async",
]
