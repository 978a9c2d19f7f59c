"""Keeping secrets out of logs, error messages and printed configuration.

Client settings (``-X``) carry passwords, private keys and tokens. Anything streamproc shows of a
configuration goes through :func:`redact`; any text that may echo a setting's value (a client
library's error) goes through :func:`scrub`. A key is secret when librdkafka or the Schema
Registry client treats it so, judged by name so that settings added later are covered too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

#: Parts of a setting's name that mark its value as secret (matched case-insensitively).
_SECRET_PARTS = (
    "password",  # sasl.password, ssl.key.password, ssl.keystore.password, ...
    "passphrase",  # sasl.oauthbearer.assertion.private.key.passphrase
    "secret",  # sasl.oauthbearer.client.secret, bearer.auth.client.secret
    "key.pem",  # ssl.key.pem, sasl.oauthbearer.assertion.private.key.pem: the private key itself
    "ssl_key",  # librdkafka's in-memory private key
    "oauthbearer.config",  # may embed a client secret
    "user.info",  # basic.auth.user.info of the Schema Registry client: "user:password"
    "jaas",  # Java-style sasl.jaas.config, which carries the password inline
    "oauthbearer.extensions",  # key=value pairs for the broker, often tenant ids or tokens
    "kinit.cmd",  # sasl.kerberos.kinit.cmd: a shell command, which may hold a password inline
)
#: Whole names that are secret: the token of a bearer-auth registry client, and the user name
#: (librdkafka redacts it too: with the password it is half of a credential).
_SECRET_KEYS = frozenset({"bearer.auth.token", "sasl.username"})


def is_secret(key: str) -> bool:
    name = key.lower()
    return name in _SECRET_KEYS or any(part in name for part in _SECRET_PARTS)


def redact(config: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with every secret value replaced by ``[redacted]``."""
    return {key: REDACTED if is_secret(key) else value for key, value in config.items()}


def describe(config: Mapping[str, Any]) -> str:
    """``key=value, ...`` for logs, secrets redacted and callables (loggers, callbacks) left out."""
    shown = redact({k: v for k, v in config.items() if not callable(v) and not isinstance(v, logging.Logger)})
    return ", ".join(f"{key}={value}" for key, value in sorted(shown.items())) or "(none)"


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """The non-empty secret values of ``config``, longest first (so a secret containing another is replaced whole)."""
    values = {str(v) for k, v in config.items() if is_secret(k) and v is not None and str(v)}
    return sorted(values, key=len, reverse=True)


class ScrubFilter(logging.Filter):
    """Scrubs known secret values from every record logged to the logger it is added to.

    librdkafka redacts the settings it considers sensitive in its own output (``-X debug=conf``) but not
    all of ours (``sasl.oauthbearer.extensions``, ``sasl.kerberos.kinit.cmd``); its lines reach Python
    logging through one logger, which gets this filter."""

    def __init__(self) -> None:
        super().__init__()
        self._values: list[str] = []

    def add(self, config: Mapping[str, Any]) -> None:
        """Remember the secret values of ``config`` (every client's settings pass through here)."""
        merged = set(self._values) | set(secret_values(config))
        if len(merged) != len(self._values):
            self._values = sorted(merged, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._values:
            message = record.getMessage()
            clean = message
            for value in self._values:
                clean = clean.replace(value, REDACTED)
            if clean != message:
                record.msg, record.args = clean, None
        return True


def scrub(text: str, config: Mapping[str, Any]) -> str:
    """``text`` with every secret value of ``config`` replaced by ``[redacted]``."""
    for value in secret_values(config):
        text = text.replace(value, REDACTED)
    return text
