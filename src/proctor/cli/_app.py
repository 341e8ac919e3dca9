"""The `proctor` command: run, resume, fork, runs, show, choose, export, tasks."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from proctor.runner import RunConfig
    from proctor.store import RunRecord, Store
    from proctor.tasks import Task

from proctor.cli._checks import RUN_FLAGS, describe, exit_if_all_failed, notes
from proctor.cli._processes import WORKER_PARENT_ENV, exit_with_parent
from proctor.cli._render import print_runs, print_side_by_side, run_tree

app = typer.Typer(
    name="proctor",
    help="AI agents doing tasks under oversight: runs as trees of steps, options and choices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)
console = Console(width=None if sys.stdout.isatty() else 120)

Db = Annotated[
    str | None, typer.Option("--db", envvar="PROCTOR_DB", help="Database URL (default: SQLite in the user data dir).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

RESUME_FLAGS = {name: f"--max-{name}" for name in ("steps", "tokens", "cost", "seconds")}

HUMAN_NOTE = (
    "note: the human agent's runs wait for a person: open the run in the web interface (proctor view; the runs "
    "list links its work page), start the clock, and submit there."
)
BASELINE_NOTE = (
    "note: {model} is a scripted baseline, not a language model: it solves some tasks by fixed rules and "
    "fails the others. Give --model provider/model (e.g. openai/gpt-4o-mini) to run a real model."
)


@app.command()
def run(
    tasks: Annotated[
        str,
        typer.Argument(
            help="A task folder, a suite folder, 'examples', or Inspect tasks: FILE.py, FILE.py@task or pkg/task."
        ),
    ],
    model: Annotated[
        str | None, typer.Option(help="The agent's model, provider/model (default scripted/baseline; none for human).")
    ] = None,
    agent: Annotated[
        list[str] | None, typer.Option("--agent", help="The agent (see `proctor agents`); repeat to compare.")
    ] = None,
    task: Annotated[list[str] | None, typer.Option("--task", help="Only these task ids or names (repeatable).")] = None,
    task_arg: Annotated[
        list[str] | None, typer.Option("-T", "--task-arg", help="An Inspect task's argument, key=value (repeatable).")
    ] = None,
    options: Annotated[int, typer.Option(help="Options proposed per step.")] = 1,
    chooser: Annotated[str, typer.Option(help="first, rating or human.")] = "first",
    rater: Annotated[str | None, typer.Option(help="The rating chooser's model (default: the agent's).")] = None,
    advisor: Annotated[str | None, typer.Option(help="triframe's advisor model (default: the agent's).")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Most steps per run (default 30; none for human).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Most tokens per run.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Most US dollars per run.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Most wall seconds per run (pauses excluded).")] = None,
    checkpoint_steps: Annotated[int | None, typer.Option(help="Pause every N steps for a person.")] = None,
    checkpoint_cost: Annotated[float | None, typer.Option(help="Pause every $X for a person.")] = None,
    stuck_every: Annotated[int | None, typer.Option(help="Ask 'are you stuck?' every K steps (0: never).")] = None,
    stuck_after: Annotated[
        int | None, typer.Option(help="Ask after F failed actions in a row (default 3; 0: never).")
    ] = None,
    no_restart: Annotated[bool, typer.Option("--no-restart", help="Record stuck checks but never restart.")] = False,
    allow_internet: Annotated[bool, typer.Option(help="Grant full_internet to tasks that ask.")] = False,
    sandbox: Annotated[str, typer.Option(help="Sandbox backend: bwrap or docker.")] = "bwrap",
    command_timeout: Annotated[float, typer.Option(help="Seconds per command.")] = 60.0,
    concurrency: Annotated[int, typer.Option(help="Runs at once (with Ray: per actor).", min=1)] = 4,
    config: Annotated[Path | None, typer.Option(help="A RunConfig as JSON or YAML (flags are ignored).")] = None,
    executor: Annotated[str, typer.Option(help="local (this process) or ray (actors over a Ray cluster).")] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="With --executor ray: auto or ray://HOST:PORT (default: start Ray here).")
    ] = None,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """Run tasks with a model and print a results table."""
    from proctor.interop import is_inspect_spec
    from proctor.models import get_model
    from proctor.runner import get_chooser, run_tasks_async
    from proctor.store import Store

    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor: unknown executor {executor!r} (local or ray)")
    if ray_address is not None and executor != "ray":
        raise ConfigError("--ray-address needs --executor ray")
    if config is not None:
        configs = [load_config(config)]
    else:
        # Flags left out are left out of the config, so an agent's own defaults (the human agent's) apply.
        given = {
            "model": model,
            "options": options,
            "generate": {"temperature": temperature},
            "chooser": {"name": chooser, "model": rater},
            "limits": {"steps": max_steps, "tokens": max_tokens, "cost": max_cost, "seconds": max_seconds},
            "checkpoint": {"steps": checkpoint_steps, "cost": checkpoint_cost},
            "stuck": {"every": stuck_every, "after_failures": stuck_after, "restart": not no_restart},
            "sandbox": sandbox,
            "command_limits": {"timeout": command_timeout},
            "allow_internet": allow_internet,
        }
        unset = {
            "model": model,
            "limits.steps": max_steps,
            "stuck.every": stuck_every,
            "stuck.after_failures": stuck_after,
        }
        fields = _without(given, [key for key, value in unset.items() if value is None])
        roles = {"advisor": advisor, "rater": rater}
        configs = [agent_config(fields, a, roles) for a in agent or ["tags"]]
    for each in configs:
        model_ = get_model(each.model, **each.model_options)  # a mistyped name fails here, before any run
        get_chooser(each.chooser, model_)
    if is_inspect_spec(tasks):  # loading Inspect tasks runs the task file's code: on its own, then the checks
        batches = _inspect_batches(tasks, task, task_arg, configs, explicit=config is not None or bool(agent))
        asyncio.run(_checked(configs))
    elif task_arg:
        raise ConfigError("-T: task arguments are for Inspect tasks (FILE.py, FILE.py@task or pkg/task)")
    else:
        loaded = asyncio.run(_load_checked(tasks, task, configs))
        batches = [(each, loaded) for each in configs]
    run_config = configs[0]
    store = Store(db)
    if run_config.model.startswith("scripted/"):
        notes.print(BASELINE_NOTE.format(model=run_config.model), style="yellow")
    if any(each.agent == "human" for each in configs):
        notes.print(HUMAN_NOTE, style="yellow")
    records: list[RunRecord] = []
    # What is loaded by now (modules, tasks, configs) lives until the command ends: kept out of the cyclic garbage
    # collector's passes, which would otherwise walk it all again each time the runs' garbage sets one off.
    gc.freeze()
    with Progress(*PROGRESS_COLUMNS, console=console, transient=True, disable=json_out, refresh_per_second=4) as shown:
        for each, group in batches:
            what = f"{each.model} · {each.agent}"
            bar = BatchBar(shown, what, len(group), concurrency)
            if executor == "ray":
                records += _run_on_ray(group, each, store, ray_address, concurrency, bar)
                continue
            records += asyncio.run(run_tasks_async(group, each, store, concurrency=concurrency, on_done=bar.ended))
    if json_out:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
    elif len(configs) > 1:
        models = " · ".join(dict.fromkeys(c.model for c in configs))
        print_side_by_side(console, records, [c.agent for c in configs], title=f"runs of {tasks} · {models}")
    else:
        print_runs(console, records, title=f"runs of {tasks}", limit=RESULTS_SHOWN)
        scored = [r.score for r in records if r.score is not None]
        solved = sum(1 for s in scored if s >= 1.0)
        mean = sum(scored) / len(scored) if scored else 0.0
        console.print(
            f"solved {solved}/{len(records)} · mean score {mean:.2f} over {len(scored)} scored runs · db {store.url}"
        )
    exit_if_all_failed(records)


def _checks(configs: list[RunConfig]) -> list[Coroutine[Any, Any, None]]:
    """The checks before runs of each config (no key, no server, no sandbox: one line, nothing stored); the sandbox
    once per backend."""
    from proctor.runner import preflight_async

    return [
        preflight_async(each, sandbox=n == 0 or each.sandbox != configs[0].sandbox) for n, each in enumerate(configs)
    ]


async def _checked(configs: list[RunConfig]) -> None:
    """Make the checks before runs, one config after the other."""
    for check in _checks(configs):
        await check


async def _load_checked(where: str, only: list[str] | None, configs: list[RunConfig]) -> list[Task]:
    """The native or METR tasks at `where`, loaded while the checks before runs wait on the model's server and the
    sandbox. A problem with the tasks is the one reported when both fail (the checks are then stopped)."""
    from proctor.tasks import load_tasks_async

    checking = [asyncio.ensure_future(check) for check in _checks(configs)]
    try:
        loaded = await load_tasks_async(where, only=only)
    except BaseException:
        for running in checking:
            running.cancel()
        await asyncio.gather(*checking, return_exceptions=True)
        raise
    for running in checking:  # in order: the first config's problem first
        await running
    return loaded


def _inspect_batches(
    where: str, only: list[str] | None, task_args: list[str] | None, configs: list[RunConfig], *, explicit: bool
) -> list[tuple[RunConfig, list[Task]]]:
    """Inspect tasks (FILE.py, FILE.py@task, pkg/task) at `where` and the config each is run with: the agent their
    solver maps to, unless an agent is given, and once per epoch."""
    from proctor.interop import load_inspect_tasks, parse_task_args
    from proctor.tasks._loader import no_match

    samples = load_inspect_tasks(where, parse_task_args(task_args or []), map_solvers=not explicit)
    for wanted in only or []:
        if not any(wanted in (t.info.id, t.info.name, t.info.family) for t in samples):
            raise no_match(wanted, [t.info.id for t in samples])
    samples = [t for t in samples if not only or any(w in (t.info.id, t.info.name, t.info.family) for w in only)]
    if explicit:
        return [(each, [t for t in samples for _ in range(t.epochs)]) for each in configs]
    groups: dict[str, tuple[RunConfig, list[Task]]] = {}
    for sample in samples:
        key = json.dumps([sample.agent, sample.agent_options], sort_keys=True)
        mapped = configs[0].model_copy(update={"agent": sample.agent, "agent_options": sample.agent_options})
        groups.setdefault(key, (mapped, []))[1].extend([sample] * sample.epochs)
    return list(groups.values())


PROGRESS_COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(bar_width=12),
    TextColumn("{task.fields[state]}"),
    TimeElapsedColumn(),
    TextColumn("ETA"),
    TimeRemainingColumn(),
)
"""A batch's progress: its model and agent, a bar, runs done, failed and running of all, time so far and left."""

