"""The OpenAI provider and the OpenAI-compatible servers, against a real scripted server on loopback."""

from __future__ import annotations

import asyncio
import gc
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback_server import LoopbackServer, Reply

from proctor.models import (
    GenerateConfig,
    Message,
    ModelError,
    OpenAIModel,
    RetryPolicy,
    Tool,
    ToolCall,
    UnknownModelError,
    get_model,
    price_of,
    providers,
)
from proctor.models._http import _cache as http_cache
from proctor.models._http import _ssl_context

# Retries that wait milliseconds, so tests of retrying stay fast.
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=1.0)

HELLO = [Message(role="system", content="You are terse."), Message(role="user", content="say hi")]
WEATHER = Tool(
    name="weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = Tool(name="clock", description="The time now.", parameters={"type": "object", "properties": {}})
TOOLS = GenerateConfig(tools=[WEATHER, CLOCK])


def openai_model(server: LoopbackServer, name: str = "gpt-4o-mini") -> OpenAIModel:
    model = get_model(f"openai/{name}", base_url=server.base_url, api_key="test-key", retry=FAST_RETRY)
    assert isinstance(model, OpenAIModel)
    return model


async def test_scripted_answers_come_back_in_order(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="first"), Reply(texts=["a", "b", "c"]))
    model = openai_model(loopback)

    one = await model.generate(HELLO, GenerateConfig())
    three = await model.generate(HELLO, GenerateConfig(n=3))

    assert one.model == "openai/gpt-4o-mini"
    assert [c.text for c in one.completions] == ["first"]
    assert [c.text for c in three.completions] == ["a", "b", "c"]
    assert one.attempts == 1 and one.latency > 0
    assert loopback.requests[0].headers["authorization"] == "Bearer test-key"


async def test_sampling_settings_are_sent(loopback: LoopbackServer) -> None:
    config = GenerateConfig(n=2, temperature=0.3, top_p=0.9, max_tokens=17, stop=["END"], seed=7)

    generation = await openai_model(loopback).generate(HELLO, config)

    body = loopback.requests[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "say hi"},
    ]
    assert (body["n"], body["temperature"], body["top_p"], body["seed"]) == (2, 0.3, 0.9, 7)
    assert (body["max_tokens"], body["stop"]) == (17, ["END"])
    assert "logprobs" not in body
    assert [c.text for c in generation.completions] == ["echo: say hi", "echo: say hi"]
    assert all(c.logprobs is None for c in generation.completions)


async def test_logprobs_are_parsed(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="yes it is"))

    generation = await openai_model(loopback).generate(HELLO, GenerateConfig(logprobs=True, top_logprobs=3))

    body = loopback.requests[0].body
    assert body["logprobs"] is True and body["top_logprobs"] == 3
    logprobs = generation.completions[0].logprobs
    assert logprobs is not None
    assert [p.token for p in logprobs] == ["yes", " it", " is"]
    assert logprobs[0].top == {"yes": -0.1, "alt1": pytest.approx(-1.1), "alt2": pytest.approx(-2.1)}
    assert logprobs[2].top[" is"] == pytest.approx(-0.3)


async def test_logprobs_without_alternatives_keep_the_chosen_token(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="ok"))

    generation = await openai_model(loopback).generate(HELLO, GenerateConfig(logprobs=True))

    assert "top_logprobs" not in loopback.requests[0].body
    logprobs = generation.completions[0].logprobs
    assert logprobs is not None and logprobs[0].top == {"ok": pytest.approx(-0.1)}


async def test_usage_and_cost_are_recorded(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="x", usage=(1000, 2000)))

    generation = await openai_model(loopback).generate(HELLO, GenerateConfig())

    assert (generation.usage.input_tokens, generation.usage.output_tokens) == (1000, 2000)
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens
    assert generation.usage.cost == pytest.approx((1000 * 0.15 + 2000 * 0.60) / 1e6)


async def test_unknown_model_has_no_cost_unless_priced(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="x", usage=(10, 20)), Reply(text="y", usage=(10, 20)))
    unpriced = openai_model(loopback, "my-finetune")
    priced = get_model("openai/my-finetune", base_url=loopback.base_url, price=(1.0, 2.0))

    assert (await unpriced.generate(HELLO, GenerateConfig())).usage.cost is None
    assert (await priced.generate(HELLO, GenerateConfig())).usage.cost == pytest.approx(50 / 1e6)


