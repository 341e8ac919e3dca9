"""Anthropic's Messages API through the official `anthropic` SDK: provider `anthropic/MODEL`.

Tools (`GenerateConfig.tools`) are sent with their parameters as `input_schema`. An assistant message's tool calls
become `tool_use` blocks (arguments that are not a JSON object are sent as `{}`, since the API takes only
objects), and a run of tool messages becomes one user message of `tool_result` blocks, as the API requires. The
`tool_use` blocks of a reply come back as `ToolCall`s whose `arguments` are the JSON text of their input.
"""

from __future__ import annotations

import json
import os
import time
from types import ModuleType
from typing import TYPE_CHECKING, Any

from proctor.models._base import (
    Completion,
    GenerateConfig,
    Generation,
    Message,
    Model,
    ModelError,
    Tool,
    ToolCall,
    Usage,
    provider,
)
from proctor.models._http import (
    ClientOptions,
    api_key,
    http_client,
    import_sdk,
    loop_cached,
    parse_options,
    probe,
    translate_error,
)
from proctor.models._limits import (
    Attempted,
    RetryableError,
    call_with_retries,
    gather_all,
    limit_key,
    set_concurrency,
)
from proctor.models._prices import price_of, priced_usage

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

ANTHROPIC_URL = "https://api.anthropic.com"
KEY_ENV = "ANTHROPIC_API_KEY"


class AnthropicModel:
    """A Claude model. The API samples one completion per request, so `n` completions take `n` requests
    (made in parallel); it returns no log-probabilities.
    """

    def __init__(self, model: str, options: ClientOptions) -> None:
        self.name = f"anthropic/{model}"
        self.model = model
        self.options = options
        self.price = options.price or price_of(model)
        self.limit = limit_key("anthropic", options.base_url)
        if options.max_concurrency is not None:
            set_concurrency("anthropic", options.max_concurrency, base_url=options.base_url)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        """Sample `config.n` completions for `messages`; system messages become the `system` parameter.

        Raises:
            RetriesExhaustedError: the server kept failing with faults that may pass.
            ModelError: the server refused the request (bad key, bad model name, bad parameters).
        """
        start = time.perf_counter()
        params = self._params(messages, config)
        results = await gather_all([self._call(params) for _ in range(config.n)])
        usage = sum((result.value[1] for result in results), Usage())
        return Generation(
            model=self.name,
            completions=[result.value[0] for result in results],
            usage=priced_usage(usage.input_tokens, usage.output_tokens, self.price),
            latency=time.perf_counter() - start,
            attempts=sum(result.attempts for result in results),
            concurrency_limit=min((r.limit for r in results if r.limit is not None), default=None),
        )

    def _params(self, messages: list[Message], config: GenerateConfig) -> dict[str, Any]:
        system = "\n\n".join(message.content for message in messages if message.role == "system")
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": config.max_tokens,
            "messages": _messages([message for message in messages if message.role != "system"]),
        }
        if config.tools:
            params["tools"] = [_tool(tool) for tool in config.tools]
        if system:
            params["system"] = system
        if config.stop:
            params["stop_sequences"] = config.stop
        # Sampling settings go in the body as given: the SDK no longer types them, older models accept them.
        sampling = {"temperature": config.temperature, "top_p": config.top_p}
        extra = {key: value for key, value in sampling.items() if value is not None}
        if extra:
            params["extra_body"] = extra
        return params

    def _client(self, sdk: ModuleType) -> AsyncAnthropic:
        options = self.options

        def build() -> AsyncAnthropic:
            from anthropic import AsyncAnthropic

            return AsyncAnthropic(
                api_key=api_key(options, model=self.name, key_env=KEY_ENV),
                base_url=options.base_url,
                timeout=options.timeout,
                max_retries=0,  # our retries apply, with backoff shared across models
                http_client=http_client(sdk, options.base_url or ANTHROPIC_URL),
            )

        return loop_cached(("anthropic-sdk", options.base_url, options.api_key, options.timeout), build)

    async def check(self, timeout: float) -> None:
        """The key is there (or a base URL) and the API lists its models (`GET /v1/models`) within `timeout`.

        Raises:
            ModelError: no key, no answer, or a refused key; the message says what to fix.
        """
        api_key(self.options, model=self.name, key_env=KEY_ENV)
        sdk = await import_sdk("anthropic")
        import httpx2  # loaded with the SDK above

        client = self._client(sdk)
        await probe(
            lambda: client.get("/v1/models", cast_to=httpx2.Response, options={"timeout": timeout}),
            sdk,
            model=self.name,
            url=self.options.base_url or ANTHROPIC_URL,
            timeout=timeout,
            key_env=KEY_ENV,
            url_env="ANTHROPIC_BASE_URL",
        )

    async def _call(self, params: dict[str, Any]) -> Attempted[tuple[Completion, Usage]]:
        sdk = await import_sdk("anthropic")
        client = self._client(sdk)

        async def request() -> tuple[Completion, Usage]:
            try:
                response = await client.messages.create(**params)
            except Exception as error:
                raise translate_error(
                    error, sdk, model=self.name, timeout=self.options.timeout, key_env=KEY_ENV
                ) from error
            return _parse(response)

        return await call_with_retries(request, model=self.name, key=self.limit, policy=self.options.retry)


