"""A real HTTP model server on 127.0.0.1 with scripted answers, for tests and benchmarks.

It speaks the OpenAI chat-completions API (`POST /v1/chat/completions`) and Anthropic's Messages API
(`POST /v1/messages`), and lists one model at `GET /v1/models` (the check made before runs start). Answers come
from a queue of scripted `Reply`s, then from a default (an echo of the last message). Replies can carry tool calls
(sent as `message.tool_calls` or as `tool_use` blocks, with their arguments as scripted). Replies can inject faults:
an HTTP error with Retry-After, an answer slower than the client's timeout, a body that is not JSON, an answer
missing its fields. The server records every request and the most requests it had in flight at once.

It is an asyncio server (stdlib only) in a background thread, so it serves hundreds of concurrent keep-alive
connections. For benchmarks, run it in its own process so it does not share the client's interpreter:

    python tests/loopback_server.py --delay 0.1      # prints "listening on http://127.0.0.1:PORT"

or `with spawn_loopback_server(delay=0.1) as url: ...`.

Example:
    with LoopbackServer() as server:
        server.script(Reply.error(429, retry_after=0.05), Reply(text="hello"))
        model = get_model("openai/gpt-4o-mini", base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 408: "Request Timeout"}
REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway"}
REASONS |= {503: "Service Unavailable", 529: "Overloaded"}


@dataclass
class RecordedRequest:
    """A request the server received."""

    method: str
    """The HTTP method."""
    path: str
    """The request path, e.g. `/v1/chat/completions`."""
    headers: dict[str, str]
    """Request headers, names in lower case."""
    body: Any
    """The JSON body, parsed (None if there was none)."""
    received_at: float = field(default_factory=time.monotonic)
    """`time.monotonic()` when the request had been read."""


@dataclass
class Reply:
    """One scripted answer. By default a successful answer that echoes the last message."""

    text: str | None = None
    """The text of every choice; None echoes the last message (`echo: ...`)."""
    texts: list[str] | None = None
    """One text per choice, overriding `text` and the `n` asked for."""
    status: int = 200
    """HTTP status; 400 and above sends an error body in the API's format."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers (e.g. `retry-after`)."""
    body: bytes | None = None
    """A raw body sent as is (e.g. malformed JSON), with `status`."""
    json_body: Any = None
    """A JSON body sent as is instead of a well-formed answer (e.g. one without `choices`)."""
    delay: float | None = None
    """Seconds to wait before answering; None uses the server's delay."""
    usage: tuple[int, int] | None = None
    """(input, output) tokens to report; None counts words."""
    hang_up: bool = False
    """Close the connection without answering, as a server that crashed would."""
    tool_calls: list[list[dict[str, Any]]] | None = None
    """Tool calls per choice, each `{"id", "name", "arguments"}` with `arguments` the raw JSON text to send (it may
    be malformed; a call without `id` is sent without one). One list per choice, overriding the `n` asked for (with
    `texts`, the longer decides); a choice with calls has `text`, or no text when it is None. The Messages API
    answers with the first choice's calls as `tool_use` blocks, their input parsed (or the raw text if it is not
    JSON)."""

    @classmethod
    def error(cls, status: int, *, retry_after: float | None = None) -> Reply:
        """An HTTP error, with a Retry-After header (seconds) if given."""
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return cls(status=status, headers=headers)

    @classmethod
    def malformed(cls) -> Reply:
        """A 200 answer whose body is not valid JSON."""
        return cls(body=b'{"id": "chatcmpl-broken", "choices": [')

    @classmethod
    def missing_choices(cls) -> Reply:
        """A 200 JSON answer without `choices` (or, for the Messages API, without `content`)."""
        return cls(json_body={"id": "broken", "object": "chat.completion", "created": 0, "model": "m"})

    @classmethod
    def dropped(cls) -> Reply:
        """No answer: the connection is closed once the request has been read."""
        return cls(hang_up=True)

    @classmethod
    def slow(cls, seconds: float, text: str | None = None) -> Reply:
        """An answer that takes `seconds` (to exceed a client's timeout)."""
        return cls(text=text, delay=seconds)


Script = Reply | Callable[[RecordedRequest], Reply]


