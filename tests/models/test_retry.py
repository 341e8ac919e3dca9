"""Retries with backoff and process-wide concurrency limits, against a real scripted server on loopback."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest
from loopback_server import LoopbackServer, Reply

from proctor.models import (
    GenerateConfig,
    Message,
    Model,
    ModelError,
    RetriesExhaustedError,
    RetryPolicy,
    concurrency,
    get_model,
    set_concurrency,
)
from proctor.models._limits import parse_retry_after

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_retry_after=1.0)
HELLO = [Message(role="user", content="hello")]


def model_at(server: LoopbackServer, **options: object) -> Model:
    options = {"api_key": "k", "retry": FAST_RETRY, **options}
    return get_model("openai/gpt-4o-mini", base_url=server.base_url, **options)


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=0.5, max_retry_after=2.0)
    delays = {retry: [policy.backoff(retry) for _ in range(300)] for retry in (1, 2, 3, 6)}

    assert all(0 <= d <= 0.1 for d in delays[1]) and all(0 <= d <= 0.2 for d in delays[2])
    assert all(0 <= d <= 0.4 for d in delays[3]) and all(0 <= d <= 0.5 for d in delays[6])
    assert max(delays[6]) > 0.4 and min(delays[6]) < 0.1  # drawn over the whole range, not fixed
    assert all(policy.backoff(1, retry_after=1.5) >= 1.5 for _ in range(50))
    assert all(policy.backoff(1, retry_after=60) == 2.0 for _ in range(50))  # capped


def test_retry_after_header_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 < (parse_retry_after({"retry-after": in_ten}) or 0) <= 10
    assert parse_retry_after({}) is None


async def test_rate_limit_then_success_waits_the_retry_after(loopback: LoopbackServer) -> None:
    loopback.script(Reply.error(429, retry_after=0.3), Reply(text="ok"))

    generation = await model_at(loopback).generate(HELLO, GenerateConfig())

    assert generation.completions[0].text == "ok"
    assert generation.attempts == 2 and len(loopback.requests) == 2
    gap = loopback.requests[1].received_at - loopback.requests[0].received_at
    assert 0.3 <= gap < 1.0
    assert generation.latency >= 0.3


async def test_long_retry_after_is_capped(loopback: LoopbackServer) -> None:
    loopback.script(Reply.error(429, retry_after=3600), Reply(text="ok"))
    policy = RetryPolicy(base_delay=0.01, max_retry_after=0.1)

    generation = await model_at(loopback, retry=policy).generate(HELLO, GenerateConfig())

    assert generation.completions[0].text == "ok"
    assert 0.1 <= generation.latency < 1.0


async def test_server_errors_then_success(loopback: LoopbackServer) -> None:
    loopback.script(Reply.error(500), Reply.error(503), Reply.error(502), Reply(text="ok"))

    generation = await model_at(loopback).generate(HELLO, GenerateConfig())

    assert generation.completions[0].text == "ok"
    assert generation.attempts == 4


async def test_persistent_failure_gives_up_with_a_clear_message(loopback: LoopbackServer) -> None:
    loopback.script(*(Reply.error(500) for _ in range(10)))

    with pytest.raises(RetriesExhaustedError) as raised:
        await model_at(loopback).generate(HELLO, GenerateConfig())

    message = str(raised.value)
    assert "openai/gpt-4o-mini: gave up after 4 attempts" in message
    assert "HTTP 500" in message and "max_attempts" in message
    assert isinstance(raised.value, ModelError) and raised.value.attempts == 4
    assert len(loopback.requests) == 4


async def test_timeout_is_retried(loopback: LoopbackServer) -> None:
    loopback.script(Reply.slow(2.0), Reply(text="quick"))

    generation = await model_at(loopback, timeout=0.2).generate(HELLO, GenerateConfig())

    assert generation.completions[0].text == "quick"
    assert generation.attempts == 2
    assert 0.2 <= generation.latency < 1.5


async def test_timeouts_every_time_give_up(loopback: LoopbackServer) -> None:
    loopback.script(*(Reply.slow(2.0) for _ in range(2)))
    model = model_at(loopback, timeout=0.1, retry=RetryPolicy(max_attempts=2, base_delay=0.01))

    with pytest.raises(RetriesExhaustedError, match=r"after 2 attempts.*timeout of 0.1 s"):
        await model.generate(HELLO, GenerateConfig())


async def test_malformed_json_is_retried_then_an_error(loopback: LoopbackServer) -> None:
    loopback.script(Reply.malformed(), Reply.missing_choices(), Reply(text="whole"))
    generation = await model_at(loopback).generate(HELLO, GenerateConfig())
    assert generation.completions[0].text == "whole" and generation.attempts == 3

    loopback.script(*(Reply.malformed() for _ in range(4)))
    with pytest.raises(RetriesExhaustedError, match="malformed response"):
        await model_at(loopback).generate(HELLO, GenerateConfig())


async def test_refused_connection_is_retried_then_an_error() -> None:
    server = LoopbackServer().start()
    server.stop()  # nothing listens on its port any more

    with pytest.raises(RetriesExhaustedError, match="connection failed"):
        await model_at(server).generate(HELLO, GenerateConfig())


async def test_dropped_connection_is_retried_then_an_error(loopback: LoopbackServer) -> None:
    loopback.script(Reply.dropped(), Reply(text="after the drop"))
    generation = await model_at(loopback).generate(HELLO, GenerateConfig())
    assert generation.completions[0].text == "after the drop" and generation.attempts == 2

    loopback.script(*(Reply.dropped() for _ in range(4)))
    with pytest.raises(RetriesExhaustedError, match="connection failed"):
        await model_at(loopback).generate(HELLO, GenerateConfig())


async def test_concurrency_limit_holds_across_models() -> None:
    with LoopbackServer(delay=0.05) as server:
        set_concurrency("openai", 3, base_url=server.base_url)
        models = [model_at(server), model_at(server)]  # two models share the limit

        generations = await asyncio.gather(*(models[i % 2].generate(HELLO, GenerateConfig()) for i in range(20)))

        assert len(server.requests) == 20 and all(g.completions for g in generations)
        assert server.max_in_flight == 3


async def test_a_hundred_requests_fly_at_once() -> None:
    with LoopbackServer(delay=0.6) as server:
        model = model_at(server, max_concurrency=100)
        assert concurrency("openai", base_url=server.base_url) == 100

        await asyncio.gather(*(model.generate(HELLO, GenerateConfig()) for _ in range(100)))

        assert server.max_in_flight == 100  # neither the limiter nor the connection pool held any back


async def test_raising_the_limit_releases_waiting_calls() -> None:
    with LoopbackServer(delay=0.3) as server:
        model = model_at(server, max_concurrency=1)
        calls = [asyncio.create_task(model.generate(HELLO, GenerateConfig())) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert server.max_in_flight == 1

        set_concurrency("openai", 4, base_url=server.base_url)
        await asyncio.gather(*calls)

        assert server.max_in_flight == 4


async def test_waiting_out_a_backoff_holds_no_slot() -> None:
    with LoopbackServer() as server:
        server.script(Reply.error(429, retry_after=0.4), Reply(text="second"), Reply(text="first, retried"))
        model = model_at(server, max_concurrency=1)

        first = asyncio.create_task(model.generate(HELLO, GenerateConfig()))
        await asyncio.sleep(0.1)
        second = await model.generate(HELLO, GenerateConfig())

        assert second.completions[0].text == "second" and not first.done()
        assert (await first).completions[0].text == "first, retried"


def test_limits_and_clients_work_on_new_event_loops() -> None:
    with LoopbackServer(delay=0.02) as server:
        model = model_at(server, max_concurrency=2)

        async def batch() -> list[str]:
            generations = await asyncio.gather(*(model.generate(HELLO, GenerateConfig()) for _ in range(6)))
            return [g.completions[0].text for g in generations]

        assert asyncio.run(batch()) == ["echo: hello"] * 6
        assert asyncio.run(batch()) == ["echo: hello"] * 6
        assert len(server.requests) == 12 and server.max_in_flight == 2
