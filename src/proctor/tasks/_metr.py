"""METR Task Standard families, run as they are by a small driver inside the run's sandbox (see `_metr_env`).

The family's code is task code: it runs as root *inside* the sandbox (never on the host), with the family folder
in /root as METR does and the workspace at /home/agent; /root is root's alone, so the family's solutions and
scoring stay hidden from the agent.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import weakref
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from proctor.sandbox import Sandbox, SandboxError, backend_of, copy_in, folder_entries, get_sandbox
from proctor.sandbox._bwrap import AGENT_UID
from proctor.sandbox._layers import Layer
from proctor.tasks._base import TaskInfo
from proctor.tasks._metr_env import (
    FAMILY_TARGET,
    FamilyError,
    checked,
    family_environment,
    family_layer,
    installed_root,
    layered,
    run_driver,
)
from proctor.tasks._spec import (
    ManifestSpec,
    TaskRunError,
    manifest_human_minutes,
    manifest_limits,
    read_yaml,
    validation_problems,
)

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class FamilyMetadata(BaseModel):
    """What a family's read-only calls report: its tasks, their instructions and permissions."""

    standard_version: str
    """The family's `standard_version`."""
    required_environment_variables: list[str] = Field(default_factory=list)
    """Host environment variables the family needs."""
    tasks: dict[str, dict[str, Any]]
    """Task name → {"instructions": str, "permissions": list[str]}."""
    methods: list[str]
    """Which optional TaskFamily methods it defines (install, start, score, ...)."""


class IntermediateScore(BaseModel):
    """One entry of a METR score log: what `intermediate_score(t)` returned."""

    score: float | None
    """The score, or None when it cannot be scored now."""
    message: dict[str, Any] = Field(default_factory=dict)
    """Feedback the agent may see."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Feedback only researchers see."""


class MetrFamily:
    """A METR family folder and what its read-only calls reported."""

    def __init__(self, folder: Path, digest: str, metadata: FamilyMetadata, manifest: ManifestSpec | None):
        self.folder = folder
        self.name = folder.name
        self.digest = digest
        self.metadata = metadata
        self.manifest = manifest


_metadata_cache: dict[str, FamilyMetadata] = {}


def folder_digest(folder: Path) -> str:
    """A hash of every entry's relative path and content (a link's target), never following links.

    Raises:
        SandboxError: a link leads out of the folder.
    """
    digest = hashlib.sha256()
    for path in folder_entries(folder):
        if "__pycache__" in path.parts or (path.is_dir() and not path.is_symlink()):
            continue
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode())
        else:
            with open(path, "rb", opener=lambda p, flags: os.open(p, flags | os.O_NOFOLLOW)) as file:
                digest.update(hashlib.sha256(file.read()).digest())
    return digest.hexdigest()


async def read_family(folder: Path, backend: str, cache_dir: Path, problems: list[str]) -> MetrFamily | None:
    """Install the family if it has `install()` (cached), then run its read-only calls (get_tasks,
    get_instructions, get_permissions) in a throwaway sandbox of `backend`, as the standard orders them; check
    its manifest. Appends one line per problem.

    Returns:
        The family, or None when it has problems.
    """
    name = folder.name
    source = folder / f"{name}.py"
    if not SNAKE_CASE.match(name):
        problems.append(f"{folder}: METR family names must be snake_case (rename the folder and {name}.py)")
        return None
    try:
        digest = folder_digest(folder)
    except (SandboxError, OSError) as error:
        problems.append(str(error))
        return None
    metadata = _metadata_cache.get(digest)
    if metadata is None:
        try:
            methods = await _in_sandbox(backend, folder, name, "methods")
            root: Path | Layer = folder
            if "install" in methods["methods"]:
                env = family_environment(name, methods["required_environment_variables"])
                if layered(backend):
                    root = await family_layer(folder, name, digest, cache_dir, env)
                else:
                    root = await installed_root(folder, name, digest, backend, cache_dir, env)
            metadata = FamilyMetadata.model_validate(await _in_sandbox(backend, root, name, "metadata"))
        except FamilyError as error:
            problems.append(f"{folder / error.file}: {error}")
            return None
        except (TaskRunError, SandboxError) as error:
            problems.append(f"{source}: {error}")
            return None
        _metadata_cache[digest] = metadata
    before = len(problems)
    manifest = _read_manifest(folder, metadata, problems)
    if len(problems) > before:
        return None
    return MetrFamily(folder, digest, metadata, manifest)


