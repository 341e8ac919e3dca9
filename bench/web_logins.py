"""Other pages while wrong logins arrive in a burst: the median and worst time of `/api/me` for a logged-in person
while `--burst` clients try wrong passwords at once (Argon2id, about 64 MiB and tens of milliseconds each), with
password checks bounded (`hash_workers`, 2 by default) and, for comparison, as wide as the server's thread pool
(40). Also the peak of the process's resident memory during each burst.

Measured through a real uvicorn server on 127.0.0.1 with HTTP clients; the login limits are raised so every wrong
login is checked.

Usage: python bench/web_logins.py [--burst 24] [--rounds 3]
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn

from proctor.store import Store, users
from proctor.web import WebSettings, create_app

PASSWORD = "bench-password"


def serve(store: Store, settings: WebSettings) -> tuple[uvicorn.Server, str]:
    """The app under uvicorn on a free loopback port, in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(store, settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{port}"


def measure(store: Store, workers: int, burst: int, rounds: int) -> tuple[float, float, float, float]:
    """Median and worst seconds of `/api/me` during the bursts, the bursts' seconds, and peak RSS in MiB."""
    many = 10**6
    settings = WebSettings(login_failures_per_address=many, login_failures_per_name=many, hash_workers=workers)
    server, base = serve(store, settings)
    try:
        with httpx.Client(base_url=base, timeout=120) as person:
            person.post("/api/login", json={"name": "rob", "password": PASSWORD}).raise_for_status()
            person.get("/api/me").raise_for_status()
            times: list[float] = []
            took: list[float] = []
            for _ in range(rounds):
                done = threading.Event()

                def wrong(_: int) -> int:
                    with httpx.Client(base_url=base, timeout=120) as client:
                        return client.post("/api/login", json={"name": "rob", "password": "wrong"}).status_code

                def attack(done: threading.Event = done) -> None:
                    started = time.perf_counter()
                    with ThreadPoolExecutor(burst) as pool:
                        codes = list(pool.map(wrong, range(burst)))
                    assert set(codes) == {401}, codes
                    took.append(time.perf_counter() - started)
                    done.set()

                threading.Thread(target=attack, daemon=True).start()
                while not done.is_set():
                    started = time.perf_counter()
                    person.get("/api/me").raise_for_status()
                    times.append(time.perf_counter() - started)
                    time.sleep(0.02)
    finally:
        server.should_exit = True
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return statistics.median(times), max(times), statistics.median(took), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="proctor-bench-logins-"))
    store = Store(f"sqlite:///{folder / 'web.db'}")
    store.write(users.add_user, "rob", "researcher", PASSWORD)
    # Bounded first: the process's peak memory only grows, so the unbounded run's peak is the larger one.
    for workers, label in ((2, "bounded (2 checks at once)"), (40, "as wide as the thread pool (40)")):
        median, worst, burst, peak = measure(store, workers, args.burst, args.rounds)
        print(
            f"{label}: /api/me median {median * 1000:.0f} ms, worst {worst * 1000:.0f} ms during a burst of "
            f"{args.burst} wrong logins (each burst {burst:.2f} s); peak RSS {peak:.0f} MiB"
        )


if __name__ == "__main__":
    main()
