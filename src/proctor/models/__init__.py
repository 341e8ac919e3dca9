"""Models: one interface over OpenAI(-compatible), Anthropic, Hugging Face, scripted and human models."""

import proctor.models._human  # registers the human provider
import proctor.models._interpreter
import proctor.models._scripted
import proctor.models._scripted_roles  # noqa: F401  (registers the scripted red, target, judge and auditor)
from proctor.models import _hf  # noqa: F401  (registers the hf provider; torch loads on first use)
from proctor.models._anthropic import AnthropicModel
from proctor.models._base import (
    CHECK_TIMEOUT,
    Checkable,
    Completion,
    GenerateConfig,
    Generation,
    Message,
    Model,
    ModelError,
    TokenLogprob,
    Tool,
    ToolCall,
    UnknownModelError,
    Usage,
    check_model,
    get_model,
    provider,
    providers,
)
from proctor.models._http import ClientOptions, close_clients
from proctor.models._limits import (
    DEFAULT_CONCURRENCY,
    Aimd,
    RetriesExhaustedError,
    RetryPolicy,
    SharedLimits,
    concurrency,
    effective_concurrency,
    in_flight,
    set_concurrency,
    share_limits,
    shared_limits,
)
from proctor.models._openai import OpenAIModel
from proctor.models._prices import CONTEXT_WINDOWS, PRICES, context_window_of, price_of
from proctor.models._secrets import REDACTED, is_secret, redact

__all__ = [
    "CHECK_TIMEOUT",
    "CONTEXT_WINDOWS",
    "DEFAULT_CONCURRENCY",
    "PRICES",
    "REDACTED",
    "Aimd",
    "AnthropicModel",
    "Checkable",
    "ClientOptions",
    "Completion",
    "GenerateConfig",
    "Generation",
    "Message",
    "Model",
    "ModelError",
    "OpenAIModel",
    "RetriesExhaustedError",
    "RetryPolicy",
    "SharedLimits",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "UnknownModelError",
    "Usage",
    "check_model",
    "close_clients",
    "concurrency",
    "context_window_of",
    "effective_concurrency",
    "get_model",
    "in_flight",
    "is_secret",
    "price_of",
    "provider",
    "providers",
    "redact",
    "set_concurrency",
    "share_limits",
    "shared_limits",
]
