"""Shared HTTP clients (one per event loop and base URL), client options, and SDK errors translated."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import ssl
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from proctor.models._base import ModelError
from proctor.models._limits import RetryableError, RetryPolicy, parse_retry_after
from proctor.models._secrets import REDACTED

if TYPE_CHECKING:
    import httpx2

T = TypeVar("T")

_Table = dict[Hashable, Any]
_cache: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Table] = weakref.WeakKeyDictionary()
_lock = threading.RLock()  # builders may fetch other cached objects


def loop_cached(key: Hashable, factory: Callable[[], T]) -> T:
    """The object cached under `key` for the running event loop, built by `factory` the first time.

    Clients hold connections bound to one event loop, so each loop gets its own.
    """
    loop = asyncio.get_running_loop()
    with _lock:
        table = _cache.get(loop)
        if table is None:
            table = _cache[loop] = {_GUARD: _close_at_shutdown()}
        if key not in table:
            table[key] = factory()
        value: T = table[key]
        return value


_GUARD = "close at shutdown"


def _close_at_shutdown() -> AsyncGenerator[None, None]:
    """An async generator, started here, that closes the running loop's clients when the loop shuts down.

    `asyncio.run` (and pytest's and uvicorn's loops alike) closes every async generator still open before it
    closes the loop, which runs this one's `finally`. Clients hold the loop, so without this they would keep it
    alive, with their sockets, until the process ends (and aiohttp complains about them then)."""

    async def guard() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await close_clients()

    generator = guard()
    with contextlib.suppress(StopIteration):  # run it to its `yield` now (it stops there)
        generator.asend(None).send(None)
    return generator  # the loop holds only a weak reference to it: the cache holds it


_imported: set[str] = set()


async def import_sdk(name: str) -> ModuleType:
    """Import the SDK `name` in a worker thread the first time, so its slow import does not stall the loop.

    The SDKs are imported only when a model first calls them, which keeps `import proctor` fast.
    """
    if name not in _imported:
        # import_module waits on the module's import lock, so a concurrent caller gets the whole module.
        await asyncio.to_thread(importlib.import_module, name)
        _imported.add(name)
    return sys.modules[name]


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: loading the certificate store takes tens of milliseconds."""
    import httpx2

    return httpx2.create_ssl_context()


def http_client(sdk: ModuleType, base_url: str) -> httpx2.AsyncClient:
    """The shared HTTP client of `sdk` (`openai` or `anthropic`) for `base_url` on the running event loop.

    It is the SDK's own aiohttp-backed client (`DefaultAioHttpClient`, the SDK's documented choice for many
    requests at once): per request it costs about half the CPU of the default httpx2 pool, which looks at every
    idle connection each time a request starts or ends. The pool has no connection cap (aiohttp reads 0 as none):
    the provider's concurrency limit (see `set_concurrency`) bounds the requests in flight, and a pool cap below
    it would queue requests and make them time out.
    """
    import httpx2

    def build() -> httpx2.AsyncClient:
        limits = httpx2.Limits(max_connections=0, max_keepalive_connections=None, keepalive_expiry=30.0)
        # Timeouts are set per request by the SDK; this one only applies to requests made without one.
        client: httpx2.AsyncClient = sdk.DefaultAioHttpClient(
            limits=limits, timeout=httpx2.Timeout(600.0), verify=_ssl_context()
        )
        return client

    return loop_cached(("http", sdk.__name__, base_url.rstrip("/")), build)


