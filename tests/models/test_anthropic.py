"""The Anthropic provider, against a real scripted server speaking the Messages API on loopback."""

from __future__ import annotations

import json

import pytest
from loopback_server import LoopbackServer, Reply

from proctor.models import (
    AnthropicModel,
    GenerateConfig,
    Message,
    ModelError,
    RetriesExhaustedError,
    RetryPolicy,
    Tool,
    ToolCall,
    get_model,
)

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=1.0)
CONVERSATION = [
    Message(role="system", content="Be brief."),
    Message(role="system", content="Answer in English."),
    Message(role="user", content="What is 2+2?"),
    Message(role="assistant", content="4"),
    Message(role="user", content="And 3+3?"),
]

WEATHER = Tool(
    name="weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = Tool(name="clock", description="The time now.", parameters={"type": "object", "properties": {}})
TOOLS = GenerateConfig(tools=[WEATHER, CLOCK])
QUESTION = [Message(role="user", content="Weather and time in Oslo?")]


def claude(server: LoopbackServer, name: str = "claude-3-5-haiku-20241022") -> AnthropicModel:
    model = get_model(f"anthropic/{name}", base_url=server.url, api_key="test-key", retry=FAST_RETRY)
    assert isinstance(model, AnthropicModel)
    return model


async def test_system_messages_become_the_system_parameter(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="6"))
    config = GenerateConfig(max_tokens=50, temperature=0.2, stop=["\n\n"])

    generation = await claude(loopback).generate(CONVERSATION, config)

    request = loopback.requests[0]
    assert request.path == "/v1/messages"
    assert "test-key" in request.headers.get("x-api-key", "") + request.headers.get("authorization", "")
    assert request.body["system"] == "Be brief.\n\nAnswer in English."
    assert request.body["messages"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ]
    assert (request.body["max_tokens"], request.body["temperature"]) == (50, 0.2)
    assert request.body["stop_sequences"] == ["\n\n"]
    assert generation.model == "anthropic/claude-3-5-haiku-20241022"
    assert [c.text for c in generation.completions] == ["6"]
    assert generation.completions[0].logprobs is None


async def test_n_completions_take_n_requests(loopback: LoopbackServer) -> None:
    loopback.script(*(Reply(text=f"answer {i}", usage=(100, 10)) for i in range(3)))

    generation = await claude(loopback).generate(CONVERSATION, GenerateConfig(n=3, logprobs=True))

    assert sorted(c.text for c in generation.completions) == ["answer 0", "answer 1", "answer 2"]
    assert len(loopback.requests) == 3 and generation.attempts == 3
    assert all(c.logprobs is None for c in generation.completions)
    assert (generation.usage.input_tokens, generation.usage.output_tokens) == (300, 30)
    # claude-3-5-haiku: $0.80 per million input tokens, $4 per million output tokens
    assert generation.usage.cost == pytest.approx((300 * 0.80 + 30 * 4.00) / 1e6)


async def test_overloaded_and_malformed_answers_are_retried(loopback: LoopbackServer) -> None:
    loopback.script(Reply.error(529), Reply.malformed(), Reply.missing_choices(), Reply(text="fine"))
    model = get_model(
        "anthropic/claude-haiku-4-5",
        base_url=loopback.url,
        api_key="k",
        retry=RetryPolicy(max_attempts=4, base_delay=0.01),
    )

    generation = await model.generate(CONVERSATION, GenerateConfig())

    assert generation.completions[0].text == "fine"
    assert generation.attempts == 4


async def test_persistent_failure_is_a_model_error(loopback: LoopbackServer) -> None:
    loopback.script(*(Reply.missing_choices() for _ in range(3)))

    with pytest.raises(RetriesExhaustedError, match=r"gave up after 3 attempts.*no content"):
        await claude(loopback).generate(CONVERSATION, GenerateConfig())
    assert len(loopback.requests) == 3


async def test_refused_key_says_how_to_fix(loopback: LoopbackServer) -> None:
    loopback.script(Reply.error(401))

    with pytest.raises(ModelError, match=r"HTTP 401.*ANTHROPIC_API_KEY"):
        await claude(loopback).generate(CONVERSATION, GenerateConfig())
    assert len(loopback.requests) == 1


async def test_missing_api_key_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)

    with pytest.raises(ModelError, match="set ANTHROPIC_API_KEY"):
        await get_model("anthropic/claude-sonnet-4-5").generate(CONVERSATION, GenerateConfig())


