"""Telling a gap in a partition's offsets that reading again fills from one that is really there.

Kafka leaves offsets out of what a fetch returns only where there are no records: compacted away,
deleted by retention, or taken by transaction markers. A topic that is never compacted and never
written in transactions, such as an internal topic under at-least-once, has no gaps, so a fetch
that skips offsets there would silently lose records. The embedded broker (Tansu 0.6) does that now
and then while two producers append to one partition: a fetch is answered with the later
producer's batch before the earlier one is in place (seen as one gap of 400 records in 300,000,
three producers writing one partition). Reading again from the first missing offset tells the two
apart: a real gap comes back the same, a race does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import TopicPartition

Partition = tuple[str, int]


class GapCheck:
    """Re-reads a gap once before believing it, for one consumer."""

    def __init__(self, consumer: Any) -> None:
        self._consumer = consumer
        #: The gap last re-read per partition: (first missing offset, offset found after it).
        self._rereading: dict[Partition, tuple[int, int]] = {}

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

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Partitions given up: a gap seen in them before means nothing to their next owner."""
        for key in partitions:
            self._rereading.pop(key, None)
