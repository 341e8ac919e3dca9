"""Browser: `inspect view` opens the logs `proctor export inspect` wrote — the log list, the samples with their
scores, and a sample's transcript with its model calls, tool calls and score (Debian's Chromium, headless)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from interop_runs import proctor
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("view")
    db = f"sqlite:///{folder / 'runs.db'}"
    result = proctor("run", "examples", "--task", "find-secret", "--task", "fix-test", "--agent", "react", db=db)
    assert result.returncode == 0, result.stderr
    exported = proctor("export", "inspect", "-o", str(folder / "logs"), db=db)
    assert exported.returncode == 0, exported.stderr
    return folder / "logs"


@pytest.fixture(scope="module")
def viewer(logs: Path) -> Iterator[str]:
    """`inspect view` on the logs, on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    inspect = Path(sys.executable).parent / "inspect"
    command = [str(inspect), "view", "start", "--log-dir", str(logs), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "inspect view did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_inspect_view_opens_the_exported_logs(viewer: str, logs: Path) -> None:
    (log,) = logs.glob("*.eval")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{viewer}/#/tasks/{quote(log.name)}")
            page.get_by_text("fix-test").first.wait_for(timeout=30_000)
            listing = page.inner_text("body")
            assert "find-secret" in listing and "scripted/baseline" in listing and "0.7" in listing
            page.goto(f"{viewer}/#/tasks/{quote(log.name)}/samples/sample/find-secret/1/")
            page.get_by_text("TOOL: BASH").first.wait_for(timeout=30_000)
            sample = page.inner_text("body")
            assert "MODEL CALL: SCRIPTED/BASELINE" in sample.upper()
            assert "TOOL: SUBMIT" in sample.upper() and "7f3a9c2e41b8" in sample
            assert errors == []
        finally:
            browser.close()
