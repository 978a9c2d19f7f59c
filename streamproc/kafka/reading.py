"""Reading a partition's records outside the consumer group: from an offset to the end, or one record.

The end of a partition is judged the way restores judge it: the consumer reported partition EOF
*and* its position is at or past the end offset read when the read began. A broker may report a
high watermark below the true end (the embedded one does: README, "What the embedded broker does
differently"), and EOF alone may come before a slow fetch.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from streamproc.errors import ConfigError
from streamproc.kafka.clients import new_consumer
from streamproc.kafka.config import consumer_config

#: Records per fetch when scanning a whole partition.
SCAN_BATCH = 2_000
_POLL = 0.2


def reader(bootstrap: str, overrides: Mapping[str, Any], client_id: str) -> Consumer:
    """An assign-only consumer that never joins or commits for any group and reports partition EOF."""
    conf = consumer_config(bootstrap, f"streamproc-reader-{uuid.uuid4().hex[:8]}", overrides, client_id)
    conf.update({"enable.partition.eof": "true", "auto.offset.reset": "earliest"})
    return new_consumer(conf, "reader")


def watermarks(consumer: Consumer, topic: str, partition: int, timeout: float = 15.0) -> tuple[int, int]:
    """Low and high watermark as the broker's offset lookup reports them (the high one may be low)."""
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
    return int(low), int(high)


def true_watermarks(consumer: Consumer, topic: str, partition: int, timeout: float = 15.0) -> tuple[int, int]:
    """Low and high watermark, the high one confirmed by a fetch.

    A fetch response carries the partition's real high watermark, even on brokers whose offset
    lookup reports a stale one; one single-record fetch is cheap next to the damage of replaying
    or searching only part of a partition.
    """
    low, high = watermarks(consumer, topic, partition, timeout)
    if high > low:
        record_at_or_after(consumer, topic, partition, high - 1, timeout)
        _, fetched = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        high = max(high, int(fetched))
    return low, high


def scan(consumer: Consumer, topic: str, partition: int, start: int, timeout: float = 30.0) -> Iterator[Any]:
    """Every record of ``topic[partition]`` from ``start`` to the end, in order.

    ``timeout`` bounds the wait for the next fetch, not the whole scan; a partition that stops
    answering raises TimeoutError rather than hanging the command.
    """
    _, end = watermarks(consumer, topic, partition)
    consumer.assign([TopicPartition(topic, partition, start)])
    position = start
    at_eof = False
    idle_since = time.monotonic()
    try:
        while not (at_eof and position >= end):
            # A short wait per call: consume() returns early only for a full batch, not at partition EOF.
            messages = consumer.consume(SCAN_BATCH, _POLL)
            if not messages:
                if time.monotonic() - idle_since > timeout:
                    raise TimeoutError(f"no answer from {topic}[{partition}] within {timeout:.0f}s at offset "
                                       f"{position}")
                continue
            idle_since = time.monotonic()
            for msg in messages:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof = True
                        position = max(position, int(msg.offset() or 0))
                        continue
                    raise KafkaException(err)
                at_eof = False
                position = int(msg.offset() or 0) + 1
                yield msg
    finally:
        consumer.unassign()


def record_at_or_after(consumer: Consumer, topic: str, partition: int, offset: int, timeout: float = 15.0
                       ) -> Any | None:
    """The first record at ``offset`` or later (offsets can have gaps), or None past the last one."""
    consumer.assign([TopicPartition(topic, partition, offset)])
    try:
        while True:
            messages = consumer.consume(1, timeout)
            if not messages:
                raise TimeoutError(f"no answer from {topic}[{partition}] within {timeout:.0f}s at offset {offset}")
            msg = messages[0]
            err = msg.error()
            if err is None:
                return msg
            if err.code() == KafkaError._PARTITION_EOF:
                return None
            raise KafkaException(err)
    finally:
        consumer.unassign()


def committed_offsets(group: Consumer, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The committed offsets of ``group``'s consumer on ``partitions``; those it never committed are left out."""
    wanted = [TopicPartition(t, p) for t, p in partitions]
    if not wanted:
        return {}
    try:
        found = group.committed(wanted, timeout=15)
    except KafkaException as exc:
        raise ConfigError(f"cannot read the group's committed offsets: {exc.args[0]}") from exc
    return {(tp.topic, tp.partition): int(tp.offset) for tp in found if tp.offset is not None and tp.offset >= 0}
