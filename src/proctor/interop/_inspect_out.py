"""Logs out: stored runs as Inspect eval logs (`.eval`), one log per task family × agent × model (and run settings:
runs of one family, agent and model with other settings, say `--options 4`, are another eval).

A run is one sample (its task's name the sample id; repeated runs of a task are epochs). The chosen option of
each action step is an assistant message (a `calls` option's tool calls as Inspect tool calls) and its observation
the tool messages (one per call) or a user message; every model call is a model event (the agent's call carries
the step's options as its choices), every executed action a tool event, the score a score event. What Inspect has
no place for — options not chosen, ratings, tags, stuck checks, restarts, the run's config and events — rides along
in `info` events from `proctor`, so that `proctor import inspect` restores the very runs: a step that is not an
action (a stuck check, a restart, an advisor's advice) where it happened, and last the run's record with the
records of its action steps.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspect_ai.dataset import Sample
from inspect_ai.event import Event, InfoEvent, ModelEvent, SampleInitEvent, ScoreEvent, ToolEvent
from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalError,
    EvalLog,
    EvalMetric,
    EvalPlan,
    EvalPlanStep,
    EvalResults,
    EvalSample,
    EvalSampleLimit,
    EvalScore,
    EvalSpec,
    EvalStats,
    write_eval_log,
)
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    ChatMessageUser,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.model import GenerateConfig as InspectGenerateConfig
from inspect_ai.scorer import Score
from inspect_ai.tool import ToolCall, ToolCallError
from sqlalchemy import select

from proctor.agents import AgentRun, get_agent, show_observation
from proctor.interop._rows import StoredRun, read_runs, utc
from proctor.models import GenerateConfig
from proctor.runner import RunConfig
from proctor.store import ObservationRecord, RunRecord, RunStatus, Store
from proctor.store import _schema as s

SCORER = "proctor"
"""The name of the scorer whose score is the run's score."""
SOURCE = "proctor"
"""The `source` of the info events that carry what Inspect has no place for."""
FLUSH_EVERY = 200
"""Samples kept in memory before they are written to the log file."""


@dataclass
class _Group:
    """The runs of one log: one task family, agent, model and run settings."""

    family: str
    agent: str
    model: str
    runs: list[tuple[RunRecord, str, int]] = field(default_factory=list)
    """Each run with its sample id and epoch."""


def write_logs(store: Store, records: Sequence[RunRecord], directory: Path, *, batch: int = 200) -> list[Path]:
    """Write the runs as Inspect eval logs into `directory`, one per task family × agent × model (× run settings);
    returns the files written. Runs are read from the store `batch` at a time and written as they are read."""
    directory.mkdir(parents=True, exist_ok=True)
    export_id = uuid.uuid4().hex[:22]
    paths = []
    with _one_zstd_thread():
        for group in _groups(store, records):
            path = directory / _file_name(group)
            asyncio.run(_write_log(store, group, path, export_id, batch))
            paths.append(path)
    return paths


@contextmanager
def _one_zstd_thread() -> Iterator[None]:
    """Compress each sample on the calling thread while the logs are written. Inspect compresses every zip member
    with a fresh 12-thread zstd compressor, whose thread pool costs 0.4 ms of CPU and 0.9 ms of wall time a member
    — more than compressing a sample of a few kilobytes (0.02 ms); with thousands of samples it is the largest
    single cost. The members are the same zstd frames either way. Where this Inspect has no such setting, nothing
    changes."""
    try:
        from inspect_ai._util import zipfile as inspect_zip
    except ImportError:  # pragma: no cover - another Inspect version
        yield
        return
    threads = getattr(inspect_zip, "_ZSTD_THREADS", None)
    if not isinstance(threads, int):
        yield
        return
    inspect_zip._ZSTD_THREADS = 0
    try:
        yield
    finally:
        inspect_zip._ZSTD_THREADS = threads