def test_price_list_matches_dated_names() -> None:
    assert price_of("gpt-4o-2024-08-06") == price_of("gpt-4o") == (2.50, 10.00)
    assert price_of("gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price_of("claude-3-5-sonnet-20241022") == (3.00, 15.00)
    assert price_of("gpt-4o2") is None
    assert price_of("llama3") is None


async def test_servers_that_ignore_n_are_topped_up() -> None:
    with LoopbackServer(max_n=1) as server:
        server.script(Reply(text="1", usage=(5, 1)), *(Reply(text=str(i), usage=(5, 1)) for i in (2, 3, 4)))

        generation = await openai_model(server).generate(HELLO, GenerateConfig(n=4))

        assert sorted(c.text for c in generation.completions) == ["1", "2", "3", "4"]
        assert [r.body["n"] for r in server.requests] == [4, 1, 1, 1]
        assert generation.attempts == 4
        assert (generation.usage.input_tokens, generation.usage.output_tokens) == (20, 4)


async def test_local_server_providers_take_their_base_url_from_the_environment(
    loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", loopback.base_url)
    loopback.script(Reply(text="from ollama", usage=(3, 2)))

    model = get_model("ollama/llama3.2", retry=FAST_RETRY)
    generation = await model.generate(HELLO, GenerateConfig())

    assert generation.model == "ollama/llama3.2"
    assert generation.completions[0].text == "from ollama"
    assert generation.usage.input_tokens == 3 and generation.usage.cost is None
    assert loopback.requests[0].body["model"] == "llama3.2"


def test_local_server_providers_have_default_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("VLLM_BASE_URL", "OLLAMA_BASE_URL", "LLAMACPP_BASE_URL"):
        monkeypatch.delenv(env, raising=False)
    urls = {name: get_model(f"{name}/m") for name in ("vllm", "ollama", "llamacpp")}

    assert {name: model.options.base_url for name, model in urls.items()} == {  # type: ignore[attr-defined]
        "vllm": "http://localhost:8000/v1",
        "ollama": "http://localhost:11434/v1",
        "llamacpp": "http://localhost:8080/v1",
    }
    assert {"openai", "anthropic", "vllm", "ollama", "llamacpp"} <= set(providers())


async def test_openai_base_url_from_the_environment(loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", loopback.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")

    generation = await get_model("openai/gpt-4.1").generate(HELLO, GenerateConfig())

    assert generation.completions[0].text == "echo: say hi"
    assert loopback.requests[0].headers["authorization"] == "Bearer env-key"


async def test_missing_api_key_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    with pytest.raises(ModelError, match="set OPENAI_API_KEY"):
        await get_model("openai/gpt-4o").generate(HELLO, GenerateConfig())


async def test_refused_key_is_not_retried(loopback: LoopbackServer) -> None:
    loopback.script(Reply.error(401))

    with pytest.raises(ModelError, match=r"HTTP 401.*OPENAI_API_KEY"):
        await openai_model(loopback).generate(HELLO, GenerateConfig())
    assert len(loopback.requests) == 1


def test_bad_names_and_options_are_refused() -> None:
    with pytest.raises(UnknownModelError, match="unknown model provider 'nope'"):
        get_model("nope/gpt-4o")
    with pytest.raises(UnknownModelError, match="not of the form provider/model"):
        get_model("gpt-4o")
    with pytest.raises(UnknownModelError):
        get_model("openai/")
    with pytest.raises(ModelError, match="known options: base_url"):
        get_model("openai/gpt-4o", temprature=0.5)


def test_clients_are_closed_when_the_loop_shuts_down(
    loopback: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    model = openai_model(loopback)

    generation = asyncio.run(model.generate(HELLO, GenerateConfig()))
    gc.collect()  # an unclosed aiohttp session complains when it is collected

    assert generation.completions
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]
    assert not http_cache, "the loop's clients outlived it"


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[ssl.SSLContext, Path]]:
    """A server TLS context with a self-signed certificate for 127.0.0.1 (made by openssl), and the certificate's
    file; the clients' shared TLS context is rebuilt around the test, since SSL_CERT_FILE is read when it is made."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    request = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    request += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run([*request.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    _ssl_context.cache_clear()
    yield context, cert
    _ssl_context.cache_clear()


async def test_an_untrusted_certificate_is_refused_at_once(tls: tuple[ssl.SSLContext, Path]) -> None:
    with LoopbackServer(tls=tls[0]) as server:
        model = openai_model(server)
        with pytest.raises(
            ModelError, match=r"TLS certificate was refused \(.*self.signed certificate\).*SSL_CERT_FILE"
        ):
            await model.generate(HELLO, GenerateConfig())
        assert server.requests == []  # nothing was sent, and nothing retried


async def test_a_certificate_authority_in_ssl_cert_file_is_trusted(
    tls: tuple[ssl.SSLContext, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls[1]))
    with LoopbackServer(tls=tls[0]) as server:
        generation = await openai_model(server).generate(HELLO, GenerateConfig())
        assert server.url.startswith("https://") and generation.completions[0].text == "echo: say hi"


async def test_tools_are_sent_as_functions(loopback: LoopbackServer) -> None:
    await openai_model(loopback).generate(HELLO, TOOLS)
    await openai_model(loopback).generate(HELLO, GenerateConfig())

    with_tools, without = (request.body for request in loopback.requests)
    weather = {"name": "weather", "description": "The weather in a city.", "parameters": WEATHER.parameters}
    clock = {"name": "clock", "description": "The time now.", "parameters": {"type": "object", "properties": {}}}
    assert with_tools["tools"] == [{"type": "function", "function": weather}, {"type": "function", "function": clock}]
    assert "tools" not in without


async def test_one_tool_call_is_parsed(loopback: LoopbackServer) -> None:
    loopback.script(
        Reply(text="Let me look.", tool_calls=[[{"id": "call_a", "name": "weather", "arguments": '{"city": "Oslo"}'}]])
    )

    generation = await openai_model(loopback).generate(HELLO, TOOLS)

    (completion,) = generation.completions
    assert completion.text == "Let me look."
    assert completion.tool_calls == [ToolCall(id="call_a", name="weather", arguments='{"city": "Oslo"}')]


async def test_parallel_calls_keep_their_order_and_text_may_be_empty(loopback: LoopbackServer) -> None:
    calls = [
        {"id": "call_1", "name": "weather", "arguments": '{"city":"Oslo"}'},
        {"id": "call_2", "name": "clock", "arguments": "{}"},
    ]
    loopback.script(Reply(tool_calls=[calls]))

    generation = await openai_model(loopback).generate(HELLO, TOOLS)

    (completion,) = generation.completions
    assert completion.text == ""
    assert [(c.id, c.name, c.arguments) for c in completion.tool_calls] == [
        ("call_1", "weather", '{"city":"Oslo"}'),
        ("call_2", "clock", "{}"),
    ]


async def test_malformed_arguments_are_kept_raw(loopback: LoopbackServer) -> None:
    broken = '{"city": "Oslo",, '
    loopback.script(Reply(tool_calls=[[{"id": "call_x", "name": "weather", "arguments": broken}]]))

    generation = await openai_model(loopback).generate(HELLO, TOOLS)

    assert generation.completions[0].tool_calls[0].arguments == broken
    assert generation.attempts == 1  # not taken for a malformed response


async def test_calls_without_ids_get_their_place_as_id(loopback: LoopbackServer) -> None:
    calls = [{"name": "clock", "arguments": "{}"}, {"name": "weather", "arguments": '{"city": "Rome"}'}]
    loopback.script(Reply(tool_calls=[calls]))

    generation = await openai_model(loopback).generate(HELLO, TOOLS)

    assert [c.id for c in generation.completions[0].tool_calls] == ["call_0", "call_1"]
    assert [c.name for c in generation.completions[0].tool_calls] == ["clock", "weather"]


async def test_a_reply_without_calls_is_plain_text(loopback: LoopbackServer) -> None:
    loopback.script(Reply(text="It is sunny."))

    generation = await openai_model(loopback).generate(HELLO, TOOLS)

    assert generation.completions[0].text == "It is sunny."
    assert generation.completions[0].tool_calls == []


async def test_n_completions_each_have_their_own_calls(loopback: LoopbackServer) -> None:
    loopback.script(
        Reply(
            texts=["", "No tool needed."],
            tool_calls=[[{"id": "call_0a", "name": "clock", "arguments": "{}"}], []],
        )
    )

    generation = await openai_model(loopback).generate(HELLO, GenerateConfig(n=2, tools=[CLOCK]))

    first, second = generation.completions
    assert first.tool_calls == [ToolCall(id="call_0a", name="clock", arguments="{}")]
    assert (second.text, second.tool_calls) == ("No tool needed.", [])
    assert loopback.requests[0].body["n"] == 2


CALLS = [
    ToolCall(id="call_w", name="weather", arguments='{"city": "Oslo"}'),
    ToolCall(id="call_c", name="clock", arguments="{oops"),
]
TOOL_CONVERSATION = [
    *HELLO,
    Message(role="assistant", content="", tool_calls=CALLS),
    Message(role="tool", content="rain, 4 C", tool_call_id="call_w"),
    Message(role="tool", content="12:00", tool_call_id="call_c"),
    Message(role="assistant", content="Checking again.", tool_calls=CALLS[:1]),
    Message(role="tool", content="snow", tool_call_id="call_w"),
]


async def test_tool_messages_are_sent_in_the_chat_format(loopback: LoopbackServer) -> None:
    await openai_model(loopback).generate(TOOL_CONVERSATION, TOOLS)

    sent = loopback.requests[0].body["messages"]
    weather = {"id": "call_w", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    clock = {"id": "call_c", "type": "function", "function": {"name": "clock", "arguments": "{oops"}}
    assert sent[2:] == [
        {"role": "assistant", "content": None, "tool_calls": [weather, clock]},
        {"role": "tool", "tool_call_id": "call_w", "content": "rain, 4 C"},
        {"role": "tool", "tool_call_id": "call_c", "content": "12:00"},
        {"role": "assistant", "content": "Checking again.", "tool_calls": [weather]},
        {"role": "tool", "tool_call_id": "call_w", "content": "snow"},
    ]


async def test_a_tool_message_without_its_call_id_is_refused(loopback: LoopbackServer) -> None:
    with pytest.raises(ModelError, match="tool_call_id"):
        await openai_model(loopback).generate([*HELLO, Message(role="tool", content="x")], TOOLS)
    assert loopback.requests == []


async def test_calls_round_trip_through_the_history(loopback: LoopbackServer) -> None:
    calls = [
        {"id": "call_9", "name": "weather", "arguments": '{ "city" : "Lima" }'},
        {"id": "call_10", "name": "clock", "arguments": '{"tz": "UTC"'},  # malformed: kept as written
    ]
    loopback.script(Reply(text="Both.", tool_calls=[calls]))
    model = openai_model(loopback)

    completion = (await model.generate(HELLO, TOOLS)).completions[0]
    history = [
        *HELLO,
        Message(role="assistant", content=completion.text, tool_calls=completion.tool_calls),
        *(Message(role="tool", content="ok", tool_call_id=call.id) for call in completion.tool_calls),
    ]
    await model.generate(history, TOOLS)

    sent = loopback.requests[1].body["messages"]
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in sent[2]["tool_calls"]] == [
        (call["id"], call["name"], call["arguments"]) for call in calls
    ]
    assert sent[2]["content"] == "Both."
    assert [m["tool_call_id"] for m in sent[3:]] == ["call_9", "call_10"]


async def test_arguments_sent_as_an_object_become_json_text(loopback: LoopbackServer) -> None:
    # Some OpenAI-compatible servers send the arguments as an object rather than as its JSON text.
    loopback.script(Reply(tool_calls=[[{"id": "call_o", "name": "weather", "arguments": {"city": "Oslo"}}]]))

    completion = (await openai_model(loopback).generate(HELLO, TOOLS)).completions[0]

    assert completion.tool_calls == [ToolCall(id="call_o", name="weather", arguments='{"city": "Oslo"}')]
