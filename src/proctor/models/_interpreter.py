"""`scripted/interpreter`: a fixed-rule explainer, simulator and scorer for the lab's automated interpretability
prompts (docs/lab.md), so the experiment runs offline. It is NOT a language model: it explains a feature by the
words most often marked in the examples, and simulates, detects and judges by whether a word is in that list."""

from __future__ import annotations

import re
from collections import Counter

from proctor.models._base import Completion, GenerateConfig, Generation, Message, Usage
from proctor.models._scripted import SCRIPTED

MARK = re.compile(r"<<(.+?)>>")


def _explained_words(prompt: str) -> set[str]:
    found = re.search(r"^Explanation: (.*)$", prompt, re.MULTILINE)
    return set(re.findall(r"[a-z]+", found.group(1).lower())) if found else set()


def _text(prompt: str) -> list[str]:
    found = re.search(r"^Text: (.*)$", prompt, re.MULTILINE)
    return found.group(1).split() if found else []


class ScriptedInterpreter:
    """Answers the four prompts of `proctor lab autointerp` by fixed rules; zero tokens, zero cost."""

    def __init__(self) -> None:
        self.name = "scripted/interpreter"

    def respond(self, prompt: str) -> str:
        task = prompt.split("\n", 1)[0]
        words = _explained_words(prompt)
        if task == "TASK: explain":
            examples = "\n".join(line for line in prompt.splitlines() if line.startswith("Example "))
            marked = Counter(word.lower() for word in MARK.findall(examples))
            return "Explanation: words like " + ", ".join(word for word, _ in marked.most_common(5))
        if task == "TASK: simulate":
            return "\n".join("10" if token.lower() in words else "0" for token in _text(prompt))
        if task == "TASK: detect":
            return "yes" if any(token.lower() in words for token in _text(prompt)) else "no"
        if task == "TASK: fuzz":
            chosen = [word.lower() for word in MARK.findall(prompt.split("Text: ", 1)[-1])]
            return "yes" if chosen and all(word in words for word in chosen) else "no"
        return "I only answer the lab's automated interpretability prompts."

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        text = self.respond(messages[-1].content if messages else "")
        return Generation(
            model=self.name,
            completions=[Completion(text=text) for _ in range(config.n)],
            usage=Usage(input_tokens=0, output_tokens=0, cost=0.0),
        )


SCRIPTED["interpreter"] = ScriptedInterpreter
