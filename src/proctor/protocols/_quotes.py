"""What a speaker writes, made safe to show a judge: the private scratchpad removed, marks that only the system may
write neutralized, and quotes checked against the hidden source by normalized whole-word match.

Only the quote checker writes `<v_quote>` (verified) and `<u_quote>` (not found). A speaker who writes either tag
itself, in any spelling (`<V_QUOTE >`, `&lt;v_quote&gt;`, full-width brackets), has it turned back into a plain
`<quote>`, which is then checked like any other. Likewise the tags that frame a transcript (`<turn>`, `<transcript>`,
`<source>`) cannot be written by a speaker: a speaker cannot end its own turn and forge another speaker's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

QUOTE = re.compile(r"<quote>(.*?)</quote>", re.DOTALL)
_PUNCTUATION = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "—": "-", "–": "-"})
_OPEN = r"(?:<|＜|﹤|&lt;|&#0*60;|&#x0*3c;)"
_CLOSE = r"(?:>|＞|﹥|&gt;|&#0*62;|&#x0*3e;)"
_ANY_QUOTE_TAG = re.compile(rf"{_OPEN}\s*(/?)\s*[vu]?_?quote\b[^<>＜＞﹤﹥]*?{_CLOSE}", re.IGNORECASE)
_FRAME_TAG = re.compile(rf"{_OPEN}(\s*/?\s*(?:turn|transcript|source)\b[^<>＜＞﹤﹥]*?){_CLOSE}", re.IGNORECASE)
_THINKING = re.compile(r"<thinking>.*?</thinking>", re.DOTALL | re.IGNORECASE)
_UNCLOSED_THINKING = re.compile(r"<thinking>.*", re.DOTALL | re.IGNORECASE)


def normalize(text: str) -> str:
    """Lower case, straight quotes, no punctuation at the ends of words, single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.translate(_PUNCTUATION)
    words = [w.strip(".,;:!?\"'()[]") for w in text.split()]
    return " ".join(w for w in words if w)


def verify(quote: str, source: str | Sequence[str] | None) -> bool:
    """Whether `quote` appears in `source` (or in one of several texts) as whole words after normalization: "ten
    years" is not found in "often years". An empty quote never is."""
    needle = normalize(quote)
    if not needle or source is None:
        return False
    texts = [source] if isinstance(source, str) else source
    return any(f" {needle} " in f" {normalize(text)} " for text in texts)


def public_part(text: str, tag: str = "argument") -> str:
    """What the judge may read of a speaker's reply: the inside of its first `<tag>…</tag>` when there is one, else
    the reply without its `<thinking>…</thinking>` scratchpad (an unclosed one runs to the end)."""
    text = _THINKING.sub("", text)
    found = re.search(rf"<{tag}>(.*?)(?:</{tag}>|$)", text, re.DOTALL | re.IGNORECASE)
    shown = found.group(1) if found else _UNCLOSED_THINKING.sub("", text)
    return re.sub(r"</?(?:thinking|argument|question|answer)>", "", shown, flags=re.IGNORECASE).strip()


def neutralize(text: str) -> str:
    """The text with every quote tag a speaker wrote made a plain `<quote>` (so the checker, not the speaker,
    decides whether it is verified) and every transcript-framing tag made harmless."""
    text = _ANY_QUOTE_TAG.sub(lambda m: "</quote>" if m.group(1) else "<quote>", text)
    return _FRAME_TAG.sub(lambda m: f"‹{m.group(1)}›", text)


def mark_quotes(text: str, source: str | Sequence[str] | None) -> tuple[str, int, int]:
    """The text with each quote the speaker wrote replaced by `<v_quote>` (found in the source, or in one of several
    texts) or `<u_quote>` (not found), and the counts of verified and unverified quotes. Quote tags the speaker
    wrote as already checked are checked again (see `neutralize`)."""
    verified = unverified = 0

    def mark(match: re.Match[str]) -> str:
        nonlocal verified, unverified
        if verify(match.group(1), source):
            verified += 1
            return f"<v_quote>{match.group(1)}</v_quote>"
        unverified += 1
        return f"<u_quote>{match.group(1)}</u_quote>"

    return QUOTE.sub(mark, neutralize(text)), verified, unverified


def cut_words(text: str, limit: int) -> tuple[str, bool]:
    """The text cut to `limit` words (a quote left open is closed), and whether it was cut."""
    words = text.split()
    if len(words) <= limit:
        return text, False
    cut = " ".join(words[:limit])
    if cut.count("<quote>") > cut.count("</quote>"):
        cut += "</quote>"
    return f"{cut} [cut at {limit} words]", True
