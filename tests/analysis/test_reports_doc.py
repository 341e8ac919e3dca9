"""docs/reports.md is tested: every filter key and measure is documented, and its Python example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from report_runs import Run, add_runs, add_tasks

from proctor.analysis import measures
from proctor.analysis._filters import KEYS
from proctor.store import Store

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_filter_key_and_measure_is_documented() -> None:
    reports = (DOCS / "reports.md").read_text()
    for key in KEYS:
        assert f"| `{key}` |" in reports, f"filter key {key} is not in docs/reports.md"
    extending = (DOCS / "extending.md").read_text()
    assert "@measure" in extending
    for name in measures():
        assert f"| `{name}` |" in reports and f"`{name}`" in extending, f"measure {name} is not documented"


def test_the_python_example_runs(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    add_tasks(store, {"examples/a": ["shell"], "examples/b": ["python"]})
    add_runs(
        store,
        [
            Run(t, agent=agent, score=float(i % 2))
            for t in ("examples/a", "examples/b")
            for i, agent in enumerate(["react", "tags"] * 3)
        ],
    )
    store.close()
    section = (DOCS / "reports.md").read_text().split("## Capability reports from Python")[1].split("\n## ")[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("lab/alpha react ")
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")
