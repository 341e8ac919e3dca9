"""Native tasks: a folder with `task.yaml`, `files/` for the workspace and a `scorer/` run in the sandbox.

The scorer's result channel is a file the agent cannot write: `SCORE_FILE`, in a folder only root inside the
sandbox can enter. What the scorer prints is a log, never its score, so agent code it runs cannot forge one.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from pydantic import ValidationError

from proctor.sandbox import Limits, Sandbox, SandboxError, copy_in, folder_entries
from proctor.tasks._base import TaskInfo, TaskLimits
from proctor.tasks._spec import TaskRunError, TaskSpec, read_yaml, validation_problems

SCORER_TARGET = "/scorer"
"""Where `scorer/` is copied for scoring: a folder only root inside the sandbox can enter."""
SCORE_FILE = "/run/proctor/score"
"""Where the scorer writes its score (a number in [0, 1], or `None`)."""
SUBMISSION_FILE = "/run/proctor/submission"
"""The submission, whole, for the scorer."""
SUBMISSION_ENV_BYTES = 64 * 1024
"""Submissions up to this size are also in the scorer's `SUBMISSION` variable."""


class NativeTask:
    """A task loaded from a native task folder.

    Set-up copies `files/` into the workspace as the agent's user; scoring copies `scorer/` to /scorer, which
    only root can enter, and runs `scorer.command` there as root, so the agent never sees the scorer.
    """

    def __init__(self, info: TaskInfo, folder: Path, spec: TaskSpec) -> None:
        self.info = info
        self.folder = folder
        self.spec = spec

    def __repr__(self) -> str:
        return f"NativeTask({self.info.id!r})"

    async def setup(self, sandbox: Sandbox) -> None:
        """Copy `files/` into the workspace (owned by the agent, not by root).

        Raises:
            TaskRunError: the copy failed, or a link in `files/` leads out of it.
        """
        files = self.folder / "files"
        if not files.exists() and not files.is_symlink():
            return
        try:
            await copy_in(sandbox, files, sandbox.workdir, as_root=False)
        except SandboxError as error:
            raise TaskRunError(f"{self.info.id}: copying files/ into the workspace failed: {error}") from None

    async def score(self, sandbox: Sandbox, submission: str) -> float | None:
        """Score a submission: the `expected_submission` shortcut, then the scorer command if any.

        With both set, a submission that differs scores 0.0 and the command is not run.

        Raises:
            TaskRunError: the scorer command failed, or wrote no score to `SCORE_FILE`.
        """
        scorer = self.spec.scorer
        if scorer.expected_submission is not None and (submission.strip() != scorer.expected_submission.strip()):
            return 0.0
        if scorer.command is None:
            return 1.0
        where = f"{self.info.id}: scorer command {scorer.command!r}"
        try:
            if (self.folder / "scorer").exists() or (self.folder / "scorer").is_symlink():
                await copy_in(sandbox, self.folder / "scorer", SCORER_TARGET, as_root=True)
        except SandboxError as error:
            raise TaskRunError(f"{where}: {error}") from None
        data = submission.encode()
        env = {"SCORE_FILE": SCORE_FILE, "SUBMISSION_FILE": SUBMISSION_FILE}
        if len(data) <= SUBMISSION_ENV_BYTES:
            env["SUBMISSION"] = submission
        result = await sandbox.exec(
            f"rm -f {SCORE_FILE} && cat > {SUBMISSION_FILE} && ( {scorer.command}\n) < /dev/null",
            as_root=True,
            env=env,
            stdin=data,
            limits=Limits(timeout=scorer.timeout),
        )
        if result.timed_out:
            raise TaskRunError(f"{where} timed out after {scorer.timeout} s; raise scorer.timeout")
        if result.exit_code != 0:
            raise TaskRunError(
                f"{where} exited {result.exit_code}: "
                f"{_last_line(result.stderr) or _last_line(result.stdout)}; "
                "a scorer should score 0 for a bad submission rather than fail"
            )
        written = await sandbox.exec(f"cat {SCORE_FILE}", as_root=True)
        if written.exit_code != 0:
            raise TaskRunError(
                f"{where} wrote no score: a scorer writes its score (a number in [0, 1], or None) to the file "
                "named by $SCORE_FILE; what it prints is only a log"
            )
        return parse_score(written.stdout, where)

    async def teardown(self, sandbox: Sandbox) -> None:
        """Native tasks hold nothing beyond the workspace; nothing to do."""


