"""Inspect tasks that the tests run through `proctor run` (a file as `inspect eval` takes it): scorers `match`,
`includes` and `model_graded_fact`, several epochs, a sample with files and setup, a chat input, a task argument."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import includes, match, model_graded_fact
from inspect_ai.solver import basic_agent, generate, system_message
from inspect_ai.tool import bash, python


@task
def arithmetic(base: int = 2) -> Task:
    """`What is BASE+2?`, answered right, and `What is 3*3?`, answered wrong; two epochs each."""
    samples = [
        Sample(input=f"What is {base}+2?", target=str(base + 2), id="add", metadata={"kind": "sum"}),
        Sample(input="What is 3*3?", target="9", id="mul"),
    ]
    return Task(dataset=samples, solver=generate(), scorer=match(), epochs=2)


@task
def workspace() -> Task:
    """The agent reads the files the sample brings (text, and a file next to this one) and one its setup writes."""
    sample = Sample(
        input="Print notes/a.txt, b.txt and c.txt, then submit what they say.",
        target="alpha-beta",
        id="files",
        files={"notes/a.txt": "alpha", "c.txt": "inspect_sample_data.txt"},
        setup="printf beta > b.txt",
    )
    return Task(dataset=[sample], solver=react(tools=[bash()]), scorer=includes(), sandbox="docker")


@task
def graded() -> Task:
    """A fact graded by the model under evaluation (`model_graded_fact`): one right, one wrong."""
    samples = [
        Sample(input="What is the capital of France?", target="Paris", id="france"),
        Sample(input="What is the capital of Spain?", target="Madrid", id="spain"),
    ]
    return Task(dataset=samples, solver=generate(), scorer=model_graded_fact())


@task
def chat() -> Task:
    """A chat input (a system message and a user message) after a system_message() solver."""
    conversation = [ChatMessageSystem(content="Answer in one word."), ChatMessageUser(content="Say hello.")]
    sample = Sample(input=conversation, target="hello", id="greet")
    return Task(dataset=[sample], solver=[system_message("Be polite."), generate()], scorer=includes())


@task
def calculator() -> Task:
    """basic_agent() with the python() tool."""
    sample = Sample(input="Compute 6*7 with python and submit it.", target="42", id="product")
    return Task(dataset=[sample], solver=basic_agent(tools=[python()]), scorer=includes())
