"""librdkafka configurations for every client a worker creates.

Defaults encode the framework's guarantees (manual commits, idempotent producer, range
assignment so that co-partitioned topics land on the same task, read_committed consumers; under
exactly-once a transactional producer). ``-X key=value`` settings are applied last to every
client they concern, so TLS/SASL and tuning reach all of them; settings that only one kind of
client understands are kept from the others, which would warn about them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from streamproc.errors import ConfigError
from streamproc.kafka.overrides import parse_overrides as parse_overrides  # where -X is parsed and checked
from streamproc.redact import ScrubFilter

_librdkafka_log = logging.getLogger("streamproc.librdkafka")
#: librdkafka's own lines (its configuration dump among them) lose every secret value of our settings.
_scrubber = ScrubFilter()
_librdkafka_log.addFilter(_scrubber)

#: Settings the runtime depends on for correctness: overriding them would break at-least-once.
_PROTECTED_CONSUMER = {"enable.auto.commit": "false", "enable.auto.offset.store": "false"}
#: Exactly-once also needs consumers that skip aborted transactions (librdkafka's default, made explicit).
_READ_COMMITTED = {"isolation.level": "read_committed"}
#: When a partition's prefetch queue holds ``queued.min.messages``, librdkafka postpones that partition's
#: next fetch by ``fetch.queue.backoff.ms``, 1000 ms by default. A worker drains 100,000 small records in
#: well under a second, then sat idle for the rest of it: measured on a 4-partition changelog, a bare
#: consumer read 135k records/s with the default and 490k/s with 10 ms. The queue bounds stay as they are.
_FETCH_QUEUE_BACKOFF = {"fetch.queue.backoff.ms": "10"}

_CONSUMER_ONLY = (
    "session.timeout.ms", "heartbeat.interval.ms", "fetch.", "auto.offset.reset", "max.poll.interval.ms",
    "partition.assignment.strategy", "isolation.level", "group.", "enable.partition.eof", "queued.",
    "check.crcs", "max.partition.fetch.bytes", "enable.auto.",
)
_PRODUCER_ONLY = (
    "linger.ms", "batch.", "compression.", "acks", "enable.idempotence", "queue.buffering.",
    "message.timeout.ms", "partitioner", "delivery.timeout.ms", "retries", "transaction",
)


def _base(bootstrap: str, client_id: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    _scrubber.add(overrides)
    return {"bootstrap.servers": bootstrap, "client.id": client_id, "logger": _librdkafka_log}


def consumer_config(bootstrap: str, group_id: str, overrides: Mapping[str, Any], client_id: str,
                    exactly_once: bool = False) -> dict[str, Any]:
    """``exactly_once``: refuse ``isolation.level=read_uncommitted``, which would read aborted records."""
    bad = {k: v for k, v in overrides.items() if k in _PROTECTED_CONSUMER and v != _PROTECTED_CONSUMER[k]}
    if bad:
        raise ConfigError(f"{bad} would commit offsets before outputs are acknowledged; streamproc commits them itself")
    reset = overrides.get("auto.offset.reset", "earliest")
    if reset not in ("earliest", "smallest", "beginning"):
        raise ConfigError(f"-X auto.offset.reset={reset} would apply to internal topics too, and skip records an "
                          "upstream task wrote before this one first committed; a new group starts at the beginning "
                          "of its inputs. To start it at their end, run `streamproc replay TARGET --to-latest` once "
                          "before its first run")
    level = overrides.get("isolation.level", "read_committed")
    if exactly_once and level != "read_committed":
        raise ConfigError(f"-X isolation.level={level} would read records of aborted transactions; "
                          "--guarantee exactly-once needs read_committed")
    conf = _base(bootstrap, client_id, overrides)
    conf.update({
        "group.id": group_id,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "range",
        "enable.partition.eof": "false",
        **_READ_COMMITTED,
        **_FETCH_QUEUE_BACKOFF,
    })
    conf.update({k: v for k, v in overrides.items() if not k.startswith(_PRODUCER_ONLY)})
    conf.update(_PROTECTED_CONSUMER)
    if str(conf.get("group.protocol", "classic")).lower() == "consumer":
        conf.pop("partition.assignment.strategy", None)  # KIP-848: the broker assigns (group.remote.assignor)
    return conf


def restore_consumer_config(bootstrap: str, group_id: str, overrides: Mapping[str, Any], client_id: str,
                            exactly_once: bool = False) -> dict[str, Any]:
    """Assign-only (never joins or commits for the group); reports EOF so "caught up" can be judged.
    ``group_id``: ``Names.restore_group()``."""
    conf = consumer_config(bootstrap, group_id, overrides, client_id + "-restore", exactly_once)
    conf.update({"enable.partition.eof": "true", "auto.offset.reset": "earliest"})
    return conf


def transaction_timeout_ms(commit_interval: float) -> int:
    """How long the broker lets a transaction stay open: two commit intervals and 10 s to spare.

    A live worker's transaction lasts about one commit interval, plus a batch and a checkpoint; one
    that outlives the timeout is aborted by the broker and its worker restarts (fenced). A crashed
    worker's transaction holds back read_committed readers of what it wrote until a restarted worker
    takes its transactional id over, or else for that long: hence not librdkafka's default of 60 s
    (Kafka Streams uses 10 s, with 100 ms commits).
    """
    return int((10.0 + 2 * commit_interval) * 1000)


def producer_config(bootstrap: str, overrides: Mapping[str, Any], client_id: str,
                    transactional_id: str | None = None, transaction_timeout: int | None = None) -> dict[str, Any]:
    """With ``transactional_id``, a transactional producer whose transactions time out after
    ``transaction_timeout`` ms (unless -X transaction.timeout.ms says otherwise)."""
    if "transactional.id" in overrides:
        raise ConfigError("-X transactional.id: streamproc gives each worker its own (leased in the state "
                          "directory); run with --guarantee exactly-once for transactions")
    conf = _base(bootstrap, client_id, overrides)
    conf.update({
        "enable.idempotence": "true",
        "acks": "all",
        "linger.ms": "5",
        "partitioner": "murmur2_random",
        "queue.buffering.max.messages": "500000",
    })
    if transactional_id is not None:
        conf["transactional.id"] = transactional_id
        if transaction_timeout is not None:
            conf["transaction.timeout.ms"] = str(transaction_timeout)
    conf.update({k: v for k, v in overrides.items() if not k.startswith(_CONSUMER_ONLY)})
    return conf


def admin_config(bootstrap: str, overrides: Mapping[str, Any], client_id: str) -> dict[str, Any]:
    conf = _base(bootstrap, client_id, overrides)
    conf.update({k: v for k, v in overrides.items() if not k.startswith(_CONSUMER_ONLY + _PRODUCER_ONLY)})
    return conf
