"""Checks made before a command stores any run: a run that cannot work fails at once, in one line, not as one
stored failure per task.

`preflight` checks a run config: the agent's (and the rater's) model can be used — its key or base URL is there and
its server answers one cheap request (see `proctor.models.Checkable`) — and the sandbox backend runs `true` on a
temporary workspace. Numbers out of range are refused earlier, when the config is validated.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from proctor.models import CHECK_TIMEOUT, check_model, get_model
from proctor.runner._config import RunConfig, default_workspaces
from proctor.sandbox import Limits, SandboxError, get_sandbox, remove_workspace

SANDBOX_SECONDS = 60.0
"""Most seconds the sandbox check's `true` may take (Docker may have to start a container)."""


async def check_models(models: Mapping[str, Mapping[str, Any]], *, timeout: float = CHECK_TIMEOUT) -> None:
    """Build each model (name → provider options) and check, all at once, that it can be used.

    Raises:
        ModelError: the first model (in the order given) that cannot be used, saying what to fix.
    """
    built = [get_model(name, **options) for name, options in models.items()]
    outcomes = await asyncio.gather(*(check_model(m, timeout=timeout) for m in built), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def check_sandbox(name: str, *, workspaces: Path | None = None, limits: Limits | None = None) -> None:
    """Build the sandbox backend `name` on a temporary workspace and run `true` in it.

    Raises:
        SandboxError: the backend is unknown or cannot run a command here, saying what to fix.
    """
    root = workspaces or default_workspaces()
    workspace = root / f".preflight-{uuid.uuid4().hex[:12]}"
    limits = (limits or Limits()).model_copy(update={"timeout": SANDBOX_SECONDS})
    try:
        root.mkdir(parents=True, exist_ok=True)
        sandbox = await asyncio.to_thread(get_sandbox, name, workspace=workspace, limits=limits)
        try:
            result = await sandbox.exec("true", limits=limits)
        finally:
            await sandbox.close()
    except OSError as error:
        raise SandboxError(f"the {name} sandbox cannot start: {error}") from error
    finally:
        await asyncio.to_thread(remove_workspace, workspace)
    if result.exit_code != 0:
        detail = " ".join(result.stderr.split())[:300] or f"exit code {result.exit_code}"
        raise SandboxError(
            f"the {name} sandbox cannot run a command ({detail}): see docs/sandbox.md, or try another --sandbox"
        )


def models_of(config: RunConfig) -> dict[str, dict[str, Any]]:
    """The models a run of `config` calls, with their options: the agent's and the rating chooser's."""
    models = {config.model: dict(config.model_options)}
    if config.chooser.model is not None:
        models.setdefault(config.chooser.model, {})
    return models


async def preflight_async(
    config: RunConfig,
    *,
    workspaces: Path | None = None,
    timeout: float = CHECK_TIMEOUT,
    sandbox: bool = True,
) -> None:
    """Check, before any run is stored, that runs of `config` can work: its models can be used and (with
    `sandbox`) its sandbox backend runs a command. The `proctor` commands that start runs call it first.

    Example:
        await preflight_async(RunConfig(model="openai/gpt-4o-mini", sandbox="docker"))

    Raises:
        ModelError: a model cannot be used (no key, no answer, a refused key, a missing folder).
        SandboxError: the sandbox backend is unknown or cannot run a command.
    """
    checks = [check_models(models_of(config), timeout=timeout)]
    if sandbox:  # at once: the sandbox's process starts while the model's SDK loads and its server answers
        checks.append(check_sandbox(config.sandbox, workspaces=workspaces, limits=config.command_limits))
    for outcome in await asyncio.gather(*checks, return_exceptions=True):
        if isinstance(outcome, BaseException):  # the models' problem first, as the docstring lists them
            raise outcome


def preflight(config: RunConfig, *, workspaces: Path | None = None, timeout: float = CHECK_TIMEOUT) -> None:
    """Synchronous twin of `preflight_async`."""
    asyncio.run(preflight_async(config, workspaces=workspaces, timeout=timeout))
