"""The checks before runs are stored: the models' and the sandbox's, made at once, the models' problem first."""

from __future__ import annotations

from pathlib import Path

import pytest
from loopback_server import LoopbackServer

from proctor.models import ModelError
from proctor.runner import RunConfig, preflight_async
from proctor.sandbox import SandboxError


async def test_a_model_and_a_sandbox_that_both_fail_say_the_models_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    config = RunConfig(model="openai/gpt-4o-mini", sandbox="nosuch")
    with pytest.raises(ModelError, match="no API key: set OPENAI_API_KEY"):
        await preflight_async(config, workspaces=tmp_path / "workspaces")
    with pytest.raises(SandboxError, match="unknown sandbox backend 'nosuch'"):
        await preflight_async(config.model_copy(update={"model": "scripted/baseline"}), workspaces=tmp_path / "w")


async def test_the_sandbox_is_checked_while_the_model_server_answers(reachable_tmp: Path) -> None:
    """The model's server refuses the key after a while; the sandbox check has run meanwhile (its workspaces
    folder is made), where checks one after the other would have stopped at the model."""
    workspaces = reachable_tmp / "workspaces"
    with LoopbackServer(key="right", delay=0.5) as server:
        options = {"base_url": server.base_url, "api_key": "wrong"}
        config = RunConfig(model="openai/m", model_options=options)
        with pytest.raises(ModelError, match="The key was refused"):
            await preflight_async(config, workspaces=workspaces)
    assert workspaces.is_dir() and list(workspaces.iterdir()) == []  # made, and the check's workspace removed


async def test_a_model_and_a_sandbox_that_work_pass(reachable_tmp: Path) -> None:
    with LoopbackServer() as server:
        config = RunConfig(model="openai/m", model_options={"base_url": server.base_url, "api_key": "k"})
        await preflight_async(config, workspaces=reachable_tmp / "workspaces")
    assert [r.path for r in server.requests] == ["/v1/models"]
