"""A react run's page: each tool call with its arguments (or its error), each chosen call's result under it, all
escaped; the map and the JSON; `proctor show` draws the same. In-process, on a run made by the real runner."""

from __future__ import annotations

import html
import re

from rich.console import Console
from web_runs import REACT, XSS, Login, drive

from proctor.cli._render import run_tree
from proctor.store import Store
from proctor.tasks import Task


def calls_of(page: str, step: int) -> list[str]:
    """The HTML of each tool call shown in step `step`, in order."""
    section = page.split(f'id="step-{step}"')[1].split("<section")[0]
    return [chunk.split("</li>")[0] for chunk in section.split('<li class="call')[1:]]


def text(fragment: str) -> str:
    """What a person reads in an HTML fragment: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", fragment))


def test_a_react_run_page_shows_each_call_and_its_result(login: Login, web_store: Store, task: Task) -> None:
    run_id = drive(web_store, task, REACT)
    assert web_store.run(run_id).score == 1.0
    client, _ = login("rob")
    page = client.get(f"/runs/{run_id}").text
    assert "<script>window" not in page and "<b>bold" not in page  # model output is untrusted: escaped everywhere
    assert page.count("&lt;script&gt;window.__xss=1&lt;/script&gt;") >= 3  # the reasoning, an argument, an output

    looked, wrote = calls_of(page, 0)
    assert '<span class="tool">bash</span>' in looked and "t1" in text(looked)
    assert f"printf '%s' '{XSS}'; cat note.txt" in text(looked)  # arguments shown as values, not JSON text
    result = looked.split('class="obs call-result')[1]
    assert "exit 0" in text(result) and f"{XSS}the answer is 42" in text(result)
    assert '<span class="tool">write_file</span>' in wrote and "x=1\n<b>bold</b>" in text(wrote)
    assert "wrote 16 bytes to a.txt" in text(wrote)

    malformed, unknown = calls_of(page, 1)
    assert "arguments are not valid JSON" in text(malformed) and '{"command": "ls' in text(malformed)
    assert "unknown tool 'browse'" in text(unknown) and XSS in text(unknown)
    assert all("failed" in text(c.split("call-result")[1]) for c in (malformed, unknown))

    edit, python, read = calls_of(page, 2)
    assert "edited a.txt" in text(edit) and "old x=1" in " ".join(text(edit).split())
    assert "x=42" in text(python.split("call-result")[1]) and "x=42\n<b>bold</b>" in text(read.split("call-result")[1])

    submitted, late = calls_of(page, 3)
    assert "42" in text(submitted.split("call-result")[1]) and "not run: an earlier call ended the task" in text(late)
    assert "call-result" not in late

    data = client.get(f"/api/runs/{run_id}").json()
    bands = [(b["outcome"], b["failed"], b["start"], b["stop"]) for b in data["map"]]
    assert bands == [("calls", 0, 0, 1), ("calls", 1, 1, 2), ("calls", 0, 2, 4)]  # alike steps collapse
    assert [c["tool"] for c in data["steps"][2]["observation"]["calls"]] == ["edit_file", "python", "read_file"]


def test_proctor_show_draws_each_call_and_its_result(web_store: Store, task: Task) -> None:
    run_id = drive(web_store, task, REACT)
    console = Console(record=True, width=200)
    console.print(run_tree(web_store, web_store.run(run_id), full=True))
    shown = console.export_text()
    assert f"command: printf '%s' '{XSS}'; cat note.txt" in shown and f"{XSS}the answer is 42" in shown
    assert "arguments are not valid JSON" in shown and "unknown tool 'browse'" in shown
    assert "→ python exit 0" in shown and "not run: an earlier call ended the task" in shown
