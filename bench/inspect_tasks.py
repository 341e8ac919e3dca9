"""Inspect tasks through proctor against `inspect eval` on the same work: 1,000 one-sample generate() tasks.

One task file holds one `@task` of 1,000 samples (`What is N+1?`, target `N+1`), solver `generate()`, scorer
`match()`. Both commands run it against the same scripted OpenAI-compatible server (tests/loopback_server.py, in
its own process), which answers every request right after `--delay` seconds:

1. `proctor run FILE --model openai/gpt-4o-mini --concurrency C`: each sample a proctor run (the `answer` agent, a
   sandbox per run, every step stored in a fresh SQLite file), scored by the task's `match()`;
2. `inspect eval FILE --model openai/gpt-4o-mini --max-connections C --max-samples C`: Inspect's own run, writing
   its log.

Each is a fresh process (imports included), timed on the wall clock, and checked — proctor stored 1,000 runs all
scored 1.0; Inspect's log has status `success` and accuracy 1.0 — so a broken path cannot post a fast time.

Usage: python bench/inspect_tasks.py [--samples 1000] [--concurrency 100] [--delay 0.1] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspect_ai.log import list_eval_logs, read_eval_log

from proctor.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from loopback_server import RecordedRequest, Reply, spawn_loopback_server

MODEL = "openai/gpt-4o-mini"  # a name Inspect sends to chat completions (the loopback server has no /responses)

TASK_FILE = """
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import generate


@task
def plus_one() -> Task:
    samples = [Sample(input=f"What is {{n}}+1?", target=str(n + 1), id=n) for n in range({samples})]
    return Task(dataset=samples, solver=generate(), scorer=match())
"""


def respond(request: RecordedRequest) -> Reply:
    """The right answer to `What is N+1?`."""
    question = str(request.body["messages"][-1]["content"])
    found = re.search(r"What is (\d+)\+1", question)
    return Reply(text=str(int(found.group(1)) + 1) if found else "?", usage=(12, 1))


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}: {result.stderr[-2000:]}")
    return seconds


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the server takes per answer")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="proctor-bench-inspect-", dir="/tmp"))
    root.chmod(0o755)  # the sandbox's unprivileged host user must reach the workspaces
    task_file = root / "plus_one.py"
    task_file.write_text(TASK_FILE.format(samples=args.samples))
    keys = ("OPENAI_", "ANTHROPIC_", "INSPECT_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(keys)} | {"OPENAI_API_KEY": "bench"}
    base["PROCTOR_WORKSPACES"] = str(root / "workspaces")
    proctor_times, inspect_times = [], []
    try:
        with spawn_loopback_server(delay=args.delay, default=f"{__file__}:respond") as url:
            env = base | {"OPENAI_BASE_URL": f"{url}/v1"}
            for repeat in range(args.repeats):
                db = f"sqlite:///{root / f'runs-{repeat}.db'}"
                command = [sys.executable, "-m", "proctor", "run", task_file.name, "--model", MODEL]
                command += ["--concurrency", str(args.concurrency), "--json"]
                proctor_times.append(timed(command, env | {"PROCTOR_DB": db}, root))
                runs = Store(db).runs(limit=args.samples + 1)
                scores = {(r.status.value, r.score) for r in runs}
                assert len(runs) == args.samples and scores == {("done", 1.0)}, (len(runs), scores)
                logs = root / f"logs-{repeat}"
                command = [str(Path(sys.executable).parent / "inspect"), "eval", task_file.name, "--model", MODEL]
                command += ["--max-connections", str(args.concurrency), "--max-samples", str(args.concurrency)]
                command += ["--log-dir", str(logs), "--display", "none"]
                inspect_times.append(timed(command, env, root))  # Inspect takes a file by a relative path
                (info,) = list_eval_logs(str(logs))
                log = read_eval_log(info, header_only=True)
                accuracy = log.results.scores[0].metrics["accuracy"].value if log.results else None
                assert log.status == "success" and accuracy == 1.0, (log.status, accuracy, log.error)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    proctor_s, inspect_s = statistics.median(proctor_times), statistics.median(inspect_times)
    rows = [
        ("samples", f"{args.samples}, {args.concurrency} concurrent, server answers after {args.delay * 1000:g} ms"),
        ("theoretical s", f"{args.samples / args.concurrency * args.delay:.2f}"),
        ("inspect eval s", f"{inspect_s:.2f}  (runs: {', '.join(f'{t:.2f}' for t in inspect_times)})"),
        ("proctor run s", f"{proctor_s:.2f}  (runs: {', '.join(f'{t:.2f}' for t in proctor_times)})"),
        ("proctor / inspect", f"{proctor_s / inspect_s:.2f}x"),
        ("proctor runs/s", f"{args.samples / proctor_s:.0f}"),
        ("load average", json.dumps([round(x, 1) for x in os.getloadavg()])),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  wall seconds, fresh process, median over {args.repeats} repeats")
    print(f"{'-' * width}  {'-' * 50}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