def _messages(messages: list[Message]) -> list[dict[str, Any]]:
    """The conversation (without system messages) in the Messages API's format."""
    result: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            if message.tool_call_id is None:
                raise ModelError(
                    "a tool message needs the tool_call_id of the call it answers: set Message.tool_call_id"
                )
            block = {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
            previous = result[-1] if result else None
            if previous is not None and previous["role"] == "user" and isinstance(previous["content"], list):
                previous["content"].append(block)  # results of one turn's calls go back in one message
            else:
                result.append({"role": "user", "content": [block]})
        elif message.role == "assistant" and message.tool_calls:
            text = [{"type": "text", "text": message.content}] if message.content else []
            uses = [
                {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call.arguments)}
                for call in message.tool_calls
            ]
            result.append({"role": "assistant", "content": text + uses})
        else:
            result.append({"role": message.role, "content": message.content})
    return result


def _input(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object a `tool_use` block holds; `{}` when they are not a JSON object."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _tool(tool: Tool) -> dict[str, Any]:
    """A tool in the Messages API's format."""
    return {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}


def _parse(response: Any) -> tuple[Completion, Usage]:
    """The completion and token counts of a Messages API response."""
    content = getattr(response, "content", None)
    if not isinstance(content, list):
        raise RetryableError("malformed response: no content")
    text = "".join(getattr(block, "text", "") for block in content if getattr(block, "type", None) == "text")
    uses = [block for block in content if getattr(block, "type", None) == "tool_use"]
    calls = [_tool_call(i, use) for i, use in enumerate(uses)]
    usage = getattr(response, "usage", None)
    return Completion(text=text, tool_calls=calls), Usage(
        input_tokens=getattr(usage, "input_tokens", 0) or 0,
        output_tokens=getattr(usage, "output_tokens", 0) or 0,
    )


def _tool_call(i: int, use: Any) -> ToolCall:
    """The `i`th `tool_use` block of a reply as a call; its input as JSON text (text the server sent in place of an
    object is kept as is)."""
    value = getattr(use, "input", None)
    arguments = value if isinstance(value, str) else json.dumps(value if value is not None else {})
    return ToolCall(
        id=getattr(use, "id", None) or f"call_{i}", name=getattr(use, "name", None) or "", arguments=arguments
    )


@provider("anthropic")
def anthropic_model(model: str, **options: Any) -> Model:
    """Anthropic's Messages API (key from ANTHROPIC_API_KEY), or a server speaking it at `base_url=`.

    Options are those of `ClientOptions` (base_url, api_key, timeout, retry, max_concurrency, price).

    Example:
        get_model("anthropic/claude-sonnet-4-5", max_concurrency=20)
    """
    parsed = parse_options("anthropic", options)
    if parsed.base_url is None and os.environ.get("ANTHROPIC_BASE_URL"):
        parsed.base_url = os.environ["ANTHROPIC_BASE_URL"]
    return AnthropicModel(model, parsed)
