"""Telling a gap in a partition's offsets that reading again fills from one that is really there.

Kafka leaves offsets out of what a fetch returns only where there are no records: compacted away,
deleted by retention, or taken by transaction markers. A topic that is never compacted and never
written in transactions, such as an internal topic under at-least-once, has no gaps, so a fetch
that skips offsets there would silently lose records. The embedded broker (Tansu 0.6) does that now
and then while two producers append to one partition: a fetch is answered with the later
producer's batch before the earlier one is in place (seen as one gap of 400 records in 300,000,
three producers writing one partition). Reading again from the first missing offset tells the two
apart: a real gap comes back the same, a race does not.

``ContiguousConsumer`` is the consumer adapter that does this, between a consumer and whatever
handles its messages (the worker's dispatch loop, the test driver, the tests' own readers), so that
they only ever see contiguous runs. It is used only where the broker needs it (streamproc.kafka.quirks):
on Apache Kafka nothing is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import TopicPartition

from streamproc.state.position import TP

log = logging.getLogger(__name__)




class GapCheck:
    """Re-reads a gap once before believing it, for one consumer."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        #: The gap last re-read per partition: (first missing offset, offset found after it).
        self._rereading: dict[TP, tuple[int, int]] = {}

    def accept(self, topic: str, partition: int, expected: int, found: int) -> bool:
        """For a message at ``found`` where ``expected`` was due: True when this very gap was re-read
        and came back the same (take the message; the records are not there); False after seeking
        back to ``expected``, in which case the caller drops the partition's messages it holds."""
        key = (topic, partition)
        if self._rereading.get(key) == (expected, found):
            del self._rereading[key]
            return True
        self._rereading[key] = (expected, found)
        self._consumer.seek(TopicPartition(topic, partition, expected))
        return False

    def forget(self, partitions: Iterable[TP]) -> None:
        """Partitions given up: a gap seen in them before means nothing to their next owner."""
        for key in partitions:
            self._rereading.pop(key, None)


class ContiguousConsumer:
    """Passes a consumer's batches on with the gaps of the partitions it checks read again.

    Only partitions given to ``expect`` are checked; a batch with none of them is passed on as it is,
    without looking at its messages. ``on_real_gap(topic, partition, first_missing, found)`` is told
    about a gap that came back the same (the metrics).
    """

    def __init__(self, consumer: Any, on_real_gap: Callable[[str, int, int, int], None] | None = None) -> None:
        self.consumer = consumer
        self._check = GapCheck(consumer)
        #: The next offset due per checked partition; None until its first message when the start is unknown.
        self._next: dict[TP, int | None] = {}
        self._on_real_gap = on_real_gap

    def expect(self, topic: str, partition: int, start: int | None) -> None:
        """Check the partition from now on; ``start``: the offset reading resumes at, if known."""
        self._next[(topic, partition)] = start

    def forget(self, partitions: Iterable[TP]) -> None:
        keys = list(partitions)
        for key in keys:
            self._next.pop(key, None)
        self._check.forget(keys)

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        messages: list[Any] = self.consumer.consume(num_messages, timeout)
        if not self._next or not messages:
            return messages
        return self.admit(messages)

    def admit(self, messages: list[Any]) -> list[Any]:
        """The messages to take, EOF and error events included; drops those a re-read delivers again."""
        expected = self._next
        taken: list[Any] = []
        rereading: set[TP] = set()
        key: TP = ("", -1)
        checked = False
        for msg in messages:
            topic, partition = msg.topic(), msg.partition()
            if partition != key[1] or topic != key[0]:
                key = (topic, partition)
                checked = key in expected
            if not checked or msg.error() is not None:
                if key not in rereading:  # an EOF reported before the seek back is not one
                    taken.append(msg)
                continue
            if key in rereading:
                continue
            due, found = expected[key], msg.offset()
            if due is not None and found != due:
                if not self._check.accept(topic, partition, due, found):
                    log.info("%s[%d]: offsets %d to %d missing from a fetch; reading them again", topic, partition,
                             due, found - 1)
                    rereading.add(key)
                    continue
                log.warning("%s[%d]: offsets %d to %d hold no records (read twice); going on from %d", topic,
                            partition, due, found - 1, found)
                if self._on_real_gap is not None:
                    self._on_real_gap(topic, partition, due, found)
            expected[key] = found + 1
            taken.append(msg)
        return taken
