"""Unit-testing a topology without a broker.

    driver = TopologyTestDriver(topology, partitions=2)
    driver.send("sentences", "the quick fox")
    assert driver.state("counts", "fox") == 1
    assert [r.value for r in driver.output("word-counts")][-1] == {"word": "fox", "count": 1}

The driver runs the real tasks, routing, stores (RocksDB in a temporary directory) and
checkpoints; only Kafka is replaced by in-memory topics. Internal topics are drained after each
``send``, so a call returns when the record and everything it caused has been processed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import murmur2

from streamproc.kafka.sink import KafkaSink
from streamproc.plan import Plan
from streamproc.runtime.checkpoint import Checkpointer
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy, OnError
from streamproc.runtime.task import Task
from streamproc.serde.base import Headers, SerdeContext
from streamproc.state.changelog import TopicPartition
from streamproc.state.partition import MISSING
from streamproc.state.store import key_prefix
from streamproc.topology import Topology


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java-compatible murmur2), as librdkafka's murmur2_random does for keys."""
    return int(murmur2(key, partitions))


class MemoryMessage:
    """The confluent_kafka.Message methods the runtime reads."""

    __slots__ = ("_headers", "_key", "_offset", "_partition", "_timestamp", "_topic", "_value")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                 headers: Headers | None, timestamp: int) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._headers, self._timestamp = key, value, headers, timestamp

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

    def error(self) -> None:
        return None


#: Tells an omitted ``callback`` argument from an explicit None (confluent-kafka treats them differently).
_UNSET: Any = object()


class MemoryProducer:
    """Appends to in-memory topics; delivery reports are served on poll/flush, as librdkafka does."""

    def __init__(self, partitions: Callable[[str], int], default_timestamp: Callable[[], int]) -> None:
        self.topics: dict[str, dict[int, list[MemoryMessage]]] = {}
        self._partitions = partitions
        self._now = default_timestamp
        self._reports: list[tuple[Callable[[Any, Any], None], MemoryMessage]] = []
        #: Set by a test to make the next flush fail (a broker that does not acknowledge).
        self.fail_flush = False

    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1, callback: Any = _UNSET,
                on_delivery: Any = None, timestamp: int = 0, headers: Any = None) -> None:
        count = self._partitions(topic)
        if partition < 0:
            partition = murmur2_partition(key, count) if key is not None else 0
        log = self.topics.setdefault(topic, {}).setdefault(partition, [])
        msg = MemoryMessage(topic, partition, len(log), key, value, headers, timestamp or self._now())
        log.append(msg)
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


@dataclass(frozen=True)
class OutputRecord:
    key: Any
    value: Any
    partition: int
    offset: int
    headers: Headers | None
    timestamp: int


