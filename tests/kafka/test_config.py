"""Client configurations: TLS and SASL settings from -X reach every client the worker creates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamproc.errors import ConfigError
from streamproc.kafka.config import (
    admin_config,
    consumer_config,
    parse_overrides,
    producer_config,
    restore_consumer_config,
    transaction_timeout_ms,
)

#: Every security setting librdkafka has (its CONFIGURATION.md), as -X would pass them.
SECURITY = {
    "security.protocol": "SASL_SSL",
    "ssl.ca.location": "/etc/kafka/ca.pem",
    "ssl.ca.pem": "-----BEGIN CERTIFICATE-----",
    "ssl.certificate.location": "/etc/kafka/client.pem",
    "ssl.certificate.pem": "-----BEGIN CERTIFICATE-----",
    "ssl.key.location": "/etc/kafka/client.key",
    "ssl.key.password": "key-secret",
    "ssl.key.pem": "-----BEGIN PRIVATE KEY-----",
    "ssl.keystore.location": "/etc/kafka/client.p12",
    "ssl.keystore.password": "keystore-secret",
    "ssl.endpoint.identification.algorithm": "https",
    "enable.ssl.certificate.verification": "true",
    "ssl.cipher.suites": "ECDHE-RSA-AES256-GCM-SHA384",
    "ssl.curves.list": "P-256",
    "ssl.sigalgs.list": "RSA-PSS+SHA256",
    "ssl.crl.location": "/etc/kafka/crl.pem",
    "ssl.providers": "default",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "alice",
    "sasl.password": "sasl-secret",
    "sasl.kerberos.service.name": "kafka",
    "sasl.kerberos.keytab": "/etc/kafka/client.keytab",
    "sasl.kerberos.principal": "alice@EXAMPLE.COM",
    "sasl.oauthbearer.method": "oidc",
    "sasl.oauthbearer.client.id": "streamproc",
    "sasl.oauthbearer.client.secret": "oauth-secret",
    "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/token",
    "sasl.oauthbearer.scope": "kafka",
    "sasl.oauthbearer.extensions": "logicalCluster=lkc-1",
    "enable.sasl.oauthbearer.unsecure.jwt": "false",
}

BUILDERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "consumer": lambda o: consumer_config("k:9093", "group", o, "client"),
    "restore consumer": lambda o: restore_consumer_config("k:9093", "group", o, "client"),
    "producer": lambda o: producer_config("k:9093", o, "client"),
    "admin": lambda o: admin_config("k:9093", o, "client"),
}


@pytest.mark.parametrize("client", list(BUILDERS))
def test_every_security_setting_reaches_every_client(client: str) -> None:
    overrides = {**SECURITY, "session.timeout.ms": "6000", "linger.ms": "20"}
    config = BUILDERS[client](overrides)
    assert {k: config.get(k) for k in SECURITY} == SECURITY
    assert config["bootstrap.servers"] == "k:9093"


def test_client_specific_settings_stay_with_their_client() -> None:
    """The reason the builders filter at all: a producer warns about consumer settings and vice versa."""
    overrides = {"session.timeout.ms": "6000", "linger.ms": "20"}
    assert consumer_config("k", "g", overrides, "c")["session.timeout.ms"] == "6000"
    assert "linger.ms" not in consumer_config("k", "g", overrides, "c")
    assert producer_config("k", overrides, "c")["linger.ms"] == "20"
    assert "session.timeout.ms" not in producer_config("k", overrides, "c")
    assert not {"session.timeout.ms", "linger.ms"} & set(admin_config("k", overrides, "c"))


def test_overrides_parse_security_settings_verbatim() -> None:
    parsed = parse_overrides(["security.protocol=SASL_SSL", "sasl.password=p=ss w0rd", "sasl.username=alice"])
    # Only the first "=" separates: a password may contain more of them.
    assert parsed == {"security.protocol": "SASL_SSL", "sasl.password": "p=ss w0rd", "sasl.username": "alice"}


@pytest.mark.parametrize("argument", ["sasl.password:hunter2-secret", "sasl.password hunter2-secret",
                                      "=hunter2-secret"])
def test_a_malformed_secret_setting_is_not_echoed(argument: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_overrides([argument])
    assert "expected key=value" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_a_malformed_plain_setting_is_echoed() -> None:
    with pytest.raises(ConfigError, match="-X 'nonsense': expected key=value"):
        parse_overrides(["nonsense"])


def test_settings_file_keeps_secrets_off_the_command_line(tmp_path: Path) -> None:
    settings = tmp_path / "client.properties"
    settings.write_text("# cluster credentials\nsecurity.protocol=SASL_SSL\n\n  sasl.password = s3=cret \n"
                        "linger.ms=50\n")
    parsed = parse_overrides(["linger.ms=5", f"@{settings}", "security.protocol=SSL"])
    # In command-line order, later ones winning: the file overrides linger.ms, the last flag the protocol.
    assert parsed == {"linger.ms": "50", "security.protocol": "SSL", "sasl.password": "s3=cret"}


def test_settings_file_errors_name_the_line_not_the_secret(tmp_path: Path) -> None:
    settings = tmp_path / "client.properties"
    settings.write_text("security.protocol=SSL\nsasl.password: hunter2-secret\n")
    with pytest.raises(ConfigError) as error:
        parse_overrides([f"@{settings}"])
    assert str(error.value).startswith(f"{settings}:2 'sasl.password' followed by text not shown here: expected")
    assert "hunter2" not in str(error.value)
    with pytest.raises(ConfigError, match=r"-X @.*absent\.properties: cannot read the file"):
        parse_overrides([f"@{tmp_path / 'absent.properties'}"])


def test_a_new_group_starts_at_the_beginning_and_cannot_be_told_otherwise() -> None:
    """Internal topics are read by the same consumer: starting at their end would lose what upstream tasks
    wrote before the first commit. The way to skip an input's backlog is `replay --to-latest`."""
    assert consumer_config("k", "g", {}, "c")["auto.offset.reset"] == "earliest"
    assert consumer_config("k", "g", {"auto.offset.reset": "earliest"}, "c")["auto.offset.reset"] == "earliest"
    for value in ("latest", "largest", "end", "error"):
        with pytest.raises(ConfigError, match="replay TARGET --to-latest"):
            consumer_config("k", "g", {"auto.offset.reset": value}, "c")


