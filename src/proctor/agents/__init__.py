"""Agents: the scaffold a run's model works through — text tags, native tool calls — registered by name."""

from proctor.agents._actions import ACTION_HELP, Action, ParseError, option_fields, parse_action, parse_option
from proctor.agents._base import (
    Agent,
    AgentRun,
    Proposal,
    Proposer,
    UnknownAgentError,
    advance,
    agent,
    agents,
    get_agent,
    rebuild,
)
from proctor.agents._context import show_observation
from proctor.agents._react import ReactAgent
from proctor.agents._tags import TagsAgent

__all__ = [
    "ACTION_HELP",
    "Action",
    "Agent",
    "AgentRun",
    "ParseError",
    "Proposal",
    "Proposer",
    "ReactAgent",
    "TagsAgent",
    "UnknownAgentError",
    "advance",
    "agent",
    "agents",
    "get_agent",
    "option_fields",
    "parse_action",
    "parse_option",
    "rebuild",
    "show_observation",
]
