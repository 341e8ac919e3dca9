"""Adaptive concurrency limits (AIMD): cut in half on overload answers, raised one per limit's worth of
successes, within the limit set."""

from __future__ import annotations

import asyncio

from loopback_server import LoopbackServer, RecordedRequest, Reply

from proctor.models import Aimd, GenerateConfig, Message, RetryPolicy, get_model

HELLO = [Message(role="user", content="hello")]


def test_cut_in_half_once_per_epoch_and_raised_additively() -> None:
    limit = Aimd(16)
    sent_before = limit.epoch
    assert limit.overloaded(sent_before) and limit.limit == 8
    assert not limit.overloaded(sent_before) and limit.limit == 8  # an answer to a request sent before the cut
    assert limit.overloaded(limit.epoch) and limit.limit == 4
    for _ in range(5):  # about one limit's worth of successes raises it by one
        limit.succeeded()
    assert limit.limit == 5
    for _ in range(1000):
        limit.succeeded()
    assert limit.limit == 16  # never past the ceiling
    for _ in range(10):
        limit.overloaded(limit.epoch)
    assert limit.limit == 1  # never below one
    limit.set_ceiling(4)
    assert limit.limit == 1 and limit.ceiling == 4


async def test_one_process_backs_off_to_what_the_server_takes() -> None:
    threshold = 3
    seen: list[tuple[int, bool]] = []

    def answer(request: RecordedRequest) -> Reply:
        refused = server.in_flight > threshold
        seen.append((server.in_flight, refused))
        return Reply.error(429) if refused else Reply(text="ok")

    with LoopbackServer(default=answer, delay=0.05) as server:
        retry = RetryPolicy(max_attempts=40, base_delay=0.02, max_delay=0.1)
        model = get_model("openai/gpt-4o-mini", base_url=server.base_url, api_key="k", retry=retry, max_concurrency=12)
        generations = await asyncio.gather(*(model.generate(HELLO, GenerateConfig()) for _ in range(120)))

    assert all(g.completions[0].text == "ok" for g in generations)
    assert max(flight for flight, _ in seen[:12]) > threshold  # the first wave went over
    settled = seen[len(seen) // 2 :]
    # Later: at most the additive probe's one more, and one answered but not yet counted out by the server.
    assert max(flight for flight, _ in settled) <= threshold + 2
    # The recorded limit came down from the ceiling of 12 to what the server takes, or the one probe above it (how
    # low it last dipped depends on when the last cut falls among the 120 requests).
    assert min(g.concurrency_limit or 99 for g in generations) <= threshold + 1
