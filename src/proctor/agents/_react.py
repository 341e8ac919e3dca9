"""The `react` agent: native tool calls through each provider's tool API.

N options are N sampled completions; the tool calls of one completion are one option (action `calls`), run in
order within the step. The calls' ids and raw arguments are stored with the option and each call's result with the
observation, so a resumed run rebuilds the very messages the model saw. A malformed argument, an unknown tool or a
reply without a call is answered with an observation saying what was wrong.
"""

from __future__ import annotations

import json
from typing import Any

from proctor.agents._base import AgentRun, Proposal, Proposer, agent
from proctor.agents._context import show_observation
from proctor.models import Completion, Message, Tool, ToolCall
from proctor.store import ObservationRecord, OptionRecord

SYSTEM = """You are an agent doing a task in a Linux shell, in your workspace folder. Act by calling the tools;
you may call several in one reply, and they run in order. Check your work, then call `submit` with your final
answer: that ends the task."""


def _tool(name: str, description: str, **properties: str) -> Tool:
    schema = {key: {"type": "string", "description": text} for key, text in properties.items()}
    parameters = {"type": "object", "properties": schema, "required": list(properties)}
    return Tool(name=name, description=description, parameters=parameters)


TOOLS = {
    "bash": _tool("bash", "Run a shell command in the workspace; shows its output.", command="The command."),
    "python": _tool("python", "Run Python 3 code in the workspace; shows its output.", code="The program."),
    "read_file": _tool("read_file", "Show a file's content.", path="The file's path."),
    "write_file": _tool("write_file", "Write a file (folders are made).", path="The path.", content="The content."),
    "edit_file": _tool(
        "edit_file",
        "Replace one exact occurrence of `old` in a file with `new`.",
        path="The file's path.",
        old="The text to replace; it must occur exactly once.",
        new="The replacement.",
    ),
    "delegate": _tool(
        "delegate", "Give an independent subtask to a fresh copy of you; returns its answer.", instructions="It."
    ),
    "score": Tool(
        name="score",
        description="Have your work so far scored; shows the score and feedback, and the task goes on.",
        parameters={"type": "object", "properties": {}},
    ),
    "submit": _tool("submit", "Submit your final answer: this ends the task.", answer="The final answer."),
    "ask_human": _tool(
        "ask_human", "Ask a person a question only they can answer; waits for their answer.", question="The question."
    ),
}
ACTIONS = {"bash": "bash", "python": "python", "read_file": "read", "write_file": "write", "edit_file": "edit"}
ACTIONS |= {"delegate": "delegate", "score": "score", "submit": "submit", "ask_human": "ask"}
"""Each tool's action, as the runner executes it."""


def tools_for(run: AgentRun, only: list[str] | None = None) -> list[Tool]:
    """The tools this run offers: `delegate` while delegation is allowed, `score` where the task scores,
    `ask_human` where the run lets the agent ask a person; with `only`, just those tools (and `submit`)."""
    left_out = set() if run.delegation else {"delegate"}
    left_out |= set() if run.intermediate_scoring else {"score"}
    left_out |= set() if run.ask_human else {"ask_human"}
    kept = None if only is None else {*only, "submit"}
    return [tool for name, tool in TOOLS.items() if name not in left_out and (kept is None or name in kept)]


def parse_call(call: ToolCall, offered: list[Tool]) -> dict[str, Any]:
    """One stored call: the model's id, tool and raw arguments, and the action parsed from them or the error."""
    stored: dict[str, Any] = {"id": call.id, "tool": call.name, "arguments": call.arguments}
    names = [tool.name for tool in offered]
    if call.name not in names:
        return stored | {"action": None, "argument": None, "error": f"unknown tool {call.name!r} (tools: {names})"}
    try:
        argument = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as error:
        return stored | {"action": None, "argument": None, "error": f"arguments are not valid JSON: {error}"}
    required = TOOLS[call.name].parameters.get("required", [])
    if not isinstance(argument, dict) or any(not isinstance(argument.get(key), str) for key in required):
        wrong = f"{call.name} takes a JSON object with the string arguments {required}"
        return stored | {"action": None, "argument": None, "error": wrong}
    if call.name == "submit":
        argument["answer"] = argument["answer"].strip()
    return stored | {"action": ACTIONS[call.name], "argument": argument, "error": None}


def proposal_of(completion: Completion, offered: list[Tool]) -> Proposal:
    """A completion as an option: its calls, or why it has none."""
    if not completion.tool_calls:
        error = f"no tool call: call one of the tools ({', '.join(tool.name for tool in offered)})"
        return Proposal(text=completion.text, action=None, argument=None, parse_error=error)
    calls = [parse_call(call, offered) for call in completion.tool_calls]
    return Proposal(text=completion.text, action="calls", argument={"calls": calls})


@agent("react")
class ReactAgent:
    """Native tool calls (OpenAI functions, Anthropic tool use, chat templates): bash, python, files, submit.

    Args:
        tools: Offer only these tools (by name, e.g. `["bash", "python"]`) and `submit`; None offers them all.
    """

    def __init__(self, tools: list[str] | None = None) -> None:
        unknown = sorted(set(tools or []) - set(TOOLS))
        if unknown:
            raise ValueError(f"react: unknown tools {unknown} (tools: {', '.join(TOOLS)})")
        self.tools = None if tools is None else list(tools)

    def start(self, run: AgentRun) -> list[Message]:
        return [Message(role="system", content=SYSTEM), *run.task_messages()]

    async def propose(self, run: AgentRun, messages: list[Message], proposer: Proposer) -> list[Proposal]:
        offered = tools_for(run, self.tools)
        config = run.generate.model_copy(update={"n": run.options, "tools": offered})
        generation = await proposer.generate(messages, config)
        return [proposal_of(completion, offered) for completion in generation.completions]

    def step_messages(self, run: AgentRun, option: OptionRecord, observation: ObservationRecord) -> list[Message]:
        if option.action != "calls" or option.argument is None:  # no call, or a person's option in text tags
            shown = show_observation(observation, run.observation_chars)
            return [Message(role="assistant", content=option.text), Message(role="user", content=shown)]
        calls = option.argument["calls"]
        made = [ToolCall(id=c["id"], name=c["tool"], arguments=c["arguments"]) for c in calls]
        results = observation.calls or []
        answers = [
            Message(role="tool", tool_call_id=call["id"], content=self._shown(run, results, n))
            for n, call in enumerate(calls)
        ]
        return [Message(role="assistant", content=option.text, tool_calls=made), *answers]

    def observe(
        self, run: AgentRun, messages: list[Message], option: OptionRecord, observation: ObservationRecord
    ) -> list[Message]:
        return [*messages, *self.step_messages(run, option, observation)]

    @staticmethod
    def _shown(run: AgentRun, results: list[dict[str, Any]], n: int) -> str:
        if n >= len(results):
            return "not run: an earlier call in this reply ended the task"
        return show_observation(ObservationRecord.model_validate(results[n]), run.observation_chars)
