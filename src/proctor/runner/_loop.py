"""The step loop: propose options, choose, act, observe, check for being stuck, delegate, limit.

Every step is committed before the next begins, so a killed runner resumes where it stopped: a step's options,
its choice and its observation are each stored as soon as they exist, and a resumed run reuses what is stored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctor.agents import (
    DEFAULT_CHOOSER,
    AgentRun,
    advance,
    get_agent,
    kept_after_truncation,
    rebuild,
    tokens_of,
    transcript,
)
from proctor.agents import _context as context
from proctor.agents._actions import INTERNET_REFUSED, SCORE_HELP
from proctor.models import GenerateConfig, Generation, Message, Model, ModelError, Tool, context_window_of, get_model
from proctor.runner._approval import Call, Gate
from proctor.runner._choosers import Choice, ChoiceRequest, ChooserServices, get_chooser
from proctor.runner._config import (
    ChooserConfig,
    RunConfig,
    RunKilled,
    RunLimits,
    default_workspaces,
    with_task_limits,
)
from proctor.runner._execute import SANDBOX_ACTIONS, run_action
from proctor.runner._fork import replay
from proctor.runner._transactions import WITHOUT_EFFECTS, Progress, claim_run, complete_step, create_run, end_run
from proctor.sandbox import Sandbox, SandboxError, clean_leftovers, get_sandbox
from proctor.sandbox._disk import image_of
from proctor.store import ObservationRecord, OptionRecord, RunRecord, RunStatus, StepRecord, Store, Writer, ops
from proctor.tasks import IntermediateScore, Task, TaskError, load_tasks_async

logger = logging.getLogger(__name__)

_TASK_COLUMNS = {"id", "family", "name", "format", "source", "instructions", "permissions", "tags"}
"""A task's fields stored in its row of the tasks table."""

COMPACT_AT = 0.8
"""The share of the context window past which the conversation is compacted before the next step."""


