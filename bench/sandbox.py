"""Sandbox costs: start a sandbox (its first command) many times, and run `true` in one many times; report
wall-time percentiles, and whether the whole-sandbox limits (a cgroup) were on.

Usage: python bench/sandbox.py [--runs 200] [--starts 20] [--backend bwrap] [--network]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from proctor.sandbox import get_sandbox

WARMUP = 10
TARGET_P50_MS = 20.0


def percentile(sorted_values: list[float], q: float) -> float:
    """The `q`-quantile (0..1) of already sorted values, nearest-rank."""
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def measure_starts(backend: str, starts: int, network: bool) -> list[float]:
    """Milliseconds from building a sandbox to the end of its first command (`true`), and closing it."""
    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-"))
    folder.chmod(0o755)
    times = []
    try:
        for index in range(starts):
            started = time.perf_counter()
            box = get_sandbox(backend, workspace=folder / f"workspace{index}", network=network)
            await box.exec("true")
            times.append((time.perf_counter() - started) * 1000)
            await box.close()
        return sorted(times)
    finally:
        shutil.rmtree(folder)


async def measure(backend: str, runs: int, network: bool) -> tuple[list[float], bool]:
    """Milliseconds of wall time for each of `runs` executions of `true`, after a warm-up; and whether the
    sandbox had a cgroup (limits for the sandbox as a whole)."""
    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-"))
    folder.chmod(0o755)
    try:
        box = get_sandbox(backend, workspace=folder / "workspace", network=network)
        for _ in range(WARMUP):
            await box.exec("true")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            result = await box.exec("true")
            times.append((time.perf_counter() - started) * 1000)
            if result.exit_code != 0:
                raise SystemExit(f"`true` failed in the sandbox: {result.stderr}")
        whole = getattr(box, "cgroup", None) is not None
        await box.close()
        return sorted(times), whole
    finally:
        shutil.rmtree(folder)


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backend", default="bwrap")
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--network", action="store_true")
    args = parser.parse_args()
    times, whole = asyncio.run(measure(args.backend, args.runs, args.network))
    starts = asyncio.run(measure_starts(args.backend, args.starts, args.network))
    p50 = percentile(times, 0.5)
    rows = [
        ("backend", args.backend + (" (network)" if args.network else "")),
        ("limits", "whole sandbox (cgroup)" if whole else "per process (no cgroup)"),
        ("start p50 ms", f"{percentile(starts, 0.5):.1f}  (a new sandbox's first command; {len(starts)} starts)"),
        ("start max ms", f"{starts[-1]:.1f}"),
        ("runs", f"{len(times)} (after {WARMUP} warm-up)"),
        ("min ms", f"{times[0]:.1f}"),
        ("p50 ms", f"{p50:.1f}  (target <= {TARGET_P50_MS:.0f}: {'met' if p50 <= TARGET_P50_MS else 'missed'})"),
        ("mean ms", f"{statistics.fmean(times):.1f}"),
        ("p99 ms", f"{percentile(times, 0.99):.1f}"),
        ("max ms", f"{times[-1]:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
