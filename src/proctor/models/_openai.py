"""The OpenAI API and OpenAI-compatible servers (vLLM, Ollama, llama.cpp) through the official `openai` SDK.

Providers:
    `openai/MODEL`: the OpenAI API (key from OPENAI_API_KEY), or any compatible server given by the
        `base_url` option or OPENAI_BASE_URL.
    `vllm/MODEL`, `ollama/MODEL`, `llamacpp/MODEL`: a local server, at the `base_url` option or
        VLLM_BASE_URL / OLLAMA_BASE_URL / LLAMACPP_BASE_URL, defaulting to the server's usual local address.

Tools (`GenerateConfig.tools`) are sent as `function` tools; the calls in a reply come back as `ToolCall`s with
their `arguments` exactly as the server sent them (malformed JSON included), and a call without an id gets
`call_<i>`, its place in the reply.
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
    TokenLogprob,
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
    from openai import AsyncOpenAI

OPENAI_URL = "https://api.openai.com/v1"

# provider: (environment variable for the base URL, default base URL, environment variable for the key)
LOCAL_SERVERS: dict[str, tuple[str, str, str]] = {
    "vllm": ("VLLM_BASE_URL", "http://localhost:8000/v1", "VLLM_API_KEY"),
    "ollama": ("OLLAMA_BASE_URL", "http://localhost:11434/v1", "OLLAMA_API_KEY"),
    "llamacpp": ("LLAMACPP_BASE_URL", "http://localhost:8080/v1", "LLAMACPP_API_KEY"),
}


class OpenAIModel:
    """A model behind the OpenAI chat-completions API.

    Servers that ignore `n` and return fewer choices than asked for are topped up with further requests.
    """

    def __init__(
        self,
        provider_name: str,
        model: str,
        options: ClientOptions,
        *,
        key_env: str,
        url_env: str,
        price: tuple[float, float] | None,
    ) -> None:
        self.name = f"{provider_name}/{model}"
        self.model = model
        self.options = options
        self.key_env = key_env
        self.url_env = url_env
        self.price = price
        self.limit = limit_key(provider_name, options.base_url)
        if options.max_concurrency is not None:
            set_concurrency(provider_name, options.max_concurrency, base_url=options.base_url)

    async def generate(self, messages: list[Message], config: GenerateConfig) -> Generation:
        """Sample `config.n` completions for `messages`.

        Raises:
            RetriesExhaustedError: the server kept failing with faults that may pass.
            ModelError: the server refused the request (bad key, bad model name, bad parameters).
        """
        start = time.perf_counter()
        params = self._params(messages, config)
        results = [await self._call(params, config.n)]
        have = len(results[0].value[0])
        if have < config.n:
            # The server ignored n: ask for the rest one completion at a time, in parallel.
            results += await gather_all([self._call(params, 1) for _ in range(config.n - have)])
        completions = [completion for result in results for completion in result.value[0]][: config.n]
        usage = sum((result.value[1] for result in results), Usage())
        return Generation(
            model=self.name,
            completions=completions,
            usage=priced_usage(usage.input_tokens, usage.output_tokens, self.price),
            latency=time.perf_counter() - start,
            attempts=sum(result.attempts for result in results),
            concurrency_limit=min((r.limit for r in results if r.limit is not None), default=None),
        )

    def _params(self, messages: list[Message], config: GenerateConfig) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(message) for message in messages],
        }
        if config.tools:
            params["tools"] = [_tool(tool) for tool in config.tools]
        # The OpenAI API wants max_completion_tokens (reasoning models refuse max_tokens); other servers
        # know max_tokens better.
        tokens_param = "max_completion_tokens" if self.options.base_url is None else "max_tokens"
        params[tokens_param] = config.max_tokens
        optional = {
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stop": config.stop,
            "seed": config.seed,
        }
        params.update({key: value for key, value in optional.items() if value is not None})
        if config.logprobs:
            params["logprobs"] = True
            if config.top_logprobs > 0:
                params["top_logprobs"] = config.top_logprobs
        return params

    def _client(self, sdk: ModuleType) -> AsyncOpenAI:
        options = self.options

        def build() -> AsyncOpenAI:
            from openai import AsyncOpenAI

            return AsyncOpenAI(
                api_key=api_key(options, model=self.name, key_env=self.key_env),
                base_url=options.base_url,
                timeout=options.timeout,
                max_retries=0,  # our retries apply, with backoff shared across models
                http_client=http_client(sdk, options.base_url or OPENAI_URL),
            )

        key = ("openai-sdk", options.base_url, options.api_key, self.key_env, options.timeout)
        return loop_cached(key, build)

    async def check(self, timeout: float) -> None:
        """The key is there (or a base URL) and the server lists its models (`GET /models`) within `timeout`.

        Raises:
            ModelError: no key, no answer, or a refused key; the message says what to fix.
        """
        api_key(self.options, model=self.name, key_env=self.key_env)
        sdk = await import_sdk("openai")
        import httpx2  # loaded with the SDK above

        client = self._client(sdk)
        await probe(
            lambda: client.get("/models", cast_to=httpx2.Response, options={"timeout": timeout}),
            sdk,
            model=self.name,
            url=self.options.base_url or OPENAI_URL,
            timeout=timeout,
            key_env=self.key_env,
            url_env=self.url_env,
        )

    async def _call(self, params: dict[str, Any], n: int) -> Attempted[tuple[list[Completion], Usage]]:
        sdk = await import_sdk("openai")
        import httpx2  # loaded with the SDK above

        client = self._client(sdk)

        async def request() -> tuple[list[Completion], Usage]:
            # The SDK's own request path (auth, base URL, timeouts, status errors), minus its per-call
            # transformation of typed parameters and of the response into models, which cost more CPU than the
            # rest of a call: parameters are built above, the JSON is read here.
            try:
                response = await client.post("/chat/completions", body={**params, "n": n}, cast_to=httpx2.Response)
                body = response.json()
            except Exception as error:
                raise translate_error(
                    error, sdk, model=self.name, timeout=self.options.timeout, key_env=self.key_env
                ) from error
            return _parse(body)

        return await call_with_retries(request, model=self.name, key=self.limit, policy=self.options.retry)


def _parse(body: Any) -> tuple[list[Completion], Usage]:
    """The completions and token counts of a chat-completions response body."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not isinstance(choices, list) or not choices:
        raise RetryableError("malformed response: no choices")
    completions = []
    for choice in sorted(choices, key=lambda choice: choice.get("index") or 0):
        message = choice.get("message")
        if not isinstance(message, dict):
            raise RetryableError("malformed response: a choice has no message")
        completions.append(
            Completion(
                text=message.get("content") or "",
                logprobs=_logprobs(choice),
                tool_calls=_tool_calls(message.get("tool_calls")),
            )
        )
    usage = body.get("usage") or {}
    return completions, Usage(
        input_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens") or 0
    )


