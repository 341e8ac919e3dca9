"""Logs in: Inspect eval logs (`.eval` or `.json`) stored as runs, read a sample at a time.

A sample becomes a run of the task `{eval task}/{sample id}` with the eval's model. Its conversation becomes
steps: each assistant message is a step with one option (tool calls make an option of action `calls`, as the
`react` agent's; the last plain message is the submission; another plain message the action `message`), and the
tool and user messages after it are the step's observation. The sample's score (its first scorer's) becomes the
run's score in [0, 1]; its model events become usage rows. A log `proctor export inspect` wrote carries the runs'
own records, and the very runs are restored from them.

Every record has a stable key — the proctor run id it came from, or the eval id, sample id and epoch — which gives
the run its id, so importing a log again stores nothing new.
"""

from __future__ import annotations

import json
import math
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from inspect_ai.event import InfoEvent, ModelEvent
from inspect_ai.log import EvalLog, EvalPlan, EvalSample, EvalSpec, read_eval_log, resolve_sample_attachments
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageTool, ChatMessageUser
from pydantic import ValidationError

from proctor.interop._common import InteropError
from proctor.interop._inspect_sample import SOURCE
from proctor.interop._rows import RunRows, StepRows, stable_run_id, utc
from proctor.store import RunStatus

try:  # how Inspect itself reads logs (message de-duplication); not part of its public API
    from inspect_ai._util.constants import get_deserializing_context
except ImportError:  # pragma: no cover - another Inspect version

    def get_deserializing_context() -> dict[str, Any]:
        return {}


_LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0, "CORRECT": 1.0, "INCORRECT": 0.0, "PARTIAL": 0.5}
_LETTERS |= {"YES": 1.0, "NO": 0.0, "TRUE": 1.0, "FALSE": 0.0}


def log_files(paths: list[Path]) -> list[Path]:
    """The log files at `paths`: files as given, folders searched for `.eval` and `.json` logs (Inspect's
    `logs.json` listing left out)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.suffix in (".eval", ".json") and p.name != "logs.json")
            found += [p for p in inside if p.is_file()]
        elif path.exists():
            found.append(path)
        else:
            raise InteropError(f"{path}: no such file or folder")
    return found


class InspectLog:
    """One Inspect log: its header, and its samples read one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zipped = _is_zip(path)
        self.header = self._header()

    def _header(self) -> EvalLog:
        if not self.zipped and not _starts_json(self.path):
            raise InteropError(f"{self.path}: not an Inspect eval log (neither an .eval archive nor a JSON log)")
        try:
            if not self.zipped:
                return read_eval_log(str(self.path), header_only=True, format="json")
            with zipfile.ZipFile(self.path) as archive:
                names = set(archive.namelist())
                if "header.json" in names:
                    data = json.loads(archive.read("header.json"))
                    return EvalLog.model_validate(data, context=get_deserializing_context())
                if "_journal/start.json" in names:  # a log still being written, or one whose eval was cut off
                    start = json.loads(archive.read("_journal/start.json"))
                    spec = EvalSpec.model_validate(start["eval"], context=get_deserializing_context())
                    return EvalLog(eval=spec, plan=EvalPlan.model_validate(start.get("plan") or {}))
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            reason = _first_line(error.__cause__ or error) if "Unable to read log file" in str(error) else None
            raise InteropError(f"{self.path}: not an Inspect eval log ({reason or _first_line(error)})") from error
        raise InteropError(f"{self.path}: not an Inspect eval log (no header.json or _journal/start.json in it)")

    def samples(self) -> Iterator[EvalSample]:
        """The samples, one at a time: only one is in memory while it is converted."""
        for where, data in self._sample_data():
            try:
                sample = EvalSample.model_validate(data, context=get_deserializing_context())
            except ValidationError as error:
                raise InteropError(f"{self.path}: {where} is not an Inspect sample ({_first_line(error)})") from error
            yield resolve_sample_attachments(sample, "core") if sample.attachments else sample

    def _sample_data(self) -> Iterator[tuple[str, Any]]:
        try:
            if self.zipped:
                with zipfile.ZipFile(self.path) as archive:
                    # a sample written twice (re-logged) is read once: by name, the last entry wins
                    for name in dict.fromkeys(archive.namelist()):
                        if name.startswith("samples/") and name.endswith(".json"):
                            yield name, json.loads(archive.read(name))
                return
            import ijson  # type: ignore[import-untyped]  # a dependency of inspect-ai, untyped

            with self.path.open("rb") as file:
                for n, data in enumerate(ijson.items(file, "samples.item", use_float=True)):
                    yield f"sample {n + 1}", data
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise InteropError(f"{self.path}: cannot read its samples ({_first_line(error)})") from error