async def _in_sandbox(backend: str, root: Path | Layer, name: str, operation: str) -> Any:
    """One driver operation in a throwaway sandbox whose /root holds a copy of `root`, or on the family's layer."""
    with tempfile.TemporaryDirectory(prefix="proctor-metr-") as folder:
        os.chmod(folder, 0o711)  # the sandbox's host user only needs to pass through
        workspace = Path(folder) / "workspace"
        if isinstance(root, Layer):
            sandbox = get_sandbox(backend, workspace=workspace, layer=root)
        else:
            sandbox = get_sandbox(backend, workspace=workspace)
        try:
            if not isinstance(root, Layer):
                await copy_in(sandbox, root, FAMILY_TARGET, as_root=True)
            return checked(await run_driver(sandbox, name, operation, timeout=120.0))
        finally:
            await sandbox.close()


def _read_manifest(folder: Path, metadata: FamilyMetadata, problems: list[str]) -> ManifestSpec | None:
    path = folder / "manifest.yaml"
    if not path.exists():
        return None
    before = len(problems)
    data = read_yaml(path, problems)
    if len(problems) > before:
        return None
    if not isinstance(data, dict):
        problems.append(f"{path}: manifest must be a mapping with a 'tasks' key")
        return None
    try:
        manifest = ManifestSpec.model_validate(data)
    except ValidationError as error:
        problems.extend(validation_problems(path, error))
        return None
    unknown = sorted(set(manifest.tasks) - set(metadata.tasks))
    if unknown:
        problems.append(f"{path}: tasks {unknown} are not returned by TaskFamily.get_tasks()")
    return manifest


def family_tasks(family: MetrFamily, cache_dir: Path) -> list[MetrTask]:
    """One task object per entry of the family's `get_tasks()`."""
    tasks = []
    for task_name, entry in family.metadata.tasks.items():
        info = TaskInfo(
            id=f"{family.name}/{task_name}",
            family=family.name,
            name=task_name,
            format="metr",
            source=str(family.folder),
            instructions=entry["instructions"],
            permissions=list(entry["permissions"]),
            required_environment_variables=family.metadata.required_environment_variables,
            limits=manifest_limits(family.manifest, task_name),
            human_minutes=manifest_human_minutes(family.manifest, task_name),
            intermediate_scoring="intermediate_score" in family.metadata.methods,
            scored_from_log="aggregate_scores" in family.metadata.methods,
        )
        tasks.append(MetrTask(info, family, cache_dir))
    return tasks