RESULTS_SHOWN = 50
"""Most runs in `proctor run`'s results table (those not solved first); `--json` gives them all."""


class BatchBar:
    """The progress bar of one batch of runs: done and failed of all, running, the time so far and an ETA (Rich's,
    from the pace of the last 30 seconds)."""

    def __init__(self, progress: Progress, what: str, total: int, concurrency: int) -> None:
        self.progress = progress
        self.total = total
        self.concurrency = concurrency
        self.done = self.failed = 0
        self.bar: TaskID = progress.add_task(what, total=total, state=self.state())

    def state(self, *, running: int | None = None) -> str:
        """`done D/N · failed F · running R`; runs not ended count as running up to the concurrency."""
        if running is None:
            running = min(self.concurrency, self.total - self.done - self.failed)
        return f"done {self.done}/{self.total} · failed {self.failed} · running {running}"

    def ended(self, record: RunRecord) -> None:
        """Count a run that ended (the runner's `on_done`): done (or waiting to be scored by a person), or not."""
        if record.status.value in ("done", "needs_manual_score"):
            self.done += 1
        else:
            self.failed += 1
        self.progress.update(self.bar, advance=1, state=self.state())

    def tally(self, *, done: int, failed: int, running: int) -> None:
        """Show counts made elsewhere (the Ray executor's, over the whole cluster)."""
        self.done, self.failed = done, failed
        self.progress.update(self.bar, completed=done + failed, state=self.state(running=running))


