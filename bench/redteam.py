"""Red-team figures: self-BLEU over many attacks (the two-largest-counts method against BLEU text by text), and a
campaign of scripted attempts stored and reported.

Attacks are made-up sentences of 8–20 words from a 300-word vocabulary (seeded). The campaign uses the scripted red,
target and judge (no network) on a fresh SQLite file; the stored runs are counted before a time is printed.

Usage: python bench/redteam.py [--texts 500 2000] [--attempts 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from proctor.redteam import EXAMPLES, RedTeamConfig, bleu, campaign_report, load_config, run_campaign, self_bleu, tokens
from proctor.store import Store


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(300)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(8, 20))) for _ in range(count)]


def _direct(texts: list[str]) -> float:
    split = [tokens(t) for t in texts]
    return sum(bleu(split[:i] + split[i + 1 :], w) for i, w in enumerate(split)) / len(split)


def _median(measure: Callable[[], object], repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = measure()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for count in args.texts:
        texts = _texts(count)
        fast, runs, value = _median(lambda texts=texts: self_bleu(texts), args.repeats)
        line = f"self-BLEU of {count} attacks: {fast:.3f} s (runs {', '.join(f'{t:.3f}' for t in runs)})"
        if count <= 500:
            slow, _, direct = _median(lambda texts=texts: _direct(texts), 1)
            assert abs(float(direct) - float(value)) < 1e-12  # type: ignore[arg-type]
            line += f"; text by text {slow:.2f} s ({slow / fast:.0f}×)"
        print(line)
    settings = load_config(EXAMPLES / "password.yaml", RedTeamConfig).model_copy(
        update={"attempts": args.attempts, "batch_size": 100, "concurrency": 64}
    )
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        store = Store(f"sqlite:///{Path(folder) / 'runs.db'}")
        start = time.perf_counter()
        campaign = asyncio.run(run_campaign(settings, store))
        ran = time.perf_counter() - start
        assert store.count_runs() == args.attempts
        start = time.perf_counter()
        report = campaign_report(store, campaign)
        reported = time.perf_counter() - start
        assert report.attempts == args.attempts
        print(
            f"campaign of {args.attempts} scripted attempts: {ran:.2f} s ({args.attempts / ran:.0f} attempts/s); "
            f"report {reported:.2f} s; success {report.success.rate:.3f}"
        )
        store.close()


if __name__ == "__main__":
    main()
