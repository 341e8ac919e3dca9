"""The command line starts without loading the runner, the store, the analysis or the model SDKs: they are
imported by the commands that use them (see docs/benchmarks.md for the start-up times)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("numpy", "scipy", "sqlalchemy", "openai", "anthropic", "proctor.runner", "proctor.analysis", "proctor.store")


def loaded_after(code: str) -> list[str]:
    """The heavy modules loaded in a fresh interpreter after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith({HEAVY!r}))))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return loaded


def test_import_proctor_cli_loads_no_heavy_module() -> None:
    assert loaded_after("import proctor.cli") == []


def test_help_builds_every_command_without_heavy_modules() -> None:
    # Building the click command resolves every command's options, as `proctor --help` and `proctor X --help` do.
    code = "import typer\nfrom proctor.cli import app\ntyper.main.get_command(app)"
    assert loaded_after(code) == []


def test_import_proctor_is_lazy_and_its_names_still_load() -> None:
    assert loaded_after("import proctor") == []
    code = "from proctor import RunConfig, Store, load_tasks\nprint(RunConfig.__name__, Store.__name__)"
    assert "proctor.runner" in loaded_after(code)
    assert "proctor.store" in loaded_after(code)


def test_the_runner_loads_the_analysis_only_for_the_stuck_report() -> None:
    assert not [
        m for m in loaded_after("import proctor.runner") if m.startswith(("numpy", "scipy", "proctor.analysis"))
    ]
    assert "proctor.analysis" in loaded_after("from proctor.runner import stuck_report")


def test_a_user_error_is_still_one_line_with_exit_code_2(tmp_path: Path) -> None:
    # TaskError is one of the errors the command line resolves only when one is raised.
    argv = ["proctor", "run", str(tmp_path / "missing"), "--model", "scripted/baseline"]
    argv += ["--db", f"sqlite:///{tmp_path / 'runs.db'}"]
    code = f"import sys; sys.argv = {argv!r}; from proctor.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'missing'}: does not exist; give a task folder, "
        "a METR family folder, a suite folder or 'examples'"
    ]