def _is_zip(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(4) == b"PK\x03\x04"
    except OSError as error:
        raise InteropError(f"{path}: cannot be read ({_first_line(error)})") from error


def _starts_json(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(64).lstrip()[:1] == b"{"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    if isinstance(error, ValidationError) and error.errors():
        problem = error.errors()[0]
        first = f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}"
    return first[:200]


def score_value(value: Any) -> float | None:
    """An Inspect score value in [0, 1]: C (correct) 1, I (incorrect) 0, P (partial) 0.5, N (no answer) 0, yes/no
    and true/false, numbers (clipped to [0, 1]) and booleans; a list or dict of them, their mean. None if none
    of these."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return None if math.isnan(value) else min(1.0, max(0.0, float(value)))
    if isinstance(value, str):
        text = value.strip().upper()
        if text in _LETTERS:
            return _LETTERS[text]
        try:
            return score_value(float(text))
        except ValueError:
            return None
    parts = list(value.values()) if isinstance(value, dict) else list(value) if isinstance(value, list) else []
    found = [v for v in (score_value(p) for p in parts) if v is not None]
    return sum(found) / len(found) if found else None


def _input_text(value: str | list[ChatMessage]) -> str:
    if isinstance(value, str):
        return value
    return "\n\n".join(m.text for m in value if m.role in ("system", "user") and m.text)


def run_of(sample: EvalSample, header: EvalLog, path: Path) -> RunRows:
    """The run a sample becomes (restored as it was when a proctor export wrote it)."""
    stored = _stored_run(sample)
    if stored is not None:
        return _restored(sample, stored, path)
    return _converted(sample, header, path)


def _stored_run(sample: EvalSample) -> dict[str, Any] | None:
    for event in sample.events:
        if isinstance(event, InfoEvent) and event.source == SOURCE and isinstance(event.data, dict):
            run = event.data.get("run")
            if isinstance(run, dict) and isinstance(run.get("id"), str):
                return run
    return None


def _key(sample: EvalSample, spec: EvalSpec) -> str:
    eval_id = spec.eval_id or f"{spec.run_id}:{spec.task_id}:{spec.created}"
    return f"inspect:{eval_id}:{sample.id}:{sample.epoch}"


def _converted(sample: EvalSample, header: EvalLog, path: Path) -> RunRows:
    spec = header.eval
    key = _key(sample, spec)
    run_id = stable_run_id(key)
    solver = spec.solver or "+".join(step.solver for step in header.plan.steps) or "inspect"
    scores = {name: score.value for name, score in (sample.scores or {}).items()}
    score = score_value(scores[_headline(header, scores)]) if scores else None
    status, error = RunStatus.DONE, None
    if sample.error is not None:
        status, error = RunStatus.FAILED, sample.error.message
    elif sample.limit is not None:
        status = RunStatus.OVER_LIMIT
        error = sample.limit.reason or f"{sample.limit.type} limit of {sample.limit.limit:g} reached"
    steps, links = _steps(sample, spec.model, error)
    usage = _usage_rows(sample, links, len(steps))
    origin = {
        "log": str(path),
        "eval_id": spec.eval_id,
        "run_id": spec.run_id,
        "task": spec.task,
        "task_id": spec.task_id,
        "sample_id": sample.id,
        "epoch": sample.epoch,
        "target": sample.target,
        "scores": _json_safe(scores),
    }
    if not isinstance(sample.input, str):
        origin["input"] = [m.model_dump(mode="json", exclude_none=True) for m in sample.input]
    created = utc(sample.started_at) or utc(spec.created)
    task_id = f"{spec.task}/{sample.id}"
    return RunRows(
        task={
            "id": task_id,
            "family": spec.task,
            "name": str(sample.id),
            "format": "inspect",
            "source": str(path),
            "instructions": _input_text(sample.input),
            "permissions": [],
        },
        run={
            "id": run_id,
            "task_id": task_id,
            "status": status,
            "model": spec.model,
            "config": {"model": spec.model, "agent": solver, "inspect": origin},
            "submission": sample.output.completion if sample.output.choices or sample.output.completion else None,
            "score": score,
            "error": error,
            "active_seconds": float(sample.working_time or sample.total_time or 0.0),
            "created_at": created,
            "finished_at": utc(sample.completed_at) or created,
        },
        steps=steps,
        usage=usage,
        events=[("imported", {"from": "inspect", "key": key, "log": str(path)}, None)],
    )


def _headline(header: EvalLog, scores: dict[str, Any]) -> str:
    """The scorer whose score is the run's: the log's first scorer, else the sample's first."""
    for score in header.results.scores if header.results else []:
        for name in (score.name, score.scorer):
            if name in scores:
                return name
    return next(iter(scores))


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _steps(sample: EvalSample, model: str, error: str | None) -> tuple[list[StepRows], dict[str, int]]:
    """The conversation as steps, and the step index of each assistant message id (to link model calls)."""
    messages = sample.messages
    turns: list[tuple[ChatMessageAssistant, list[ChatMessage]]] = []
    for message in messages:
        if isinstance(message, ChatMessageAssistant):
            turns.append((message, []))
        elif turns:
            turns[-1][1].append(message)
    steps, links = [], {}
    for index, (assistant, after) in enumerate(turns):
        last = index == len(turns) - 1
        option = _option(assistant, model, last=last)
        if after:
            observation = _observation(after)
        elif option["action"] == "submit":
            observation = {"kind": "submit", "output": option["argument"]["answer"]}
        else:
            why = error or "the sample ended before this step's calls were answered"
            observation = {"kind": "error", "output": why, "failed": True}
        steps.append(StepRows(index=index, options=[option], chosen=0, chooser="first", observation=observation))
        if assistant.id:
            links[assistant.id] = index
    return steps, links


def _option(message: ChatMessageAssistant, model: str, *, last: bool) -> dict[str, Any]:
    named = message.model
    source = f"model:{named}" if named and not model.endswith(named) else f"model:{model}"
    text = message.text
    if message.tool_calls:
        calls = [
            {
                "id": call.id,
                "tool": call.function,
                "arguments": json.dumps(call.arguments),
                "action": call.function,
                "argument": _json_safe(call.arguments),
                "error": call.parse_error,
            }
            for call in message.tool_calls
        ]
        return {"text": text, "action": "calls", "argument": {"calls": calls}, "parse_error": None, "source": source}
    if last:
        return {"text": text, "action": "submit", "argument": {"answer": text}, "parse_error": None, "source": source}
    return {"text": text, "action": "message", "argument": {"text": text}, "parse_error": None, "source": source}


def _observation(messages: list[ChatMessage]) -> dict[str, Any]:
    """What followed an assistant message: tool results (one per call) and any user message."""
    calls, texts = [], []
    for message in messages:
        if isinstance(message, ChatMessageTool):
            error = message.error
            output = message.text or (error.message if error else "")
            calls.append(
                {
                    "id": message.tool_call_id,
                    "tool": message.function,
                    "kind": message.function or "tool",
                    "output": output,
                    "stderr": "",
                    "exit_code": None,
                    "failed": error is not None,
                    "timed_out": error is not None and error.type == "timeout",
                    "truncated": False,
                    "duration": 0.0,
                    "child_run_id": None,
                }
            )
            texts.append(f"[{message.function}] {output}")
        elif isinstance(message, ChatMessageUser) or message.role == "system":
            texts.append(message.text)
    return {
        "kind": "calls" if calls else "message",
        "output": "\n\n".join(texts),
        "failed": any(c["failed"] for c in calls),
        "timed_out": any(c["timed_out"] for c in calls),
        "calls": calls or None,
    }


def _events(events: list[Any]) -> Iterator[Any]:
    for event in events:
        yield event
        inner = getattr(event, "events", None)
        if isinstance(inner, list):
            yield from _events(inner)


def _usage_rows(sample: EvalSample, links: dict[str, int], steps: int) -> list[tuple[int | None, dict[str, Any]]]:
    """The sample's model calls as usage rows, each with the step its reply became (when it did)."""
    rows: list[tuple[int | None, dict[str, Any]]] = []
    claimed: set[int] = set()
    for event in _events(sample.events):
        if not isinstance(event, ModelEvent) or event.pending:
            continue
        output = event.output
        reply = output.choices[0].message.id if output.choices else None
        step = links.get(reply) if reply else None
        if step is None and event.role is None and not reply:  # no id to link by: the steps in order
            step = next((i for i in range(steps) if i not in claimed), None)
        if step is not None:
            claimed.add(step)
        used = output.usage
        tokens_in = 0 if used is None else used.input_tokens
        tokens_in += 0 if used is None else (used.input_tokens_cache_read or 0) + (used.input_tokens_cache_write or 0)
        row = {
            "model": event.model,
            "role": event.role or "agent",
            "input_tokens": tokens_in,
            "output_tokens": 0 if used is None else used.output_tokens,
            "cost": None if used is None else used.total_cost,
            "latency": float(event.working_time or output.time or 0.0),
            "attempts": (event.retries or 0) + 1,
            "error": event.error or output.error,
        }
        rows.append((step, row))
    if not rows:
        for name, used in sample.model_usage.items():
            row = {"model": name, "role": "agent", "input_tokens": used.input_tokens}
            rows.append((None, row | {"output_tokens": used.output_tokens, "cost": used.total_cost}))
    return rows


def _restored(sample: EvalSample, run: dict[str, Any], path: Path) -> RunRows:
    """A run a proctor export wrote, as it was stored: its record, steps and usage from what rides along."""
    steps: dict[int, dict[str, Any]] = {}
    usage: list[tuple[int | None, dict[str, Any]]] = []
    for event in sample.events:
        proctor = ((event.metadata or {}).get("proctor") or {}) if hasattr(event, "metadata") else {}
        if isinstance(event, InfoEvent) and event.source == SOURCE and isinstance(event.data, dict):
            listed = event.data.get("steps")
            found: list[Any] = [event.data.get("step"), *(listed if isinstance(listed, list) else [])]
            for step in found:
                if isinstance(step, dict) and isinstance(step.get("index"), int):
                    steps[step["index"]] = step
        elif isinstance(event, ModelEvent) and isinstance(proctor.get("usage"), dict):
            call = dict(proctor["usage"])
            usage.append((call.pop("step", None), call | {"created_at": event.timestamp}))
    task = dict(run["task"])
    record = {
        key: run.get(key)
        for key in ("id", "task_id", "status", "model", "config", "submission", "score", "error", "steps_done")
    }
    record |= {key: run.get(key) or 0 for key in ("input_tokens", "output_tokens", "cost", "active_seconds")}
    record |= {"created_at": utc(run.get("created_at")), "finished_at": utc(run.get("finished_at"))}
    events: list[tuple[str, dict[str, Any], datetime | None]] = [
        (e["kind"], e["detail"], utc(e.get("created_at"))) for e in run.get("events") or []
    ]
    events.append(("imported", {"from": "inspect", "key": f"proctor:{run['id']}", "log": str(path)}, None))
    return RunRows(
        task=task,
        run=record,
        steps=[_step_rows(steps[index]) for index in sorted(steps)],
        usage=usage,
        events=events,
    )


def _step_rows(step: dict[str, Any]) -> StepRows:
    return StepRows(
        index=int(step["index"]),
        kind=str(step.get("kind") or "action"),
        options=list(step.get("options") or []),
        chosen=step.get("chosen"),
        chooser=step.get("chooser"),
        observation=step.get("observation"),
        summary=step.get("summary"),
        tags=list(step.get("tags") or []),
        created_at=utc(step.get("created_at")),
    )