def parse_score(text: str, where: str) -> float | None:
    """Read the score from the last non-empty line of the score file: a number in [0, 1], or `None`.

    Raises:
        TaskRunError: the line is not a number in [0, 1] or `None`.
    """
    line = _last_line(text)
    if line == "None":
        return None
    try:
        value = float(line)
    except ValueError:
        raise TaskRunError(
            f"{where} wrote {line!r} to $SCORE_FILE; the score must be a number in [0, 1] or None"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise TaskRunError(f"{where} wrote score {value}, outside [0, 1]")
    return value


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def load_native_task(folder: Path, family: str, problems: list[str]) -> NativeTask | None:
    """Load the native task in `folder` as part of `family`, appending one line per problem found.

    Returns:
        The task, or None when the folder has problems.
    """
    spec_path = folder / "task.yaml"
    if not _inside(folder, spec_path):
        problems.append(f"{spec_path}: a symbolic link out of the task folder; put the file itself there")
        return None
    if not spec_path.is_file():
        problems.append(f"{spec_path}: missing task.yaml (a task folder needs one; see docs/tasks.md)")
        return None
    before = len(problems)
    data = read_yaml(spec_path, problems)
    if len(problems) > before:
        return None
    if not isinstance(data, dict):
        problems.append(f"{spec_path}: must be a mapping of keys (name, instructions, scorer, ...)")
        return None
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as error:
        problems.extend(validation_problems(spec_path, error))
        return None
    instructions = _instructions(folder, spec, spec_path, problems)
    _check_scorer(folder, spec, spec_path, problems)
    files = folder / "files"
    if files.exists() and not files.is_dir():
        problems.append(f"{files}: must be a folder (its contents are copied into the workspace)")
    for part in (files, folder / "scorer"):
        if part.is_dir() or part.is_symlink():
            try:
                folder_entries(part)
            except SandboxError as error:
                problems.append(str(error))
    if len(problems) > before or instructions is None:
        return None
    info = TaskInfo(
        id=f"{family}/{spec.name}",
        family=family,
        name=spec.name,
        format="native",
        source=str(folder),
        instructions=instructions,
        permissions=list(spec.permissions),
        tags=list(spec.tags),
        limits=TaskLimits.model_validate(spec.limits.model_dump()),
        human_minutes=spec.human_minutes,
    )
    return NativeTask(info, folder, spec)


def _instructions(folder: Path, spec: TaskSpec, spec_path: Path, problems: list[str]) -> str | None:
    if spec.instructions is not None:
        if "instructions_file" in spec.model_fields_set:
            problems.append(f"{spec_path}: set either 'instructions' or 'instructions_file', not both")
            return None
        return spec.instructions
    path = folder / spec.instructions_file
    if not _inside(folder, path):
        problems.append(f"{path}: instructions_file leads out of the task folder; keep it inside")
        return None
    if not path.is_file():
        problems.append(f"{path}: missing instructions file (write it, or set 'instructions:' in {spec_path.name})")
        return None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{path}: cannot read instructions: {error}")
        return None


def _inside(folder: Path, path: Path) -> bool:
    """Whether `path`, links followed, stays in `folder` (task files are never read through a link out)."""
    return path.resolve().is_relative_to(folder.resolve())


def _check_scorer(folder: Path, spec: TaskSpec, spec_path: Path, problems: list[str]) -> None:
    scorer = spec.scorer
    scorer_dir = folder / "scorer"
    if scorer.command is None and scorer.expected_submission is None:
        problems.append(f"{spec_path}: scorer needs 'command' or 'expected_submission' (or both)")
        return
    if scorer.command is None:
        if scorer_dir.is_dir():
            problems.append(f"{spec_path}: scorer/ folder exists but scorer.command is not set; add the command")
        return
    if not scorer.command.strip():
        problems.append(f"{spec_path}: scorer.command is empty")
        return
    try:
        words = shlex.split(scorer.command)
    except ValueError as error:
        problems.append(f"{spec_path}: scorer.command is not valid shell: {error}")
        return
    for word in words:
        for ref in re.findall(rf"{SCORER_TARGET}/[^\s;|&'\"]+", word):
            relative = ref[len(SCORER_TARGET) + 1 :]
            if not (scorer_dir / relative).exists():
                problems.append(
                    f"{spec_path}: scorer command refers to {ref} but {scorer_dir / relative} does not exist"
                )