def test_consumers_read_committed_and_exactly_once_insists() -> None:
    for build in (consumer_config, restore_consumer_config):
        assert build("k", "g", {}, "c")["isolation.level"] == "read_committed"
        assert build("k", "g", {"isolation.level": "read_uncommitted"}, "c")["isolation.level"] == "read_uncommitted"
        with pytest.raises(ConfigError, match="would read records of aborted transactions"):
            build("k", "g", {"isolation.level": "read_uncommitted"}, "c", True)


def test_a_transactional_producer_config() -> None:
    config = producer_config("k", {}, "c", "wc-abc-0", transaction_timeout_ms(5.0))
    assert config["transactional.id"] == "wc-abc-0"
    assert config["transaction.timeout.ms"] == "20000"
    assert producer_config("k", {"transaction.timeout.ms": "60000"}, "c", "wc-abc-0", 20000)[
        "transaction.timeout.ms"] == "60000"
    assert "transactional.id" not in producer_config("k", {}, "c")
    with pytest.raises(ConfigError, match="gives each worker its own"):
        producer_config("k", {"transactional.id": "mine"}, "c")


def test_consumers_refetch_soon_after_draining_a_full_prefetch_queue() -> None:
    """librdkafka's 1 s default left a worker idle after each 100,000 prefetched records (see bench/)."""
    for build in (consumer_config, restore_consumer_config):
        assert build("k", "g", {}, "c")["fetch.queue.backoff.ms"] == "10"
        assert build("k", "g", {"fetch.queue.backoff.ms": "500"}, "c")["fetch.queue.backoff.ms"] == "500"
    assert "fetch.queue.backoff.ms" not in producer_config("k", {"fetch.queue.backoff.ms": "500"}, "c")


def test_the_consumer_group_protocol_leaves_assignment_to_the_broker() -> None:
    """KIP-848: librdkafka refuses partition.assignment.strategy with group.protocol=consumer."""
    classic = consumer_config("k:9092", "g", {}, "c")
    assert classic["partition.assignment.strategy"] == "range"
    new = consumer_config("k:9092", "g", {"group.protocol": "consumer"}, "c")
    assert "partition.assignment.strategy" not in new and new["group.protocol"] == "consumer"
    assert "partition.assignment.strategy" not in restore_consumer_config("k:9092", "g", {"group.protocol": "consumer"},
                                                                          "c")
