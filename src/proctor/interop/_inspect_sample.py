"""One stored run as one Inspect sample.

The chosen option of each action step is an assistant message (a `calls` option's tool calls as Inspect tool calls)
and its observation the tool messages (one per call) or a user message; every model call is a model event (the
agent's call carries the step's options as its choices), every executed action a tool event, the score a score
event. What Inspect has no place for — options not chosen, ratings, tags, stuck checks, restarts, the run's config
and events — rides along in `info` events from `proctor`, so that `proctor import inspect` restores the very runs:
a step that is not an action (a stuck check, a restart, an advisor's advice) where it happened, and last the run's
record with the records of its action steps.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from inspect_ai.dataset import Sample
from inspect_ai.event import Event, InfoEvent, ModelEvent, SampleInitEvent, ScoreEvent, ToolEvent
from inspect_ai.log import EvalError, EvalSample, EvalSampleLimit
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

from proctor.agents import AgentRun, get_agent, show_observation
from proctor.interop._rows import StoredRun, utc
from proctor.models import GenerateConfig
from proctor.store import ObservationRecord, RunRecord, RunStatus

SCORER = "proctor"
"""The name of the scorer whose score is the run's score."""
SOURCE = "proctor"
"""The `source` of the info events that carry what Inspect has no place for."""


def model_usage(usage: list[dict[str, Any]]) -> dict[str, ModelUsage]:
    """Tokens and cost per model over usage rows."""
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


def iso(moment: datetime) -> str:
    """A time as ISO text in UTC."""
    return moment.astimezone(UTC).isoformat()


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
        model_usage=model_usage(run.usage),
        started_at=iso(started),
        completed_at=iso(finished) if finished else None,
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
    return {**step, "created_at": iso(when) if when else None}


def _run_dump(run: StoredRun) -> dict[str, Any]:
    """The run's own record: enough, with the steps, to store the same run again."""
    dump = run.record.model_dump(
        mode="json",
        exclude={"parent_run_id", "parent_step_id", "forked_from_run_id", "forked_from_step", "workspace"},
    )
    task = {k: iso(v) if isinstance(v, datetime) else v for k, v in run.task.items()}
    events = [e | {"created_at": iso(e["created_at"]) if e["created_at"] else None} for e in run.events]
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