class MetrTask:
    """One task of a METR family; every family call runs as root inside the run's sandbox."""

    def __init__(self, info: TaskInfo, family: MetrFamily, cache_dir: Path) -> None:
        self.info = info
        self.family = family
        self.cache_dir = cache_dir
        self._ready: weakref.WeakSet[Any] = weakref.WeakSet()  # sandboxes whose /root holds the family

    def __repr__(self) -> str:
        return f"MetrTask({self.info.id!r})"

    async def sandbox_options(self, backend: str) -> dict[str, Any]:
        """What the run's sandbox must be built with: the family's layer, when it has `install()` and the backend
        can layer (the family is installed first, once).

        Raises:
            TaskRunError: a required environment variable is unset, or install failed.
        """
        if "install" not in self.family.metadata.methods or not layered(backend):
            return {}
        env = family_environment(self.info.id, self.info.required_environment_variables)
        family = self.family
        return {"layer": await family_layer(family.folder, family.name, family.digest, self.cache_dir, env)}

    async def setup(self, sandbox: Sandbox) -> None:
        """Copy the (installed) family to /root, call `start(t)` and give the workspace to the agent as METR does.

        Raises:
            TaskRunError: a required environment variable is unset, or install/start failed.
        """
        await self._call(sandbox, "start", {"agent_uid": AGENT_UID, "agent_gid": AGENT_UID})

    async def score(self, sandbox: Sandbox, submission: str) -> float | None:
        """`score(t, submission)`: a number in [0, 1], or None when a person must score it.

        Raises:
            TaskRunError: the family's score raised or returned something other than a number in [0, 1].
        """
        value = await self._call(sandbox, "score", {"submission": submission})
        return _check_score(value, f"{self.info.id}: TaskFamily.score")

    async def intermediate_score(self, sandbox: Sandbox) -> IntermediateScore | None:
        """`intermediate_score(t)` if the family defines it, else None.

        Raises:
            TaskRunError: the call raised or returned something that is not a score-log entry.
        """
        if "intermediate_score" not in self.family.metadata.methods:
            return None
        value = await self._call(sandbox, "intermediate_score", {})
        if value is None:
            return None
        try:
            entry = IntermediateScore.model_validate(value)
        except ValidationError:
            raise TaskRunError(
                f"{self.info.id}: intermediate_score returned {value!r}; expected {{'score': ..., 'message': {{...}}}}"
            ) from None
        _check_score(entry.score, f"{self.info.id}: TaskFamily.intermediate_score")
        return entry

    async def aggregate_scores(self, sandbox: Sandbox, scores: list[IntermediateScore]) -> float | None:
        """`aggregate_scores(t, score_log)` if defined, else the last intermediate score.

        Raises:
            TaskRunError: the call raised or returned something other than a number in [0, 1] or None.
        """
        if "aggregate_scores" not in self.family.metadata.methods:
            return scores[-1].score if scores else None
        value = await self._call(sandbox, "aggregate_scores", {"scores": [entry.model_dump() for entry in scores]})
        return _check_score(value, f"{self.info.id}: TaskFamily.aggregate_scores")

    async def teardown(self, sandbox: Sandbox) -> None:
        """`teardown(t)` if the family defines it.

        Raises:
            TaskRunError: teardown raised.
        """
        if "teardown" in self.family.metadata.methods:
            await self._call(sandbox, "teardown", {})

    async def _call(self, sandbox: Sandbox, operation: str, request: dict[str, Any]) -> Any:
        env = family_environment(self.info.id, self.info.required_environment_variables)
        if getattr(sandbox, "layered", None) is not None:
            self._ready.add(sandbox)  # the family's layer holds its installed /root
        if sandbox not in self._ready:  # a resumed run's new sandbox has not been set up
            root = self.family.folder
            if "install" in self.family.metadata.methods:
                args = (self.family.name, self.family.digest)
                root = await installed_root(self.family.folder, *args, backend_of(sandbox), self.cache_dir, env)
            try:
                await copy_in(sandbox, root, FAMILY_TARGET, as_root=True)
            except SandboxError as error:
                raise TaskRunError(f"{self.info.id}: {error}") from None
            self._ready.add(sandbox)
        output = await run_driver(sandbox, self.family.name, operation, {"task": self.info.name, **request}, env=env)
        try:
            return checked(output)
        except FamilyError as error:
            raise TaskRunError(f"{self.family.folder / error.file}: {error}") from None


def _check_score(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TaskRunError(f"{where} returned {value!r}; it must return a number in [0, 1] or None")
    if not 0.0 <= float(value) <= 1.0:
        raise TaskRunError(f"{where} returned {value}, outside [0, 1]")
    return float(value)