def _run_on_ray(
    tasks: list[Task], config: RunConfig, store: Store, address: str | None, concurrency: int, bar: BatchBar
) -> list[RunRecord]:
    """Run the batch on Ray, the bar showing the whole cluster's progress: done, failed, running, ETA."""
    from proctor.runner._ray import BatchProgress, RayConfig, run_on_ray

    def show(now: BatchProgress) -> None:
        bar.tally(done=now.done, failed=now.failed, running=now.running)

    ray_config = RayConfig(address=address, concurrency=concurrency)
    return asyncio.run(run_on_ray(tasks, config, store, ray_config, on_progress=show))


def agent_config(fields: dict[str, Any], name: str, roles: dict[str, str | None]) -> RunConfig:
    """The run config of `fields` with agent `name` (refused in one line if no agent has that name, as is a value
    out of range, named by its flag); triframe gets its advisor and rater models from `roles`."""
    from proctor.agents import UnknownAgentError
    from proctor.agents._base import get_agent_factory
    from proctor.runner import RunConfig

    try:
        get_agent_factory(name)
    except UnknownAgentError as error:
        raise ConfigError(f"--agent: {error}") from None
    options = {role: model for role, model in roles.items() if model} if name == "triframe" else {}
    try:  # validated as a whole, so a value out of range is named by its flag
        return RunConfig.model_validate(fields | {"agent": name, "agent_options": options})
    except ValidationError as error:
        raise ConfigError(describe(error, RUN_FLAGS)) from None


