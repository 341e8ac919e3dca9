"""The scripted baseline: fixed rules that solve some example tasks, so runs work without any model API."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from proctor.models._base import (
    Completion,
    GenerateConfig,
    Generation,
    Message,
    Model,
    ToolCall,
    UnknownModelError,
    Usage,
    provider,
)

GIVE_UP = "I cannot do this task"
"""What the baseline submits when it has no rule for a task (a wrong answer)."""

# One step's rule: (instructions, last observation) -> the completion text with one action.
Step = Callable[[str, str], str]


def _bash(plan: str, command: str) -> str:
    return f"{plan}\n<bash>{command}</bash>"


def _submit(plan: str, answer: str) -> str:
    return f"{plan}\n<submit>{answer}</submit>"


def _give_up(reason: str) -> str:
    return _submit(f"{reason} The scripted baseline gives up.", GIVE_UP)


def _submit_match(pattern: str, render: Callable[[re.Match[str]], str]) -> Step:
    """A step that submits what `pattern` finds in the last observation, or gives up.

    Patterns match whole output lines, so a command echoed in the observation does not match.
    """

    def step(instructions: str, observation: str) -> str:
        found = re.search(pattern, observation)
        if found is None:
            return _give_up("The last command did not print what was expected.")
        return _submit("Found the answer in the output.", render(found))

    return step


def _arith_command(instructions: str, observation: str) -> str:
    found = re.search(r"integer expression `([^`]+)`", instructions)
    expression = found.group(1) if found else ""
    if not expression or not re.fullmatch(r"[0-9+\-*/%() ]+", expression):
        return _give_up("The expression uses more than integer arithmetic.")
    # The expression holds only digits, operators, spaces and parentheses: safe in double quotes.
    return _bash("Compute the expression with Python.", f"python3 -c \"print('ANSWER=%d' % ({expression}))\"")


_CSV_SCRIPT = """import csv
totals = {}
seen = set()
with open("sales.csv", newline="") as f:
    rows = csv.reader(f)
    next(rows)
    for row in rows:
        if len(row) < 3 or not row[0].strip() or row[0] in seen:
            continue
        seen.add(row[0])
        category = row[1].strip().lower()
        totals[category] = totals.get(category, 0.0) + float(row[2].replace(",", ""))
with open("out.csv", "w") as f:
    f.write("category,total\\n")
    for category in sorted(totals):
        f.write(f"{category},{totals[category]:.2f}\\n")
