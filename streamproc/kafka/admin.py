"""Making sure the topics a topology needs exist, with the right shape, before it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType  # type: ignore[attr-defined]  # public, untyped export
from confluent_kafka.cimpl import NewTopic

from streamproc.errors import BrokerUnreachable, ConfigError
from streamproc.kafka.clients import new_admin
from streamproc.redact import scrub
from streamproc.wording import counted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)
    #: Why the topology needs it, for messages ("changelog of store 'counts'").
    purpose: str = ""


class _ConnectErrors:
    """librdkafka's error callback during connect: remembers the error that explains a failure."""

    #: A retry cannot fix these (rejected credentials, an untrusted certificate): fail at once.
    DECISIVE = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})

    def __init__(self) -> None:
        self.decisive: KafkaError | None = None

    def __call__(self, error: KafkaError) -> None:
        if error.code() in self.DECISIVE:
            self.decisive = error


def connect(config: Mapping[str, Any], timeout: float) -> AdminClient:
    """An admin client that has proven the cluster answers; a clear ConfigError otherwise.

    Rejected credentials and failed TLS handshakes fail within about a second with librdkafka's own
    explanation; an unreachable cluster after ``timeout``. Messages never carry a secret setting.
    """
    errors = _ConnectErrors()
    admin = new_admin({**config, "error_cb": errors})
    bootstrap = config.get("bootstrap.servers")
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=max(0.1, min(1.0, deadline - time.monotonic())))
            return admin
        except KafkaException as exc:
            admin.poll(0)  # serves the error callback
            if errors.decisive is not None:
                raise ConfigError(
                    f"cannot connect to Kafka at {bootstrap}: {scrub(errors.decisive.str(), config)}; "
                    "check the -X security.protocol, ssl.* and sasl.* settings"
                ) from None
            if time.monotonic() >= deadline:
                raise BrokerUnreachable(
                    f"cannot reach Kafka at {bootstrap} within {timeout:.0f}s ({scrub(exc.args[0].str(), config)}); "
                    "check --bootstrap-servers / STREAMPROC_BOOTSTRAP_SERVERS, that the broker is running and, "
                    "for a TLS or SASL listener, -X security.protocol"
                ) from None


def partition_counts(admin: AdminClient, timeout: float = 10.0) -> dict[str, int]:
    metadata = admin.list_topics(timeout=timeout)
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def cleanup_policies(admin: AdminClient, names: list[str], timeout: float = 10.0) -> dict[str, str]:
    """``cleanup.policy`` of each topic that reports one (some brokers report only settings made explicitly)."""
    if not names:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in names])
    found: dict[str, str] = {}
    for resource, future in futures.items():
        entry = future.result(timeout=timeout).get("cleanup.policy")
        if entry is not None and entry.value is not None:
            found[resource.name] = entry.value
    return found


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], replication_factor: int = -1,
                  timeout: float = 30.0) -> None:
    """Create the missing topics; fail with an explanation when an existing one has another partition count."""
    existing = partition_counts(admin)
    for spec in specs:
        have = existing.get(spec.name)
        if have is not None and have != spec.partitions:
            raise ConfigError(
                f"topic {spec.name!r} ({spec.purpose}) has {counted(have, 'partition')} but needs {spec.partitions}; "
                "internal topics must match their inputs' partition count. Delete it (its data is rebuilt) or "
                "recreate the input topics with the old count"
            )
    missing = [s for s in specs if s.name not in existing]
    if not missing:
        return
    # Three replicas or more: a write is acknowledged (acks=all) only once two hold it, so losing one broker
    # loses nothing acknowledged and the topic stays writable.
    durable = {"min.insync.replicas": "2"} if replication_factor >= 3 else {}
    futures = admin.create_topics(
        [NewTopic(s.name, s.partitions, replication_factor, config={**durable, **s.config}) for s in missing],
        operation_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result()
            log.info("created topic %s", name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConfigError(f"cannot create topic {name!r}: {exc.args[0].str()}") from exc
    _await_visible(admin, [s.name for s in missing], timeout)


def _await_visible(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = partition_counts(admin)
        if all(n in counts for n in names):
            return
        if time.monotonic() > deadline:
            raise ConfigError(f"topics {names} were created but are not visible after {timeout:.0f}s")
        time.sleep(0.1)
