"""Inspect tasks proctor refuses, each in one line: a solver it has no agent for, a tool its react agent lacks, a
compose file with several services."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import match
from inspect_ai.solver import basic_agent, chain_of_thought, generate
from inspect_ai.tool import text_editor


@task
def thinking() -> Task:
    """chain_of_thought(): a solver proctor has no agent for."""
    return Task(dataset=[Sample(input="Why?", target="because")], solver=chain_of_thought(), scorer=match())


@task
def editor() -> Task:
    """basic_agent() with text_editor(), a tool proctor's react agent does not have."""
    return Task(dataset=[Sample(input="Edit.", target="x")], solver=basic_agent(tools=[text_editor()]), scorer=match())


@task
def services() -> Task:
    """A compose file with two services: proctor gives a run one sandbox."""
    sample = Sample(input="Query the database.", target="ok")
    return Task(dataset=[sample], solver=generate(), scorer=match(), sandbox=("docker", "compose_two_services.yaml"))
