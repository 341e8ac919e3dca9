"""The docs are tested: every command, option, setting and extension point is documented, and the README's
commands run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import BaseModel

from proctor.agents._base import _agents
from proctor.cli import app
from proctor.models import GenerateConfig, providers
from proctor.models._base import _providers
from proctor.runner import ApprovalConfig, ChooserConfig, RunConfig, RunLimits, StuckConfig
from proctor.runner._choosers import _choosers
from proctor.sandbox import Limits, sandbox_backends
from proctor.store import Store

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def commands(group: Any, path: str = "proctor") -> list[tuple[str, Any]]:
    """Every command under `group` (Typer's own Click: groups are told by their `commands`)."""
    found = [(path, group)]
    for name, sub in getattr(group, "commands", {}).items():
        found += commands(sub, f"{path} {name}")
    return found


def test_every_command_and_option_is_in_the_cli_docs() -> None:
    text = (DOCS / "cli.md").read_text()
    found = commands(typer.main.get_command(app))[1:]
    assert len(found) > 20  # the walk reaches the sub-commands
    for path, command in found:
        if not hasattr(command, "commands"):
            assert f"`{path}" in text, f"{path} is not documented in docs/cli.md"
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("--") and flag != "--help" and flag != "--db":
                    assert f"`{flag}`" in text, f"{path} {flag} is not documented in docs/cli.md"
    assert "`--db URL`" in text and "PROCTOR_DB" in text


def fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


@pytest.mark.parametrize(
    "model", [RunConfig, ChooserConfig, RunLimits, StuckConfig, ApprovalConfig, GenerateConfig, Limits]
)
def test_every_setting_is_in_the_config_docs(model: type[BaseModel]) -> None:
    text = (DOCS / "config.md").read_text()
    assert f"### `{model.__name__}`" in text
    section = text.split(f"### `{model.__name__}`")[1].split("###")[0]
    for name in fields(model):
        assert f"| `{name}` |" in section, f"{model.__name__}.{name} is not documented in docs/config.md"


@pytest.mark.parametrize("page", ["config.md", "agents.md"])
def test_the_run_configs_in_the_docs_are_valid(page: str) -> None:
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)
    assert blocks
    for block in blocks:
        RunConfig.model_validate(yaml.safe_load(block))


def test_every_extension_point_is_documented() -> None:
    extending = (DOCS / "extending.md").read_text()
    for decorator in ("@provider", "@agent", "@chooser", "@sandbox_backend"):
        assert decorator in extending
    for name in [a for a, factory in _agents.items() if factory.__module__.startswith("proctor.")]:
        assert f"`{name}`" in extending and f"| `{name}` |" in (DOCS / "agents.md").read_text()
    models = (DOCS / "models.md").read_text()
    for name in [p for p in providers() if _providers[p].__module__.startswith("proctor.")]:  # not test doubles
        assert f"`{name}/" in models, f"provider {name} is not documented in docs/models.md"
        assert f"`{name}`" in extending
    for name in _choosers:
        assert f"`{name}`" in extending
    for name in sandbox_backends():
        assert f"`{name}`" in extending and name in (DOCS / "sandbox.md").read_text()


def test_readme_links_point_at_files() -> None:
    for link in re.findall(r"\]\(([^)]+)\)", (ROOT / "README.md").read_text()):
        assert (ROOT / link).exists(), link


def readme_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_the_readme_quick_start_is_the_makefile() -> None:
    quick = readme_blocks("bash")[0]
    assert [line.split("#")[0].strip() for line in quick.strip().splitlines()] == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "proctor run examples" in makefile and "pytest" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_the_readme_commands_run(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'readme.db'}"
    env = os.environ | {"PROCTOR_DB": db, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    lines = [line.split("  #")[0].strip() for line in readme_blocks("bash")[1].strip().splitlines()]
    for line in lines:
        if "RUN" in line:
            (run,) = Store(db).runs(task="find-secret")[:1]
            line = line.replace("RUN", run.id)
        result = subprocess.run(line, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{line}\n{result.stderr}"
    assert (tmp_path / "runs.jsonl").read_text().count("\n") >= 3
    assert (tmp_path / "pairs.jsonl").exists()


def test_the_readme_python_example_runs(tmp_path: Path) -> None:
    (code,) = readme_blocks("python")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done 1.0"


def test_the_agents_example_runs(tmp_path: Path) -> None:
    (code,) = re.findall(r"```python\n(.*?)```", (DOCS / "agents.md").read_text(), re.DOTALL)
    assert len(code.strip().splitlines()) < 60
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done 1.0"
    runs = Store(f"sqlite:///{tmp_path / 'runs.db'}").runs()
    assert [run.config["agent"] for run in runs] == ["window"]