class _Run:
    """One run being driven: its record, config, task, model, sandbox and the clock."""

    def __init__(self, runner: Runner, record: RunRecord, task: Task, sandbox: Sandbox, config: RunConfig) -> None:
        self.runner = runner
        self.record = record
        self.id = record.id
        self.config = config
        """The run's config with the task's limits applied (see `with_task_limits`)."""
        self.task = task
        self.sandbox = sandbox
        self.model = runner.model(self.config.model, self.config.model_options)
        self.agent = get_agent(self.config.agent, **self.config.agent_options)
        chooser = self.config.chooser
        if chooser.name == DEFAULT_CHOOSER and getattr(self.agent, "chooser", None):  # e.g. triframe's rater
            chooser = ChooserConfig.model_validate(self.agent.chooser)  # type: ignore[attr-defined]
        self.chooser = get_chooser(chooser, self.model)
        self.instructions = self.config.subtask or _instructions(task, self.config)
        self.agent_run = AgentRun(
            instructions=self.instructions,
            options=self.config.options,
            generate=self.config.generate,
            observation_chars=self.config.observation_chars,
            intermediate_scoring=task.info.intermediate_scoring,
            delegation=self.config.max_delegation_depth > 0,
            ask_human=self.config.ask_human,
            # A task whose input is a conversation (an Inspect chat input) is shown it; a subtask its instructions.
            input=() if self.config.subtask else tuple(getattr(task, "input_messages", ())),
            task=task,
        )
        self.gate = Gate(self.id, self.config, runner.store, runner.writer)
        self.tokens = record.input_tokens + record.output_tokens
        self.cost = record.cost
        self._active_before = record.active_seconds
        self._started = time.monotonic()
        self._waited = 0.0
        self.final: RunRecord | None = None
        """The run as stored at its end, when the last write read it back."""
        self.pause_requested = False
        self.tools: list[Tool] | None = None
        """The tools the agent last offered the model."""
        self.window = self.config.context_window or runner.context_window(self.config.model)
        """Tokens of context the model has, if known: the conversation is compacted as it nears them."""

    @property
    def active(self) -> float:
        """Seconds of running, pauses and waits for a person excluded."""
        return self._active_before + time.monotonic() - self._started - self._waited - self.gate.waited

    async def write(self, op: Any, *args: Any, **kwargs: Any) -> Any:
        return await self.runner.writer.write(op, *args, **kwargs)

    async def record_usage(
        self,
        generation: Generation | None,
        model: str,
        role: str,
        error: str | None,
        step_id: int | None = None,
    ) -> None:
        await self.write(ops.add_usage, self.id, step_id, self.usage(generation, model, role, error))

    def usage(self, generation: Generation | None, model: str, role: str, error: str | None) -> dict[str, Any]:
        """One call's usage row (see `ops.add_usage`), counted in the run's totals."""
        usage: dict[str, Any] = {"model": model, "role": role, "error": error}
        if generation is not None:
            usage |= generation.usage.model_dump() | {
                "latency": generation.latency,
                "attempts": generation.attempts,
                "concurrency_limit": generation.concurrency_limit,
            }
            self.tokens += generation.usage.input_tokens + generation.usage.output_tokens
            self.cost += generation.usage.cost or 0.0
        return usage

    def over(self, limits: RunLimits, steps: int) -> str | None:
        """The first limit reached, described, or None."""
        if limits.steps is not None and steps >= limits.steps:
            return f"steps: {steps} of {limits.steps}"
        if limits.tokens is not None and self.tokens >= limits.tokens:
            return f"tokens: {self.tokens} of {limits.tokens}"
        if limits.cost is not None and self.cost >= limits.cost:
            return f"cost: ${self.cost:.4f} of ${limits.cost:.4f}"
        if limits.seconds is not None and self.active >= limits.seconds:
            return f"seconds: {self.active:.1f} of {limits.seconds:.1f}"
        return None

    def checkpoint_level(self, steps: int) -> int:
        """How many multiples of the checkpoint amounts the run has reached (the largest over measures)."""
        c = self.config.checkpoint
        levels = [
            steps // c.steps if c.steps else 0,
            self.tokens // c.tokens if c.tokens else 0,
            int(self.cost // c.cost) if c.cost else 0,
            int(self.active // c.seconds) if c.seconds else 0,
        ]
        return max(levels)


@dataclass(frozen=True)
class ScoringRun:
    """What a task scored from the run's transcript (an Inspect task's scorers) is given besides the submission:
    the run to read, its model, and where a grader's model calls and the scores' details are recorded."""

    run_id: str
    """The run being scored (its steps are stored)."""
    store: Store
    """The store the run is in."""
    model: Model
    """The run's model (a model-graded scorer's grader unless it names another)."""
    record_usage: Callable[[Generation | None, str, str, str | None], Awaitable[None]]
    """Record one model call on the run: (generation or None on error, model name, role, error)."""
    add_event: Callable[[str, dict[str, Any]], Awaitable[Any]]
    """Record an event on the run: (kind, detail)."""


class _Proposer:
    """The models, for an agent proposing one step at `index`: each call's usage is kept, to store with the step
    (or with a phase the agent records first, which takes the index)."""

    def __init__(self, run: _Run, index: int) -> None:
        self.run = run
        self.index = index
        self.model = run.model.name
        self.run_id = run.id
        self.writer = run.runner.writer
        self.usages: list[dict[str, Any]] = []

    async def generate(
        self, messages: list[Message], config: GenerateConfig, *, role: str = "agent", model: str | None = None
    ) -> Generation:
        used = self.run.model if model is None else self.run.runner.model(model, {})
        try:
            generation = await used.generate(messages, config)
        except ModelError as error:
            await self.run.record_usage(None, used.name, role, str(error))
            raise
        if role == "agent":
            self.run.tools = config.tools  # a conversation with tool calls goes on offering the tools
        self.usages.append(self.run.usage(generation, used.name, role, None))
        return generation

    async def record(self, kind: str, text: str) -> None:
        fields = {"text": text, "action": None, "argument": None, "parse_error": None, "source": kind}
        run, usages = self.run, self.usages
        step_id, (option_id,) = await run.write(ops.start_step, run.id, self.index, kind, [fields], usages=usages)
        await run.write(ops.add_choice, step_id, option_id, kind)
        await run.write(ops.finish_step, run.id, step_id, {"kind": kind, "output": text}, run.active)
        self.index, self.usages = self.index + 1, []

    def idle(self, seconds: float) -> None:
        self.run._waited += seconds


class Runner:
    """Drives runs against one store. Models are built once per name and shared by all runs.

    Example:
        async with Runner(Store()) as runner:
            run_id = await runner.create(task, RunConfig(model="scripted/baseline"))
            record = await runner.drive(run_id)
    """

    def __init__(
        self,
        store: Store,
        *,
        workspaces: Path | None = None,
        tasks: dict[str, Task] | None = None,
        configs: Sequence[RunConfig] = (),
    ) -> None:
        self.store = store
        # Configs as given, secrets included: a stored run made with one of them (its secrets redacted) uses it.
        self._given = {_config_key(c.model_dump(mode="json")): c for c in configs}
        self.writer = Writer(store)
        self.workspaces = workspaces or default_workspaces()
        self.tasks: dict[str, Task] = dict(tasks or {})
        self._models: dict[str, Model] = {}
        self._windows: dict[str, int | None] = {}
        # Runs this runner created and has not driven yet: nothing stored to read, and their config is at hand.
        self._fresh: dict[str, tuple[RunConfig, RunRecord]] = {}
        self.lost: set[str] = set()
        """Runs whose lease another worker took over: cancelled, they store nothing more."""

    async def __aenter__(self) -> Runner:
        await asyncio.to_thread(clean_leftovers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.writer.close)

    def model(self, name: str, options: dict[str, Any] | None = None) -> Model:
        """The model of this name, built on first use."""
        key = f"{name}|{sorted((options or {}).items())}"
        if key not in self._models:
            self._models[key] = get_model(name, **(options or {}))
        return self._models[key]

    def context_window(self, model: str) -> int | None:
        """The context window of a model (see `context_window_of`), looked up once per model."""
        if model not in self._windows:
            self._windows[model] = context_window_of(model)
        return self._windows[model]

    async def task(self, task_id: str) -> Task:
        """A task this runner was given, or one reloaded from the folder the store names."""
        if task_id not in self.tasks:
            source = await asyncio.to_thread(self.store.task_source, task_id)
            for task in await load_tasks_async(source):
                self.tasks[task.info.id] = task
        if task_id not in self.tasks:
            raise TaskError(f"task {task_id!r} is no longer in {source}")
        return self.tasks[task_id]

    def sandbox(self, record: RunRecord, task: Task, **options: Any) -> Sandbox:
        """A run's sandbox on its workspace, with network only if the task asks and the config grants it; `options`
        are what the task asks of it (a METR family's installed layer)."""
        return self._sandbox(record, task, with_task_limits(self.config_of(record), task), options)

    def _sandbox(self, record: RunRecord, task: Task, config: RunConfig, options: dict[str, Any]) -> Sandbox:
        """`sandbox`, given the run's config with the task's limits applied."""
        workspace = Path(record.workspace or self.workspaces / record.id)
        network = "full_internet" in task.info.permissions and config.allow_internet
        limits = config.command_limits  # a task may ask for more memory, up to a ceiling
        return get_sandbox(config.sandbox, workspace=workspace, network=network, limits=limits, **options)

    async def setup(self, progress: Progress, task: Task, sandbox: Sandbox, config: RunConfig) -> None:
        """Set the task up in a run's sandbox, once (delegated runs share their parent's workspace); a fork then
        replays its copied steps' commands so its workspace is where the original's was."""
        record = progress.record
        if config.subtask is not None:
            return
        # A run taken over on another machine whose workspace is not there (not on shared storage) has it rebuilt:
        # the task set up again and the completed steps' commands replayed, as for a fork.
        workspace = sandbox.workspace
        moved = progress.set_up and not (workspace.exists() or image_of(workspace).exists())
        if progress.set_up and not moved:
            return
        wants_internet = "full_internet" in task.info.permissions
        if wants_internet and not config.allow_internet:
            logger.warning("%s asks for full_internet, refused (allow it with --allow-internet)", task.info.id)
            await self.writer.write(ops.add_event, record.id, "permission_refused", {"permission": "full_internet"})
        await task.setup(sandbox)
        detail: dict[str, Any] = {"network": wants_internet and config.allow_internet}
        if record.forked_from_run_id is not None or moved:
            detail["replayed"] = await replay(self.store, sandbox, progress.steps)
        if moved:
            detail["rebuilt"] = str(sandbox.workspace)
        await self.writer.write(ops.add_event, record.id, "setup", detail)

    async def create(self, task: Task, config: RunConfig, **links: Any) -> str:
        """Store a new queued run of `task`; returns its id. `links`: run columns (parent, fork, …)."""
        return await self._create(task, config, config.model_dump(mode="json"), links)

    async def create_many(self, tasks: Sequence[Task], config: RunConfig) -> list[str]:
        """Store a new queued run of each of `tasks` with `config`; returns their ids in task order. They are
        created concurrently, so the writer stores them in shared transactions, and the config is made JSON once."""
        stored = config.model_dump(mode="json")
        return list(await asyncio.gather(*(self._create(task, config, stored, {}) for task in tasks)))

    async def _create(self, task: Task, config: RunConfig, stored: dict[str, Any], links: dict[str, Any]) -> str:
        self.tasks[task.info.id] = task
        info = task.info
        row = info.model_dump(include=_TASK_COLUMNS)
        run_id = ops.new_run_id()
        links.setdefault("workspace", str(self.workspaces / run_id))
        run = {"task_id": info.id, "model": config.model, "config": stored, "created_at": ops.now(), **links}
        await self.writer.write(create_run, row, run_id, run)
        # The run as stored (the columns create_run leaves out have their defaults).
        self._fresh[run_id] = config, RunRecord.model_validate({"id": run_id, "status": RunStatus.QUEUED, **run})
        return run_id

    async def drive(
        self, run_id: str, *, claim: tuple[RunStatus, ...] = (RunStatus.QUEUED,), owner: str | None = None
    ) -> RunRecord:
        """Take steps until the run ends, pauses, stops at a limit, or fails; returns the stored run.

        The run is first claimed: taken only if its status is one of `claim` (by default a queued run), and with
        `owner` only if that worker holds its lease (`proctor.store.leases`), so two runners never drive one run.
        A run someone else holds is returned as it is. A run whose lease was lost (`lost`) and is cancelled
        stores nothing more: its new worker has it."""
        try:
            return await self._claim_and_drive(run_id, claim, owner)
        finally:
            self._fresh.pop(run_id, None)  # driven once, a run has stored state to read

    def config_of(self, record: RunRecord) -> RunConfig:
        """A run's config: the object it was created with here, else validated from the store."""
        fresh = self._fresh.get(record.id)
        if fresh is not None:
            return fresh[0]
        given = self._given.get(_config_key(record.config)) if self._given else None
        return given if given is not None else RunConfig.model_validate(record.config)

    async def _claim_and_drive(self, run_id: str, claim: tuple[RunStatus, ...], owner: str | None) -> RunRecord:
        fresh = self._fresh[run_id][1] if run_id in self._fresh else None
        progress = await self.writer.write(claim_run, self.store, run_id, claim, fresh=fresh, owner=owner)
        if progress is None:
            return await asyncio.to_thread(self.store.run, run_id)
        record = progress.record
        if record.workspace is None:
            record.workspace = str(self.workspaces / record.id)
            await self.writer.write(ops.update_run, record.id, workspace=record.workspace)
        try:
            final = await self._drive(progress)
        except asyncio.CancelledError:
            if run_id not in self.lost:  # a run another worker took over is theirs to write
                await self.writer.write(ops.abort, run_id, RunStatus.KILLED, "cancelled")
            raise
        except RunKilled:  # killed while it waited for a person: it stays killed
            final = None
        except Exception as error:  # an unexpected fault ends this run, recorded, never its neighbours in a batch
            logger.exception("run %s failed", run_id)
            await self.writer.write(ops.abort, run_id, RunStatus.FAILED, f"{type(error).__name__}: {error}")
            final = None
        if final is None:
            final = await asyncio.to_thread(self.store.run, run_id)
        return final

    async def _drive(self, progress: Progress) -> RunRecord | None:
        """Drive a claimed run; returns the stored run when its last write read it back."""
        record = progress.record
        try:
            task = await self.task(record.task_id)
            config = with_task_limits(self.config_of(record), task)
            environment = getattr(task, "sandbox_options", None)  # what the task needs of its sandbox, if anything
            options = await environment(config.sandbox) if environment is not None else {}
            sandbox = self._sandbox(record, task, config, options)
        except (TaskError, SandboxError) as error:
            await self.writer.write(ops.abort, record.id, RunStatus.FAILED, str(error))
            return None
        run = _Run(self, record, task, sandbox, config)
        try:
            await self.setup(progress, task, sandbox, run.config)
            await self._loop(run, progress)
        except (ModelError, SandboxError, TaskError) as error:
            await run.write(ops.update_run, run.id, active_seconds=run.active)
            await run.write(ops.abort, run.id, RunStatus.FAILED, f"{type(error).__name__}: {error}")
        finally:
            await sandbox.close()
        return run.final

    async def _loop(self, run: _Run, progress: Progress) -> None:
        steps = progress.steps
        messages = rebuild(run.agent, run.agent_run, steps)
        # A step cut off mid-way is finished from what is stored; an interrupted stuck check is left as it is.
        pending = steps[-1] if steps and not steps[-1].done and steps[-1].kind == "action" else None
        index = len(steps)
        action_steps = sum(1 for s in steps if s.kind == "action" and s.done)
        failures = _trailing_failures(steps)
        last_kind = next((s.kind for s in reversed(steps) if s.done), None)
        allowed = progress.allowed
        while True:
            if pending is None:
                if reason := run.over(run.config.limits, action_steps):
                    await run.write(ops.add_event, run.id, "limit", {"limit": reason})
                    await run.write(ops.update_run, run.id, active_seconds=run.active)
                    await run.write(ops.set_status, run.id, RunStatus.OVER_LIMIT, f"limit reached: {reason}")
                    return
                level = run.checkpoint_level(action_steps)
                if level > allowed:
                    await run.write(ops.add_event, run.id, "checkpoint", {"level": level})
                    await run.write(ops.update_run, run.id, active_seconds=run.active)
                    await run.write(ops.set_status, run.id, RunStatus.PAUSED, f"checkpoint {level} reached")
                    return
                if last_kind != "compaction" and run.window and tokens_of(messages) > COMPACT_AT * run.window:
                    step = await self._compact(run, index, messages)
                    messages = advance(run.agent, run.agent_run, messages, step)
                    index += 1
                    last_kind = "compaction"
                    continue
                if last_kind == "action" and self._stuck_due(run, action_steps, failures):
                    failures = 0
                    restart = await self._stuck_check(run, index, messages)
                    index += 1
                    last_kind = "stuck_check"
                    if restart is not None:
                        messages = advance(run.agent, run.agent_run, messages, restart)
                        index += 1
                    continue
            step = pending or await self._propose(run, index, messages)
            pending = None
            step = await self._act(run, step, messages)
            messages = advance(run.agent, run.agent_run, messages, step)
            index = step.index + 1
            action_steps += 1
            last_kind = "action"
            observation = step.observation
            assert observation is not None  # set by _act
            failures = failures + 1 if observation.failed else 0
            if observation.kind == "submit" and not observation.failed:
                await self._finish(run, step)
                return
            if run.pause_requested:
                await run.write(ops.update_run, run.id, active_seconds=run.active)
                await run.write(ops.pause, run.id, "paused on request")
                return

    async def _propose(self, run: _Run, index: int, messages: list[Message]) -> StepRecord:
        proposer = _Proposer(run, index)
        proposals = await run.agent.propose(run.agent_run, messages, proposer)
        source = source_of(run.model.name)
        fields = [proposal.model_dump() | {"source": proposal.source or source} for proposal in proposals]
        index, usages = proposer.index, proposer.usages
        step_id, option_ids = await run.write(ops.start_step, run.id, index, "action", fields, usages=usages)
        # The step as stored, built from what was written rather than read back.
        options = [OptionRecord(id=i, index=n, **f) for n, (i, f) in enumerate(zip(option_ids, fields, strict=True))]
        return StepRecord(id=step_id, index=index, kind="action", options=options)

    async def _act(self, run: _Run, step: StepRecord, messages: list[Message]) -> StepRecord:
        unstored: tuple[int, str] | None = None  # a choice to store with the observation
        if step.chosen_option_id is None:
            request = ChoiceRequest(run_id=run.id, step_id=step.id, messages=messages, options=step.options)
            services = ChooserServices(
                store=self.store,
                writer=self.writer,
                record_usage=lambda g, m, role, e: run.record_usage(g, m, role, e, step.id),
            )
            choice: Choice = await run.chooser.choose(request, services)
            run._waited += choice.waited
            if choice.stored:  # a person chose, maybe an option they wrote: read the step as stored
                step = await asyncio.to_thread(self.store.step, step.id)
            else:
                step = step.model_copy(update={"chosen_option_id": choice.option_id, "chooser": choice.chooser})
                unstored = (choice.option_id, choice.chooser)
                # An option that may wait for a person has its choice stored first: a resumed run finds it again.
                if step.chosen is not None and (
                    step.chosen.action not in WITHOUT_EFFECTS or run.gate.holds(step.chosen)
                ):
                    await run.write(ops.add_choice, step.id, *unstored)
                    unstored = None
        option = step.chosen
        assert option is not None
        started, waited = time.monotonic(), run.gate.waited
        observation = await self._execute(run, step, option.action, option.argument or {}, option.parse_error)
        observation.duration = time.monotonic() - started - (run.gate.waited - waited)  # waits for people left out
        status = None
        if observation.kind == "submit" and not observation.failed:
            status = RunStatus.DONE if run.config.subtask is not None else RunStatus.SCORING
        stored = observation.model_dump()
        run.pause_requested = await run.write(complete_step, run.id, step.id, unstored, stored, run.active, status)
        return step.model_copy(update={"observation": observation})

    async def _execute(
        self,
        run: _Run,
        step: StepRecord,
        action: str | None,
        argument: dict[str, Any],
        parse_error: str | None,
        call: Call | None = None,
    ) -> ObservationRecord:
        if action is None:
            return ObservationRecord(kind="error", output=f"Could not parse your reply: {parse_error}", failed=True)
        if action == "calls":
            return await self._calls(run, step, argument["calls"])
        decided = await run.gate.check(step.id, action, argument, call)  # approvals and questions wait for people
        if decided.observation is not None:
            return decided.observation
        observation = await self._run_action(run, step, action, decided.argument)
        return await run.gate.ran(decided, observation, call)

    async def _run_action(
        self, run: _Run, step: StepRecord, action: str, argument: dict[str, Any]
    ) -> ObservationRecord:
        if action in SANDBOX_ACTIONS:
            return await run_action(run.sandbox, action, argument, run.config.command_limits)
        if action == "delegate":
            return await self._delegate(run, step, argument["instructions"])
        if action == "score":
            return await self._intermediate_score(run)
        return ObservationRecord(kind="submit", output=argument["answer"])

    async def _calls(self, run: _Run, step: StepRecord, calls: list[dict[str, Any]]) -> ObservationRecord:
        """An option's tool calls, run in order until one submits; each call's result is kept apart. A resumed run
        goes on after the calls that ran before a hold."""
        results: list[dict[str, Any]] = run.gate.done_calls(step)
        for n, call in enumerate(calls[len(results) :], start=len(results)):
            if call["error"] is not None:
                result = ObservationRecord(kind="error", output=call["error"], failed=True)
            else:
                where = Call(index=n, id=call["id"], tool=call["tool"], prior=list(results))
                result = await self._execute(run, step, call["action"], call["argument"], None, where)
            results.append(result.model_dump(exclude={"calls"}) | {"id": call["id"], "tool": call["tool"]})
            if result.kind == "submit" and not result.failed:
                return result.model_copy(update={"calls": results})
        shown = [f"[{r['tool']}] {context.show_observation(ObservationRecord(**r), 10**9)}" for r in results]
        return ObservationRecord(
            kind="calls",
            output="\n\n".join(shown),
            failed=any(r["failed"] for r in results),
            child_run_id=next((r["child_run_id"] for r in results if r["child_run_id"]), None),
            calls=results,
        )

    async def _intermediate_score(self, run: _Run) -> ObservationRecord:
        """Score the work so far, when the task offers it; the entry joins the run's score log (its events)."""
        scoring = getattr(run.task, "intermediate_score", None)
        if not run.task.info.intermediate_scoring or scoring is None:
            return ObservationRecord(kind="score", output="this task offers no intermediate scoring", failed=True)
        entry = await scoring(run.sandbox)
        if entry is None:
            return ObservationRecord(kind="score", output="the task cannot score your work now", failed=True)
        await run.write(ops.add_event, run.id, "intermediate_score", entry.model_dump())
        shown = f"score: {entry.score}" + (f"\n{entry.message}" if entry.message else "")
        return ObservationRecord(kind="score", output=shown)

    async def _delegate(self, run: _Run, step: StepRecord, instructions: str) -> ObservationRecord:
        if run.config.max_delegation_depth <= 0:
            return ObservationRecord(
                kind="delegate", output="delegation depth limit reached: do it yourself", failed=True
            )
        existing = await asyncio.to_thread(self.store.runs, parent=run.id)
        # One step may delegate several subtasks (tool calls): each is found again by its instructions.
        child = next(
            (r for r in existing if r.parent_step_id == step.id and r.config.get("subtask") == instructions), None
        )
        if child is None:
            config = run.config.model_copy(
                update={"subtask": instructions, "max_delegation_depth": run.config.max_delegation_depth - 1}
            )
            child_id = await self.create(
                run.task,
                config,
                parent_run_id=run.id,
                parent_step_id=step.id,
                workspace=str(run.sandbox.workspace),
            )
        else:
            child_id = child.id
        before = await asyncio.to_thread(self.store.run, child_id)
        done = await self.drive(child_id)
        spent = [done.input_tokens - before.input_tokens, done.output_tokens - before.output_tokens]
        await run.write(ops.add_to_totals, run.id, *spent, done.cost - before.cost)
        run.tokens += sum(spent)
        run.cost += done.cost - before.cost
        if done.status != RunStatus.DONE:
            return ObservationRecord(
                kind="delegate",
                output=f"subtask ended {done.status.value}: {done.error}",
                failed=True,
                child_run_id=child_id,
            )
        return ObservationRecord(kind="delegate", output=f"subtask result: {done.submission}", child_run_id=child_id)

    async def _finish(self, run: _Run, step: StepRecord) -> None:
        """Score a submission: the run is stored `scoring` with it (a subtask `done`) by `_act`."""
        assert step.observation is not None
        if run.config.subtask is not None:
            return
        score_run = getattr(run.task, "score_run", None)  # a task scored from the run's transcript (Inspect's)
        if run.task.info.scored_from_log:
            score = await self._aggregate(run)
        elif score_run is not None:
            scoring = ScoringRun(
                run_id=run.id,
                store=self.store,
                model=run.model,
                record_usage=lambda generation, model, role, error: run.record_usage(generation, model, role, error),
                add_event=lambda kind, detail: run.write(ops.add_event, run.id, kind, detail),
            )
            score = await score_run(run.sandbox, step.observation.output, scoring)
        else:
            score = await run.task.score(run.sandbox, step.observation.output)
        await run.task.teardown(run.sandbox)
        status = RunStatus.NEEDS_MANUAL_SCORE if score is None else RunStatus.DONE
        run.final = await run.write(end_run, self.store, run.id, status, score=score, stored_config=run.record.config)

    async def _aggregate(self, run: _Run) -> float | None:
        """The final score of a family scored from its log: one last intermediate score (where the family has
        them) joins the log, and the family's `aggregate_scores` turns the log into the run's score."""
        if run.task.info.intermediate_scoring:
            await self._intermediate_score(run)
        logged = await asyncio.to_thread(self.store.events, run.id, "intermediate_score")
        log = [IntermediateScore.model_validate(event["detail"]) for event in logged]
        aggregate = getattr(run.task, "aggregate_scores", None)
        assert aggregate is not None  # tasks scored from a log are METR families
        score: float | None = await aggregate(run.sandbox, log)
        return score

    async def _compact(self, run: _Run, index: int, messages: list[Message]) -> StepRecord:
        """Record a `compaction` step: the model's summary of the conversation, or how many of the last messages
        stay (the oldest steps are dropped), so the context fits the model's window again."""
        window = run.window
        assert window is not None
        if run.config.compaction == "summary":
            shown = transcript(messages)[-window * 2 :]  # about half the window (four characters a token)
            ask = [Message(role="user", content=context.COMPACTION_REQUEST.format(transcript=shown))]
            generation = await run.model.generate(ask, run.config.generate.model_copy(update={"n": 1, "tools": None}))
            summary = generation.completions[0].text.strip()
            usages = [run.usage(generation, run.model.name, "compaction", None)]
            step_id, _ = await run.write(ops.start_step, run.id, index, "compaction", [], summary, usages=usages)
            output = summary
        else:
            keep = kept_after_truncation(messages, window // 2)
            output = f"the oldest steps were dropped: the context keeps the task and its last {keep} messages"
            kept = {"text": output, "action": None, "argument": {"keep": keep}, "parse_error": None}
            step_id, (option_id,) = await run.write(
                ops.start_step, run.id, index, "compaction", [kept | {"source": "compaction"}]
            )
            await run.write(ops.add_choice, step_id, option_id, "compaction")
        await run.write(ops.finish_step, run.id, step_id, {"kind": "compaction", "output": output}, run.active)
        detail = {"step": index, "tokens": tokens_of(messages), "window": window, "how": run.config.compaction}
        await run.write(ops.add_event, run.id, "compaction", detail)
        return await asyncio.to_thread(self.store.step, step_id)

    @staticmethod
    def _stuck_due(run: _Run, action_steps: int, failures: int) -> bool:
        stuck = run.config.stuck
        scheduled = stuck.every > 0 and action_steps > 0 and action_steps % stuck.every == 0
        return scheduled or (stuck.after_failures > 0 and failures >= stuck.after_failures)

    async def _stuck_check(self, run: _Run, index: int, messages: list[Message]) -> StepRecord | None:
        """Ask the model whether it is stuck and record the check; if stuck (and so configured), write a
        restart step from the model's summary and return it."""
        question = [*messages, Message(role="user", content=context.STUCK_QUESTION)]
        generation = await run.model.generate(
            question, run.config.generate.model_copy(update={"n": 1, "tools": run.tools})
        )
        answer = generation.completions[0].text
        stuck = answer.strip().upper().startswith("YES")
        fields = {
            "text": answer,
            "action": None,
            "argument": None,
            "parse_error": None,
            "source": source_of(run.model.name),
        }
        step_id, (option_id,) = await run.write(ops.start_step, run.id, index, "stuck_check", [fields])
        await run.record_usage(generation, run.model.name, "stuck", None, step_id)
        await run.write(ops.add_choice, step_id, option_id, "stuck-check")
        verdict = {"kind": "stuck", "output": "stuck" if stuck else "not stuck"}
        await run.write(ops.finish_step, run.id, step_id, verdict, run.active)
        await run.write(
            ops.add_event,
            run.id,
            "stuck",
            {"step": index, "stuck": stuck, "restart": stuck and run.config.stuck.restart},
        )
        if not (stuck and run.config.stuck.restart):
            return None
        ask = [*messages, Message(role="user", content=context.SUMMARY_REQUEST)]
        generation = await run.model.generate(ask, run.config.generate.model_copy(update={"n": 1, "tools": run.tools}))
        summary = generation.completions[0].text.strip()
        step_id, _ = await run.write(ops.start_step, run.id, index + 1, "restart", [], summary)
        await run.record_usage(generation, run.model.name, "summary", None, step_id)
        await run.write(ops.finish_step, run.id, step_id, {"kind": "restart", "output": summary}, run.active)
        return await asyncio.to_thread(self.store.step, step_id)


def _config_key(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True)


def _instructions(task: Task, config: RunConfig) -> str:
    """What the agent is told: the task's instructions, with notes on intermediate scoring and refused internet."""
    notes = [task.info.instructions]
    if task.info.intermediate_scoring:
        notes.append(SCORE_HELP)
    if "full_internet" in task.info.permissions and not config.allow_internet:
        notes.append(INTERNET_REFUSED)
    return "\n\n".join(notes)


def source_of(model: str) -> str:
    """Who proposed an option: `human:<name>` for the human model (a person typing), else `model:<name>`."""
    provider, _, name = model.partition("/")
    return f"human:{name}" if provider == "human" else f"model:{model}"


def _trailing_failures(steps: list[StepRecord]) -> int:
    count = 0
    for step in reversed(steps):
        if not step.done or step.kind == "advice":  # an advisor's phase sits between the actions
            continue
        if step.kind != "action" or step.observation is None or not step.observation.failed:
            break
        count += 1
    return count
