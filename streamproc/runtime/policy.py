"""What happens to a message that a component could not handle: fail, dead-letter or skip.

The dead letter keeps the original key, value and headers byte for byte, plus headers naming the
error and the message's origin, so ``streamproc dlq`` tooling can re-drive it exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from confluent_kafka import KafkaError, KafkaException

from streamproc.errors import CorruptStateError, ProcessingError, ServiceError
from streamproc.runtime.output import Output
from streamproc.runtime.redrive import RedriveGuard, root_origin

log = logging.getLogger(__name__)

OnError = Literal["fail", "dlq", "skip"]
ON_ERROR_CHOICES: tuple[OnError, ...] = ("fail", "dlq", "skip")

H_ERROR = "streamproc.error"
H_ERROR_TYPE = "streamproc.error.type"
H_COMPONENT = "streamproc.component"
H_TOPIC = "streamproc.source.topic"
H_PARTITION = "streamproc.source.partition"
H_OFFSET = "streamproc.source.offset"
H_TIMESTAMP = "streamproc.failed.at"
#: On a dead letter too large for the producer: what was left out of it, and why.
H_DROPPED = "streamproc.dropped"


class StopProcessing(Exception):
    """Raised under the ``fail`` policy: the worker stops without committing past the message."""

    def __init__(self, error: ProcessingError, topic: str, partition: int, offset: int) -> None:
        super().__init__(
            f"{error} while handling {topic}[{partition}]@{offset}; stopping without committing it "
            f"(it is redelivered on restart; run with --on-error dlq or skip to route around it)"
        )
        self.error = error
        self.topic = topic
        self.partition = partition
        self.offset = offset


class ErrorPolicy:
    def __init__(self, mode: OnError, dlq_topic: str, output: Output,
                 on_failure: Callable[[str, ProcessingError], None] | None = None) -> None:
        """``dlq_topic``: ``plan.names.dlq()``. ``on_failure(mode, error)`` is told about every failed message,
        whatever the mode (the metrics)."""
        self.mode = mode
        self._on_failure = on_failure
        self.topic = dlq_topic
        self._output = output
        self.dead_lettered = 0
        self.skipped = 0
        self._last_log = 0.0
        #: Per input partition, the guard of the task reading it (runtime/redrive.py); tasks register.
        self.guards: dict[tuple[str, int], RedriveGuard] = {}

    def not_its_fault(self, cause: BaseException) -> BaseException | None:
        """The error to stop the worker with when a record's (or a callback's) failure is not its own fault:
        a registry outage or a damaged local store (ServiceError, CorruptStateError), or a producer that
        cannot go on (fenced, its transaction failed). Dead-lettering or skipping would lose good records;
        stopping without committing lets the supervisor restart the worker. None when the record is at fault."""
        if isinstance(cause, (ServiceError, CorruptStateError)):
            return cause
        return self._output.producer_failure(cause)

    def handle(self, error: ProcessingError, msg: Any) -> None:
        stop = self.not_its_fault(error.cause)
        if stop is error.cause:  # judged where it was raised (e.g. Output.send: a fenced producer)
            raise stop
        if stop is not None:
            raise stop from error.cause
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if self._on_failure is not None:
            self._on_failure(self.mode, error)
        if self.mode == "fail":
            raise StopProcessing(error, topic, partition, offset)
        if self.mode == "dlq":
            headers = list(msg.headers() or [])
            headers += [
                (H_ERROR, str(error.cause).encode(errors="replace")[:4096]),
                (H_ERROR_TYPE, type(error.cause).__name__.encode()),
                (H_COMPONENT, error.component.encode()),
                (H_TOPIC, topic.encode()),
                (H_PARTITION, str(partition).encode()),
                (H_OFFSET, str(offset).encode()),
                (H_TIMESTAMP, str(int(time.time() * 1000)).encode()),
            ]
            self._send_dead_letter(msg, headers)
            self.dead_lettered += 1
            guard = self.guards.get((topic, partition))
            if guard is not None:  # so that a re-driven copy of this message is applied in its place
                guard.dead_lettered(root_origin(msg.headers(), topic, partition, offset))
        else:
            self.skipped += 1
        now = time.monotonic()
        if now - self._last_log >= 1.0:  # one line per second at most: a flood of bad input must not flood logs
            self._last_log = now
            verb = f"sent to {self.topic}" if self.mode == "dlq" else "skipped"
            log.warning("%s[%d]@%d %s: %s", topic, partition, offset, verb, error)

    def _send_dead_letter(self, msg: Any, headers: list[tuple[str, bytes | None]]) -> None:
        """The original key, value and headers, with the original timestamp (a re-driven message keeps its
        event time). One the producer refuses as too large (the reason the message failed, often) goes
        without its value, then also without its key and own headers, with a header saying so."""
        timestamp = msg.timestamp()[1]
        key, value = msg.key(), msg.value()
        try:
            self._output.send(self.topic, key, value, 0, headers, timestamp)
            return
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
        size = f"{len(key or b'')} bytes of key, {len(value or b'')} of value"
        note = f"value left out ({size}): larger than the producer's message.max.bytes"
        try:
            self._output.send(self.topic, key, None, 0, [*headers, (H_DROPPED, note.encode())], timestamp)
            return
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
        own = len(msg.headers() or [])
        note = f"key, value and the message's own headers left out ({size}): larger than message.max.bytes"
        self._output.send(self.topic, None, None, 0, [*headers[own:], (H_DROPPED, note.encode())], timestamp)
