"""Loading an Inspect task file leaves the process's working directory alone, while the task still reads its
relative data files from its own folder (as `inspect eval` runs it)."""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from proctor.interop import load_inspect_tasks

TASK_FILE = """
import os

import cwd_probe  # the test's: it checks the process's working directory while this file loads
from inspect_ai import Task, task
from inspect_ai.dataset import Sample, json_dataset
from inspect_ai.solver import generate

cwd_probe.loading(os.getcwd())
QUESTION = open("question.txt").read().strip()  # relative to this file's folder, at import


@task
def relative() -> Task:
    cwd_probe.loading(os.getcwd())
    samples = [Sample(input=QUESTION, target="4", id="q", files={"note.txt": "note.txt"})]
    return Task(dataset=samples + list(json_dataset("more.jsonl")), solver=generate())
"""


class Probe(types.ModuleType):
    """`cwd_probe`: each time the task's code calls `loading`, the loading thread waits while the test looks at
    the process's working directory from another thread."""

    def __init__(self) -> None:
        super().__init__("cwd_probe")
        self.inside = threading.Event()
        self.checked = threading.Event()
        self.seen_by_task: list[str] = []

    def loading(self, cwd: str) -> None:
        self.seen_by_task.append(cwd)
        self.inside.set()
        assert self.checked.wait(30), "the test did not look"
        self.checked.clear()


@pytest.fixture
def probe() -> Iterator[Probe]:
    probe = Probe()
    sys.modules["cwd_probe"] = probe
    yield probe
    del sys.modules["cwd_probe"]


def test_loading_a_task_file_keeps_the_process_cwd_and_reads_relative_files(tmp_path: Path, probe: Probe) -> None:
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "evals_relative.py").write_text(TASK_FILE)
    (folder / "question.txt").write_text("What is 2+2?\n")
    (folder / "note.txt").write_text("a note beside the task\n")
    (folder / "more.jsonl").write_text('{"input": "What is 3+3?", "target": "6", "id": "more"}\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = os.getcwd()
    os.chdir(elsewhere)  # the process works somewhere else than the task's folder
    try:
        loaded: list[object] = []
        loading = threading.Thread(  # as a runner loads tasks while other runs are in flight
            target=lambda: loaded.append(load_inspect_tasks(str(folder / "evals_relative.py")))
        )
        loading.start()
        seen_during = []
        while loading.is_alive():  # each time the task's code runs (its file is imported twice, then the @task)
            if probe.inside.wait(0.05):
                probe.inside.clear()
                seen_during.append(os.getcwd())
                probe.checked.set()
        assert len(seen_during) >= 2 and set(seen_during) == {str(elsewhere)}  # during loading
        assert os.getcwd() == str(elsewhere)  # and after
    finally:
        os.chdir(before)
    assert probe.seen_by_task == [str(folder)] * len(seen_during)  # the task's own code ran in its folder
    (samples,) = loaded
    assert isinstance(samples, list)
    assert [(s.info.id, s.info.instructions) for s in samples] == [
        ("relative/q", "What is 2+2?"),
        ("relative/more", "What is 3+3?"),
    ]
    assert samples[0].files == {"note.txt": b"a note beside the task\n"}