def _groups(store: Store, records: Sequence[RunRecord]) -> list[_Group]:
    families: dict[str, tuple[str, str]] = {}
    task_ids = sorted({r.task_id for r in records})
    with store.engine.connect() as conn:
        for start in range(0, len(task_ids), 500):
            query = select(s.tasks.c.id, s.tasks.c.family, s.tasks.c.name)
            for row in conn.execute(query.where(s.tasks.c.id.in_(task_ids[start : start + 500]))):
                families[row.id] = (row.family, row.name)
    groups: dict[tuple[str, str, str, str], _Group] = {}
    ordered = sorted(records, key=lambda r: (r.task_id, utc(r.created_at) or datetime.min.replace(tzinfo=UTC), r.id))
    epochs: dict[tuple[str, str, str, str, str], int] = defaultdict(int)
    for record in ordered:
        family, name = families.get(record.task_id, (record.task_id.partition("/")[0], record.task_id))
        agent = str(record.config.get("agent", "tags"))
        key = (family, agent, record.model, _settings(record.config))
        group = groups.setdefault(key, _Group(family=family, agent=agent, model=record.model))
        epochs[(*key, name)] += 1
        group.runs.append((record, name, epochs[(*key, name)]))
    return list(groups.values())


_PER_RUN = {"model", "model_options", "subtask"}


def _settings(config: dict[str, Any]) -> str:
    """The run settings an eval shares (an Inspect log has one configuration): the run config's fields but the
    model's options and a subtask's instructions."""
    shared = {key: config.get(key) for key in RunConfig.model_fields if key not in _PER_RUN}
    return json.dumps(shared, sort_keys=True, default=str)


def _file_name(group: _Group) -> str:
    """Inspect's naming (`{time}_{task}_{id}.eval`), with the agent and model in the task part."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S+00-00")
    task = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{group.family}-{group.agent}-{group.model}").strip("-")
    return f"{stamp}_{task}_{uuid.uuid4().hex[:22]}.eval"


async def _write_log(store: Store, group: _Group, path: Path, export_id: str, batch: int) -> None:
    first = group.runs[0][0]
    config = first.config
    names = list(dict.fromkeys(name for _, name, _ in group.runs))
    spec = EvalSpec(
        eval_id=uuid.uuid4().hex[:22],
        run_id=export_id,
        created=_iso(min(utc(r.created_at) or datetime.now(UTC) for r, _, _ in group.runs)),
        task=group.family,
        task_id=uuid.uuid4().hex[:22],
        task_display_name=group.family,
        dataset=EvalDataset(name=group.family, samples=len(names), sample_ids=names),
        model=group.model,
        model_generate_config=_generate_config(config),
        config=EvalConfig(epochs=max(epoch for _, _, epoch in group.runs)),
        solver=group.agent,
        solver_args=dict(config.get("agent_options") or {}),
        packages=_packages(),
        metadata={"proctor": {"agent": group.agent, "runs": len(group.runs)}},
    )
    step = EvalPlanStep(
        solver=f"proctor/{group.agent}",
        params={key: config.get(key) for key in ("agent_options", "options", "chooser", "limits") if key in config},
    )
    plan = EvalPlan(steps=[step], config=_generate_config(config))
    writer = _LogWriter(path)
    await writer.start(spec, plan)
    totals = _Totals()
    for start in range(0, len(group.runs), batch):
        chunk = group.runs[start : start + batch]
        with store.engine.connect() as conn:
            stored = read_runs(conn, [record for record, _, _ in chunk])
        for run, (_, name, epoch) in zip(stored, chunk, strict=True):
            totals.add(run)
            await writer.add(sample_of(run, name, epoch))
    await writer.finish(totals.stats(), totals.results(len(group.runs)))


def _packages() -> dict[str, str]:
    found = {}
    for package in ("proctor", "inspect_ai"):
        try:
            found[package] = importlib.metadata.version(package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _generate_config(config: dict[str, Any]) -> InspectGenerateConfig:
    generate = config.get("generate") or {}
    return InspectGenerateConfig(
        temperature=generate.get("temperature"),
        top_p=generate.get("top_p"),
        max_tokens=generate.get("max_tokens"),
        num_choices=config.get("options"),
        seed=generate.get("seed"),
    )


class _LogWriter:
    """Writes one `.eval` log a sample at a time through Inspect's own recorder (what `inspect eval` writes
    with), flushing every `FLUSH_EVERY` samples, so memory stays bounded and time linear in the samples;
    `write_eval_log` keeps every sample in memory and slows down with thousands. Where this Inspect has no such
    recorder, the samples are collected and written with `write_eval_log`."""

    streaming = True
    """Write through Inspect's recorder where there is one (False: always collect and call `write_eval_log`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.spec: EvalSpec | None = None
        self.plan = EvalPlan()
        self.pending = 0
        self.samples: list[EvalSample] = []
        self.recorder: Any = None
        if self.streaming:
            try:
                from inspect_ai.log._recorders.eval import EvalRecorder

                self.recorder = EvalRecorder(str(path.parent))
            except (ImportError, AttributeError, TypeError):
                self.recorder = None

    async def start(self, spec: EvalSpec, plan: EvalPlan) -> None:
        self.spec, self.plan = spec, plan
        if self.recorder is not None:
            await self.recorder.log_init(spec, str(self.path), clean=True)
            await self.recorder.log_start(spec, plan)

    async def add(self, sample: EvalSample) -> None:
        if self.recorder is None:
            self.samples.append(sample)
            return
        await self.recorder.log_sample(self.spec, sample)
        self.pending += 1
        if self.pending >= FLUSH_EVERY:
            await self.recorder.flush(self.spec)
            self.pending = 0

    async def finish(self, stats: EvalStats, results: EvalResults) -> None:
        assert self.spec is not None  # start() came first
        if self.recorder is not None:
            await self.recorder.log_finish(self.spec, "success", stats, results, None)
            return
        log = EvalLog(status="success", eval=self.spec, plan=self.plan, results=results, stats=stats)
        log.samples = self.samples
        await asyncio.to_thread(write_eval_log, log, str(self.path), "eval")


