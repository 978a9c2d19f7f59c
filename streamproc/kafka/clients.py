"""Creating Kafka clients: a bad setting becomes a ConfigError naming the client, never a secret.

librdkafka checks TLS and SASL settings when a client is created (it loads certificates and keys
then), so a wrong path or key password fails here, with a terse OpenSSL message; the message is
completed with a hint and scrubbed of any secret value before it reaches a log.
"""

from __future__ import annotations

import re
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from streamproc.errors import ConfigError
from streamproc.redact import scrub

_LIBRDKAFKA_PREFIX = re.compile(r"^Failed to create [a-z ]+?: ")


def _failed(role: str, config: dict[str, Any], exc: KafkaException) -> ConfigError:
    reason = exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else str(exc)
    reason = _LIBRDKAFKA_PREFIX.sub("", reason)  # "Failed to create consumer: ", which we say better
    return ConfigError(
        f"cannot create the Kafka {role}: {scrub(reason, config)}; check the -X client settings "
        "(security.protocol, ssl.*, sasl.*): paths must exist, an encrypted key needs ssl.key.password"
    )


def new_consumer(config: dict[str, Any], role: str = "consumer") -> Consumer:
    try:
        return Consumer(config)
    except KafkaException as exc:
        raise _failed(role, config, exc) from None  # the chained original could carry what scrub removed


def new_producer(config: dict[str, Any]) -> Producer:
    try:
        return Producer(config)
    except KafkaException as exc:
        raise _failed("producer", config, exc) from None  # the chained original could carry what scrub removed


def new_admin(config: dict[str, Any]) -> AdminClient:
    try:
        return AdminClient(config)
    except KafkaException as exc:
        raise _failed("admin client", config, exc) from None  # the chained original could carry what scrub removed