class LoopbackServer:
    """The scripted model server; use as a context manager, or call `start()` and `stop()`.

    Args:
        delay: Seconds every answer waits before it is sent (a reply's own `delay` overrides it).
        max_n: Return at most this many choices, as servers that ignore `n` do.
        default: Builds the answer when the script is empty; None echoes the last message.
        tls: Serve HTTPS with this server context (`https://` URLs) instead of plain HTTP.
        key: If set, answer 401 to every request that does not carry this key (as a bearer token or `x-api-key`).
    """

    def __init__(
        self,
        *,
        delay: float = 0.0,
        max_n: int | None = None,
        default: Callable[[RecordedRequest], Reply] | None = None,
        tls: ssl.SSLContext | None = None,
        key: str | None = None,
    ) -> None:
        self.delay = delay
        self.key = key
        self.tls = tls
        self.max_n = max_n
        self.default = default
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self._queue: deque[Script] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    # --- control, from the test's thread ---

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (`https` with `tls`), e.g. the Anthropic SDK's base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the OpenAI SDK's base URL."""
        return f"{self.url}/v1"

    def script(self, *replies: Script) -> None:
        """Queue answers, used in order before the default."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget the recorded requests, the in-flight maximum and any scripted answers left."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.max_in_flight = self.in_flight

    def start(self) -> LoopbackServer:
        """Start serving on a random port in a background thread; returns when it accepts connections."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="loopback-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("loopback server did not start within 10 s")
        return self

    def stop(self) -> None:
        """Stop serving, ending open connections."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving, on the server's thread ---

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024, limit=2**20, ssl=self.tls)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            with suppress(Exception):
                loop.run_until_complete(asyncio.gather(*self._handlers, return_exceptions=True))
            loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # the server is stopping; ending quietly keeps asyncio from logging the cancellation
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; returns whether the connection stays open."""
        line = await reader.readline()
        if not line:
            return False
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (header := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        request = RecordedRequest(method, path.split("?")[0], headers, json.loads(raw) if raw else None)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            answer = await self._answer(request)
            if answer is None:
                return False  # hang up
            status, extra, payload = answer
            head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", "content-type: application/json"]
            head += [f"content-length: {len(payload)}", *(f"{k}: {v}" for k, v in extra.items())]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
            await writer.drain()
        finally:
            self.in_flight -= 1
        return headers.get("connection", "").lower() != "close"

    async def _answer(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes] | None:
        with self._lock:
            self.requests.append(request)
            listing = request.method == "GET" and request.path == "/v1/models"
            script = self._queue.popleft() if self._queue and not listing else None
        if request.path == "/health":
            return 200, {}, b'{"ok": true}'
        given = {request.headers.get("x-api-key"), request.headers.get("authorization", "").removeprefix("Bearer ")}
        if self.key is not None and self.key not in given:
            return 401, {}, _error_body(401, anthropic=request.path == "/v1/messages")
        if listing:  # what `proctor run` asks before it stores any run (scripted replies are kept for the runs)
            return 200, {}, json.dumps({"object": "list", "data": [{"id": "loopback", "object": "model"}]}).encode()
        if request.method != "POST" or request.path not in ("/v1/chat/completions", "/v1/messages"):
            return 404, {}, json.dumps({"error": {"message": f"no route {request.path}"}}).encode()
        if script is None:
            script = self.default or Reply()
        reply = script(request) if not isinstance(script, Reply) else script
        delay = self.delay if reply.delay is None else reply.delay
        if delay > 0:
            await asyncio.sleep(delay)
        anthropic = request.path == "/v1/messages"
        if reply.hang_up:
            return None
        if reply.body is not None:
            return reply.status, reply.headers, reply.body
        if reply.status >= 400:
            return reply.status, reply.headers, _error_body(reply.status, anthropic=anthropic)
        if reply.json_body is not None:
            return reply.status, reply.headers, json.dumps(reply.json_body).encode()
        body = request.body or {}
        answer = self._messages_answer(body, reply) if anthropic else self._chat_answer(body, reply)
        return reply.status, reply.headers, json.dumps(answer).encode()

    def _chat_answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        n = int(body.get("n") or 1)
        if self.max_n is not None:
            n = min(n, self.max_n)
        calls = reply.tool_calls or []
        if reply.texts or calls:
            n = max(len(reply.texts or []), len(calls))
        texts = _texts(body, reply, n)
        choices = []
        for index, text in enumerate(texts):
            message: dict[str, Any] = {"role": "assistant", "content": text}
            choice: dict[str, Any] = {"index": index, "message": message, "finish_reason": "stop", "logprobs": None}
            if index < len(calls) and calls[index]:
                message["tool_calls"] = [_chat_call(call) for call in calls[index]]
                choice["finish_reason"] = "tool_calls"
            if body.get("logprobs") and text is not None:
                choice["logprobs"] = {"content": _logprobs(text, int(body.get("top_logprobs") or 0))}
            choices.append(choice)
        tokens_in, tokens_out = reply.usage or (_prompt_words(body), sum(_words(text or "") for text in texts))
        return {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": choices,
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }

    def _messages_answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        text = _texts(body, reply, 1)[0]
        calls = (reply.tool_calls or [[]])[0]
        content = [{"type": "text", "text": text}] if text or not calls else []
        content += [_tool_use(call) for call in calls]
        tokens_in, tokens_out = reply.usage or (_prompt_words(body), _words(text or ""))
        return {
            "id": f"msg_{len(self.requests)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": content,
            "stop_reason": "tool_use" if calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }


def _texts(body: dict[str, Any], reply: Reply, n: int) -> list[str | None]:
    """The text of each of `n` choices; None for a choice with tool calls and no text."""
    if reply.texts:
        return [*reply.texts, *[reply.text] * (n - len(reply.texts))]
    if reply.text is not None or reply.tool_calls:
        return [reply.text] * n
    return [_echo(body)] * n


def _chat_call(call: dict[str, Any]) -> dict[str, Any]:
    """A scripted tool call in the chat-completions format."""
    sent = {"type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}
    return {"id": call["id"], **sent} if call.get("id") is not None else sent


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    """A scripted tool call as a `tool_use` block; arguments that are not JSON are sent as the raw text."""
    try:
        arguments = json.loads(call["arguments"])
    except ValueError:
        arguments = call["arguments"]
    return {"type": "tool_use", "id": call.get("id") or "", "name": call["name"], "input": arguments}


def _echo(body: dict[str, Any]) -> str:
    """`echo: ` and the last message, cut to the request's token limit (a word a token), as a server would."""
    messages = body.get("messages") or [{"content": ""}]
    text = f"echo: {messages[-1].get('content', '')}"
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    return " ".join(text.split(" ")[: int(limit)]) if limit else text