class _Totals:
    """What the log's header says of all its samples: scores, times and tokens per model."""

    def __init__(self) -> None:
        self.scores: list[float] = []
        self.finished = 0
        self.started: datetime | None = None
        self.completed: datetime | None = None
        self.usage: dict[str, ModelUsage] = {}

    def add(self, run: StoredRun) -> None:
        record = run.record
        if record.score is not None:
            self.scores.append(record.score)
        self.finished += record.status.final
        created, finished = utc(record.created_at), utc(record.finished_at)
        if created is not None and (self.started is None or created < self.started):
            self.started = created
        end = finished or created
        if end is not None and (self.completed is None or end > self.completed):
            self.completed = end
        for model, used in _model_usage(run.usage).items():
            self.usage[model] = self.usage[model] + used if model in self.usage else used

    def stats(self) -> EvalStats:
        return EvalStats(
            started_at=_iso(self.started) if self.started else "",
            completed_at=_iso(self.completed) if self.completed else "",
            model_usage=self.usage,
        )

    def results(self, total: int) -> EvalResults:
        scored = self.scores
        scores = []
        if scored:
            mean = sum(scored) / len(scored)
            spread = math.sqrt(sum((x - mean) ** 2 for x in scored) / (len(scored) - 1)) if len(scored) > 1 else 0.0
            metrics = {
                "mean": EvalMetric(name="mean", value=mean),
                "stderr": EvalMetric(name="stderr", value=spread / math.sqrt(len(scored))),
            }
            scores.append(
                EvalScore(
                    name=SCORER,
                    scorer=SCORER,
                    scored_samples=len(scored),
                    unscored_samples=total - len(scored),
                    metrics=metrics,
                )
            )
        return EvalResults(total_samples=total, completed_samples=self.finished, scores=scores)


def _model_usage(usage: list[dict[str, Any]]) -> dict[str, ModelUsage]:
    totals: dict[str, ModelUsage] = {}
    for call in usage:
        used = _usage(call)
        totals[call["model"]] = totals[call["model"]] + used if call["model"] in totals else used
    return totals


