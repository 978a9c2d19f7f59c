"""Kafka in memory: topics, a producer and consumers with the parts of confluent-kafka's API the runtime uses.

The test driver (streamproc.testing) runs the worker's own task manager, dispatch loop, restore
and checkpoint over these, so that a driver test exercises the same code as a worker, with no
broker. The behaviour copied from Kafka is the part the runtime relies on: per-partition logs
with offsets, committed offsets per group, paused partitions, seeks, partition EOF events for a
consumer that asks for them, and delivery reports served on ``poll``/``flush``. A test can also
make a fetch skip offsets once (``hide_once``), as the embedded broker sometimes does, to show
that the offset-gap handling runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import OFFSET_INVALID, KafkaError, KafkaException, TopicPartition, murmur2

from streamproc.serde.base import Headers
from streamproc.state.position import TP


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java-compatible murmur2), as librdkafka's murmur2_random does for keys."""
    return int(murmur2(key, partitions))


class MemoryMessage:
    """The confluent_kafka.Message methods the runtime reads."""

    __slots__ = ("_error", "_headers", "_key", "_offset", "_partition", "_timestamp", "_topic", "_value")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                 headers: Headers | None, timestamp: int, error: KafkaError | None = None) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._headers, self._timestamp = key, value, headers, timestamp
        self._error = error

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Headers | None:
        return list(self._headers) if self._headers else None

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp)

    def error(self) -> KafkaError | None:
        return self._error

    def __repr__(self) -> str:
        where = f"{self._topic}[{self._partition}]@{self._offset}"
        return f"MemoryMessage({where}, key={self._key!r}, value={self._value!r})"


class MemoryBroker:
    """Topics as lists of messages, and the committed offsets of each group."""

    def __init__(self, default_partitions: Callable[[str], int] = lambda topic: 1) -> None:
        self.topics: dict[str, list[list[MemoryMessage]]] = {}
        self.committed: dict[str, dict[TP, int]] = {}
        #: Errors the next offset commits fail with, one per commit (e.g. a rebalance racing the commit).
        self.refuse_commits: list[KafkaError] = []
        self._default_partitions = default_partitions
        #: Offsets the next fetch that reaches them leaves out (then forgotten).
        self._hidden: dict[TP, set[int]] = {}
        self._clock = 0

    def create(self, topic: str, partitions: int) -> None:
        if topic not in self.topics:
            self.topics[topic] = [[] for _ in range(partitions)]

    def partitions(self, topic: str) -> int:
        if topic not in self.topics:
            self.create(topic, self._default_partitions(topic))
        return len(self.topics[topic])

    def log(self, topic: str, partition: int) -> list[MemoryMessage]:
        self.partitions(topic)
        return self.topics[topic][partition]

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
               headers: Headers | None, timestamp: int) -> MemoryMessage:
        """Write a record; a timestamp of 0 means 'now' (a clock that ticks once per record)."""
        if partition < 0:
            count = self.partitions(topic)
            partition = murmur2_partition(key, count) if key is not None else 0
        log = self.log(topic, partition)
        if not timestamp:
            self._clock += 1
            timestamp = self._clock
        msg = MemoryMessage(topic, partition, len(log), key, value, headers, timestamp)
        log.append(msg)
        return msg

    def hide_once(self, topic: str, partition: int, offsets: Iterable[int]) -> None:
        """Make the next fetch that reaches ``offsets`` skip them (the embedded broker's fetch race)."""
        self._hidden.setdefault((topic, partition), set()).update(offsets)

    def fetch(self, topic: str, partition: int, start: int, limit: int) -> list[MemoryMessage]:
        log = self.log(topic, partition)
        messages = log[start:start + limit]
        hidden = self._hidden.get((topic, partition))
        if hidden and messages:
            skipped = {m.offset() for m in messages} & hidden
            if skipped:
                hidden -= skipped
                if not hidden:
                    del self._hidden[(topic, partition)]
                messages = [m for m in messages if m.offset() not in skipped]
        return messages


#: Tells an omitted ``callback`` argument from an explicit None (confluent-kafka treats them differently).
_UNSET: Any = object()