def _without(fields: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """`fields` without the dotted `keys` (`limits.steps`)."""
    kept = {key: dict(value) if isinstance(value, dict) else value for key, value in fields.items()}
    for key in keys:
        head, _, tail = key.partition(".")
        if tail:
            kept[head].pop(tail, None)
        else:
            kept.pop(head, None)
    return kept


@app.command("agents")
def list_agents() -> None:
    """List the agents a run may use (`--agent NAME`), one line each."""
    from proctor.agents import agents

    for name, description in agents().items():
        console.print(f"{name:<12} {description}", highlight=False, markup=False)


def load_config(path: Path) -> RunConfig:
    """A RunConfig from a JSON or YAML file."""
    import yaml

    from proctor.runner import RunConfig

    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read config: {error}") from error
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{path}: invalid config: {describe(error)}") from None


class ConfigError(ValueError):
    """A run config file is unreadable or invalid."""


def stored_config(record: RunRecord) -> RunConfig:
    """The RunConfig a stored run was made with.

    Raises:
        ConfigError: the run was not made by the runner (an oversight protocol's run has its own config).
    """
    from proctor.runner import RunConfig

    try:
        return RunConfig.model_validate(record.config)
    except ValidationError as error:
        raise ConfigError(
            f"run {record.id} was not made by `proctor run` (its config: {describe(error)}): "
            "only runs of agents on tasks can be resumed or forked"
        ) from None


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(help="The run id (or a unique prefix).")],
    max_steps: Annotated[int | None, typer.Option(help="Raise the step limit.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Raise the token limit.")] = None,
    max_cost: Annotated[float | None, typer.Option(help="Raise the cost limit.")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Raise the time limit.")] = None,
    db: Db = None,
) -> None:
    """Continue a run (killed, paused, failed or over a limit) from its last completed step."""
    from proctor.runner import RunLimits, preflight_async, resume_async
    from proctor.store import Store

    store = Store(db)
    raised = {"steps": max_steps, "tokens": max_tokens, "cost": max_cost, "seconds": max_seconds}
    limits: dict[str, object] = {k: v for k, v in raised.items() if v is not None}
    stored = store.run(run_id)
    config = stored_config(stored)
    try:  # the raised limits are checked as the config will hold them
        config.limits = RunLimits.model_validate(config.limits.model_dump() | limits)
    except ValidationError as error:
        raise ConfigError(describe(error, RESUME_FLAGS)) from None
    asyncio.run(preflight_async(config))  # e.g. a key that was not stored must be in the environment again
    record = asyncio.run(resume_async(store, stored.id, limits=limits))
    print_runs(console, [record], title="resumed")
    exit_if_all_failed([record])