async def test_tools_are_sent_with_an_input_schema(loopback: LoopbackServer) -> None:
    await claude(loopback).generate(QUESTION, TOOLS)
    await claude(loopback).generate(QUESTION, GenerateConfig())

    with_tools, without = (request.body for request in loopback.requests)
    assert with_tools["tools"] == [
        {"name": "weather", "description": "The weather in a city.", "input_schema": WEATHER.parameters},
        {"name": "clock", "description": "The time now.", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tools" not in without


async def test_one_tool_use_is_parsed_with_its_text(loopback: LoopbackServer) -> None:
    loopback.script(
        Reply(text="Looking.", tool_calls=[[{"id": "toolu_1", "name": "weather", "arguments": '{"city": "Oslo"}'}]])
    )

    generation = await claude(loopback).generate(QUESTION, TOOLS)

    (completion,) = generation.completions
    assert completion.text == "Looking."
    assert completion.tool_calls == [ToolCall(id="toolu_1", name="weather", arguments='{"city": "Oslo"}')]


async def test_parallel_tool_uses_keep_their_order(loopback: LoopbackServer) -> None:
    calls = [
        {"id": "toolu_a", "name": "weather", "arguments": '{"city": "Oslo", "days": [1, 2]}'},
        {"id": "toolu_b", "name": "clock", "arguments": "{}"},
    ]
    loopback.script(Reply(tool_calls=[calls]))

    completion = (await claude(loopback).generate(QUESTION, TOOLS)).completions[0]

    assert completion.text == ""
    assert [(c.id, c.name) for c in completion.tool_calls] == [("toolu_a", "weather"), ("toolu_b", "clock")]
    assert [json.loads(c.arguments) for c in completion.tool_calls] == [{"city": "Oslo", "days": [1, 2]}, {}]


async def test_an_input_that_is_not_an_object_is_kept_raw(loopback: LoopbackServer) -> None:
    broken = '{"city": "Os'
    loopback.script(Reply(tool_calls=[[{"id": "toolu_x", "name": "weather", "arguments": broken}]]))

    generation = await claude(loopback).generate(QUESTION, TOOLS)

    assert generation.completions[0].tool_calls == [ToolCall(id="toolu_x", name="weather", arguments=broken)]
    assert generation.attempts == 1


async def test_a_reply_without_tool_use_is_plain_text(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="No need."))

    completion = (await claude(loopback).generate(QUESTION, TOOLS)).completions[0]

    assert (completion.text, completion.tool_calls) == ("No need.", [])


async def test_n_completions_each_have_their_own_calls(loopback: LoopbackServer) -> None:
    loopback.script(
        Reply(tool_calls=[[{"id": "toolu_1", "name": "clock", "arguments": "{}"}]]),
        Reply(tool_calls=[[{"id": "toolu_2", "name": "weather", "arguments": '{"city": "Rome"}'}]]),
    )

    generation = await claude(loopback).generate(QUESTION, GenerateConfig(n=2, tools=[WEATHER, CLOCK]))

    calls = sorted((call for c in generation.completions for call in c.tool_calls), key=lambda call: call.id)
    assert [(c.id, c.name, c.arguments) for c in calls] == [
        ("toolu_1", "clock", "{}"),
        ("toolu_2", "weather", '{"city": "Rome"}'),
    ]
    assert all(len(c.tool_calls) == 1 for c in generation.completions)


CALLS = [
    ToolCall(id="toolu_w", name="weather", arguments='{"city": "Oslo"}'),
    ToolCall(id="toolu_c", name="clock", arguments="{oops"),
]
TOOL_CONVERSATION = [
    Message(role="system", content="Use tools."),
    *QUESTION,
    Message(role="assistant", content="Two lookups.", tool_calls=CALLS),
    Message(role="tool", content="rain, 4 C", tool_call_id="toolu_w"),
    Message(role="tool", content="12:00", tool_call_id="toolu_c"),
    Message(role="assistant", content="", tool_calls=CALLS[:1]),
    Message(role="tool", content="snow", tool_call_id="toolu_w"),
    Message(role="user", content="Thanks; and tomorrow?"),
]


async def test_tool_results_are_merged_into_one_user_message(loopback: LoopbackServer) -> None:
    await claude(loopback).generate(TOOL_CONVERSATION, TOOLS)

    body = loopback.requests[0].body
    assert body["system"] == "Use tools."
    weather = {"type": "tool_use", "id": "toolu_w", "name": "weather", "input": {"city": "Oslo"}}
    clock = {"type": "tool_use", "id": "toolu_c", "name": "clock", "input": {}}  # "{oops" is no object
    assert body["messages"] == [
        {"role": "user", "content": "Weather and time in Oslo?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Two lookups."}, weather, clock]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_w", "content": "rain, 4 C"},
                {"type": "tool_result", "tool_use_id": "toolu_c", "content": "12:00"},
            ],
        },
        {"role": "assistant", "content": [weather]},  # no empty text block
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_w", "content": "snow"}]},
        {"role": "user", "content": "Thanks; and tomorrow?"},
    ]


async def test_a_tool_message_without_its_call_id_is_refused(loopback: LoopbackServer) -> None:
    with pytest.raises(ModelError, match="tool_call_id"):
        await claude(loopback).generate([*QUESTION, Message(role="tool", content="x")], TOOLS)
    assert loopback.requests == []


async def test_calls_round_trip_through_the_history(loopback: LoopbackServer) -> None:
    calls = [
        {"id": "toolu_9", "name": "weather", "arguments": '{"city": "Lima", "units": {"temp": "C"}}'},
        {"id": "toolu_10", "name": "clock", "arguments": "{}"},
    ]
    loopback.script(Reply(text="Both.", tool_calls=[calls]))
    model = claude(loopback)

    completion = (await model.generate(QUESTION, TOOLS)).completions[0]
    assert [(c.id, c.arguments) for c in completion.tool_calls] == [(c["id"], c["arguments"]) for c in calls]
    history = [
        *QUESTION,
        Message(role="assistant", content=completion.text, tool_calls=completion.tool_calls),
        *(Message(role="tool", content=f"result {i}", tool_call_id=c.id) for i, c in enumerate(completion.tool_calls)),
    ]
    await model.generate(history, TOOLS)

    assistant, results = loopback.requests[1].body["messages"][1:]
    assert assistant["content"][0] == {"type": "text", "text": "Both."}
    assert [(b["id"], b["name"], b["input"]) for b in assistant["content"][1:]] == [
        (c["id"], c["name"], json.loads(c["arguments"])) for c in calls
    ]
    assert [(b["tool_use_id"], b["content"]) for b in results["content"]] == [
        ("toolu_9", "result 0"),
        ("toolu_10", "result 1"),
    ]
