"""Scoring a run of an Inspect task with the task's own scorers, and the `proctor` model API for Inspect.

The run's stored transcript becomes Inspect's `TaskState` through the messages the exporter writes (`sample_of`):
the sample's input, then each action step's chosen option and observation; the submission is the output's
completion. Model-graded scorers call the model under evaluation (or the one they name) through the `proctor`
model API registered with Inspect (`proctor/PROVIDER/MODEL`): proctor's providers answer, and each call is
recorded on the run as a usage row of role `grader`.
"""

from __future__ import annotations

import asyncio
import json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from inspect_ai._util.registry import registry_unqualified_name
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
    ModelAPI,
    ModelName,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.model import GenerateConfig as InspectGenerateConfig
from inspect_ai.model import get_model as inspect_get_model
from inspect_ai.model._model import init_active_model, init_model_roles
from inspect_ai.scorer import Score, Target
from inspect_ai.solver import TaskState
from inspect_ai.tool import ToolCall as InspectToolCall
from inspect_ai.tool import ToolChoice, ToolInfo

from proctor.interop._inspect_in import score_value
from proctor.interop._inspect_sample import sample_of
from proctor.interop._inspect_tasks import chat_messages
from proctor.interop._rows import read_runs
from proctor.models import GenerateConfig, Generation, Model, ModelError, Tool, get_model
from proctor.tasks import TaskRunError

if TYPE_CHECKING:
    from proctor.agents import Proposer
    from proctor.interop._inspect_tasks import InspectTask
    from proctor.runner import ScoringRun

PROVIDER = "proctor"
"""The model API's name in Inspect: `proctor/openai/gpt-4o-mini` is proctor's `openai/gpt-4o-mini`."""
GRADER_ROLE = "grader"
"""The role of a grader's model calls in the run's usage rows."""


@dataclass(frozen=True)
class _Grading:
    """The run being scored: its model, and where calls are recorded."""

    run: ScoringRun


_grading: ContextVar[_Grading | None] = ContextVar("proctor_grading", default=None)
_solving: ContextVar[Proposer | None] = ContextVar("proctor_solving", default=None)
"""The step an `inspect` agent's solver is running in: its model calls go through the proposer, each a step."""
SOLVER_STEP = "generate"
"""The kind of the step each model call of a solver run as it is (the `inspect` agent) is stored as."""
_models: dict[str, Model] = {}


