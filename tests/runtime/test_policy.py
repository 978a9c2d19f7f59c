"""The error policy: every failed message is reported to the metrics hook, whatever the mode."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamproc.errors import CheckpointError, CorruptStateError, ProcessingError, ProducerFencedError, ServiceError
from streamproc.kafka.memory import MemoryBroker, MemoryMessage, MemoryProducer
from streamproc.runtime.output import Output
from streamproc.runtime.policy import ErrorPolicy, OnError, StopProcessing


@pytest.mark.parametrize("mode", ["fail", "dlq", "skip"])
def test_every_failure_reaches_the_hook(mode: OnError) -> None:
    producer = MemoryProducer(MemoryBroker())
    failures: list[tuple[str, ProcessingError]] = []
    policy = ErrorPolicy(mode, "t-dlq", Output(producer), lambda mode, error: failures.append((mode, error)))
    msg = MemoryMessage("in", 0, 7, b"k", b"v", None, 1)
    error = ProcessingError("bolt", ValueError("bad"))
    if mode == "fail":
        with pytest.raises(StopProcessing, match=r"in\[0\]@7"):
            policy.handle(error, msg)
    else:
        policy.handle(error, msg)
    assert failures == [(mode, error)]
    assert len(producer.broker.topics.get("t-dlq", [[]])[0]) == (1 if mode == "dlq" else 0)


@pytest.mark.parametrize("mode", ["fail", "dlq", "skip"])
def test_an_unreachable_service_is_not_the_messages_fault(mode: OnError) -> None:
    """A registry outage must not dead-letter or skip good messages: it stops the worker in every mode."""
    producer = MemoryProducer(MemoryBroker())
    failures: list[str] = []
    policy = ErrorPolicy(mode, "t-dlq", Output(producer), failures.append)
    msg = MemoryMessage("in", 0, 7, b"k", b"v", None, 1)
    with pytest.raises(ServiceError, match="registry down"):
        policy.handle(ProcessingError("in", ServiceError("registry down")), msg)
    assert failures == [] and producer.broker.topics == {}


@pytest.mark.parametrize("mode", ["fail", "dlq", "skip"])
def test_a_failed_producer_is_not_the_messages_fault(mode: OnError) -> None:
    """A transactional producer in error (fenced, its transaction failed) makes every send raise: the worker
    restarts (CheckpointError), rather than stop for good (fail) or dead-letter or skip good messages."""
    producer = MemoryProducer(MemoryBroker())
    policy = ErrorPolicy(mode, "t-dlq", Output(producer))
    msg = MemoryMessage("in", 0, 7, b"k", b"v", None, 1)
    unusable = KafkaException(KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state"))
    with pytest.raises(CheckpointError, match="the producer cannot go on"):
        policy.handle(ProcessingError("sink", unusable), msg)
    assert producer.broker.topics == {}


@pytest.mark.parametrize("mode", ["fail", "dlq", "skip"])
def test_a_fenced_producer_judged_in_an_emit_stops_the_worker_as_fenced(mode: OnError) -> None:
    """``Output.send`` (an internal topic's record, inside a bolt's emit) raises ProducerFencedError itself; the
    policy must pass it on, not blame the record (under "fail" that would stop the worker for good, exit 3)."""
    producer = MemoryProducer(MemoryBroker())
    policy = ErrorPolicy(mode, "t-dlq", Output(producer))
    msg = MemoryMessage("in", 0, 7, b"k", b"v", None, 1)
    fenced = ProducerFencedError("producer fenced (transactional.id 'x')")
    with pytest.raises(ProducerFencedError) as raised:
        policy.handle(ProcessingError("split", fenced), msg)
    assert raised.value is fenced and producer.broker.topics == {}


def test_a_record_the_broker_refuses_still_follows_the_policy() -> None:
    producer = MemoryProducer(MemoryBroker())
    policy = ErrorPolicy("dlq", "t-dlq", Output(producer))
    too_large = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Message size too large"))
    policy.handle(ProcessingError("sink", too_large), MemoryMessage("in", 0, 7, b"k", b"v", None, 1))
    assert len(producer.broker.topics["t-dlq"][0]) == 1


@pytest.mark.parametrize("mode", ["fail", "dlq", "skip"])
def test_a_damaged_store_is_not_the_messages_fault(mode: OnError) -> None:
    """A state read that meets a damaged file must not dead-letter, skip or fail the message: the worker
    restarts and rebuilds the store, and the message is processed then."""
    producer = MemoryProducer(MemoryBroker())
    policy = ErrorPolicy(mode, "t-dlq", Output(producer))
    msg = MemoryMessage("in", 0, 7, b"k", b"v", None, 1)
    with pytest.raises(CorruptStateError, match="block checksum"):
        policy.handle(ProcessingError("count", CorruptStateError("block checksum mismatch")), msg)
    assert producer.broker.topics == {}
