"""`proctor approve` and `proctor answer`: a person decides a run's held action, or answers the agent's question."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from proctor.cli._app import ConfigError, Db, app, console

if TYPE_CHECKING:
    from proctor.store import HoldRecord, RunRecord, Store


def pending_hold(store: Store, record: RunRecord, kind: str) -> tuple[RunRecord, HoldRecord]:
    """The hold of `kind` waiting in the run, or else in one of its subtask runs (which wait on their own).

    Raises:
        ConfigError: nothing of that kind waits.
    """
    queue = [record]
    while queue:
        run = queue.pop(0)
        found = next((h for h in store.pending_holds(run.id) if h.kind == kind), None)
        if found is not None:
            return run, found
        queue += store.runs(parent=run.id, limit=1000)
    what = "action waiting for approval" if kind == "approval" else "question waiting for an answer"
    raise ConfigError(f"run {record.id} ({record.status.value}) has no {what}: see it with proctor show {record.id}")


@app.command()
def approve(
    run_id: Annotated[str, typer.Argument(help="A run with an action waiting for approval (or a subtask's parent).")],
    reason: Annotated[str | None, typer.Argument(help="With --reject: why (the agent is told).")] = None,
    edit: Annotated[str | None, typer.Option(help="Run this instead: the new command, code, path, ….")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Do not run it; a text after it is the reason.")] = False,
    user: Annotated[str, typer.Option(help="Who decides (stored with the decision).")] = "cli",
    db: Db = None,
) -> None:
    """Approve the action a run holds for approval, run an edited one instead (--edit), or reject it (--reject);
    the waiting runner goes on at once (a killed run, when resumed)."""
    from proctor.store import Store, ops

    if edit is not None and reject:
        raise ConfigError("give --edit TEXT or --reject [REASON], not both")
    if reason is not None and not reject:
        raise ConfigError(f"unexpected {reason!r}: a reason goes after --reject")
    if edit is not None and not edit.strip():
        raise ConfigError("--edit needs what runs instead, e.g. --edit 'rm -r build'")
    store = Store(db)
    run, held = pending_hold(store, store.run(run_id), "approval")
    verdict = "edited" if edit is not None else "rejected" if reject else "approved"
    edited = held.with_subject(edit) if edit is not None else None
    if not store.write(ops.decide, held.id, verdict, user, edited=edited, text=reason):
        raise ConfigError(f"someone decided on that action of run {run.id} already")
    step = store.step(held.step_id)
    console.print(f"{verdict} {held.tool or held.action} at step {step.index} of run {run.id}", highlight=False)


@app.command()
def answer(
    run_id: Annotated[str, typer.Argument(help="A run whose agent asked a question (or a subtask's parent).")],
    text: Annotated[str, typer.Argument(help="Your answer (the agent is shown it).")],
    user: Annotated[str, typer.Option(help="Who answers (stored with the answer).")] = "cli",
    db: Db = None,
) -> None:
    """Answer the question a run's agent asked (`<ask>`, the `ask_human` tool); the waiting runner goes on."""
    from proctor.store import Store, ops

    if not text.strip():
        raise ConfigError("write an answer")
    store = Store(db)
    run, held = pending_hold(store, store.run(run_id), "question")
    if not store.write(ops.decide, held.id, "answered", user, text=text):
        raise ConfigError(f"someone answered that question of run {run.id} already")
    console.print(f"answered the question at step {store.step(held.step_id).index} of run {run.id}", highlight=False)