@app.command()
def fork(
    run_id: Annotated[str, typer.Argument(help="The run to fork.")],
    step: Annotated[int, typer.Option(help="Keep steps before this index; continue from it.", min=0)],
    model: Annotated[str | None, typer.Option(help="Continue with another model.")] = None,
    option: Annotated[str | None, typer.Option(help="Your own option for step STEP, e.g. '<bash>ls</bash>'.")] = None,
    no_run: Annotated[bool, typer.Option("--no-run", help="Create the fork without running it.")] = False,
    db: Db = None,
) -> None:
    """Start a new run that continues from step K of another."""
    from proctor.models import get_model
    from proctor.runner import fork_async, preflight_async
    from proctor.store import Store

    store = Store(db)
    source = store.run(run_id)
    config = stored_config(source)
    if model is not None and model != config.model:
        config = config.model_copy(update={"model": model, "model_options": {}})
    get_model(config.model, **config.model_options)
    if not no_run:  # a fork driven now must be able to run; one only created is checked when it is driven
        asyncio.run(preflight_async(config))
    record = asyncio.run(fork_async(store, source.id, step, model=model, option=option, drive=not no_run))
    print_runs(console, [record], title=f"fork of {record.forked_from_run_id} at step {step}")
    if not no_run:
        exit_if_all_failed([record])


@app.command()
def runs(
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    task: Annotated[str | None, typer.Option(help="Only tasks whose id contains this.")] = None,
    model: Annotated[str | None, typer.Option(help="Only models whose name contains this.")] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Include delegated subtask runs.")] = False,
    limit: Annotated[int, typer.Option(help="Most runs listed.", min=1)] = 50,
    db: Db = None,
    json_out: Json = False,
) -> None:
    """List runs, newest first."""
    from proctor.store import RunStatus, Store

    if status is not None and status not in {s.value for s in RunStatus}:
        raise ConfigError(f"unknown status {status!r} (statuses: {', '.join(s.value for s in RunStatus)})")
    store = Store(db)
    records = store.runs(status=status, task=task, model=model, top_level=not all_runs, limit=limit)
    if json_out:
        print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
    else:
        print_runs(console, records, title=f"{len(records)} runs")


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(help="The run id (or a unique prefix).")],
    full: Annotated[bool, typer.Option(help="Show whole outputs, not their first lines.")] = False,
    db: Db = None,
) -> None:
    """Show a run as a tree: steps, options (chosen marked), observations, subtasks."""
    from proctor.store import Store

    store = Store(db)
    console.print(run_tree(store, store.run(run_id), full=full))


