"""Unit-testing a topology without a broker.

    with TopologyTestDriver(topology, partitions=2) as driver:
        driver.send("sentences", "the quick fox")
        assert driver.state("counts", "fox") == 1
        assert driver.output("word-counts")[-1].value == {"word": "fox", "count": 1}

The driver runs a worker's own code: the task manager (streamproc.runtime.tasks), the dispatch
loop, restores from the changelog, and real checkpoints, over Kafka in memory
(streamproc.kafka.memory) and real stores (RocksDB in a temporary directory). ``send`` returns
when the record and everything it caused downstream (through internal topics too) has been
processed. ``checkpoint`` commits, ``crash`` drops everything not committed and restores the tasks
from their changelogs, as a SIGKILL and a restart would.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from streamproc.errors import StreamprocError
from streamproc.kafka.continuity import ContiguousConsumer
from streamproc.kafka.memory import MemoryBroker, MemoryConsumer, MemoryMessage, MemoryProducer, murmur2_partition
from streamproc.kafka.sink import KafkaSink
from streamproc.metrics import RuntimeMetrics, Tally
from streamproc.plan import Plan
from streamproc.runtime.checkpoint import Checkpointer
from streamproc.runtime.clock import TimeConfig, system_wall_ms
from streamproc.runtime.commit import commit_offsets
from streamproc.runtime.dispatch import Dispatcher
from streamproc.runtime.output import Output
from streamproc.runtime.policy import (
    H_COMPONENT,
    H_ERROR,
    H_ERROR_TYPE,
    H_OFFSET,
    H_PARTITION,
    H_TOPIC,
    ErrorPolicy,
    OnError,
    StopProcessing,
)
from streamproc.runtime.task import Task
from streamproc.runtime.tasks import TaskManager
from streamproc.serde.base import Headers, SerdeContext
from streamproc.state.partition import MISSING
from streamproc.state.position import TP
from streamproc.state.recovery import ChangelogRestorer
from streamproc.state.store import key_prefix
from streamproc.topology import Topology

__all__ = [
    "DeadLetter",
    "MemoryMessage",
    "MemoryProducer",
    "OutputRecord",
    "RecordFailedError",
    "TopologyTestDriver",
    "murmur2_partition",
]

#: Messages handed to the dispatch loop per call, as a worker's consume() batch.
BATCH = 1000


class RecordFailedError(StreamprocError):
    """A record failed under ``on_error="fail"``: what a worker would stop on, without committing it."""

    def __init__(self, stop: StopProcessing) -> None:
        super().__init__(f"{stop.error} while handling {stop.topic}[{stop.partition}]@{stop.offset} (the driver runs "
                         f"with on_error='fail'; give TopologyTestDriver(on_error='dlq' or 'skip') to route around it)")
        self.component = stop.error.component
        self.cause = stop.error.cause
        self.topic, self.partition, self.offset = stop.topic, stop.partition, stop.offset


@dataclass(frozen=True)
class OutputRecord:
    """A record a KafkaSink wrote, decoded with the sink's serdes."""

    key: Any
    value: Any
    partition: int
    offset: int
    headers: Headers | None
    timestamp: int


@dataclass(frozen=True)
class DeadLetter:
    """A dead letter: the failed input's raw key and value, and the error headers decoded."""

    key: bytes | None
    value: bytes | None
    error: str
    error_type: str
    component: str
    topic: str
    partition: int
    offset: int
    timestamp: int
    #: The original record's own headers (the error headers are decoded into the fields above).
    headers: Headers | None


_DLQ_HEADERS = {H_ERROR, H_ERROR_TYPE, H_COMPONENT, H_TOPIC, H_PARTITION, H_OFFSET, "streamproc.failed.at"}


