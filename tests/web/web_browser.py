"""A real server and a real browser for web tests: the app under uvicorn on a free loopback port, in a thread, and
Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from web_runs import PASSWORD, PEOPLE, write_task

from proctor.runner import work
from proctor.store import Store, users
from proctor.tasks import Task

SHOTS = Path(__file__).parents[2] / "screenshots"
"""Where browser tests save screenshots (not committed)."""
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL, `http://127.0.0.1:PORT`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        serving.join(timeout=10)


def chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless (never a browser Playwright downloads)."""
    SHOTS.mkdir(exist_ok=True)
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def log_in(page: Page, base: str, name: str) -> None:
    """Log `name` in through the login page."""
    page.goto(f"{base}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(lambda url: "/login" not in url)


@dataclass
class Site:
    """The server, its store, the task its runs do, the browser, and the folder holding the store and the task."""

    store: Store
    base: str
    task: Task
    browser: Browser
    folder: Path


def worker_loop(store: Store, stop: threading.Event) -> None:
    """`proctor worker` in a thread (the test-double models live in this process)."""
    while not stop.is_set():
        asyncio.run(work(store, poll=0.1, once=True))
        stop.wait(0.2)


@contextmanager
def site_with_worker(workspaces: Path, prefix: str, *, instructions: str | None = None) -> Iterator[Site]:
    """A fresh SQLite store with `PEOPLE` as users, a native task (`write_task`), a worker driving queued runs, the
    web app served on loopback and Chromium, all until the block ends. The folder is made next to `workspaces` so
    the sandbox can read the task's files."""
    from proctor.web import create_app

    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=workspaces.parent))
    folder.chmod(0o755)
    store = Store(f"sqlite:///{folder / 'proctor.db'}")
    for name, role in PEOPLE.items():
        store.write(users.add_user, name, role, PASSWORD)
    task = write_task(folder / "tasks", **({} if instructions is None else {"instructions": instructions}))
    stop = threading.Event()
    working = threading.Thread(target=worker_loop, args=(store, stop), daemon=True)
    working.start()
    try:
        with serving(create_app(store)) as base, sync_playwright() as playwright:
            browser = chromium(playwright)
            yield Site(store=store, base=base, task=task, browser=browser, folder=folder)
            browser.close()
    finally:
        stop.set()
        working.join(timeout=10)
        store.close()


@contextmanager
def checked_page(browser: Browser, *, accept_dialogs: bool = False) -> Iterator[Page]:
    """A fresh 1280×900 page that fails the test on any script error; with `accept_dialogs` it accepts
    confirmations."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if accept_dialogs:
        page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()
    assert errors == []
