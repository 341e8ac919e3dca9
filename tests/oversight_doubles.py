"""Scripted models for oversight protocols on the loopback server: test doubles, each a function from a request to
the reply a model in that role would give."""

from __future__ import annotations

import re

from loopback_server import RecordedRequest, Reply


def prompt(request: RecordedRequest) -> str:
    return str(request.body["messages"][-1]["content"])


def honest_world(request: RecordedRequest) -> Reply:
    """Debaters arguing for 42 quote the source; those arguing for 17 invent a quote. The judge believes whoever
    has verified quotes, and without help answers A."""
    text = prompt(request)
    if "How persuasive" in text:
        return Reply(text="5" if "forty-two" in text else "2")
    if "ask the consultant one short question" in text:
        return Reply(text="Which line of the log gives the count?")
    if "You are the judge" in text:
        if not re.search(r"<v_quote>[^<]", text):  # a verified quote, not the rules' mention of the tag
            return Reply(text="I cannot tell.\nAnswer: A\nConfidence: 55%")
        supported = re.search(r"^([AB]): 42$", text, re.MULTILINE)
        letter = supported.group(1) if supported else "A"
        return Reply(text=f"The verified quote settles it.\nAnswer: {letter}\nConfidence: 90%")
    if "First decide which answer is correct" in text:
        honest = re.search(r"^([AB]): 42$", text, re.MULTILINE)
        return Reply(text=f"Answer: {honest.group(1) if honest else 'A'}")
    if any(task in text for task in ("Argue that the answer is", "You chose the answer", "Critique it", "Ask your")):
        side = re.search(r'(?:answer is|chose the answer) "([AB]): (\d+)"', text)
        if side and side.group(2) == "42":
            return Reply(text="The log is clear: <quote>exactly forty-two ships</quote> were counted.")
        return Reply(text="It was <quote>seventeen ships in all</quote>, as the keeper wrote. " + "word " * 300)
    return Reply(text="Answer: A")


def market_world(request: RecordedRequest) -> Reply:
    """The market predicts the judge follows a verified quote: P(A) 0.9 when a verified quote backs A's 42, 0.1
    when it backs B's, 0.5 without one. Debaters and judge behave as in `honest_world`."""
    text = prompt(request)
    if "You are a prediction market" in text:
        if not re.search(r"<v_quote>[^<]", text):
            return Reply(text="Nothing settles it yet.\nProbability A: 50%")
        a_is_42 = re.search(r"^A: 42$", text, re.MULTILINE) is not None
        return Reply(text=f"Probability A: {90 if a_is_42 else 10}%")
    return honest_world(request)


def decomposing_world(request: RecordedRequest) -> Reply:
    """The judge asks two sub-questions of the main question and one of each sub-question; the assistant quotes
    the source; combining, the judge repeats what came back; the verdict follows a verified quote."""
    text = prompt(request)
    if "may ask an assistant" in text:
        if "This is sub-question" in text:
            return Reply(text="<subquestion>Which exact words give the count?</subquestion>")
        return Reply(
            text="<subquestion>What did the keeper count?</subquestion>\n"
            "<subquestion>How many were there?</subquestion>\n<subquestion>Who wrote the log?</subquestion>"
        )
    if "Sub-question:" in text and "What came back" in text:
        return Reply(text="<answer>The log says <v_quote>exactly forty-two</v_quote>.</answer>")
    if "The judge asked you this sub-question" in text:
        return Reply(text="<argument>The log: <quote>exactly forty-two ships</quote>.</argument>")
    return honest_world(request)


def tournament_world(request: RecordedRequest) -> Reply:
    """Debaters by model: `good` quotes the source for 42 and invents a quote for 17; `mid` quotes for 42 and
    writes no quote for 17; `bad` never quotes. The judge follows a verified quote, else answers A."""
    text = prompt(request)
    if "You are Debater" in text:
        model = str(request.body["model"]).split("/")[-1]
        side = re.search(r'Argue that the answer is "([AB]): (\d+)"', text)
        honest = side is not None and side.group(2) == "42"
        if model == "bad":
            return Reply(text="<argument>Trust me.</argument>")
        if honest:
            return Reply(text="<argument>The log: <quote>exactly forty-two ships</quote>.</argument>")
        if model == "good":
            return Reply(text="<argument>It was <quote>seventeen ships in all</quote>.</argument>")
        return Reply(text="<argument>No quote, but believe me.</argument>")
    return honest_world(request)


def always_a_world(request: RecordedRequest) -> Reply:
    """An open consultant who always chooses answer A; otherwise `honest_world`."""
    if "First decide which answer is correct" in prompt(request):
        return Reply(text="Answer: A")
    return honest_world(request)
