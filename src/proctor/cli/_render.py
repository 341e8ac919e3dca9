"""Terminal views of runs: tables and trees."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

if TYPE_CHECKING:
    from proctor.store import HoldRecord, ObservationRecord, OptionRecord, RunRecord, StepRecord, Store


if TYPE_CHECKING:
    from proctor.analysis import Estimate

STATUS_STYLE = {
    "done": "green",
    "failed": "red",
    "killed": "red",
    "over_limit": "yellow",
    "paused": "yellow",
    "waiting_human": "magenta",
    "waiting_approval": "magenta",
    "waiting_answer": "magenta",
    "needs_manual_score": "magenta",
    "running": "cyan",
    "scoring": "cyan",
    "queued": "dim",
}


def percent(value: float | None) -> str:
    """`12.5%`, or `—` for nothing."""
    return "—" if value is None else f"{100 * value:.1f}%"


def interval(estimate: Estimate | None) -> str:
    """`50.0% [20.1%, 79.9%]`, or `—` for nothing."""
    if estimate is None:
        return "—"
    return f"{percent(estimate.value)} [{percent(estimate.low)}, {percent(estimate.high)}]"


def print_runs(console: Console, records: Sequence[RunRecord], *, title: str, limit: int | None = None) -> None:
    """A table of runs: task, status, score, steps, tokens, cost, time. With more than `limit` runs, `limit` of
    them: those not solved (score below 1, or none) first, in order, and a line after it counts them all by
    status."""
    table = Table(title=title, title_justify="left")
    models = {r.model for r in records}
    shown = (
        ["run", "task"]
        + (["model"] if len(models) > 1 else [])
        + ["status", "score", "steps", "tokens", "cost", "seconds"]
    )
    if len(models) == 1:
        title = f"{title} · {next(iter(models))}"
    table.title = title
    for column in shown:
        table.add_column(
            column, justify="right" if column in {"score", "steps", "tokens", "cost", "seconds"} else "left"
        )
    rows, more = list(records), ""
    if limit is not None and len(rows) > limit:
        rows = sorted(rows, key=lambda r: r.score is not None and r.score >= 1.0)[:limit]  # stable: in order
        statuses = Counter(r.status.value for r in records)
        counts = " · ".join(f"{status} {count:,}" for status, count in statuses.most_common())
        more = f"{limit} of {len(records):,} runs shown, those not solved first ({counts}); --json lists them all"
    for r in rows:
        score = "—" if r.score is None else f"{r.score:.2f}"
        status = Text(r.status.value, style=STATUS_STYLE.get(r.status.value, ""))
        if r.error and r.status.value != "done":
            status.append(f" ({r.error[:60]})", style="dim")
        table.add_row(
            r.id,
            r.task_id,
            *([r.model] if len(models) > 1 else []),
            status,
            score,
            str(r.steps_done),
            f"{r.input_tokens + r.output_tokens:,}",
            f"${r.cost:.4f}",
            f"{r.active_seconds:.1f}",
        )
    console.print(table)
    if more:
        console.print(more, style="dim", highlight=False)


def print_side_by_side(console: Console, records: Sequence[RunRecord], agents: list[str], *, title: str) -> None:
    """A table of tasks × agents: each run's score (or status), then each agent's runs solved and mean score."""
    table = Table(title=title, title_justify="left")
    table.add_column("task")
    for name in agents:
        table.add_column(name, justify="right")
    cells: dict[tuple[str, str], str] = {}
    for r in records:
        cells[r.task_id, r.config.get("agent", "tags")] = r.status.value if r.score is None else f"{r.score:.2f}"
    for task in dict.fromkeys(r.task_id for r in records):
        table.add_row(task, *(cells.get((task, name), "—") for name in agents))
    summary = []
    for name in agents:
        scores = [r.score or 0.0 for r in records if r.config.get("agent", "tags") == name]
        solved = sum(1 for s in scores if s >= 1.0)
        summary.append(f"{solved}/{len(scores)} · {sum(scores) / max(len(scores), 1):.2f}")
    table.add_section()
    table.add_row("solved · mean", *summary)
    console.print(table)


def _first_lines(text: str, full: bool, lines: int = 6) -> str:
    if full:
        return text
    kept = text.splitlines()[:lines]
    more = len(text.splitlines()) - len(kept)
    return "\n".join(kept) + (f"\n… {more} more lines" if more > 0 else "")


def _summary(option: OptionRecord) -> str:
    from proctor.store._records import MAIN_ARGUMENT

    argument = option.argument or {}
    key = MAIN_ARGUMENT.get(option.action or "")
    if key is not None and isinstance(argument.get(key), str):
        return str(argument[key])
    return option.text or option.parse_error or option.action or ""


def _arguments(raw: object, full: bool) -> str:
    """A tool call's raw JSON arguments, one `name: value` line each (strings as they are; a long value cut to its
    first lines unless `full`), or as written when they are not a JSON object."""
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return str(raw)
    if not isinstance(parsed, dict):
        return str(raw)
    lines = []
    for key, value in parsed.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"{key}: " + _first_lines(text, full, 3).replace("\n", "\n" + " " * (len(str(key)) + 2)))
    return "\n".join(lines)


def _result(result: dict[str, Any] | ObservationRecord, full: bool) -> Tree:
    """What an action did: a header (kind, exit code, failure) over the first lines of its output."""
    from proctor.store import ObservationRecord

    shown = result if isinstance(result, ObservationRecord) else ObservationRecord.model_validate(result)
    header = f"→ {shown.kind}"
    if shown.exit_code is not None:
        header += f" exit {shown.exit_code}"
    if shown.failed:
        header += " · failed"
    if shown.timed_out:
        header += " · timed out"
    if shown.truncated:
        header += " · output cut"
    body = shown.output + (f"\n[stderr] {shown.stderr}" if shown.stderr else "")
    node = Tree(Text(header, style=f"bold {'red' if shown.failed else 'white'}"))
    if body:
        node.add(Text(_first_lines(body, full), style="dim"))
    return node


def _calls(node: Tree, option: OptionRecord, results: list[dict[str, Any]] | None, full: bool) -> None:
    """An option's tool calls under it: each tool with its arguments or error, and (chosen) what it did."""
    for n, call in enumerate((option.argument or {}).get("calls", [])):
        branch = node.add(Text(str(call["tool"]), style="bold"))
        if arguments := _arguments(call["arguments"], full):
            branch.add(Text(arguments))
        if call.get("error"):
            branch.add(Text(f"error: {call['error']}", style="red"))
        if results is None:
            continue
        if n < len(results):
            branch.add(_result(results[n], full))
        else:
            branch.add(Text("not run: an earlier call ended the task", style="dim"))


