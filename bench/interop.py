"""Inspect logs out and in: the time to export 10,000 runs as an Inspect eval log, and to import them.

10,000 synthetic runs are stored in a fresh SQLite file: 100 tasks of one family, 100 runs each, one model, the
`react` agent; each run has three steps (a `bash` call, a `write_file` call, a `submit` call) with their
observations, one usage row per step, a score and its events. Then:

1. export: `proctor.interop.export_inspect` writes them as one `.eval` log (10,000 samples, 100 epochs);
2. import: `proctor.interop.import_inspect` stores that log in another fresh SQLite file.

Both are checked: the log's header reads with status `success` and 10,000 samples; the import stores 10,000 runs
with 30,000 steps and the same scores. Targets: each under 30 s (wall time; the import of `inspect_ai` on first use
included). The CPU time (all threads: the recorder compresses with zstd threads) and the machine's load average are
printed too, since wall time on a shared machine says as much about the neighbours as about the code.

Usage: python bench/interop.py [--runs 10000] [--tasks 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from proctor.interop import export_inspect, import_inspect
from proctor.interop._rows import RunRows, StepRows, store_runs
from proctor.runner import RunConfig
from proctor.store import Store
from proctor.store import _schema as s

TARGET_SECONDS = 30.0
MODEL = "openai/gpt-4o-mini"
OUTPUT = "line of output from a command\n" * 8  # a typical short observation, ~250 characters


def _call(n: int, tool: str, argument: dict[str, str]) -> dict[str, Any]:
    action = {"bash": "bash", "write_file": "write", "submit": "submit"}[tool]
    raw = json.dumps(argument)
    return {"id": f"call_{n}", "tool": tool, "arguments": raw, "action": action, "argument": argument, "error": None}


def _result(n: int, tool: str, kind: str, output: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "output": output,
        "stderr": "",
        "exit_code": 0 if kind == "bash" else None,
        "failed": False,
        "timed_out": False,
        "truncated": False,
        "duration": 0.01,
        "child_run_id": None,
        "id": f"call_{n}",
        "tool": tool,
    }


def _step(index: int, text: str, call: dict[str, Any], result: dict[str, Any]) -> StepRows:
    option = {
        "text": text,
        "action": "calls",
        "argument": {"calls": [call]},
        "parse_error": None,
        "source": f"model:{MODEL}",
    }
    kind = result["kind"] if result["kind"] == "submit" else "calls"
    shown = result["output"] if kind == "submit" else f"[{result['tool']}] {result['output']}"
    observation = {"kind": kind, "output": shown, "duration": 0.01, "calls": [result]}
    return StepRows(index=index, options=[option], chosen=0, chooser="first", observation=observation)


def synthetic_run(i: int, tasks: int, config: dict[str, Any], start: datetime) -> RunRows:
    task = f"bench/t{i % tasks}"
    answer = str(i % 7)
    steps = [
        _step(
            0, "Look at the data.", _call(1, "bash", {"command": "cat data.txt"}), _result(1, "bash", "bash", OUTPUT)
        ),
        _step(
            1,
            "Write the answer down.",
            _call(2, "write_file", {"path": "answer.txt", "content": answer}),
            _result(2, "write_file", "write", "wrote 1 bytes to answer.txt"),
        ),
        _step(2, "Submit.", _call(3, "submit", {"answer": answer}), _result(3, "submit", "submit", answer)),
    ]
    usage = [
        (n, {"model": MODEL, "role": "agent", "input_tokens": 900 + 300 * n, "output_tokens": 40}) for n in (0, 1, 2)
    ]
    created = start + timedelta(seconds=i)
    return RunRows(
        task={
            "id": task,
            "family": "bench",
            "name": task.split("/")[1],
            "format": "native",
            "source": "/nonexistent",
            "instructions": f"Task {i % tasks}: read data.txt and submit the answer.",
            "permissions": [],
        },
        run={
            "id": f"{i:012x}",
            "task_id": task,
            "status": "done",
            "model": MODEL,
            "config": config,
            "submission": answer,
            "score": float(i % 3 == 0),
            "created_at": created,
            "finished_at": created + timedelta(seconds=5),
            "active_seconds": 5.0,
        },
        steps=steps,
        usage=usage,
        events=[("status", {"status": "done", "error": None}, created + timedelta(seconds=5))],
    )


def _count(store: Store, table: Any) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-interop-"))
    try:
        source = Store(f"sqlite:///{folder / 'source.db'}")
        config = RunConfig(model=MODEL, agent="react").model_dump(mode="json")
        start = datetime.now(UTC)
        for first in range(0, args.runs, 1000):
            batch = [synthetic_run(i, args.tasks, config, start) for i in range(first, min(first + 1000, args.runs))]
            source.write(store_runs, batch)
        records = source.runs(top_level=True, limit=args.runs)
        assert len(records) == args.runs

        began, cpu = time.perf_counter(), time.process_time()
        exported = export_inspect(source, records, folder / "logs")
        export_seconds, export_cpu = time.perf_counter() - began, time.process_time() - cpu
        (log,) = exported.logs
        with zipfile.ZipFile(log) as archive:
            header = json.loads(archive.read("header.json"))
            samples = sum(1 for name in archive.namelist() if name.startswith("samples/"))
        assert header["status"] == "success" and samples == args.runs, (header["status"], samples)

        target = Store(f"sqlite:///{folder / 'target.db'}")
        began, cpu = time.perf_counter(), time.process_time()
        imported = import_inspect(target, [Path(log)])
        import_seconds, import_cpu = time.perf_counter() - began, time.process_time() - cpu
        assert imported.runs == args.runs, imported
        assert _count(target, s.steps) == 3 * args.runs and _count(target, s.usage) == 3 * args.runs
        solved = sum(1 for r in target.runs(limit=args.runs) if r.score == 1.0)
        assert solved == sum(1 for r in records if r.score == 1.0)

        size = Path(log).stat().st_size / 1e6
        print(f"{args.runs:,} runs ({args.tasks} tasks × {args.runs // args.tasks} epochs, 3 steps each), one log")
        for name, seconds, cpu in (("export", export_seconds, export_cpu), ("import", import_seconds, import_cpu)):
            verdict = "met" if seconds < TARGET_SECONDS else "MISSED"
            per = 1000 * seconds / args.runs
            print(
                f"{name}: {seconds:.1f} s ({per:.2f} ms a run; CPU {cpu:.1f} s, all threads)"
                f" — target < {TARGET_SECONDS:.0f} s: {verdict}"
            )
        print(f"log: {size:.1f} MB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
