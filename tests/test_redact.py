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


#: Every sasl.* and ssl.* setting of librdkafka 2.x (CONFIGURATION.md), and whether its value is a secret.
#: A new librdkafka setting must be added here, which makes its classification a decision.
LIBRDKAFKA_SASL_SSL = {
    "ssl.cipher.suites": False, "ssl.curves.list": False, "ssl.sigalgs.list": False,
    "ssl.key.location": False, "ssl.key.password": True, "ssl.key.pem": True, "ssl_key": True,
    "ssl.certificate.location": False, "ssl.certificate.pem": False, "ssl_certificate": False,
    "ssl.ca.location": False, "ssl.ca.pem": False, "ssl_ca": False, "ssl.ca.certificate.stores": False,
    "ssl.crl.location": False, "ssl.keystore.location": False, "ssl.keystore.password": True,
    "ssl.providers": False, "ssl.engine.location": False, "ssl.engine.id": False,
    "ssl_engine_callback_data": False, "ssl.endpoint.identification.algorithm": False,
    "ssl.certificate.verify_cb": False,
    "sasl.mechanisms": False, "sasl.mechanism": False, "sasl.kerberos.service.name": False,
    "sasl.kerberos.principal": False, "sasl.kerberos.kinit.cmd": True, "sasl.kerberos.keytab": False,
    "sasl.kerberos.min.time.before.relogin": False, "sasl.username": True, "sasl.password": True,
    "sasl.oauthbearer.config": True, "sasl.oauthbearer.method": False, "sasl.oauthbearer.client.id": False,
    "sasl.oauthbearer.client.credentials.client.id": False,
    "sasl.oauthbearer.client.credentials.client.secret": True, "sasl.oauthbearer.client.secret": True,
    "sasl.oauthbearer.scope": False, "sasl.oauthbearer.extensions": True,
    "sasl.oauthbearer.token.endpoint.url": False, "sasl.oauthbearer.grant.type": False,
    "sasl.oauthbearer.assertion.algorithm": False, "sasl.oauthbearer.assertion.private.key.file": False,
    "sasl.oauthbearer.assertion.private.key.passphrase": True, "sasl.oauthbearer.assertion.private.key.pem": True,
    "sasl.oauthbearer.assertion.file": False, "sasl.oauthbearer.assertion.claim.aud": False,
    "sasl.oauthbearer.assertion.claim.exp.seconds": False, "sasl.oauthbearer.assertion.claim.iss": False,
    "sasl.oauthbearer.assertion.claim.jti.include": False, "sasl.oauthbearer.assertion.claim.nbf.seconds": False,
    "sasl.oauthbearer.assertion.claim.sub": False, "sasl.oauthbearer.assertion.jwt.template.file": False,
    "sasl.oauthbearer.metadata.authentication.type": False,
}


@pytest.mark.parametrize(("key", "secret"), sorted(LIBRDKAFKA_SASL_SSL.items()))
def test_every_sasl_and_ssl_setting_is_classified(key: str, secret: bool) -> None:
    assert is_secret(key) is secret


def test_librdkafkas_configuration_dump_loses_our_secrets(caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka redacts sasl.password in `debug=conf` itself, but not these: the logger's filter does."""
    from confluent_kafka import Producer

    from streamproc.kafka.config import producer_config

    secrets = {"sasl.oauthbearer.extensions": "orgId=TOPSECRET1", "sasl.kerberos.kinit.cmd": "kinit KINITSECRET2"}
    config = producer_config("127.0.0.1:1", {"debug": "conf", **secrets}, "redact-test")
    with caplog.at_level(logging.DEBUG, logger="streamproc.librdkafka"):
        producer = Producer(config)
        producer.poll(0.5)
    dumped = [r.getMessage() for r in caplog.records if r.name == "streamproc.librdkafka"]
    assert any("sasl.oauthbearer.extensions = [redacted]" in line for line in dumped), dumped[:5]
    assert not any("TOPSECRET1" in line or "KINITSECRET2" in line for line in dumped)
