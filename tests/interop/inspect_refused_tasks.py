"""Inspect tasks proctor refuses, each in one line: a solver it has no agent for, a tool its react agent lacks, a
compose file with several services."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import basic_agent, chain_of_thought, generate, use_tools
from inspect_ai.tool import bash, text_editor


@task
def thinking() -> Task:
    """chain_of_thought() then generate(): a solver proctor has no agent for (the `inspect` agent runs it as it is)."""
    sample = Sample(input="Why?", target="because")
    return Task(dataset=[sample], solver=[chain_of_thought(), generate()], scorer=match())


@task
def editor() -> Task:
    """basic_agent() with text_editor(), a tool proctor's react agent does not have."""
    return Task(dataset=[Sample(input="Edit.", target="x")], solver=basic_agent(tools=[text_editor()]), scorer=match())


@task
def tooling() -> Task:
    """use_tools() then generate(): run as it is, its model's tool calls would need Inspect's sandbox."""
    sample = Sample(input="List the files.", target="x", id="ls")
    return Task(dataset=[sample], solver=[use_tools([bash()]), generate()], scorer=match())


@task
def services() -> Task:
    """A compose file with two services: proctor gives a run one sandbox."""
    sample = Sample(input="Query the database.", target="ok")
    return Task(dataset=[sample], solver=generate(), scorer=match(), sandbox=("docker", "compose_two_services.yaml"))
