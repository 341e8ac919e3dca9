"""What the tags agent's model sees: the prompt, and observations as text; the stuck check's questions."""

from __future__ import annotations

from proctor.agents._actions import ACTION_HELP, ASK_HELP
from proctor.models import Message
from proctor.store import ObservationRecord

SYSTEM = f"""You are an agent doing a task in a Linux shell, in your workspace folder.
{ACTION_HELP}
Work step by step: one action per reply. Check your work before you submit."""

STUCK_QUESTION = """Pause and look at your progress. Are you stuck (repeating yourself, failing the same way,
not getting closer to finishing)? Answer YES or NO on the first line, then one sentence why."""

COMPACTION_REQUEST = """Your work so far on a task:

{transcript}

Your context is nearly full: you will continue from a summary instead. Write a summary of what you know and
have done so far, what failed, and what to do next. Plain text, at most 300 words, no action tags."""

SUMMARY_REQUEST = """You will continue with a fresh context. Write a summary of what you know and have done so
far, what failed, and what to do next. Plain text, at most 300 words, no action tags."""


def start(instructions: str, *, ask_human: bool = False, task: list[Message] | None = None) -> list[Message]:
    """The conversation at the start of a task (the prompt tells of `<ask>` when the run lets the agent ask);
    `task`: the task's messages, when not its instructions as one user message (an Inspect chat input)."""
    system = f"{SYSTEM}\n{ASK_HELP}" if ask_human else SYSTEM
    return [Message(role="system", content=system), *(task or [Message(role="user", content=instructions)])]


def show_observation(observation: ObservationRecord, limit: int) -> str:
    """The observation as the model is shown it: output cut in the middle past `limit` characters."""
    text = observation.output
    if observation.stderr:
        text = f"{text}\n[stderr]\n{observation.stderr}" if text else f"[stderr]\n{observation.stderr}"
    if len(text) > limit:
        half = limit // 2
        text = f"{text[:half]}\n[… {len(text) - limit} characters cut …]\n{text[-half:]}"
    notes = []
    if observation.exit_code is not None:
        notes.append(f"exit code {observation.exit_code}")
    if observation.timed_out:
        notes.append("killed at the time limit")
    if observation.truncated:
        notes.append("output cut at the size limit and the command killed")
    header = f"[{', '.join(notes)}]\n" if notes else ""
    return header + text
