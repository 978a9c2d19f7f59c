"""What counts as a secret, and how configurations and messages are shown without them."""

from __future__ import annotations

import logging

import pytest

from streamproc.redact import REDACTED, describe, is_secret, redact, scrub

SECRET_KEYS = [
    "sasl.password",
    "sasl.username",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
    "ssl_key",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
    "sasl.jaas.config",
    "basic.auth.user.info",
    "bearer.auth.token",
    "bearer.auth.client.secret",
    "SASL.PASSWORD",
]
PUBLIC_KEYS = [
    "bootstrap.servers",
    "security.protocol",
    "sasl.mechanism",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.certificate.pem",
    "ssl.endpoint.identification.algorithm",
    "session.timeout.ms",
    "basic.auth.credentials.source",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_settings(key: str) -> None:
    assert is_secret(key)


@pytest.mark.parametrize("key", PUBLIC_KEYS)
def test_public_settings(key: str) -> None:
    assert not is_secret(key)


def test_redact_replaces_only_secret_values() -> None:
    config = {"security.protocol": "SASL_SSL", "sasl.username": "alice", "sasl.password": "hunter2",
              "ssl.key.password": "k3y", "ssl.ca.location": "/etc/ca.pem"}
    assert redact(config) == {"security.protocol": "SASL_SSL", "sasl.username": REDACTED, "sasl.password": REDACTED,
                              "ssl.key.password": REDACTED, "ssl.ca.location": "/etc/ca.pem"}
    assert config["sasl.password"] == "hunter2"  # a copy: the client still gets the real value


def test_describe_for_logs_leaves_out_objects_and_secrets() -> None:
    config = {"sasl.password": "hunter2", "linger.ms": "5", "logger": logging.getLogger("x"),
              "on_delivery": print}
    assert describe(config) == f"linger.ms=5, sasl.password={REDACTED}"
    assert describe({}) == "(none)"


def test_scrub_removes_secret_values_from_text() -> None:
    config = {"sasl.password": "pass", "ssl.key.password": "passphrase-long", "client.id": "pass-client"}
    text = "failed with passphrase-long and pass for pass-client"
    # The longer secret goes first, so it is not left half-replaced by the shorter one it contains.
    assert scrub(text, config) == f"failed with {REDACTED} and {REDACTED} for {REDACTED}-client"
    assert scrub("nothing secret", {"sasl.password": ""}) == "nothing secret"
