"""Reading what models state: the line a critique or verdict names, and a chosen side."""

from __future__ import annotations

import pytest

from proctor.protocols import Lines, parse_side, parse_verdict, stated_lines


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("The bug is an off-by-one.\nLine: 12", (12, 12)),
        ("Line: 12\nAs line 30 of the tests shows, the loop stops short.", (12, 12)),  # the stated line, not the last
        ("Lines 3 and 9 look odd, but line 9 is fine.\nLine: 3", (3, 3)),
        ("Lines: 12–13", (12, 13)),
        ("Lines: 13-12", (12, 13)),
        ("**Line:** 7", (7, 7)),
        ("The bug is on lines 12–13: the slice is one short.", (12, 13)),
        ("The loop on line 7 stops one short.", (7, 7)),
        ("Line 3 is fine; the bug is on line 9.", None),  # two lines in prose and no statement: none stated
        ("No bug.\nLine: none", None),
        ("Nothing to report.", None),
    ],
)
def test_the_stated_line(text: str, lines: tuple[int, int] | None) -> None:
    found = stated_lines(text)
    assert (None if found is None else (found.first, found.last)) == lines


def test_a_verdict_names_the_stated_line_and_range() -> None:
    verdict = parse_verdict("Line: 12\nAs line 30 of the tests shows.\nAnswer: A\nConfidence: 80%", 2)
    assert (verdict.answer, verdict.line, verdict.line_end) == (0, 12, 12)
    ranged = parse_verdict("Answer: A\nLines: 12-13", 2)
    assert (ranged.line, ranged.line_end) == (12, 13)


def test_a_short_range_locates_a_long_one_does_not() -> None:
    assert Lines(first=12, last=13).near([14]) and not Lines(first=12, last=13).near([15])
    assert not Lines(first=1, last=40).near([20])


@pytest.mark.parametrize(
    ("text", "side"),
    [("Answer: B", 1), ("B", 1), ("(A)", 0), ("B.", 1), ("A good point.", None), ("Answer: C", None), ("", None)],
)
def test_a_side_is_a_letter_or_none(text: str, side: int | None) -> None:
    assert parse_side(text, 2) == side