class MemoryProducer:
    """Appends to a MemoryBroker; delivery reports are served on poll/flush, as librdkafka does."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self._reports: list[tuple[Callable[[Any, Any], None], MemoryMessage]] = []
        #: Set by a test to make the next flush fail (a broker that does not acknowledge).
        self.fail_flush = False

    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1, callback: Any = _UNSET,
                on_delivery: Any = None, timestamp: int = 0, headers: Any = None) -> None:
        msg = self.broker.append(topic, partition, key, value, headers, timestamp or 0)
        # As confluent-kafka: a ``callback`` argument, even None, wins over ``on_delivery``.
        callback = on_delivery if callback is _UNSET else callback
        if callback is not None:
            self._reports.append((callback, msg))

    def poll(self, timeout: float = 0.0) -> int:
        reports, self._reports = self._reports, []
        for callback, msg in reports:
            callback(None, msg)
        return len(reports)

    def flush(self, timeout: float = 0.0) -> int:
        if self.fail_flush:
            return len(self._reports) or 1
        self.poll()
        return 0


class MemoryConsumer:
    """An assign-only consumer (the driver plays the group coordinator) of a MemoryBroker."""

    def __init__(self, broker: MemoryBroker, group: str | None = None, *, partition_eof: bool = False) -> None:
        self.broker = broker
        self.group = group
        self._eof = partition_eof
        #: Next offset to fetch per assigned partition, in assignment order.
        self._positions: dict[TP, int] = {}
        self._paused: set[TP] = set()
        #: Partitions whose EOF was reported at the position they are at.
        self._at_eof: dict[TP, int] = {}

    # --- assignment -------------------------------------------------------------------------------
    def assign(self, partitions: list[TopicPartition]) -> None:
        self._positions.clear()
        self._paused.clear()
        self.incremental_assign(partitions)

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            start = tp.offset
            if start < 0:
                start = self.broker.committed.get(self.group or "", {}).get(key, 0)
            self._positions[key] = start
            self._at_eof.pop(key, None)

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            key = (tp.topic, tp.partition)
            self._positions.pop(key, None)
            self._paused.discard(key)
            self._at_eof.pop(key, None)

    def unassign(self) -> None:
        self._positions.clear()
        self._paused.clear()
        self._at_eof.clear()

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self._positions]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self._paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: list[TopicPartition]) -> None:
        self._paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def seek(self, tp: TopicPartition) -> None:
        key = (tp.topic, tp.partition)
        if key not in self._positions:
            raise KeyError(f"seek on {tp.topic}[{tp.partition}], which is not assigned")
        self._positions[key] = tp.offset
        self._at_eof.pop(key, None)

    # --- reading ----------------------------------------------------------------------------------
    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[MemoryMessage]:
        """Up to ``num_messages`` messages, in runs of one partition, never waiting."""
        out: list[MemoryMessage] = []
        for key, position in list(self._positions.items()):
            if len(out) >= num_messages:
                break
            if key in self._paused:
                continue
            fetched = self.broker.fetch(key[0], key[1], position, num_messages - len(out))
            if fetched:
                out.extend(fetched)
                self._positions[key] = fetched[-1].offset() + 1
                continue
            end = len(self.broker.log(*key))
            if self._eof and position >= end and self._at_eof.get(key) != position:
                self._at_eof[key] = position
                out.append(MemoryMessage(key[0], key[1], position, None, None, None, 0,
                                         KafkaError(KafkaError._PARTITION_EOF)))
        return out

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float | None = None,
                              cached: bool = False) -> tuple[int, int]:
        return 0, len(self.broker.log(tp.topic, tp.partition))

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> None:
        return None

    # --- offsets ----------------------------------------------------------------------------------
    def committed(self, partitions: list[TopicPartition], timeout: float | None = None) -> list[TopicPartition]:
        offsets = self.broker.committed.get(self.group or "", {})
        return [TopicPartition(tp.topic, tp.partition, offsets.get((tp.topic, tp.partition), OFFSET_INVALID))
                for tp in partitions]

    def commit(self, offsets: list[TopicPartition] | None = None, asynchronous: bool = True) -> None:
        if self.group is None:
            raise RuntimeError("a consumer without a group cannot commit")
        if self.broker.refuse_commits:
            raise KafkaException(self.broker.refuse_commits.pop(0))
        group = self.broker.committed.setdefault(self.group, {})
        for tp in offsets or []:
            group[(tp.topic, tp.partition)] = tp.offset

    def consumer_group_metadata(self) -> None:
        return None

    def close(self) -> None:
        self.unassign()
