"""A record too large for the producer is a failure of its message; the dead letter still goes out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from streamproc.errors import ProcessingError, SerdeError
from streamproc.ops.dlq import Ledger, parse, plan_redrive, selector
from streamproc.runtime.output import Output
from streamproc.runtime.policy import H_DROPPED, ErrorPolicy
from streamproc.serde.base import SerdeContext
from streamproc.state import values
from streamproc.state.store import Store
from streamproc.testing import MemoryMessage

LIMIT = 4000


class Recording:
    """librdkafka's own size check (a real producer that never connects), recording what it accepted."""

    def __init__(self) -> None:
        self.real = Producer({"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": LIMIT})
        self.sent: list[tuple[Any, ...]] = []

    def produce(self, *args: Any) -> None:
        self.real.produce(*args)
        self.sent.append(args)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


def dead_letter(sent: tuple[Any, ...]) -> Any:
    topic, value, key, partition, _, _, timestamp, headers = sent
    return MemoryMessage(topic, partition, 0, key, value, headers, timestamp)


@pytest.mark.parametrize(("key", "value", "kept_key"), [(b"k", b"v" * 10_000, True), (b"k" * 10_000, b"v", False)])
def test_a_dead_letter_too_large_goes_without_what_does_not_fit(key: bytes, value: bytes, kept_key: bool) -> None:
    producer = Recording()
    policy = ErrorPolicy("dlq", "t-dlq", Output(producer))
    msg = MemoryMessage("in", 0, 7, key, value, [("trace", b"1")], 1)
    policy.handle(ProcessingError("sink", ValueError("too big for the sink")), msg)
    assert len(producer.sent) == 1 and policy.dead_lettered == 1
    letter = parse(dead_letter(producer.sent[0]))
    assert letter.value is None and letter.error == "too big for the sink" and letter.source_offset == 7
    assert (letter.key == key) is kept_key
    assert "larger than" in (letter.dropped or "")
    assert dict(dead_letter(producer.sent[0]).headers())[H_DROPPED]
    assert plan_redrive([letter], Ledger(), {}, selector(None)).origins == []  # never re-driven as something else


@pytest.fixture
def small_records() -> Iterator[None]:
    values.set_record_limit(LIMIT + 8192)
    yield
    values.set_record_limit(1_000_000)


@pytest.mark.usefixtures("small_records")
def test_a_state_value_too_large_for_a_changelog_record_fails_at_set() -> None:
    check = values.ValueCheck(Store("big"), SerdeContext("c", False))
    check.check("x" * (LIMIT - 10))
    check.check({"a": "x" * (LIMIT - 20)})
    for value in ["x" * (LIMIT + 1), {"a": "x" * LIMIT}]:
        with pytest.raises(SerdeError, match=r"store 'big' cannot keep .* encodes to .* message.max.bytes"):
            check.check(value)


def test_the_worker_output_sets_the_limit_from_message_max_bytes() -> None:
    try:
        Output(config={"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": 5_000_000})
        with pytest.raises(SerdeError, match="5,000,000"):
            values.ValueCheck(Store("s"), SerdeContext("c", False)).check("x" * 6_000_000)
    finally:
        values.set_record_limit(1_000_000)