async def close_clients() -> None:
    """Close the HTTP clients of the running event loop (call before the loop ends to release sockets)."""
    loop = asyncio.get_running_loop()
    with _lock:
        table = _cache.pop(loop, {})
    table.pop(_GUARD, None)
    for value in table.values():
        close = getattr(value, "aclose", None) or getattr(value, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result


class ClientOptions(BaseModel):
    """How a model reaches its provider: the options `get_model("provider/model", **options)` accepts."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    """The API's base URL, e.g. `http://localhost:8000/v1`; None for the provider's default."""
    api_key: str | None = None
    """The API key; None reads the provider's environment variable (e.g. OPENAI_API_KEY). Never stored: a saved
    config holds `"<redacted>"`, which reads the environment variable again."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds one request may take before it is abandoned and retried."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    """How faults that may pass (429, 5xx, timeouts, malformed answers) are retried."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """If set, the process-wide limit of requests in flight to this provider and base URL."""
    price: tuple[float, float] | None = None
    """USD per million (input, output) tokens; None takes the price list's entry for the model, if any."""


def parse_options(provider: str, options: dict[str, Any]) -> ClientOptions:
    """Validate a provider's keyword options.

    Raises:
        ModelError: an option is unknown or has the wrong type.
    """
    try:
        return ClientOptions.model_validate(options)
    except ValidationError as error:
        known = ", ".join(ClientOptions.model_fields)
        message = f"bad options for provider {provider!r}: {error}\n(known options: {known})"
        raise ModelError(message) from None


NO_KEY = "unused"
"""Sent to servers that check no key; the SDKs refuse to start without one."""


def api_key(options: ClientOptions, *, model: str, key_env: str) -> str:
    """The key a model sends: the `api_key` option, else the environment variable `key_env`, else (for a server
    given by `base_url`, which may check none) a placeholder.

    Raises:
        ModelError: no key for the provider's own API, or the run's key was not stored and the environment has
            none.
    """
    if options.api_key == REDACTED:
        if key := os.environ.get(key_env):
            return key
        raise ModelError(
            f"{model}: the api_key this run was given is not stored (secrets never are): set {key_env} to give it again"
        )
    key = options.api_key or os.environ.get(key_env)
    if key:
        return key
    if options.base_url is not None:
        return NO_KEY
    raise ModelError(
        f"{model}: no API key: set {key_env}, or pass api_key=... (or base_url=... for a server that needs no key)"
    )


async def probe(
    request: Callable[[], Awaitable[object]],
    sdk: ModuleType,
    *,
    model: str,
    url: str,
    timeout: float,
    key_env: str,
    url_env: str,
) -> None:
    """Make one cheap request (`request`, e.g. listing the models) to see that the server answers and takes the key.

    Any answer shows that the server is there (a 5xx may pass), except a refused key (401, 403) and a 404, which
    says the API is not at `url`.

    Raises:
        ModelError: no answer within `timeout`, a refused connection or certificate, a refused key, or a 404.
    """
    try:
        await request()
    except Exception as error:
        if isinstance(error, sdk.APIStatusError) and error.status_code == 404:
            raise ModelError(
                f"{model}: no model API at {url} (HTTP 404 from {error.request.url}): give the API's base URL "
                f"(option base_url or {url_env})"
            ) from None
        if isinstance(error, sdk.APIStatusError) and error.status_code not in (401, 403):
            return
        translated = translate_error(error, sdk, model=model, timeout=timeout, key_env=key_env)
        if isinstance(translated, ModelError):
            raise translated from None
        reason = " ".join(str(translated).split())
        raise ModelError(
            f"{model}: the server at {url} does not answer ({reason}): start it, or give the right base_url "
            f"(option base_url or {url_env})"
        ) from None


def translate_error(error: Exception, sdk: ModuleType, *, model: str, timeout: float, key_env: str) -> Exception:
    """Turn an exception of an official SDK (`openai`, `anthropic`) into `RetryableError` or `ModelError`.

    Rate limits (429), server faults (5xx, 408, 409), timeouts, dropped connections and unparseable answers
    may pass and become `RetryableError`; any other fault (a refused key or certificate, a wrong model name) is a
    `ModelError` that says what to fix.
    """
    if isinstance(error, sdk.APIConnectionError):  # a timeout is one too
        # The aiohttp transport reports every failed connection as a timeout: the first cause tells them apart.
        root: BaseException = error
        while root.__cause__ is not None:
            root = root.__cause__
        if isinstance(root, TimeoutError) or "Timeout" in type(root).__name__:
            return RetryableError(f"no answer within the timeout of {timeout:g} s")
        if isinstance(root, ssl.SSLCertVerificationError):  # trying again would not help
            return ModelError(
                f"{model}: the server's TLS certificate was refused ({root.verify_message}). Check the base_url; "
                "for a server with its own certificate authority, set SSL_CERT_FILE to a CA bundle that includes it."
            )
        return RetryableError(f"connection failed: {error.__cause__ or error}")
    if isinstance(error, sdk.APIResponseValidationError):
        return RetryableError(f"malformed response: {error}")
    if isinstance(error, sdk.APIStatusError):
        status: int = error.status_code
        detail = f"HTTP {status} from {error.request.url}: {error.message}"
        if status in (408, 409, 429) or status >= 500:
            overloaded = status in (429, 503, 529)  # the server asks for fewer requests: the limit is lowered
            return RetryableError(detail, retry_after=parse_retry_after(error.response.headers), overloaded=overloaded)
        if status in (401, 403):
            return ModelError(f"{model}: {detail}. The key was refused: set {key_env} or pass api_key=...")
        if status == 404:
            return ModelError(f"{model}: {detail}. Check the model name and the base_url option.")
        return ModelError(f"{model}: {detail}")
    if isinstance(error, ValueError | KeyError | TypeError | AttributeError):
        # The SDKs raise these (json.JSONDecodeError is a ValueError) on a body they cannot parse.
        return RetryableError(f"malformed response: {type(error).__name__}: {error}")
    return error