def _step_node(tree: Tree, store: Store, step: StepRecord, full: bool) -> None:
    chosen = step.chosen
    tags = f" [cyan]#{' #'.join(escape(t) for t in step.tags)}[/]" if step.tags else ""
    if step.kind == "restart":
        tree.add(f"[yellow]step {step.index} · restart from summary[/]{tags}").add(
            Text(_first_lines(step.summary or "", full))
        )
        return
    if step.kind == "stuck_check":
        verdict = step.observation.output if step.observation else "…"
        tree.add(f"[yellow]step {step.index} · stuck check: {escape(verdict)}[/]{tags}")
        return
    label = f"[bold]step {step.index}[/]"
    if chosen is not None:
        label += f" · {escape(chosen.action or 'unparseable')} · chosen by {escape(step.chooser or '?')}"
    node = tree.add(label + tags)
    observation = step.observation
    per_call = observation.calls if observation is not None and chosen and chosen.action == "calls" else None
    for option in step.options:
        is_chosen = option.id == step.chosen_option_id
        mark = "[green]✔[/]" if is_chosen else "[dim]·[/]"
        ratings = " ".join(f"{r.value:.1f}" for r in option.ratings)
        rated = f" [blue]rated {ratings}[/]" if ratings else ""
        line = node.add(
            Text.from_markup(f"{mark} [dim]option {option.index} ({escape(option.source)})[/]{rated} ").append(
                _first_lines(_summary(option), full, 3)
            )
        )
        if option.action == "calls":
            _calls(line, option, per_call if is_chosen else None, full)
    for held in step.holds:
        node.add(_hold_line(held, full))
    if observation is not None:
        if per_call is None:  # each call's result is under its call
            node.add(_result(observation, full))
        if observation.child_run_id:
            child = store.run(observation.child_run_id)
            node.add(run_tree(store, child, full=full))


def _hold_line(held: HoldRecord, full: bool) -> Text:
    """A held action: what held it and what a person made of it (or that it waits)."""
    what = "question" if held.kind == "question" else f"held {held.tool or held.action} ({held.rule})"
    line = Text(f"⏸ {what}: ", style="magenta").append(_first_lines(held.subject, full, 3), style="default")
    if held.verdict is None:
        return line.append(" · waiting for " + ("an answer" if held.kind == "question" else "approval"), "bold magenta")
    line.append(f" · {held.verdict} by {held.decided_by}", style="bold magenta")
    if held.replacement is not None:
        line.append(" → ").append(_first_lines(held.replacement, full, 3))
    elif held.text:
        line.append(": ").append(_first_lines(held.text, full, 3))
    return line


def run_tree(store: Store, record: RunRecord, *, full: bool = False) -> Tree:
    """The run as a Rich tree: its steps with options, the chosen one marked, observations and subtasks."""
    score = "" if record.score is None else f" · score {record.score:.2f}"
    origin = (
        f" · fork of {record.forked_from_run_id} at step {record.forked_from_step}" if record.forked_from_run_id else ""
    )
    style = STATUS_STYLE.get(record.status.value, "")
    tree = Tree(
        f"[bold]run {record.id}[/] · {escape(record.task_id)} · {escape(record.model)} · "
        f"[{style}]{record.status.value}[/]{score}{origin}"
    )
    for step in store.steps(record.id):
        _step_node(tree, store, step, full)
    if record.submission is not None:
        tree.add(Text(f"submitted: {_first_lines(record.submission, full, 3)}", style="bold"))
    if record.error:
        tree.add(Text(f"error: {record.error}", style="red"))
    return tree