class ProctorModelAPI(ModelAPI):
    """Inspect's model API over proctor's model layer: `proctor/PROVIDER/MODEL` calls proctor's `PROVIDER/MODEL`
    (the run's own model object while a run is scored, so its options — base URL, key — apply), and records each
    call on the run being scored."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: InspectGenerateConfig = InspectGenerateConfig(),  # noqa: B008 — Inspect's own signature
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        self.options = {k: v for k, v in {"base_url": base_url, "api_key": api_key}.items() if v} | model_args

    def _model(self) -> Model:
        grading = _grading.get()
        if grading is not None and grading.run.model.name == self.model_name:
            return grading.run.model
        key = f"{self.model_name}|{sorted(self.options.items())}"
        if key not in _models:
            _models[key] = get_model(self.model_name, **self.options)
        return _models[key]

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: InspectGenerateConfig,
    ) -> ModelOutput:
        model = self._model()
        offered = [
            Tool(name=t.name, description=t.description, parameters=t.parameters.model_dump(exclude_none=True))
            for t in tools
        ]
        asked = GenerateConfig(
            n=config.num_choices or 1,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens or GenerateConfig().max_tokens,
            stop=config.stop_seqs,
            seed=config.seed,
            tools=offered or None,
        )
        solving = _solving.get()
        if solving is not None:  # a solver run by the `inspect` agent: the call is a step of the run
            other = None if self.model_name == solving.model else self.model_name
            generation = await solving.generate(list(chat_messages(input)), asked, model=other)
            await solving.record(SOLVER_STEP, "\n\n".join(c.text for c in generation.completions))
            return _output(generation, self.model_name)
        grading = _grading.get()
        try:
            generation = await model.generate(list(chat_messages(input)), asked)
        except ModelError as error:
            if grading is not None:
                await grading.run.record_usage(None, model.name, GRADER_ROLE, str(error))
            raise
        if grading is not None:
            await grading.run.record_usage(generation, model.name, GRADER_ROLE, None)
        return _output(generation, self.model_name)


def _output(generation: Generation, model: str) -> ModelOutput:
    choices = []
    for completion in generation.completions:
        calls = [
            InspectToolCall(id=c.id, function=c.name, arguments=_arguments(c.arguments)) for c in completion.tool_calls
        ]
        message = ChatMessageAssistant(
            content=completion.text, tool_calls=calls or None, model=model, source="generate"
        )
        choices.append(ChatCompletionChoice(message=message, stop_reason="tool_calls" if calls else "stop"))
    usage = generation.usage
    tokens = ModelUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.input_tokens + usage.output_tokens,
        total_cost=usage.cost,
    )
    return ModelOutput(model=model, choices=choices, usage=tokens, time=generation.latency)


def _arguments(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@modelapi(name=PROVIDER)
def proctor_model_api() -> type[ModelAPI]:
    """Register the `proctor` model API with Inspect (done when this module is imported)."""
    return ProctorModelAPI


async def score_transcript(task: InspectTask, submission: str, run: ScoringRun) -> float | None:
    """Score a run of `task` with the task's scorers over its transcript; the first scorer's score (in [0, 1], as
    the import reads Inspect's values) is the run's. Every scorer's score, the target and the sample's metadata are
    kept in an `inspect_scores` event.

    Raises:
        TaskRunError: a scorer failed (one line naming it).
    """
    record = await asyncio.to_thread(run.store.run, run.run_id)

    def read() -> Any:
        with run.store.engine.connect() as conn:
            return read_runs(conn, [record])[0]

    stored = await asyncio.to_thread(read)
    state = _state(task, stored, submission, run.model.name)
    # A task of its own, so the active model and the grading run are set for the scorers alone.
    scores = await asyncio.create_task(_score(task, state, run))
    first = next(iter(scores.values()), None)
    detail = {
        "scores": {name: score.model_dump(mode="json", exclude_none=True) for name, score in scores.items()},
        "target": task.sample.target,
        "metadata": task.sample.metadata or {},
        "sample_id": task.info.name,
    }
    await run.add_event("inspect_scores", json.loads(json.dumps(detail, default=str)))
    return None if first is None else score_value(first.value)


async def _score(task: InspectTask, state: TaskState, run: ScoringRun) -> dict[str, Score]:
    _grading.set(_Grading(run))
    init_active_model(inspect_get_model(f"{PROVIDER}/{run.model.name}"), InspectGenerateConfig())
    init_model_roles({})
    target = Target(task.sample.target)
    scores: dict[str, Score] = {}
    for scorer in task.scorers:
        name = registry_unqualified_name(scorer)
        try:
            score = await scorer(state, target)
        except Exception as error:  # the scorer's own code: one line naming it, the run fails with it
            lines = str(error).strip().splitlines()
            why = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
            raise TaskRunError(f"{task.info.id}: scorer {name} failed: {why}") from None
        if score is not None:
            scores[name if name not in scores else f"{name}{len(scores) + 1}"] = score
    return scores


async def solve(task: InspectTask, proposer: Proposer) -> str:
    """Run the task's solver as it is on the sample (the `inspect` agent), its model calls through `proposer`, each
    stored as a step; returns the output's completion.

    Raises:
        TaskRunError: the solver failed, or its model called a tool (one line naming it).
    """
    return await asyncio.create_task(_solve(task, proposer))  # a task of its own: the context is the solver's


async def _solve(task: InspectTask, proposer: Proposer) -> str:
    _solving.set(proposer)
    init_active_model(inspect_get_model(f"{PROVIDER}/{proposer.model}"), InspectGenerateConfig())
    init_model_roles({})
    sample = task.sample
    task_input: list[ChatMessage] = (
        [ChatMessageUser(content=sample.input)] if isinstance(sample.input, str) else list(sample.input)
    )
    state = TaskState(
        model=ModelName(f"{PROVIDER}/{proposer.model}"),
        sample_id=sample.id if sample.id is not None else task.info.name,
        epoch=1,
        input=sample.input,
        messages=task_input,
        target=Target(sample.target),
        choices=sample.choices,
        metadata=dict(sample.metadata or {}),
    )

    async def generate(state: TaskState, tool_calls: str = "loop", **config: Any) -> TaskState:
        output = await inspect_get_model().generate(
            state.messages, state.tools, state.tool_choice, config=InspectGenerateConfig(**config)
        )
        if output.message.tool_calls:
            names = ", ".join(f"{call.function}()" for call in output.message.tool_calls)
            raise TaskRunError(
                f"{task.info.id}: the solver's model called {names}: Inspect's tools need Inspect's sandbox, which "
                "proctor does not give; run the task with an agent (--agent react)"
            )
        state.output = output
        state.messages.append(output.message)
        return state

    name = registry_unqualified_name(task.solver)
    try:
        state = await task.solver(state, generate)
    except (TaskRunError, ModelError):
        raise
    except Exception as error:  # the solver's own code: one line naming it, the run fails with it
        lines = str(error).strip().splitlines()
        why = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        raise TaskRunError(f"{task.info.id}: solver {name} failed: {why}") from None
    return str(state.output.completion)


def _state(task: InspectTask, stored: Any, submission: str, model: str) -> TaskState:
    """The run as Inspect's TaskState: the sample's input, the run's conversation after it, the submission as the
    output's completion."""
    sample = task.sample
    exported = sample_of(stored, task.info.name, 1)
    start = next((n for n, m in enumerate(exported.messages) if m.source == "input"), -1)
    prompts: list[ChatMessage] = [ChatMessageSystem(content=p) for p in task.system_prompts]
    task_input = [ChatMessageUser(content=sample.input)] if isinstance(sample.input, str) else list(sample.input)
    return TaskState(
        model=ModelName(f"{PROVIDER}/{model}"),
        sample_id=sample.id if sample.id is not None else task.info.name,
        epoch=1,
        input=sample.input,
        messages=[*prompts, *task_input, *exported.messages[start + 1 :]],
        target=Target(sample.target),
        choices=sample.choices,
        output=ModelOutput.from_content(model=f"{PROVIDER}/{model}", content=submission),
        completed=True,
        metadata=dict(sample.metadata or {}),
    )