class TopologyTestDriver:
    def __init__(
        self,
        topology: Topology,
        partitions: int | Mapping[str, int] = 1,
        *,
        on_error: OnError = "fail",
        state_dir: Path | None = None,
    ) -> None:
        self.plan: Plan = topology.build()
        inputs = self.plan.external_topics()
        given = {t: partitions for t in inputs} if isinstance(partitions, int) else dict(partitions)
        self.partitions = self.plan.resolve_partitions(given)
        self._own_dir = state_dir is None
        self.state_dir = Path(tempfile.mkdtemp(prefix="streamproc-test-")) if state_dir is None else state_dir
        self._clock = 0
        self.producer = MemoryProducer(lambda t: self.partitions.get(t, 1), self._tick)
        self.output_ = Output(self.producer)
        self.policy = ErrorPolicy(on_error, self.plan.names.dlq(), self.output_)
        self.committed: dict[TopicPartition, int] = {}
        self.checkpointer = Checkpointer(self.output_, self.committed.update)
        self.tasks: dict[tuple[int, int], Task] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._pending: deque[TopicPartition] = deque()
        self._sub_of_topic = self.plan.subtopology_of_topic()

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _task(self, topic: str, partition: int) -> Task:
        sub = self._sub_of_topic[topic]
        key = (sub.id, partition)
        task = self.tasks.get(key)
        if task is None:
            task = Task(self.plan, sub, partition, self.partitions, self.output_, self.policy, self.state_dir)
            task.load_marks()
            self.tasks[key] = task
        return task

    def send(self, topic: str, value: Any, key: Any = None, *, partition: int | None = None,
             headers: Headers | None = None, timestamp: int | None = None, raw: bool = False) -> None:
        """Produce a record to an input topic (encoded with the spout's serdes unless ``raw``) and process
        it and everything it causes downstream."""
        if topic not in self.plan.external_topics():
            raise ValueError(f"{topic!r} is not an input topic of {self.plan.name!r}: {self.plan.external_topics()}")
        spout = next(s for s in self.plan.spouts.values() if topic in s.topics)
        raw_key = key if raw else spout.key_serde.serialize(key, SerdeContext(topic, True))
        raw_value = value if raw else spout.value_serde.serialize(value, SerdeContext(topic, False))
        target = partition
        if target is None:
            target = murmur2_partition(raw_key, self.partitions[topic]) if raw_key is not None else 0
        self.producer.produce(topic, raw_value, raw_key, target, headers=headers, timestamp=timestamp or 0)
        self._run(topic, target)
        self.drain()

    def drain(self) -> None:
        """Process every record waiting on internal topics (send() does this; a test that appends to an
        internal topic itself, to simulate a replay, calls it)."""
        while self._drain_internal():
            pass

    def _run(self, topic: str, partition: int) -> None:
        log = self.producer.topics.get(topic, {}).get(partition, [])
        position = self._positions.get((topic, partition), 0)
        task = self._task(topic, partition)
        reader = task.readers[topic]
        for msg in log[position:]:
            self._positions[(topic, partition)] = msg.offset() + 1
            reader.read(msg)

    def _drain_internal(self) -> bool:
        progressed = False
        for topic in self.plan.internal_topics:
            for partition, log in self.producer.topics.get(topic, {}).items():
                if self._positions.get((topic, partition), 0) < len(log):
                    self._run(topic, partition)
                    progressed = True
        return progressed

    def checkpoint(self) -> None:
        """Run a real checkpoint: changelog records, flush, commit, RocksDB write."""
        self.checkpointer.run(list(self.tasks.values()))

    # --- reading results -------------------------------------------------------------------------
    def records(self, topic: str) -> list[MemoryMessage]:
        """Raw records of any topic (input, internal, changelog, output, DLQ), partition by partition."""
        partitions = self.producer.topics.get(topic, {})
        return [m for p in sorted(partitions) for m in partitions[p]]

    def output(self, topic: str) -> list[OutputRecord]:
        """Records a KafkaSink wrote to ``topic``, decoded with its serdes."""
        sink = next((s.bolt for s in self.plan.bolts.values()
                     if isinstance(s.bolt, KafkaSink) and s.bolt.topic == topic), None)
        if sink is None:
            raise ValueError(f"no KafkaSink writes {topic!r} in {self.plan.name!r}")
        kctx, vctx = SerdeContext(topic, True), SerdeContext(topic, False)
        return [
            OutputRecord(sink.key_serde.deserialize(m.key(), kctx), sink.value_serde.deserialize(m.value(), vctx),
                         m.partition(), m.offset(), m.headers(), m.timestamp()[1])
            for m in self.records(topic)
        ]

    def dead_letters(self) -> list[MemoryMessage]:
        return self.records(self.plan.names.dlq())

    def state(self, store: str, key: Any, default: Any = None) -> Any:
        """The value of ``key`` in ``store``, from whichever partition holds it (uncommitted writes included)."""
        spec = self.plan.stores[store][1]
        storage_key = key_prefix(spec.key_serde.serialize(key, SerdeContext(store, True)) or b"")
        for task in self.tasks.values():
            part = task.stores.get(store)
            if part is not None:
                value = part.get(storage_key)
                if value is not MISSING:
                    return value
        return default

    def close(self) -> None:
        for task in self.tasks.values():
            task.close()
        self.tasks.clear()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> TopologyTestDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
