"""Secrets in model options: used while a run runs, never stored.

A key given as a model option (`api_key`, a token, a password, an authorization header) reaches the provider, but
every saved copy of the options — a run's config, an experiment's config, exports, `--json`, web pages — holds
`REDACTED` in its place. A run resumed from its stored config gets the key from the provider's environment variable
again; the API providers say so when it is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"
"""What a saved config holds where a secret was given."""

_SECRET_WORDS = {"key", "apikey", "token", "secret", "password", "passwd", "authorization", "credential", "credentials"}


def is_secret(name: str) -> bool:
    """Whether an option of this name holds a secret: one of its words (split at `_`, `-`, `.` and case changes)
    is key, token, secret, password, authorization or credentials — `api_key`, `x-api-key`, `Authorization`,
    `access_token`, but not `max_tokens`.

    Example:
        is_secret("api_key") and not is_secret("max_tokens")  # True
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return any(word in _SECRET_WORDS for word in re.split(r"[_\-.\s]+", spaced.lower()))


def redact(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `options` with every secret value replaced by `REDACTED`, nested mappings (e.g. headers)
    included. An option given as None (no key) stays None: the config still says no key was given.

    Example:
        redact({"api_key": "sk-…", "base_url": "http://localhost:8000/v1"})
        # {"api_key": "<redacted>", "base_url": "http://localhost:8000/v1"}
    """
    hidden: dict[str, Any] = {}
    for name, value in options.items():
        if value is not None and is_secret(str(name)):
            hidden[name] = REDACTED
        elif isinstance(value, Mapping):
            hidden[name] = redact(value)
        else:
            hidden[name] = value
    return hidden