"""

_LOG_COMMAND = (
    "echo \"TOP=$(awk '{print $1}' access.log | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')"
    " ERRORS=$(awk '$9 >= 500 && $9 < 600' access.log | wc -l)\""
)


@dataclass(frozen=True)
class Playbook:
    """The fixed steps for one kind of task, chosen by a test on the instructions."""

    name: str
    """Which task kind this plays."""
    matches: Callable[[str], bool]
    """Whether the instructions are of this kind."""
    steps: tuple[Step, ...]
    """One rule per step; past the last one the baseline gives up."""


PLAYBOOKS = (
    Playbook(
        "find-secret",
        lambda text: "TOKEN=" in text and "vault/" in text,
        (
            lambda i, o: _bash("Search the vault for live token lines.", "grep -rhE '^TOKEN=[0-9a-f]{12}$' vault"),
            _submit_match(r"(?m)^TOKEN=([0-9a-f]{12})\s*$", lambda m: m.group(1)),
        ),
    ),
    Playbook(
        "log-analysis",
        lambda text: "access.log" in text and "5xx" in text,
        (
            lambda i, o: _bash("Count requests per client and 5xx statuses with awk.", _LOG_COMMAND),
            _submit_match(r"(?m)^TOP=(\S+) ERRORS=\s*(\d+)\s*$", lambda m: f"{m.group(1)} {m.group(2)}"),
        ),
    ),
    Playbook(
        "arithmetic",
        lambda text: "integer expression `" in text,
        (_arith_command, _submit_match(r"(?m)^ANSWER=(-?\d+)\s*$", lambda m: m.group(1))),
    ),
    Playbook(
        "csv-aggregate",
        lambda text: "sales.csv" in text and "out.csv" in text,
        (
            lambda i, o: (
                f'Write a script that cleans and totals the CSV.\n<write path="aggregate.py">{_CSV_SCRIPT}</write>'
            ),
            lambda i, o: _bash("Run it and show the result.", "python3 aggregate.py && cat out.csv"),
            lambda i, o: (
                _submit("out.csv is written.", "done") if "category,total" in o else _give_up("The script failed.")
            ),
        ),
    ),
    Playbook(
        "fetch",
        lambda text: "https://" in text and "page.html" in text,
        (
            lambda i, o: _bash(
                "Fetch the page.",
                "curl -fsS --max-time 20 -o page.html " + shlex.quote(_url(i)),
            ),
            lambda i, o: _bash("Read its title.", r"sed -n 's:.*<title>\(.*\)</title>.*:TITLE=\1:p' page.html"),
            _submit_match(r"(?m)^TITLE=(.+)$", lambda m: m.group(1).strip()),
        ),
    ),
)

_FALLBACK = (
    lambda i, o: _bash("Look around the working directory first.", "ls -la"),
    lambda i, o: _give_up("No rule of the baseline fits this task."),
)


def _url(instructions: str) -> str:
    found = re.search(r"https://[^\s`)<>]+", instructions)
    return found.group(0).rstrip(".,") if found else "https://example.com/"


class ScriptedBaseline:
    """A scripted baseline agent. It is NOT a language model.

    Its completions come from fixed rules keyed on the task instructions (the first user message)
    and the last observation (the last user message); the step is the number of assistant messages
    so far. It solves roughly half of the bundled example suite (finding the secret, the log
    analysis, the arithmetic family, the CSV totals) and submits "I cannot do this task" on the
    others. It uses no tokens and costs nothing.
    """

    def __init__(self) -> None:
        self.name = "scripted/baseline"

    def respond(self, messages: list[Message]) -> str:
        """The completion for this point of the conversation (one action, after a line of plan)."""
        users = [m.content for m in messages if m.role in ("user", "tool")]
        instructions = users[0] if users else ""
        step = sum(1 for m in messages if m.role == "assistant")
        observation = users[-1] if step > 0 and len(users) > 1 else ""
        playbook = next((p for p in PLAYBOOKS if p.matches(instructions)), None)
        steps = playbook.steps if playbook is not None else _FALLBACK
        if step >= len(steps):
            return _give_up("The steps of this rule are used up.")
        return steps[step](instructions, observation)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        """`config.n` identical completions from the rules; zero tokens, zero cost."""
        text = self.respond(messages)
        completion = Completion(text=text) if config.tools is None else _as_tool_call(text, len(messages))
        return Generation(
            model=self.name,
            completions=[completion for _ in range(config.n)],
            usage=Usage(input_tokens=0, output_tokens=0, cost=0.0),
            latency=0.0,
        )


_TOOLS = {"bash": ("bash", "command"), "submit": ("submit", "answer"), "delegate": ("delegate", "instructions")}
_TOOLS |= {"write": ("write_file", "content")}
_TAG = re.compile(r"<(bash|submit|delegate|write)(?: path=\"([^\"]*)\")?>(.*?)</\1>", re.DOTALL)


def _as_tool_call(text: str, position: int) -> Completion:
    """The rule's action as a native tool call, when the request offers tools (the `react` agent)."""
    found = _TAG.search(text)
    if found is None:
        return Completion(text=text)
    tool, key = _TOOLS[found.group(1)]
    arguments = {key: found.group(3)} | ({"path": found.group(2)} if found.group(2) else {})
    call = ToolCall(id=f"call_{position}", name=tool, arguments=json.dumps(arguments))
    return Completion(text=text[: found.start()].strip(), tool_calls=[call])


SCRIPTED: dict[str, Callable[[], Model]] = {"baseline": ScriptedBaseline}
"""The scripted models by name (`scripted/<name>`): the baseline agent, and the scripted roles of red teaming and
audits (red, target, judge, auditor), registered by `proctor.models._scripted_roles`, and the lab's interpreter,
registered by `proctor.models._interpreter`."""


@provider("scripted")
def scripted(model: str, **options: Any) -> Model:
    """Build a scripted model: `baseline`, one of the scripted roles (`red`, `target`, `judge`, `auditor`), or
    `interpreter` (the lab's automated interpretability prompts).

    Raises:
        UnknownModelError: no scripted model has this name, or options were given.
    """
    factory = SCRIPTED.get(model)
    if factory is None:
        roles = ", ".join(f"scripted/{name}" for name in sorted(SCRIPTED) if name != "baseline")
        raise UnknownModelError(f"unknown scripted model {model!r}; use scripted/baseline or a role: {roles}")
    if options:
        raise UnknownModelError(f"scripted/{model} takes no options (got {', '.join(sorted(options))})")
    return factory()