def _message(message: Message) -> dict[str, Any]:
    """A message in the chat-completions format."""
    if message.role == "tool":
        if message.tool_call_id is None:
            raise ModelError("a tool message needs the tool_call_id of the call it answers: set Message.tool_call_id")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.role == "assistant" and message.tool_calls:
        calls = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
        return {"role": "assistant", "content": message.content or None, "tool_calls": calls}
    return {"role": message.role, "content": message.content}


def _tool(tool: Tool) -> dict[str, Any]:
    """A tool in the chat-completions format."""
    function = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    return {"type": "function", "function": function}


def _tool_calls(calls: Any) -> list[ToolCall]:
    """The tool calls of a response message; arguments stay the text the server sent."""
    if not calls:
        return []
    if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
        raise RetryableError("malformed response: tool_calls is not a list of objects")
    parsed = []
    for i, call in enumerate(calls):
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        arguments = function.get("arguments")
        if arguments is None:
            arguments = ""
        elif not isinstance(arguments, str):  # some servers send an object rather than its JSON text
            arguments = json.dumps(arguments)
        parsed.append(ToolCall(id=call.get("id") or f"call_{i}", name=function.get("name") or "", arguments=arguments))
    return parsed


def _logprobs(choice: dict[str, Any]) -> list[TokenLogprob] | None:
    content = (choice.get("logprobs") or {}).get("content")
    if content is None:
        return None
    positions = []
    for position in content:
        top = {alternative["token"]: alternative["logprob"] for alternative in position.get("top_logprobs") or []}
        top.setdefault(position["token"], position["logprob"])  # keep the chosen token's own logprob
        positions.append(TokenLogprob(token=position["token"], top=top))
    return positions


@provider("openai")
def openai_model(model: str, **options: Any) -> Model:
    """The OpenAI API, or any OpenAI-compatible server given by `base_url=` or OPENAI_BASE_URL.

    Options are those of `ClientOptions` (base_url, api_key, timeout, retry, max_concurrency, price).

    Example:
        get_model("openai/gpt-4o-mini")
        get_model("openai/my-model", base_url="http://127.0.0.1:8000/v1")
    """
    parsed = parse_options("openai", options)
    if parsed.base_url is None and os.environ.get("OPENAI_BASE_URL"):
        parsed.base_url = os.environ["OPENAI_BASE_URL"]
    price = parsed.price or price_of(model)
    return OpenAIModel("openai", model, parsed, key_env="OPENAI_API_KEY", url_env="OPENAI_BASE_URL", price=price)


def _local_server(provider_name: str) -> None:
    url_env, default_url, key_env = LOCAL_SERVERS[provider_name]

    def factory(model: str, **options: Any) -> Model:
        parsed = parse_options(provider_name, options)
        if parsed.base_url is None:
            parsed.base_url = os.environ.get(url_env) or default_url
        return OpenAIModel(provider_name, model, parsed, key_env=key_env, url_env=url_env, price=parsed.price)

    factory.__name__ = f"{provider_name}_model"
    factory.__doc__ = f"A {provider_name} server speaking the OpenAI API, at `base_url=`, {url_env} or {default_url}."
    provider(provider_name)(factory)


for _name in LOCAL_SERVERS:
    _local_server(_name)