def _usage(call: dict[str, Any]) -> ModelUsage:
    tokens_in, tokens_out = int(call["input_tokens"] or 0), int(call["output_tokens"] or 0)
    return ModelUsage(
        input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out, total_cost=call["cost"]
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


# One run as one sample.

_NO_CONFIG = InspectGenerateConfig()


class _Ids:
    """Ids for a sample's messages and events: the run's id and a count (unique, stable, and cheaper than
    Inspect's random ones)."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.run_id}.{self.count}"


def sample_of(run: StoredRun, sample_id: str, epoch: int) -> EvalSample:
    """A stored run as an Inspect sample (see the module's docstring for what goes where)."""
    record = run.record
    ids = _Ids(record.id)
    started = utc(record.created_at) or datetime.now(UTC)
    instructions = str(record.config.get("subtask") or run.task.get("instructions") or "")
    messages: list[ChatMessage] = [*_prompt(record.config, instructions, ids)]
    events: list[Event] = [
        SampleInitEvent(sample=Sample(input=instructions, target="", id=sample_id), timestamp=started, uuid=ids()),
    ]
    shown_steps = []  # the action steps' records, which go in the last event (the others show where they were)
    calls = defaultdict(list)
    for call in run.usage:
        calls[call["step"]].append(call)
    chars = int(record.config.get("observation_chars") or 8000)
    for step in run.steps:
        when = step["created_at"] or started
        chosen = step["options"][step["chosen"]] if step["chosen"] is not None else None
        complete = step["kind"] == "action" and chosen is not None and step["observation"] is not None
        assistant = _assistant(chosen, ids()) if complete and chosen is not None else None
        used = calls.pop(step["index"], [])
        events += [_model_event(call, step, assistant, ids, first=n == 0) for n, call in enumerate(used)]
        if assistant is not None and chosen is not None:
            turn, tools = _turn(step, chosen, assistant, chars, when, ids)
            messages += turn
            events += tools
            shown_steps.append(_step_dump(step))
        else:
            events.append(InfoEvent(source=SOURCE, data={"step": _step_dump(step)}, timestamp=when, uuid=ids()))
    events += [_model_event(call, None, None, ids, first=False) for left in calls.values() for call in left]
    submission = record.submission or ""
    last = next((m for m in reversed(messages) if isinstance(m, ChatMessageAssistant)), None)
    choices = [] if last is None else [ChatCompletionChoice(message=last)]
    score = None
    if record.score is not None:
        score = Score(value=record.score, answer=record.submission)
        finished_at = utc(record.finished_at) or started
        events.append(ScoreEvent(score=score, scorer=SCORER, timestamp=finished_at, uuid=ids()))
    finished = utc(record.finished_at)
    record_event: dict[str, Any] = {"run": _run_dump(run), "steps": shown_steps}
    events.append(InfoEvent(source=SOURCE, data=record_event, timestamp=finished or started, uuid=ids()))
    return EvalSample(
        id=sample_id,
        epoch=epoch,
        input=instructions,
        target="",
        messages=messages,
        output=ModelOutput(model=record.model, choices=choices, completion=submission),
        scores={SCORER: score} if score is not None else None,
        metadata={"proctor": {"run_id": record.id, "task_id": record.task_id, "status": record.status.value}},
        events=events,
        model_usage=_model_usage(run.usage),
        started_at=_iso(started),
        completed_at=_iso(finished) if finished else None,
        total_time=(finished - started).total_seconds() if finished else None,
        working_time=record.active_seconds,
        uuid=record.id,
        error=_error(record),
        limit=EvalSampleLimit(type="custom", limit=0, reason=record.error)
        if record.status is RunStatus.OVER_LIMIT
        else None,
    )


def _error(record: RunRecord) -> EvalError | None:
    if record.status not in (RunStatus.FAILED, RunStatus.KILLED) or not record.error:
        return None
    return EvalError(message=record.error, traceback="", traceback_ansi="")


def _step_dump(step: dict[str, Any]) -> dict[str, Any]:
    """A step's record as JSON (its time as ISO text; the rest is JSON already)."""
    when = step["created_at"]
    return {**step, "created_at": _iso(when) if when else None}


def _run_dump(run: StoredRun) -> dict[str, Any]:
    """The run's own record: enough, with the steps, to store the same run again."""
    dump = run.record.model_dump(
        mode="json",
        exclude={"parent_run_id", "parent_step_id", "forked_from_run_id", "forked_from_step", "workspace"},
    )
    task = {k: _iso(v) if isinstance(v, datetime) else v for k, v in run.task.items()}
    events = [e | {"created_at": _iso(e["created_at"]) if e["created_at"] else None} for e in run.events]
    return dump | {"task": task, "events": events}


_SYSTEM_PROMPTS: dict[str, str | None] = {}


def _prompt(config: dict[str, Any], instructions: str, ids: _Ids) -> list[ChatMessage]:
    """The conversation's start: the agent's system prompt (when its agent is registered here) and the task."""
    agent = str(config.get("agent", "tags"))
    key = json.dumps([agent, config.get("agent_options") or {}], sort_keys=True, default=str)
    if key not in _SYSTEM_PROMPTS:
        _SYSTEM_PROMPTS[key] = None
        try:
            start = get_agent(agent, **(config.get("agent_options") or {})).start(
                AgentRun(instructions="", options=1, generate=GenerateConfig())
            )
            if start and start[0].role == "system":
                _SYSTEM_PROMPTS[key] = start[0].content
        except Exception:  # an agent not registered in this process, or one that needs more: no system prompt
            pass
    system = _SYSTEM_PROMPTS[key]
    task = ChatMessageUser(content=instructions, source="input", id=ids())
    return [ChatMessageSystem(content=system, id=ids()), task] if system else [task]


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    """A stored tool call's arguments as a JSON object (parsed from the raw text the model wrote)."""
    argument = call.get("argument")
    if isinstance(argument, dict):
        return argument
    try:
        parsed = json.loads(call.get("arguments") or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _assistant(option: dict[str, Any], id: str) -> ChatMessageAssistant:
    calls = (option.get("argument") or {}).get("calls", []) if option.get("action") == "calls" else []
    tool_calls = [
        ToolCall(id=str(c["id"]), function=str(c["tool"]), arguments=_arguments(c), parse_error=c.get("error"))
        for c in calls
    ]
    source = str(option.get("source") or "")
    by_model = source.startswith("model:")
    return ChatMessageAssistant(
        id=id,
        content=option.get("text") or "",
        tool_calls=tool_calls or None,
        model=source.removeprefix("model:") if by_model else None,
        source="generate" if by_model else None,
    )


def _turn(
    step: dict[str, Any], chosen: dict[str, Any], assistant: ChatMessageAssistant, chars: int, when: datetime, ids: _Ids
) -> tuple[list[ChatMessage], list[Event]]:
    """An action step as messages (the chosen option, then its observation) and tool events."""
    observation = step["observation"]
    messages: list[ChatMessage] = [assistant]
    events: list[Event] = []
    if chosen.get("action") == "calls" and assistant.tool_calls:
        results = observation.get("calls") or []
        for n, call in enumerate(assistant.tool_calls):
            if n >= len(results):
                shown, error = "not run: an earlier call in this reply ended the task", None
            else:
                result = results[n]
                shown = show_observation(ObservationRecord.model_validate(result), chars)
                error = ToolCallError("unknown", result["output"]) if result.get("kind") == "error" else None
                events.append(
                    ToolEvent(
                        id=call.id,
                        function=call.function,
                        arguments=call.arguments,
                        result=result.get("output", ""),
                        error=error,
                        failed=bool(result.get("failed")),
                        working_time=float(result.get("duration") or 0.0),
                        timestamp=when,
                        uuid=ids(),
                    )
                )
            tool = ChatMessageTool(content=shown, tool_call_id=call.id, function=call.function, error=error, id=ids())
            messages.append(tool)
        return messages, events
    if chosen.get("action") is not None:
        events.append(
            ToolEvent(
                id=f"step-{step['index']}",
                function=str(chosen["action"]),
                arguments=dict(chosen.get("argument") or {}),
                result=observation["output"],
                failed=bool(observation["failed"]),
                working_time=float(observation["duration"] or 0.0),
                timestamp=when,
                uuid=ids(),
            )
        )
    if chosen.get("action") == "submit" and observation["kind"] == "submit":
        return messages, events  # the answer ends the conversation
    shown = show_observation(ObservationRecord.model_validate(observation), chars)
    return [*messages, ChatMessageUser(content=shown, id=ids())], events


def _model_event(
    call: dict[str, Any], step: dict[str, Any] | None, chosen: ChatMessageAssistant | None, ids: _Ids, *, first: bool
) -> ModelEvent:
    """A model call as a model event; the step's first call by the agent carries the step's options (the chosen
    one as its message in the conversation)."""
    choices = []
    if step is not None and first and call["role"] == "agent":
        for position, option in enumerate(step["options"]):
            if not str(option.get("source") or "").startswith("model:"):
                continue
            message = chosen if position == step["chosen"] and chosen is not None else _assistant(option, ids())
            calling = option.get("action") == "calls"
            choices.append(ChatCompletionChoice(message=message, stop_reason="tool_calls" if calling else "stop"))
    output = ModelOutput(
        model=call["model"], choices=choices, usage=_usage(call), time=call["latency"], error=call["error"]
    )
    usage = {k: v for k, v in call.items() if k != "created_at"}
    return ModelEvent(
        model=call["model"],
        role=None if call["role"] == "agent" else call["role"],
        input=[],
        tools=[],
        tool_choice="auto",
        config=_NO_CONFIG,
        output=output,
        retries=max(0, int(call["attempts"] or 1) - 1),
        error=call["error"],
        working_time=call["latency"],
        timestamp=call["created_at"] or datetime.now(UTC),
        metadata={"proctor": {"usage": usage}},
        uuid=ids(),
    )
