"""Transactions: the order of the calls, and what each producer error means for the worker.

A fake producer records the calls and raises the errors librdkafka raises (as measured against the
embedded broker: a fenced producer gets PRODUCER_FENCED in delivery reports, _FENCED from
send_offsets_to_transaction, and a fatal _FENCED from the next call that serves callbacks).
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from streamproc.errors import CheckpointError, ConfigError, ProducerFencedError, ServiceError
from streamproc.runtime.output import Output
from streamproc.runtime.transaction import Transactions

METADATA = object()


class FakeProducer:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        #: method name -> errors to raise, one per call, before succeeding
        self.failures: dict[str, list[KafkaError]] = {}
        self.reports: list[tuple[Any, Any]] = []
        self.on_delivery: Any = None

    def _call(self, name: str, *args: Any) -> None:
        self.calls.append((name, *args))
        pending = self.failures.get(name)
        if pending:
            raise KafkaException(pending.pop(0))

    def init_transactions(self, timeout: float) -> None:
        self._call("init_transactions")

    def begin_transaction(self) -> None:
        self._call("begin_transaction")

    def send_offsets_to_transaction(self, positions: list[Any], metadata: Any, timeout: float) -> None:
        self._call("send_offsets", sorted((tp.topic, tp.partition, tp.offset) for tp in positions), metadata)

    def commit_transaction(self, timeout: float) -> None:
        self._call("commit_transaction")

    def abort_transaction(self, timeout: float) -> None:
        self._call("abort_transaction")

    def produce(self, *args: Any, **kwargs: Any) -> None:
        self._call("produce")

    def poll(self, timeout: float = 0.0) -> int:
        self._call("poll")
        reports, self.reports = self.reports, []
        for err, msg in reports:
            self.on_delivery(err, msg)
        return len(reports)

    def flush(self, timeout: float = 0.0) -> int:
        self.poll()
        return 0

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeMessage:
    def topic(self) -> str:
        return "out"

    def partition(self) -> int:
        return 0


def fenced(fatal: bool = False) -> KafkaError:
    return KafkaError(KafkaError._FENCED, "This instance has been fenced by a newer instance", fatal=fatal)


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def output(producer: FakeProducer) -> Output:
    made = Output(producer)
    made.transactional_id = "wc-abc-0"
    producer.on_delivery = made.on_delivery
    return made


@pytest.fixture
def transactions(output: Output) -> Transactions:
    return Transactions(output, lambda: METADATA)


def test_commit_sends_the_offsets_with_the_group_metadata_then_begins_the_next(
        transactions: Transactions, producer: FakeProducer) -> None:
    transactions.start()
    transactions.commit({("in", 1): 7, ("in", 0): 3})
    assert producer.calls == [
        ("init_transactions",), ("begin_transaction",),
        ("send_offsets", [("in", 0, 3), ("in", 1, 7)], METADATA), ("commit_transaction",), ("begin_transaction",),
    ]


def test_a_transaction_without_offsets_still_commits(transactions: Transactions, producer: FakeProducer) -> None:
    transactions.commit({})
    assert producer.names() == ["commit_transaction", "begin_transaction"]


def test_a_retriable_commit_error_is_retried(transactions: Transactions, producer: FakeProducer) -> None:
    producer.failures["commit_transaction"] = [KafkaError(KafkaError._TIMED_OUT, "slow", retriable=True)]
    transactions.commit({("in", 0): 1})
    assert producer.names() == ["send_offsets", "commit_transaction", "commit_transaction", "begin_transaction"]


def test_fencing_at_commit_stops_the_worker_with_its_transactional_id(
        transactions: Transactions, producer: FakeProducer, output: Output) -> None:
    producer.failures["send_offsets"] = [fenced()]
    with pytest.raises(ProducerFencedError, match=r"producer fenced \(transactional.id 'wc-abc-0'\)"):
        transactions.commit({("in", 0): 1})
    assert output.fenced
    transactions.abort_on_exit()
    assert "abort_transaction" not in producer.names(), "the broker aborted it: asking again could only hang"


def test_a_stale_group_generation_is_reported_as_a_zombie(transactions: Transactions, producer: FakeProducer) -> None:
    producer.failures["send_offsets"] = [KafkaError(KafkaError.ILLEGAL_GENERATION, "stale", txn_requires_abort=True)]
    with pytest.raises(CheckpointError, match="partitions were reassigned while it worked") as raised:
        transactions.commit({("in", 0): 1})
    assert not isinstance(raised.value, ProducerFencedError)
    transactions.abort_on_exit()
    assert producer.names()[-1] == "abort_transaction"


def test_a_fencing_delivery_report_spares_the_abort(
        transactions: Transactions, producer: FakeProducer) -> None:
    producer.reports.append((KafkaError(KafkaError.PRODUCER_FENCED, "newer producer"), FakeMessage()))
    transactions.abort_on_exit()
    assert producer.names() == ["poll"]


def test_a_failed_abort_on_exit_only_warns(transactions: Transactions, producer: FakeProducer,
                                           caplog: pytest.LogCaptureFixture) -> None:
    producer.failures["abort_transaction"] = [KafkaError(KafkaError._TIMED_OUT, "coordinator gone")]
    transactions.abort_on_exit()
    assert "the broker aborts it after transaction.timeout.ms" in caplog.text


def test_losing_partitions_aborts_and_begins_again(transactions: Transactions, producer: FakeProducer) -> None:
    transactions.abort()
    assert producer.names() == ["abort_transaction", "begin_transaction"]


@pytest.mark.parametrize(("error", "raised"), [
    (KafkaError(KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "denied"), ConfigError),
    (KafkaError(KafkaError._TIMED_OUT, "no coordinator", retriable=True), ServiceError),
])
def test_a_producer_that_cannot_start_transactions_says_why(
        transactions: Transactions, producer: FakeProducer, error: KafkaError, raised: type[Exception]) -> None:
    producer.failures["init_transactions"] = [error]
    with pytest.raises(raised, match="--guarantee exactly-once needs a broker with transactions enabled"):
        transactions.start()


# --- the producer's failures seen from Output -----------------------------------------------------
def test_a_fenced_delivery_report_fails_the_flush_as_fencing(output: Output, producer: FakeProducer) -> None:
    producer.reports.append((KafkaError(KafkaError.PRODUCER_FENCED, "newer producer"), FakeMessage()))
    with pytest.raises(ProducerFencedError, match="newer producer"):
        output.flush(1)


def test_a_fatal_error_raised_by_poll_stops_the_worker_as_fencing(output: Output, producer: FakeProducer) -> None:
    producer.failures["poll"] = [fenced(fatal=True), fenced(fatal=True)]
    with pytest.raises(ProducerFencedError):
        output.poll(0)


def test_a_fenced_producer_refusing_a_changelog_record_stops_the_worker_as_fencing(
    output: Output, producer: FakeProducer
) -> None:
    """Once the broker has fenced the producer, produce() itself raises (a checkpoint's changelog records are
    sent through ``send``): that is the fencing, to stop with exit 4, not an unexpected error."""
    producer.failures["produce"] = [KafkaError(KafkaError._FATAL, "Fatal error", fatal=True)]
    producer.failures["poll"] = [fenced(fatal=True)]
    with pytest.raises(ProducerFencedError) as raised:
        output.send("counts-changelog", b"k", b"v", 0)
    # Raised inside a bolt's emit (an internal topic's record), it reaches the error policy as the record's
    # cause: the policy must stop the worker as fenced (exit 4), not blame the record (exit 3 under "fail").
    assert output.producer_failure(raised.value) is raised.value


def test_producer_failures_are_told_from_record_failures(output: Output, producer: FakeProducer) -> None:
    too_large = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large"))
    assert output.producer_failure(too_large) is None
    assert output.producer_failure(ValueError("a bolt's own error")) is None
    state = output.producer_failure(KafkaException(KafkaError(KafkaError._STATE, "Erroneous state")))
    assert isinstance(state, CheckpointError) and not isinstance(state, ProducerFencedError)
    # produce() only says "Fatal error"; the poll that follows raises the error itself.
    producer.failures["poll"] = [fenced(fatal=True)]
    failure = output.producer_failure(KafkaException(KafkaError(KafkaError._FATAL, "Fatal error", fatal=True)))
    assert isinstance(failure, ProducerFencedError)
