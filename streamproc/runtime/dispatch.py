"""Handing each message of a consumed batch to its partition's reader.

A batch holds runs of one partition's messages, so the reader and the consumed-records tally are
looked up once per run, not per message. A reader of an internal topic that must be contiguous
raises OffsetGap for a message past the one it expected; the gap is read again once before it is
believed (streamproc.kafka.continuity), and meanwhile the batch's other messages of that partition
are dropped: the consumer delivers them again after the missing ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError

from streamproc.errors import ConfigError
from streamproc.kafka.continuity import GapCheck, Partition
from streamproc.metrics import RuntimeMetrics, Tally
from streamproc.runtime.readers import OffsetGap

log = logging.getLogger(__name__)

Read = Callable[[Any], None]


def _unreachable(msg: Any) -> None:  # pragma: no cover - replaced before the first message
    raise AssertionError("no reader selected")


def _drop(msg: Any) -> None:
    """The reader of a partition being read again from a gap, for the rest of the batch."""


#: Where runs that count for nothing go: the empty run before a batch's first message, and messages dropped
#: for a re-read (they are counted when they come again).
_NO_TALLY = Tally()


class Dispatcher:
    def __init__(self, consumer: Any, readers: Mapping[Partition, Read], consumed: Mapping[str, Tally],
                 metrics: RuntimeMetrics) -> None:
        """``readers``: the reader of every partition that is processing, kept by the task manager
        (streamproc.runtime.tasks); ``consumed``: the records-consumed tally of each source topic."""
        self.readers = readers
        self._consumed = consumed
        self._metrics = metrics
        self._gaps = GapCheck(consumer)

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Partitions given up: a gap being re-read there means nothing to their next owner."""
        self._gaps.forget(partitions)

    def dispatch(self, messages: list[Any]) -> None:
        readers = self.readers
        consumed = self._consumed
        topic, partition = "", -1
        reader: Read = _unreachable
        tally = _NO_TALLY
        run = 0
        rereading: set[Partition] = set()
        for msg in messages:
            if msg.error() is not None:
                self._consumer_error(msg.error())
                continue
            if msg.partition() != partition or msg.topic() != topic:
                tally.count += run
                run = 0
                topic, partition = msg.topic(), msg.partition()
                if rereading and (topic, partition) in rereading:
                    reader, tally = _drop, _NO_TALLY
                else:
                    reader, tally = readers[(topic, partition)], consumed[topic]
            try:
                reader(msg)
            except OffsetGap as gap:
                if not self._believe(gap):
                    rereading.add((topic, partition))
                    tally.count += run
                    reader, tally, run = _drop, _NO_TALLY, 0
                    continue
                reader(msg)
            run += 1
        tally.count += run

    def _believe(self, gap: OffsetGap) -> bool:
        """True when the gap was read again and is real: the reader then takes the message after it."""
        r, expected = gap.reader, gap.expected
        if not self._gaps.accept(r.topic, r.partition, expected, gap.found):
            log.info("%s[%d]: offsets %d to %d missing from a fetch; reading them again", r.topic, r.partition,
                     expected, gap.found - 1)
            return False
        log.warning("%s[%d]: offsets %d to %d hold no records (read twice); going on from %d", r.topic,
                    r.partition, expected, gap.found - 1, gap.found)
        self._metrics.error("consumer", "OFFSET_GAP")
        r.next_offset = gap.found
        return True

    def _consumer_error(self, err: Any) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        self._metrics.error("consumer", err.name())
        if err.fatal():
            raise ConfigError(f"consumer failed: {err.str()}")
        log.warning("consumer: %s", err.str())
