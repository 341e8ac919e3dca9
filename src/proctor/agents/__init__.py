"""Agents: the scaffold a run's model works through — text tags, native tool calls, triframe, a person on the
clock, one answer — registered by name."""

from proctor.agents._actions import ACTION_HELP, Action, ParseError, option_fields, parse_action, parse_option
from proctor.agents._answer import AnswerAgent
from proctor.agents._base import (
    DEFAULT_CHOOSER,
    Agent,
    AgentRun,
    Proposal,
    Proposer,
    StepMessages,
    UnknownAgentError,
    advance,
    agent,
    agents,
    describe_option,
    get_agent,
    get_agent_factory,
    kept_after_truncation,
    rebuild,
    tokens_of,
    transcript,
)
from proctor.agents._context import show_observation
from proctor.agents._human import Clock, HumanAgent, RequestError, clock_of, request_detail
from proctor.agents._react import ReactAgent
from proctor.agents._tags import TagsAgent
from proctor.agents._triframe import TriframeAgent

__all__ = [
    "ACTION_HELP",
    "DEFAULT_CHOOSER",
    "Action",
    "Agent",
    "AgentRun",
    "AnswerAgent",
    "Clock",
    "HumanAgent",
    "ParseError",
    "Proposal",
    "Proposer",
    "ReactAgent",
    "RequestError",
    "StepMessages",
    "TagsAgent",
    "TriframeAgent",
    "UnknownAgentError",
    "advance",
    "agent",
    "agents",
    "clock_of",
    "describe_option",
    "get_agent",
    "get_agent_factory",
    "kept_after_truncation",
    "option_fields",
    "parse_action",
    "parse_option",
    "rebuild",
    "request_detail",
    "show_observation",
    "tokens_of",
    "transcript",
]