def _words(text: str) -> int:
    return len(text.split())


def _prompt_words(body: dict[str, Any]) -> int:
    system = body.get("system") or ""
    return _words(system) + sum(_words(str(m.get("content") or "")) for m in body.get("messages") or [])


def _logprobs(text: str, top: int) -> list[dict[str, Any]]:
    """Deterministic log-probabilities: token i has logprob -(i % 5 + 1) / 10; alternative j has j less."""
    positions = []
    for i, token in enumerate(re.findall(r"\s*\S+", text)):
        logprob = -((i % 5) + 1) / 10
        alternatives = [{"token": token, "logprob": logprob, "bytes": None}]
        alternatives += [{"token": f"alt{j}", "logprob": logprob - j, "bytes": None} for j in range(1, top)]
        positions.append({"token": token, "logprob": logprob, "bytes": None, "top_logprobs": alternatives[:top]})
    return positions


def _error_body(status: int, *, anthropic: bool) -> bytes:
    kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
    message = f"scripted failure {status}"
    if anthropic:
        return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
    return json.dumps({"error": {"message": message, "type": kind, "code": None}}).encode()


@contextmanager
def spawn_loopback_server(*, delay: float = 0.0, max_n: int | None = None, default: str | None = None) -> Iterator[str]:
    """Run a server in its own process; yields its URL, `http://127.0.0.1:PORT`. `default` names the function that
    builds answers, as `path/to/file.py:function` (None: echo the last message)."""
    command = [sys.executable, __file__, "--delay", str(delay)]
    if max_n is not None:
        command += ["--max-n", str(max_n)]
    if default is not None:
        command += ["--default", default]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"loopback server failed to start: {line!r}")
        yield line.removeprefix("listening on ").strip()
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    """Serve until the process is interrupted or terminated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--max-n", type=int, default=None, help="most choices per answer")
    parser.add_argument("--default", default=None, help="path/to/file.py:function building each answer")
    args = parser.parse_args()
    default = None
    if args.default:
        import runpy

        path, _, name = args.default.rpartition(":")
        default = runpy.run_path(path)[name]
    with LoopbackServer(delay=args.delay, max_n=args.max_n, default=default) as server:
        print(f"listening on {server.url}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
