"""The worker's read path on a broker whose fetches can skip records: the consumer adapter
(streamproc.kafka.continuity.ContiguousConsumer) in front of the Dispatcher. Every message reaches its
partition's reader once, in order, and a fetch that skipped offsets of a contiguous internal topic is
read again rather than believed.

The unit tests feed batches by hand; the integration tests read the embedded broker with a real
consumer: real gaps (transaction markers) and a simulated race (a batch with its first messages
hidden, as a broker answering with a later producer's batch would look).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any, cast

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streamproc.components import Tuple
from streamproc.kafka.continuity import ContiguousConsumer
from streamproc.kafka.memory import MemoryMessage
from streamproc.metrics import RuntimeMetrics, Tally
from streamproc.runtime.dispatch import Dispatcher
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy
from streamproc.runtime.readers import InternalReader
from streamproc.serde.json import JsonSerde
from tests.support.kafka import create_topic, unique, wait_for


class SeekRecorder:
    def __init__(self) -> None:
        self.seeks: list[tuple[str, int, int]] = []

    def seek(self, tp: Any) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))


def gap_errors(metrics: RuntimeMetrics) -> float:
    value = metrics.registry.get_sample_value(
        "streamproc_errors_total", {"topology": "t", "component": "consumer", "type": "OFFSET_GAP"})
    return value or 0.0


class Harness:
    """A dispatcher over internal readers that record the offsets they deliver."""

    def __init__(self, consumer: Any, topic: str, partitions: int, contiguous: bool = True,
                 start: int | None = None) -> None:
        self.metrics = RuntimeMetrics("t")
        self.tally = Tally()
        self.routes: dict[tuple[str, int], Any] = {}
        self.adapter = ContiguousConsumer(consumer, lambda *gap: self.metrics.error("consumer", "OFFSET_GAP"))
        self.dispatcher = Dispatcher(self.routes, {topic: self.tally}, self.metrics)
        self.delivered: dict[int, list[int]] = {p: [] for p in range(partitions)}
        self.readers: dict[int, InternalReader] = {}
        policy = ErrorPolicy("fail", "t-dlq", cast(Output, None))
        for p in range(partitions):
            def deliver(tup: Tuple, into: list[int] = self.delivered[p]) -> None:
                into.append(tup.offset)

            reader = InternalReader(topic, p, policy, deliver, {b"split/default": ("split", "default", JsonSerde())})
            if contiguous:
                self.adapter.expect(topic, p, start)
            self.readers[p] = reader
            self.routes[(topic, p)] = reader.read

    def dispatch(self, messages: list[Any]) -> None:
        self.dispatcher.dispatch(self.adapter.admit(messages))


def batch(*spec: tuple[int, int]) -> list[Any]:
    return [MemoryMessage("rep", p, o, b'"k"', str(o).encode(), None, 0) for p, o in spec]


# --- unit ------------------------------------------------------------------------------------------
def test_contiguous_batches_reach_their_readers_in_order() -> None:
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 2, start=0)
    h.dispatch(batch((0, 0), (0, 1), (1, 0), (0, 2), (1, 1)))
    assert h.delivered == {0: [0, 1, 2], 1: [0, 1]}
    assert consumer.seeks == []
    assert h.tally.count == 5
    assert h.readers[0].next_offset == 3


def test_a_gap_is_read_again_and_the_partition_rest_of_the_batch_dropped() -> None:
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 2, start=0)
    h.dispatch(batch((0, 0), (0, 1), (0, 5), (0, 6), (1, 0), (0, 7), (1, 1)))
    assert consumer.seeks == [("rep", 0, 2)]
    assert h.delivered == {0: [0, 1], 1: [0, 1]}, "partition 1 goes on; partition 0 stops at the gap"
    assert h.readers[0].next_offset == 2

    # The consumer, sought back, delivers the missing records and what follows them.
    h.dispatch(batch((0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (0, 7)))
    assert h.delivered[0] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert h.tally.count == 10, "records consumed: the dropped ones count once, when they come again"
    assert gap_errors(h.metrics) == 0


def test_a_gap_that_comes_back_the_same_is_believed_and_counted() -> None:
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 1, start=0)
    h.dispatch(batch((0, 0), (0, 3), (0, 4)))
    h.dispatch(batch((0, 3), (0, 4)))  # read again from 1: offsets 1-2 are markers, say
    assert consumer.seeks == [("rep", 0, 1)]
    assert h.delivered[0] == [0, 3, 4]
    assert h.readers[0].next_offset == 5
    assert gap_errors(h.metrics) == 1


def test_the_first_message_after_an_assignment_is_checked_against_the_committed_offset() -> None:
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 1, start=40)
    h.dispatch(batch((0, 42),))
    assert consumer.seeks == [("rep", 0, 40)]
    assert h.delivered[0] == []


def test_without_a_committed_offset_the_first_message_sets_the_expectation() -> None:
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 1, start=None)
    h.dispatch(batch((0, 7), (0, 8)))
    assert h.delivered[0] == [7, 8]
    assert consumer.seeks == []


def test_readers_not_asked_for_contiguity_take_gaps_as_they_come() -> None:
    """Under exactly-once, transaction markers leave a gap after every transaction."""
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 1, contiguous=False)
    h.dispatch(batch((0, 0), (0, 2), (0, 4)))
    assert h.delivered[0] == [0, 2, 4]
    assert consumer.seeks == []


def test_a_forgotten_partition_forgets_the_gap_it_was_rereading() -> None:
    consumer = SeekRecorder()
    h = Harness(consumer, "rep", 1, start=0)
    h.dispatch(batch((0, 0), (0, 2)))  # offset 1 missing: read again
    h.adapter.forget([("rep", 0)])
    h.dispatch(batch((0, 2)))  # given up: no longer checked at all
    h.adapter.expect("rep", 0, 1)  # assigned again, resuming at 1
    h.dispatch(batch((0, 2)))  # the same gap, but not remembered: read again, not believed
    assert consumer.seeks == [("rep", 0, 1), ("rep", 0, 1)]
    assert h.delivered[0] == [0, 2]  # the unchecked delivery, and nothing after the second gap


# --- against the embedded broker -----------------------------------------------------------------
@pytest.fixture
def consumer(broker: str) -> Iterator[Consumer]:
    made = Consumer({"bootstrap.servers": broker, "group.id": unique("dispatch"), "enable.auto.commit": False,
                     "fetch.wait.max.ms": 10})
    yield made
    made.close()


def consume_until(consumer: Consumer, h: Harness, partition: int, count: int,
                  hide_first: int = 0) -> None:
    """Dispatch what the consumer delivers until ``count`` records reached the reader; with
    ``hide_first``, the first batch reaches the dispatcher without its first messages."""
    hidden = [hide_first]

    def step() -> bool:
        messages = consumer.consume(1000, 0.2)
        if hidden[0] and messages:
            messages, hidden[0] = messages[hidden[0]:], 0
        h.dispatch(messages)
        return len(h.delivered[partition]) >= count

    wait_for(step, 30, f"{count} records dispatched", interval=0)


@pytest.mark.integration
def test_a_batch_that_skipped_records_is_read_again_from_the_broker(broker: str, consumer: Consumer) -> None:
    topic = unique("rep")
    create_topic(broker, topic, 1)
    producer = Producer({"bootstrap.servers": broker})
    for i in range(50):
        producer.produce(topic, str(i).encode(), b'"k"', 0)
    assert producer.flush(30) == 0

    h = Harness(consumer, topic, 1, start=0)
    consumer.assign([TopicPartition(topic, 0, 0)])
    consume_until(consumer, h, 0, 50, hide_first=7)
    assert h.delivered[0] == list(range(50)), "every record once, in order"
    assert gap_errors(h.metrics) == 0


@pytest.mark.integration
def test_gaps_left_by_transaction_markers_are_read_twice_then_taken(broker: str, consumer: Consumer) -> None:
    topic = unique("rep")
    create_topic(broker, topic, 1)
    producer = Producer({"bootstrap.servers": broker, "transactional.id": unique("txn")})
    producer.init_transactions(30)
    for _ in range(3):
        producer.begin_transaction()
        for i in range(10):
            producer.produce(topic, str(i).encode(), b'"k"', 0)
        producer.commit_transaction(30)

    h = Harness(consumer, topic, 1, start=0)
    consumer.assign([TopicPartition(topic, 0, 0)])
    consume_until(consumer, h, 0, 30)
    offsets = h.delivered[0]
    assert len(offsets) == len(set(offsets)) == 30, "every record once"
    assert offsets == sorted(offsets)
    gaps = sum(1 for a, b in pairwise(offsets) if b != a + 1)
    assert gaps == 2, "a commit marker after each of the first two transactions"
    assert gap_errors(h.metrics) == 2


class Denied:
    def __init__(self, code: int) -> None:
        self._code = code

    def code(self) -> int:
        return self._code

    def name(self) -> str:
        return "TOPIC_AUTHORIZATION_FAILED"

    def str(self) -> str:
        return "Broker: Topic authorization failed"

    def fatal(self) -> bool:
        return False


def test_a_denied_read_stops_the_worker_naming_the_topic_and_the_operation() -> None:
    from confluent_kafka import KafkaError

    from streamproc.errors import FatalError

    h = Harness(SeekRecorder(), "rep", 1)
    event = MemoryMessage("orders", 0, 0, None, None, None, 0, Denied(KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with pytest.raises(FatalError, match=r"denies this worker's user READ.* on topic 'orders'.*grant it"):
        h.dispatcher.dispatch([event])
