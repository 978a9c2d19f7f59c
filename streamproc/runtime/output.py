"""Everything the worker sends to Kafka goes through one idempotent producer.

Outputs, internal records and changelog records share the producer, so one ``flush()`` at the
checkpoint proves that every one of them was acknowledged before any input offset is committed.
A send that fails is recorded by the delivery callback and fails the checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from streamproc.errors import CheckpointError
from streamproc.serde.base import Headers

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[Any, Any], None]


class ProducerLike(Protocol):
    """The part of confluent_kafka.Producer the runtime uses (a fake implements it in unit tests)."""

    def produce(
        self,
        topic: str,
        value: Any = ...,
        key: Any = ...,
        partition: int = ...,
        callback: Any = ...,
        on_delivery: Any = ...,
        timestamp: int = ...,
        headers: Any = ...,
    ) -> None: ...

    def poll(self, timeout: float = ...) -> int: ...

    def flush(self, timeout: float = ...) -> int: ...


class Output:
    """Sends records and tracks delivery failures until the next checkpoint verifies them.

    ``produce`` is called with positional arguments only (topic, value, key, partition, callback,
    on_delivery, timestamp, headers): confluent-kafka parses keywords far more slowly (measured
    2.1 us against 1.3 us per call with a timestamp), and this runs once per output record. A
    per-record delivery callback goes in the ``callback`` slot: when both slots are given
    positionally, confluent-kafka uses ``callback`` and ignores ``on_delivery``, even when
    ``callback`` is None.
    """

    def __init__(self, producer: ProducerLike | None = None, config: dict[str, Any] | None = None) -> None:
        """Wrap ``producer``, or create a confluent-kafka producer from ``config`` reporting to this object."""
        self.errors: list[str] = []
        if producer is None:
            from streamproc.kafka.clients import new_producer

            self.producer: ProducerLike = new_producer({**(config or {}), "on_delivery": self.on_delivery})
        else:
            self.producer = producer
        self._produce: Callable[..., None] = self.producer.produce

    def on_delivery(self, err: Any, msg: Any) -> None:
        """Default delivery callback: only failures matter (successes are proven by flush)."""
        if err is not None:
            self.errors.append(f"{msg.topic()}[{msg.partition()}]: {err}")

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int = -1,
        headers: Headers | None = None,
        timestamp: int | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        while True:
            try:
                self._produce(topic, value, key, partition, on_delivery, None, timestamp or 0, headers)
                return
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self.producer.poll(0.05)

    def produce_output(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None, timestamp: int | None
    ) -> None:
        """For sinks: partitioned by key (the common case, kept to one Python frame)."""
        try:
            self._produce(topic, value, key, -1, None, None, timestamp or 0, headers)
        except BufferError:
            self.send(topic, key, value, -1, headers, timestamp)

    def flush(self, timeout: float) -> None:
        """Wait for every record sent so far; raise CheckpointError unless all were acknowledged."""
        remaining = self.producer.flush(timeout)
        if remaining:
            raise CheckpointError(f"{remaining} records were not acknowledged within {timeout:.0f}s")
        if self.errors:
            errors, self.errors = self.errors, []
            raise CheckpointError(f"{len(errors)} records failed to send, first: {errors[0]}")