@app.command()
def choose(
    run_id: Annotated[str, typer.Argument(help="A run waiting for a person, or a paused run.")],
    option: Annotated[int | None, typer.Option(help="Choose this option of the waiting step (its index).")] = None,
    text: Annotated[str | None, typer.Option(help="Or write your own option, e.g. '<bash>ls</bash>'.")] = None,
    user: Annotated[str, typer.Option(help="Who is choosing.")] = "cli",
    db: Db = None,
) -> None:
    """Choose (or write) the next option of a run that waits for a person; for a paused run, write the option
    its next step takes (then `proctor resume`)."""
    from proctor.agents._actions import option_fields
    from proctor.store import RunStatus, Store, ops

    if (option is None) == (text is None):
        raise ConfigError("give either --option INDEX or --text TEXT")
    store = Store(db)
    record = store.run(run_id)
    steps = store.steps(record.id)
    waiting = next((s for s in reversed(steps) if not s.done and s.chosen_option_id is None), None)
    fields = option_fields(text, f"human:{user}") if text is not None else None
    if waiting is None:
        if record.status is not RunStatus.PAUSED or fields is None:
            raise ConfigError(
                f"run {record.id} is {record.status.value}: choose in a run waiting for a person, "
                "or write an option (--text) for a paused run"
            )
        store.write(ops.intervene, record.id, len(steps), fields, user)
        console.print(f"wrote step {len(steps)} of run {record.id}; continue it with: proctor resume {record.id}")
        return
    if fields is not None:
        store.write(ops.human_choice, waiting.id, user, option=fields)
    else:
        chosen = next((o for o in waiting.options if o.index == option), None)
        if chosen is None:
            raise ConfigError(f"step {waiting.index} has options 0..{len(waiting.options) - 1}")
        store.write(ops.human_choice, waiting.id, user, option_id=chosen.id)
    console.print(f"chose for step {waiting.index} of run {record.id}")


@app.command()
def pause(
    run_id: Annotated[str, typer.Argument(help="A running run.")],
    user: Annotated[str, typer.Option(help="Who asks.")] = "cli",
    db: Db = None,
) -> None:
    """Ask a run to pause after its current step (then `proctor choose --text` to intervene, `proctor resume`)."""
    from proctor.store import Store, ops

    store = Store(db)
    record = store.run(run_id)
    store.write(ops.request_pause, record.id, user)
    console.print(f"run {record.id} pauses after its current step")


@app.command()
def kill(
    run_id: Annotated[str, typer.Argument(help="The run to kill.")],
    user: Annotated[str, typer.Option(help="Who kills it.")] = "cli",
    db: Db = None,
) -> None:
    """Kill a run: a queued, paused, stopped or waiting one at once, a running one after its current step (it can be
    resumed later with `proctor resume`)."""
    from proctor.store import RunStatus, Store, ops

    store = Store(db)
    record = store.run(run_id)
    if record.status.final or record.status is RunStatus.KILLED:
        raise ConfigError(f"run {record.id} is {record.status.value}: there is nothing to kill")
    if store.write(ops.kill, record.id, user):
        console.print(f"run {record.id} is killed")
    else:
        console.print(f"run {record.id} is killed after its current step")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Runs at once.", min=1)] = 4,
    once: Annotated[bool, typer.Option("--once", help="Stop when no run is queued.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between looks for queued runs.")] = 1.0,
    lease: Annotated[
        float, typer.Option(help="Seconds a run's lease lasts unrenewed: a dead worker's runs are taken over then.")
    ] = 30.0,
    limits: Annotated[
        str,
        typer.Option(
            help="Where model concurrency limits are kept: `store` (one limit for every worker on the store) or "
            "`process` (each worker its own)."
        ),
    ] = "store",
    db: Annotated[
        str | None,
        typer.Option(
            "--db", "--store", envvar="PROCTOR_DB", help="Database URL; PostgreSQL to share runs between machines."
        ),
    ] = None,
) -> None:
    """Drive queued runs as they appear (new runs, forks, runs resumed or intervened in from the web interface),
    under leases: workers on many machines can share one PostgreSQL store, and a dead worker's runs are taken
    over once its leases lapse."""
    from proctor.runner import work
    from proctor.store import Store

    if parent := os.environ.get(WORKER_PARENT_ENV):  # started by `proctor view`: end with it
        exit_with_parent(int(parent))
    if limits not in ("store", "process"):
        raise ConfigError(f"--limits {limits!r}: use `store` (shared by every worker on the store) or `process`")
    store = Store(db)
    kept: Literal["store", "process"] = "store" if limits == "store" else "process"
    driven = asyncio.run(work(store, concurrency=concurrency, poll=poll, once=once, lease=lease, limits=kept))
    console.print(f"drove {driven} runs")
