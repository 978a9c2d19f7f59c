"""Dead letters: reading them back, and re-driving them to where they came from, once.

A dead letter is the failed message's original key, value, headers and timestamp, plus headers
naming the error and its origin (runtime/policy.py). Re-driving produces the original back to
its origin topic and partition (or another topic) and records it, so a message is re-driven once
however often the command runs:

- a consumer group ``<group>-dlq`` holds, per DLQ partition, the offset below which every dead
  letter is dealt with (so ``streamproc lag``-style tools show what is pending);
- a compacted ledger topic ``<topology>-dlq-redriven`` names each re-driven dead letter above it,
  which a ``--filter-error`` run leaves behind when it passes over messages that do not match.

The ledger record is produced with the re-driven message and both are acknowledged before the
group offset moves. Only a crash between the acknowledgement of one and not the other can
re-drive a message a second time (at-least-once, like everything else here).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer

from streamproc.kafka.reading import scan
from streamproc.runtime import policy
from streamproc.runtime.dedupe import ORIGIN_HEADER

Headers = list[tuple[str, bytes | None]]
_DLQ_HEADERS = frozenset({policy.H_ERROR, policy.H_ERROR_TYPE, policy.H_COMPONENT, policy.H_TOPIC,
                          policy.H_PARTITION, policy.H_OFFSET, policy.H_TIMESTAMP, policy.H_DROPPED})


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    #: The failed message's own headers, without the dead-letter ones.
    headers: Headers = field(repr=False)
    error: str
    error_type: str
    component: str
    source_topic: str | None
    source_partition: int | None
    source_offset: int | None
    failed_at: int | None
    #: Set when the dead letter had to leave out the value (and maybe more): it cannot be re-driven.
    dropped: str | None = None

    def matches(self, text: str | None) -> bool:
        """Whether ``--filter-error text`` selects it: a case-blind match on the error or its type. A letter
        without its original value is never selected: re-driving it would send something else."""
        if self.dropped is not None:
            return False
        if text is None:
            return True
        needle = text.lower()
        return needle in self.error.lower() or needle in self.error_type.lower()

    @property
    def origin(self) -> str:
        if self.source_topic is None:
            return "?"
        return f"{self.source_topic}[{self.source_partition}]@{self.source_offset}"


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode(errors="replace")


def _int(value: bytes | None) -> int | None:
    try:
        return int(_text(value))
    except ValueError:
        return None


def parse(msg: Any) -> DeadLetter:
    own: Headers = []
    found: dict[str, bytes | None] = {}
    for name, value in msg.headers() or ():
        if name in _DLQ_HEADERS:
            found[name] = value
        else:
            own.append((name, value))
    return DeadLetter(
        partition=msg.partition(), offset=msg.offset(), timestamp=msg.timestamp()[1], key=msg.key(),
        value=msg.value(), headers=own, error=_text(found.get(policy.H_ERROR)),
        error_type=_text(found.get(policy.H_ERROR_TYPE)), component=_text(found.get(policy.H_COMPONENT)),
        source_topic=_text(found.get(policy.H_TOPIC)) or None, source_partition=_int(found.get(policy.H_PARTITION)),
        source_offset=_int(found.get(policy.H_OFFSET)), failed_at=_int(found.get(policy.H_TIMESTAMP)),
        dropped=_text(found[policy.H_DROPPED]) if policy.H_DROPPED in found else None,
    )


def read(consumer: Consumer, topic: str, lows: dict[int, int], start: dict[int, int] | None = None
         ) -> Iterator[DeadLetter]:
    """Dead letters of every partition (``lows``: each one's first offset), in order, from ``start``
    (default: the beginning)."""
    for partition, low in sorted(lows.items()):
        begin = max(low, (start or {}).get(partition, low))
        for msg in scan(consumer, topic, partition, begin):
            yield parse(msg)


def redriven(consumer: Consumer, ledger: str, exists: bool) -> set[tuple[int, int]]:
    """(DLQ partition, offset) of every dead letter the ledger says was re-driven."""
    if not exists:
        return set()
    done: set[tuple[int, int]] = set()
    for msg in scan(consumer, ledger, 0, 0):
        if msg.value() is None:
            continue
        partition, offset = msg.key().decode().split(":")
        done.add((int(partition), int(offset)))
    return done


@dataclass
class RedrivePlan:
    """What one ``dlq replay`` run does: the letters to re-drive and the group offsets afterwards."""

    letters: list[DeadLetter] = field(default_factory=list)
    passed_over: int = 0
    already: int = 0
    new_offsets: dict[int, int] = field(default_factory=dict)


def plan_redrive(letters: Iterable[DeadLetter], done: set[tuple[int, int]], start: dict[int, int],
                 filter_error: str | None) -> RedrivePlan:
    """Pick the letters to re-drive; the group offset advances over the prefix that is then dealt with."""
    plan = RedrivePlan()
    blocked: set[int] = set()
    for letter in letters:
        p = letter.partition
        handled = True
        if (p, letter.offset) in done:
            plan.already += 1
        elif letter.matches(filter_error):
            plan.letters.append(letter)
        else:
            plan.passed_over += 1
            handled = False
        if not handled:
            blocked.add(p)
        elif p not in blocked:
            plan.new_offsets[p] = letter.offset + 1
    for p, offset in start.items():
        plan.new_offsets.setdefault(p, offset)
    return plan


def redrive(producer: Producer, plan: RedrivePlan, ledger: str, to_topic: str | None,
            partitions_of: dict[str, int]) -> None:
    """Produce each letter's original back (and its ledger record); raises unless all are acknowledged."""
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(f"{msg.topic()}: {err}")

    now = int(time.time() * 1000)
    for letter in plan.letters:
        topic = to_topic or letter.source_topic
        if topic is None:
            raise ValueError(f"dead letter at offset {letter.offset} names no origin topic; use --to-topic")
        partition = -1
        if to_topic is None and letter.source_partition is not None \
                and letter.source_partition < partitions_of.get(topic, 0):
            partition = letter.source_partition
        # The origin header would make a downstream task take the message for an already-applied duplicate.
        headers: list[tuple[str, str | bytes | None]] = [(k, v) for k, v in letter.headers if k != ORIGIN_HEADER]
        producer.produce(topic, value=letter.value, key=letter.key, partition=partition, on_delivery=on_delivery,
                         timestamp=letter.timestamp or 0, headers=headers or None)
        producer.produce(ledger, value=orjson.dumps({"to": topic, "at": now}),
                         key=f"{letter.partition}:{letter.offset}".encode(), partition=0, on_delivery=on_delivery)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or errors:
        raise RuntimeError(f"re-driving failed: {remaining} messages unacknowledged, errors: {errors[:3]}; the DLQ "
                           "group did not move, so running the command again re-drives what is missing")
