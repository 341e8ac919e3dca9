"""Reading what models state: the judge's verdict (answer, confidence, line), a chosen side, and the line of code a
critique or verdict names."""

from __future__ import annotations

import re

from pydantic import BaseModel

LETTERS = "ABCDEFGH"

_ANSWER = re.compile(r"answer\s*[:=]\s*\**\s*\(?([A-H])\b", re.IGNORECASE)
_CONFIDENCE = re.compile(r"confidence\s*[:=]\s*\**\s*(\d+(?:\.\d+)?)\s*(%?)", re.IGNORECASE)
_RANGE = r"(\d+)(?:\s*(?:-|–|—|to|through|and)\s*(\d+))?"
_STATED = re.compile(rf"\blines?\s*\**\s*[:=]\s*\**\s*{_RANGE}", re.IGNORECASE)
_MENTIONED = re.compile(rf"\blines?\s+{_RANGE}", re.IGNORECASE)
_LETTER = re.compile(r"^\W*\(?([A-H])\)?\W*$")

MAX_SPAN = 3
"""A stated range of more lines than this does not locate anything (`Lines: 1-40` names the whole program)."""


class Lines(BaseModel):
    """The line, or range of lines, a model names."""

    first: int
    """The first line named."""
    last: int
    """The last line named (equal to `first` for a single line)."""

    def near(self, targets: list[int], tolerance: int = 1) -> bool:
        """Whether this names one of `targets` within `tolerance` lines, as a single line or a short range (at most
        `MAX_SPAN` lines)."""
        if self.last - self.first + 1 > MAX_SPAN:
            return False
        return any(self.first - tolerance <= t <= self.last + tolerance for t in targets)


def stated_lines(text: str) -> Lines | None:
    """The line a reply states: its last `Line: N` (or `Lines: N–M`, `Lines: N-M`, `Lines: N to M`); without such
    a statement, the one line or range its prose mentions (`the bug is on lines 12–13`), if it mentions exactly one.
    None when it states none (`Line: none`) or its prose names several."""

    def lines(match: re.Match[str]) -> Lines:
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        return Lines(first=min(first, last), last=max(first, last))

    if stated := list(_STATED.finditer(text)):
        return lines(stated[-1])
    if re.search(r"\blines?\s*\**\s*[:=]", text, re.IGNORECASE):  # a statement naming no number: `Line: none`
        return None
    mentioned = {(m.first, m.last) for m in map(lines, _MENTIONED.finditer(text))}
    if len(mentioned) == 1:
        first, last = mentioned.pop()
        return Lines(first=first, last=last)
    return None


class Verdict(BaseModel):
    """The judge's decision."""

    answer: int | None
    """The chosen answer's index in the order shown, or None when the verdict could not be parsed."""
    confidence: float | None = None
    """The judge's stated confidence in [0, 1], when given."""
    line: int | None = None
    """A line number, when the judge names one (code review); the first of a range."""
    line_end: int | None = None
    """The last line of the range the judge names (equal to `line` for a single line)."""
    text: str = ""
    """The judge's whole reply."""


def parse_verdict(text: str, choices: int) -> Verdict:
    """The last `Answer: X` in the judge's reply (X a letter among the first `choices`), with optional
    `Confidence: NN%` and the line it states (`Line: N`, `Lines: N–M`; see `stated_lines`); an answer missing or
    out of range gives `answer=None`."""
    answers = [m.group(1).upper() for m in _ANSWER.finditer(text)]
    answer = LETTERS.index(answers[-1]) if answers and LETTERS.index(answers[-1]) < choices else None
    confidence = None
    if found := _CONFIDENCE.findall(text):
        value, percent = found[-1]
        confidence = float(value) / 100 if percent or float(value) > 1 else float(value)
        confidence = min(max(confidence, 0.0), 1.0)
    named = stated_lines(text)
    return Verdict(
        answer=answer,
        confidence=confidence,
        line=named.first if named else None,
        line_end=named.last if named else None,
        text=text,
    )


def parse_side(text: str, choices: int) -> int | None:
    """The answer a reply picks: its last `Answer: X`, or a reply that is just the letter (`B`, `(B)`, `B.`);
    None when it picks none of the first `choices` letters."""
    answer = parse_verdict(text, choices).answer
    if answer is not None:
        return answer
    found = _LETTER.match(text.strip())
    if found and LETTERS.index(found.group(1)) < choices:
        return LETTERS.index(found.group(1))
    return None
