"""The offset of the first record at or after a point in time, checked against the records themselves.

Kafka answers this with its time index (``offsets_for_times``). Some brokers answer wrongly (the
embedded one always says 0: README, "What the embedded broker does differently"), and a wrong answer
here silently reprocesses or skips data. So the broker's answer is accepted only when the records
agree (the record there is at or after the time, the one before it is earlier); otherwise a binary
search over record timestamps finds it, reading O(log n) single records.

Like Kafka's index, the search assumes timestamps do not decrease along the partition (true for
LogAppendTime and for CreateTime with well-behaved producers); with out-of-order timestamps it
returns an offset whose record is at or after the time and whose predecessor is earlier.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from streamproc.kafka.reading import record_at_or_after

log = logging.getLogger(__name__)


def _timestamp(msg: Any) -> int:
    return int(msg.timestamp()[1])


def offset_for_time(consumer: Consumer, topic: str, partition: int, when_ms: int, low: int, high: int) -> int:
    """The offset of the first record with timestamp >= ``when_ms`` in ``[low, high)``; ``high`` if none."""
    if low >= high:
        return high
    hint = _broker_answer(consumer, topic, partition, when_ms)
    if hint is not None and _is_answer(consumer, topic, partition, when_ms, hint, low, high):
        return hint
    log.info("%s[%d]: broker's offset for time %d (%s) does not match the records; searching", topic, partition,
             when_ms, hint)
    return _search(consumer, topic, partition, when_ms, low, high)


def _broker_answer(consumer: Consumer, topic: str, partition: int, when_ms: int) -> int | None:
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, partition, when_ms)], timeout=15)
    except Exception as exc:  # a broker that cannot answer is handled like one that answers wrongly
        log.info("offsets_for_times failed on %s[%d]: %s", topic, partition, exc)
        return None
    offset = found[0].offset if found and found[0].error is None else None
    return int(offset) if offset is not None and offset >= 0 else None


def _is_answer(consumer: Consumer, topic: str, partition: int, when_ms: int, offset: int, low: int, high: int
               ) -> bool:
    """The record at ``offset`` is at or after the time and the one right before it is earlier.

    A gap right before ``offset`` (a compacted topic) cannot be checked cheaply: not accepted.
    """
    if not low <= offset <= high:
        return False
    if offset < high:
        at = record_at_or_after(consumer, topic, partition, offset)
        if at is None or at.offset() != offset or _timestamp(at) < when_ms:
            return False
    if offset == low:
        return True
    before = record_at_or_after(consumer, topic, partition, offset - 1)
    return before is not None and before.offset() == offset - 1 and _timestamp(before) < when_ms


def _search(consumer: Consumer, topic: str, partition: int, when_ms: int, low: int, high: int) -> int:
    """Binary search for the first offset whose (next) record is at or after ``when_ms``."""
    lo, hi = low, high  # invariant: records before lo are earlier than when_ms; the answer is <= hi
    while lo < hi:
        mid = (lo + hi) // 2
        msg = record_at_or_after(consumer, topic, partition, mid)
        if msg is None or _timestamp(msg) >= when_ms:
            hi = mid
        else:
            lo = msg.offset() + 1
    # The offset of the record itself (a compacted topic has gaps before it), or the end.
    found = record_at_or_after(consumer, topic, partition, lo) if lo < high else None
    return high if found is None else int(found.offset())
