"""Parsing an option's text into an action: bash, write, delegate, submit, or score (intermediate scoring)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel

from proctor.agents._base import Proposal

ActionKind = Literal["bash", "write", "delegate", "submit", "score", "ask"]

ACTION_HELP = """Reply with your reasoning, then exactly one action:
<bash>a shell command</bash> runs it in your workspace and shows you the output;
<write path="relative/path">content</write> writes a file;
<delegate>instructions</delegate> gives an independent subtask to a fresh copy of you and returns its answer;
<submit>your final answer</submit> ends the task."""

SCORE_HELP = """This task offers intermediate scoring: reply with <score></score> to have your work so far scored;
you are shown the score and any feedback, and the task goes on."""

ASK_HELP = """You may ask a person: <ask>your question</ask> waits for their answer, which you are shown. Ask
when only a person can tell you (what they want, something you cannot find out yourself)."""

INTERNET_REFUSED = """Note: this task asks for internet access, which this run does not grant: you have no network
(only your own loopback). Do what you can without it."""

_ACTION = re.compile(r"<(bash|write|delegate|submit|score|ask)(\s+path=\"([^\"]*)\")?\s*>(.*?)</\1>", re.DOTALL)


class Action(BaseModel):
    """A parsed action."""

    kind: ActionKind
    """What to do."""
    argument: dict[str, Any]
    """`command` (bash), `path` and `content` (write), `instructions` (delegate), `answer` (submit), `question`
    (ask); none (score)."""


class ParseError(ValueError):
    """The text holds no well-formed action."""


def parse_action(text: str) -> Action:
    """The first action in `text`.

    Raises:
        ParseError: no action tag, an empty one, or a write without a path.
    """
    match = _ACTION.search(text)
    if match is None:
        raise ParseError("no action found: end your reply with one <bash>, <write>, <delegate> or <submit> tag")
    kind, path, body = match.group(1), match.group(3), match.group(4)
    if kind == "write":
        if not path:
            raise ParseError('<write> needs a path: <write path="file.txt">content</write>')
        return Action(kind="write", argument={"path": path, "content": body})
    if kind == "score":
        return Action(kind="score", argument={})
    body = body.strip("\n") if kind != "submit" else body.strip()
    if kind != "submit" and not body.strip():
        raise ParseError(f"<{kind}> is empty")
    key = {"bash": "command", "delegate": "instructions", "submit": "answer", "ask": "question"}[kind]
    return Action(kind=kind, argument={key: body})  # type: ignore[arg-type]


def parse_option(text: str) -> Proposal:
    """An option with this text, as the tags agent reads it: its action, or why none could be parsed."""
    try:
        action = parse_action(text)
    except ParseError as error:
        return Proposal(text=text, action=None, argument=None, parse_error=str(error))
    return Proposal(text=text, action=action.kind, argument=action.argument)


def option_fields(text: str, source: str) -> dict[str, Any]:
    """The stored columns of an option with this text (a person's, in text tags): parsed action, or the error."""
    return parse_option(text).model_dump() | {"source": source}