class TopologyTestDriver:
    """Runs a topology in this process over Kafka in memory, with a worker's own task, dispatch, restore and
    checkpoint code; see the module's documentation for an example."""

    def __init__(
        self,
        topology: Topology,
        partitions: int | Mapping[str, int] = 1,
        *,
        on_error: OnError = "fail",
        state_dir: Path | None = None,
        broker: MemoryBroker | None = None,
        wall_time: int | None = None,
        max_future_skew: float = 86400.0,
        idle_advance: float | None = None,
    ) -> None:
        """``partitions``: the partition count of every input topic, or per topic. ``on_error``: the error
        policy, as ``streamproc run --on-error``. ``state_dir``: where stores live (default: a temporary
        directory removed by ``close``). ``broker``: the in-memory Kafka to use (default: a new one).
        ``wall_time``: the driver's wall clock at the start, in epoch ms (default: now); it moves only with
        ``advance_time``. ``max_future_skew``, ``idle_advance``: seconds, as ``streamproc run``'s options."""
        self.plan: Plan = topology.build()
        inputs = self.plan.external_topics()
        given = {t: partitions for t in inputs} if isinstance(partitions, int) else dict(partitions)
        self.partitions = self.plan.resolve_partitions(given)
        self._own_dir = state_dir is None
        self.state_dir = Path(tempfile.mkdtemp(prefix="streamproc-test-")) if state_dir is None else state_dir
        self.broker = broker if broker is not None else MemoryBroker(lambda t: self.partitions.get(t, 1))
        for topic, count in self.partitions.items():
            self.broker.create(topic, count)
        self.producer = MemoryProducer(self.broker)
        self.output_ = Output(self.producer)
        self.policy = ErrorPolicy(on_error, self.plan.names.dlq(), self.output_)
        self._consumer = MemoryConsumer(self.broker, self.plan.names.app)
        self.checkpointer = Checkpointer(self.output_, self._commit)
        self._metrics = RuntimeMetrics(self.plan.name)
        self.wall_time = system_wall_ms() if wall_time is None else wall_time
        self._time = TimeConfig(lambda: self.wall_time, round(max_future_skew * 1000),
                                None if idle_advance is None else round(idle_advance * 1000),
                                self._metrics.future_timestamp)
        self._start()

    def _start(self) -> None:
        """Assign every partition, as a worker that is the group's only member, and restore the stores."""
        self._restore_consumer = MemoryConsumer(self.broker, partition_eof=True)
        # The in-memory broker can skip records in a fetch as the embedded one does (MemoryBroker.hide_once),
        # so the driver reads through the same adapter as a worker on that broker.
        self._fetch = ContiguousConsumer(self._consumer)
        self.manager = TaskManager(self.plan, self.partitions, self.output_, self.policy, self.state_dir,
                                   ChangelogRestorer(self._restore_consumer), contiguous=self._fetch,
                                   time=self._time)
        self._dispatcher = Dispatcher(self.manager.readers, {t: Tally() for t in self.plan.source_topics()},
                                      self._metrics)
        tps = [TopicPartition(t, p) for t in self.plan.source_topics() for p in range(self.partitions[t])]
        self._consumer.assign(tps)
        self._consumer.pause(tps)
        committed = {(tp.topic, tp.partition): tp.offset for tp in self._consumer.committed(tps) if tp.offset >= 0}
        ready = self.manager.assign([(tp.topic, tp.partition) for tp in tps], committed)
        while self.manager.restoring:
            ready += self.manager.restore_step(0)
        self._consumer.resume([TopicPartition(t, p) for t, p in ready])

    def _commit(self, offsets: dict[TP, int]) -> None:
        commit_offsets(self._consumer, offsets)

    @property
    def metrics(self) -> RuntimeMetrics:
        """The metrics the driver's records and checkpoints update, as a worker's (``metrics.registry`` reads them)."""
        return self._metrics

    @property
    def committed(self) -> dict[TP, int]:
        """The group's committed offsets: what a restarted worker would resume from."""
        return dict(self.broker.committed.get(self.plan.names.app, {}))

    @property
    def tasks(self) -> dict[tuple[int, int], Task]:
        """The open tasks by (sub-topology id, partition)."""
        return {(t.sub.id, t.partition): t for t in self.manager.tasks()}

    # --- feeding --------------------------------------------------------------------------------
    def send(self, topic: str, value: Any, key: Any = None, *, partition: int | None = None,
             headers: Headers | None = None, timestamp: int | None = None, raw: bool = False) -> None:
        """Produce one record to an input topic and process it and everything it causes downstream.

        ``value``/``key``: encoded with the spout's serdes, unless ``raw=True``: then both must be bytes
        (or None) and are written as they are, e.g. to test a record the serde cannot decode.
        ``partition``: the input partition (default: the key's, by Kafka's murmur2 partitioner; 0 without
        a key). ``headers``: a list of (name, bytes) pairs. ``timestamp``: the record's timestamp in
        milliseconds (default: a clock that ticks once per record).
        Raises RecordFailedError when the record fails under ``on_error="fail"``.
        """
        if topic not in self.plan.external_topics():
            raise ValueError(f"{topic!r} is not an input topic of {self.plan.name!r}: {self.plan.external_topics()}")
        spout = next(s for s in self.plan.spouts.values() if topic in s.topics)
        if raw:
            for name, given in (("key", key), ("value", value)):
                if given is not None and not isinstance(given, bytes):
                    raise TypeError(f"send(..., raw=True) writes bytes as they are; {name} is {type(given).__name__}")
            raw_key, raw_value = key, value
        else:
            try:
                raw_key = spout.key_serde.serialize(key, SerdeContext(topic, True))
                raw_value = spout.value_serde.serialize(value, SerdeContext(topic, False))
            except Exception as exc:
                hint = " (to send bytes as they are, pass raw=True)" if isinstance(value, bytes) or \
                    isinstance(key, bytes) else ""
                raise type(exc)(f"{exc}{hint}") from exc
        target = partition
        if target is None:
            target = murmur2_partition(raw_key, self.partitions[topic]) if raw_key is not None else 0
        self.producer.produce(topic, raw_value, raw_key, target, headers=headers, timestamp=timestamp or 0)
        self.process_pending()

    def process_pending(self) -> None:
        """Process every record not yet read, on input and internal topics, as a worker's poll loop would
        (``send`` calls it; a test that writes to a topic itself, e.g. to simulate a replay, calls it)."""
        consume, admit, dispatch = self._consumer.consume, self._fetch.admit, self._dispatcher.dispatch
        try:
            while True:
                while messages := consume(BATCH, 0):  # a batch the adapter dropped all of is not the end
                    dispatch(admit(messages))
                self.manager.on_wall(self.wall_time)  # as a worker's loop after each batch
                messages = consume(BATCH, 0)  # what a tick or timer emitted to an internal topic
                if not messages:
                    break
                dispatch(admit(messages))
        except StopProcessing as stop:
            raise RecordFailedError(stop) from stop.error

    drain = process_pending

    def advance_time(self, seconds: float) -> None:
        """Move the driver's wall clock forward and run what became due on it (ticks, wall-clock timers, idle
        advance), as a worker's loop would, then process what that emitted to internal topics. A tick or timer
        due several times over fires once per call, as in a worker whose loop was busy that long."""
        if seconds < 0:
            raise ValueError("the wall clock does not go back")
        self.wall_time += round(seconds * 1000)
        self.process_pending()

    def stream_time(self, partition: int = 0, sub_topology: int | None = None) -> int:
        """The stream time (ms) of the task of ``partition`` (of the first sub-topology unless given); -1 before
        it has seen a record."""
        for (sub, part), task in sorted(self.tasks.items()):
            if part == partition and (sub_topology is None or sub == sub_topology):
                return task.time.clock.time
        raise KeyError(f"no task for partition {partition}")

    def checkpoint(self) -> None:
        """Run a real checkpoint: bolts' flush(), changelog records, producer flush, offset commit, store write."""
        result = self.checkpointer.run(self.manager.running())
        for store, count in result.expired.items():
            self.metrics.expired(self.plan.stores[store][0], store, count)
        self.process_pending()  # what flush() emitted to internal topics

    def crash(self, lose_state: bool = False) -> None:
        """Drop everything not committed, as a SIGKILL would, and restart: tasks are reopened from their
        local stores (none with ``lose_state=True``, as on a new machine) and restored from the
        changelogs, and reading resumes at the committed offsets. Records already written stay written,
        as they do in Kafka: outputs after the last checkpoint are written again (at-least-once)."""
        self.manager.lose([(t, p) for t in self.plan.source_topics() for p in range(self.partitions[t])])
        self._consumer.unassign()
        self._restore_consumer.close()
        if lose_state:
            for child in self.state_dir.iterdir():
                shutil.rmtree(child, ignore_errors=True)
        self._start()
        self.process_pending()

    # --- reading results -------------------------------------------------------------------------
    def records(self, topic: str) -> list[MemoryMessage]:
        """Raw records of any topic (input, internal, changelog, output, DLQ), partition by partition."""
        return [m for log in self.broker.topics.get(topic, []) for m in log]

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

    def dead_letters(self) -> list[DeadLetter]:
        """What ``on_error="dlq"`` sent to the dead-letter topic, oldest first."""
        letters = []
        for m in self.records(self.plan.names.dlq()):
            found = {name: (value or b"").decode(errors="replace") for name, value in m.headers() or []
                     if name in _DLQ_HEADERS}
            own = [(name, value) for name, value in m.headers() or [] if name not in _DLQ_HEADERS]
            letters.append(DeadLetter(m.key(), m.value(), found.get(H_ERROR, ""), found.get(H_ERROR_TYPE, ""),
                                      found.get(H_COMPONENT, ""), found.get(H_TOPIC, ""),
                                      int(found.get(H_PARTITION, -1)), int(found.get(H_OFFSET, -1)),
                                      m.timestamp()[1], own or None))
        return letters

    def state(self, store: str, key: Any, default: Any = None) -> Any:
        """The value of ``key`` in ``store``, from whichever partition holds it (uncommitted writes included)."""
        if store not in self.plan.stores:
            raise KeyError(f"{self.plan.name!r} has no store {store!r}; stores: {sorted(self.plan.stores)}")
        spec = self.plan.stores[store][1]
        storage_key = key_prefix(spec.key_serde.serialize(key, SerdeContext(store, True)) or b"")
        for task in self.manager.tasks():
            part = task.stores.get(store)
            if part is not None:
                value = part.get(storage_key)
                if value is not MISSING:
                    return value
        return default

    def close(self) -> None:
        """Close every task (bolts' teardown(), stores) and remove the temporary state directory."""
        self.manager.close()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> TopologyTestDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
